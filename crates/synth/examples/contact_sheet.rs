//! Renders a contact sheet of the synthetic set: concepts in list order (sibling groups stay
//! together), a few images each. `cargo run --release -p hiercog-synth --example contact_sheet --
//! OUT.png [CELL_PX] [IMAGES_PER_CONCEPT] [CONCEPTS_PER_ROW] [WNID,WNID,...]` (default: all shipped
//! concepts).

use hiercog_synth::{default_concepts, render_png, visual_factors, SynthParams};
use hiercog_taxonomy::Taxonomy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .ok_or("usage: contact_sheet OUT.png [CELL_PX] [IMAGES] [PER_ROW] [WNIDS]")?;
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (cell, per, per_row) = (arg(1, 56) as u32, arg(2, 4), arg(3, 4));
    let concepts: Vec<String> = match args.get(4) {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => default_concepts(),
    };
    let tax = Taxonomy::wordnet()?;
    let params = SynthParams {
        concepts: concepts.clone(),
        images_per_concept: per,
        ..SynthParams::default()
    };
    let factors = visual_factors(&tax, &concepts, params.seed)?;
    let rows = concepts.len().div_ceil(per_row);
    let gap = 6;
    let width = (per_row * (per * cell as usize + gap)) as u32;
    let height = rows as u32 * (cell + 2);
    let mut sheet = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    for (k, (wnid, f)) in concepts.iter().zip(&factors).enumerate() {
        for i in 0..per {
            let png = render_png(f, wnid, i, &params);
            let img = image::load_from_memory(&png)?.to_rgb8();
            let small =
                image::imageops::resize(&img, cell, cell, image::imageops::FilterType::Triangle);
            let x = (k % per_row) * (per * cell as usize + gap) + i * cell as usize;
            let y = (k / per_row) as u32 * (cell + 2);
            image::imageops::overlay(&mut sheet, &small, x as i64, y as i64);
        }
    }
    sheet.save(out)?;
    println!("wrote {out}: {} concepts x {per} images", concepts.len());
    Ok(())
}
