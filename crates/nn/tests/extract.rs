//! End-to-end extraction: folder → features on disk, corrupt images skipped and listed,
//! interrupted runs resumed, rows identical to a direct forward pass.

use candle_core::Device;
use hiercog_nn::dataset::ImageSet;
use hiercog_nn::extract::{ExtractOptions, ExtractProgress, SUMMARY_FILE};
use hiercog_nn::{extract, model_spec, Arch, Backbone, Preprocess};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The tiny timm ViT of the fixtures, at its 32 px input.
fn tiny_vit() -> Backbone {
    let mut spec = model_spec("deit-tiny").unwrap();
    spec.arch = Arch::Vit { heads: 3 };
    spec.preprocess = Preprocess::imagenet(32, 32);
    Backbone::load(spec, &fixture("tiny_vit.safetensors"), None, &Device::Cpu).unwrap()
}

/// root/n01/{chelsea,coffee}.png, root/n02/{broken.jpg, motorcycle_left.png, rocket.jpg}.
fn image_tree(root: &Path) -> ImageSet {
    for (class, name) in [
        ("n01", "chelsea.png"),
        ("n01", "coffee.png"),
        ("n02", "rocket.jpg"),
        ("n02", "motorcycle_left.png"),
    ] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        std::fs::copy(
            fixture(&format!("images/{name}")),
            root.join(class).join(name),
        )
        .unwrap();
    }
    std::fs::write(
        root.join("n02/broken.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    ImageSet::from_folder(root).unwrap()
}

fn options(classes: &[String]) -> ExtractOptions {
    ExtractOptions {
        batch_size: 2,
        rows_per_shard: 2,
        classes: classes.to_vec(),
        ..ExtractOptions::default()
    }
}

/// The rows a direct forward pass gives for the readable images.
fn direct_rows(model: &Backbone, set: &ImageSet) -> Vec<Vec<f32>> {
    set.items
        .iter()
        .filter(|(p, _)| !p.ends_with("broken.jpg"))
        .map(|(p, _)| {
            let x = model.preprocess().load(p).unwrap();
            model
                .forward_images(&[x])
                .unwrap()
                .features
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

fn read_features(dir: &Path) -> (Vec<Vec<f32>>, Vec<u32>) {
    let set = hiercog_features::FeatureSet::load(&dir.join("features")).unwrap();
    assert_eq!(set.class_names.as_deref().unwrap(), ["n01", "n02"]);
    (
        (0..set.rows()).map(|i| set.row(i).to_vec()).collect(),
        set.labels.clone(),
    )
}

#[test]
fn corrupt_images_are_skipped_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let set = image_tree(&tmp.path().join("images"));
    assert_eq!(set.items.len(), 5);
    let model = tiny_vit();
    let out = tmp.path().join("features");
    let skipped = AtomicUsize::new(0);
    let progress = |p: ExtractProgress| {
        if let ExtractProgress::Skipped(s) = p {
            assert!(s.path.ends_with("broken.jpg"));
            skipped.fetch_add(1, Ordering::SeqCst);
        }
    };
    let summary = extract(&model, &set.items, &out, &options(&set.classes), &progress).unwrap();
    assert_eq!(
        (summary.total, summary.extracted, summary.skipped.len()),
        (5, 4, 1)
    );
    assert_eq!(skipped.load(Ordering::SeqCst), 1);
    let listed = std::fs::read_to_string(out.join(SUMMARY_FILE)).unwrap();
    assert!(listed.contains("broken.jpg"), "{listed}");

    let (rows, labels) = read_features(&out);
    assert_eq!(labels, [0, 0, 1, 1]);
    for (got, want) in rows.iter().zip(direct_rows(&model, &set)) {
        let d = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            d < 1e-5,
            "batched row differs from a single forward pass by {d}"
        );
    }
}

#[test]
fn interrupted_extraction_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let set = image_tree(&tmp.path().join("images"));
    let model = tiny_vit();
    let out = tmp.path().join("features");
    // Stop after the first batch, as a crash would.
    let stop = |p: ExtractProgress| {
        if let ExtractProgress::Batch { .. } = p {
            panic!("simulated interruption");
        }
    };
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        extract(&model, &set.items, &out, &options(&set.classes), &stop)
    }));
    assert!(crashed.is_err());
    let summary = extract(&model, &set.items, &out, &options(&set.classes), &|_| {}).unwrap();
    assert!(summary.resumed_from > 0, "nothing was resumed");
    assert_eq!((summary.extracted, summary.skipped.len()), (4, 1));
    let (rows, labels) = read_features(&out);
    assert_eq!(labels, [0, 0, 1, 1]);
    let want = direct_rows(&model, &set);
    for (got, want) in rows.iter().zip(&want) {
        let d = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-5, "{d}");
    }
}

#[test]
fn resuming_with_another_model_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let set = image_tree(&tmp.path().join("images"));
    let out = tmp.path().join("features");
    extract(
        &tiny_vit(),
        &set.items,
        &out,
        &options(&set.classes),
        &|_| {},
    )
    .unwrap();
    // A finished extraction is returned as is.
    let again = extract(
        &tiny_vit(),
        &set.items,
        &out,
        &options(&set.classes),
        &|_| {},
    )
    .unwrap();
    assert_eq!((again.resumed_from, again.extracted), (5, 4));
    let fewer = &set.items[..3];
    let err = extract(&tiny_vit(), fewer, &out, &options(&set.classes), &|_| {}).unwrap_err();
    assert!(matches!(err, hiercog_nn::Error::Resume { .. }), "{err}");
}
