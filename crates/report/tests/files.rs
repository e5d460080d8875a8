//! End-to-end: each plot kind writes a valid PNG and SVG atomically; bad input gives a clear error.

use std::path::Path;

use hiercog_report::plot::{bars, histogram, line, LineOptions, Series};
use hiercog_report::Error;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn check_outputs(paths: &[std::path::PathBuf], dir: &Path, stem: &str) {
    assert_eq!(
        paths,
        &[
            dir.join(format!("{stem}.png")),
            dir.join(format!("{stem}.svg"))
        ]
    );
    let png = std::fs::read(&paths[0]).unwrap();
    assert!(png.starts_with(PNG_MAGIC), "not a PNG");
    // IHDR: width and height big-endian at bytes 16..24.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 880);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 560);
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "not an SVG document"
    );
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Whether the SVG has a `<text>` element whose content is exactly `t` (plotters puts it on its own line).
fn has_text(svg: &str, t: &str) -> bool {
    svg.contains(&format!(">\n{t}\n</text>")) || svg.contains(&format!(">{t}</text>"))
}

fn curves() -> Vec<Series> {
    let shots = [1.0, 2.0, 4.0, 8.0];
    (0..3)
        .map(|l| Series {
            label: format!("L{}", l + 1),
            points: shots
                .iter()
                .map(|&n| (n, 50.0 + n - 5.0 * l as f64))
                .collect(),
            err: Some(vec![1.0; 4]),
        })
        .collect()
}

#[test]
fn line_plot_files_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LineOptions {
        log2_x: true,
        vlines: vec![(8.0, "all".into())],
        y_range: Some((0.0, 100.0)),
    };
    let out = line(
        &dir.path().join("fewshot"),
        "Few-shot",
        "shots",
        "top-1 (%)",
        &curves(),
        &opts,
    )
    .unwrap();
    check_outputs(&out, dir.path(), "fewshot");
    let svg = std::fs::read_to_string(&out[1]).unwrap();
    for text in ["Few-shot", "shots", "top-1 (%)", "L1", "L3", "all"] {
        assert!(has_text(&svg, text), "SVG lacks text {text:?}");
    }
    // Log2 ticks are labelled with the shot counts themselves.
    for tick in ["1", "2", "4", "8"] {
        assert!(has_text(&svg, tick), "SVG lacks x tick {tick}");
    }
}

#[test]
fn histogram_and_bars_files() {
    let dir = tempfile::tempdir().unwrap();
    let groups = vec![
        ("L1".to_string(), vec![0.9, 0.8, 0.85]),
        ("L2".to_string(), vec![0.3, 0.4]),
    ];
    check_outputs(
        &histogram(&dir.path().join("sim"), "Similarity", "Lin", &groups, 10).unwrap(),
        dir.path(),
        "sim",
    );
    let cats = vec![
        (
            "L1".to_string(),
            vec![
                ("a".to_string(), 70.0, Some(0.5)),
                ("b".to_string(), 60.0, None),
            ],
        ),
        ("L2".to_string(), vec![("a".to_string(), 50.0, Some(0.5))]),
    ];
    let out = bars(&dir.path().join("nested/cog"), "CoG", "top-1 (%)", &cats).unwrap();
    check_outputs(&out, &dir.path().join("nested"), "cog");
    let svg = std::fs::read_to_string(&out[1]).unwrap();
    assert!(["CoG", "L1", "L2", "a", "b"]
        .iter()
        .all(|t| has_text(&svg, t)));
}

#[test]
fn rewriting_replaces_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("h");
    let small = vec![("x".to_string(), vec![1.0])];
    histogram(&stem, "one", "v", &small, 3).unwrap();
    let first = std::fs::read_to_string(dir.path().join("h.svg")).unwrap();
    histogram(&stem, "two", "v", &small, 3).unwrap();
    let second = std::fs::read_to_string(dir.path().join("h.svg")).unwrap();
    assert!(has_text(&first, "one") && has_text(&second, "two") && !has_text(&second, "one"));
}

#[test]
fn bad_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("bad");
    let empty = line(&stem, "t", "x", "y", &[], &LineOptions::default()).unwrap_err();
    assert!(matches!(empty, Error::BadInput { .. }) && empty.to_string().contains("no points"));

    let mut s = curves();
    s[0].err = Some(vec![1.0]);
    let err = line(&stem, "t", "x", "y", &s, &LineOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("4 points but 1 error values"),
        "{err}"
    );

    let mut s = curves();
    s[1].points[0].1 = f64::NAN;
    assert!(line(&stem, "t", "x", "y", &s, &LineOptions::default())
        .unwrap_err()
        .to_string()
        .contains("non-finite"));

    let zero = vec![Series {
        label: "a".into(),
        points: vec![(0.0, 1.0)],
        err: None,
    }];
    let opts = LineOptions {
        log2_x: true,
        ..Default::default()
    };
    assert!(line(&stem, "t", "x", "y", &zero, &opts)
        .unwrap_err()
        .to_string()
        .contains("x > 0"));

    let groups = vec![("a".to_string(), vec![1.0])];
    assert!(histogram(&stem, "t", "x", &groups, 0).is_err());
    assert!(histogram(&stem, "t", "x", &[("a".to_string(), vec![])], 5).is_err());
    assert!(bars(&stem, "t", "y", &[("c".to_string(), vec![])]).is_err());
    assert!(
        !dir.path().join("bad.png").exists(),
        "nothing is written on bad input"
    );
}

#[test]
fn unwritable_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let groups = vec![("a".to_string(), vec![1.0])];
    let err = histogram(&file.join("sub/fig"), "t", "x", &groups, 3).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("cannot write {}: ", file.join("sub").display())),
        "{msg}"
    );
}
