//! Draws one figure of each kind into a directory, to look at them: `cargo run -p hiercog-report
//! --example demo_plots -- OUT_DIR`.

use hiercog_report::plot::{bars, histogram, line, LineOptions, Series};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: demo_plots OUT_DIR")?);
    let shots = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
    let series: Vec<Series> = (0..5)
        .map(|l| Series {
            label: format!("L{}", l + 1),
            points: shots
                .iter()
                .map(|&n: &f64| (n, 80.0 - 6.0 * l as f64 - 30.0 / (1.0 + n.log2())))
                .collect(),
            err: Some(
                shots
                    .iter()
                    .map(|&n: &f64| 2.0 / (1.0 + n.log2()))
                    .collect(),
            ),
        })
        .collect();
    let opts = LineOptions {
        log2_x: true,
        vlines: vec![(100.0, "all data".into())],
        y_range: Some((0.0, 100.0)),
    };
    line(
        &out.join("fewshot"),
        "Few-shot top-1 per level",
        "training images per concept",
        "top-1 (%)",
        &series,
        &opts,
    )?;
    let groups: Vec<(String, Vec<f64>)> = (0..5)
        .map(|l| {
            let c = 0.8 - 0.12 * l as f64;
            (
                format!("L{}", l + 1),
                (0..200)
                    .map(|i| c + 0.05 * ((i as f64 * 0.37).sin()))
                    .collect(),
            )
        })
        .collect();
    histogram(
        &out.join("similarity"),
        "Lin similarity to the seen set",
        "max Lin similarity",
        &groups,
        40,
    )?;
    let bar_groups: Vec<_> = ["seen", "L1", "L2", "L3", "L4", "L5"]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = 80.0 - 7.0 * i as f64;
            (
                c.to_string(),
                vec![
                    ("resnet50".to_string(), v, Some(0.5)),
                    ("eff-lite0".to_string(), v - 5.0, Some(0.8)),
                ],
            )
        })
        .collect();
    bars(
        &out.join("cog"),
        "CoG top-1 per level",
        "top-1 (%)",
        &bar_groups,
    )?;
    Ok(())
}
