//! Test data shared by the integration tests.

use hiercog_nn::Preprocess;
use hiercog_train::TrainSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Tiny PNGs of two classes told apart by colour, with a texture that varies per image.
pub fn image_folder(root: &Path, per_class: usize) -> Vec<(std::path::PathBuf, u32)> {
    let mut items = Vec::new();
    for (label, colour) in [[200u8, 30, 30], [30, 30, 200]].iter().enumerate() {
        let dir = root.join(format!("c{label}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(40, 36, |x, y| {
                let n = ((x * 7 + y * 13 + i as u32 * 5) % 40) as u8;
                image::Rgb([colour[0] + n, colour[1] + n, colour[2] + n])
            });
            let p = dir.join(format!("{i}.png"));
            img.save(&p).unwrap();
            items.push((p, label as u32));
        }
    }
    items
}

/// [`image_folder`] with 8 images per class, as a training set at 32 px.
pub fn image_set(root: &Path) -> (Vec<(PathBuf, u32)>, TrainSet) {
    let items = image_folder(root, 8);
    let set = TrainSet::images(
        &items,
        vec!["c0".into(), "c1".into()],
        Preprocess::imagenet(32, 32),
    )
    .unwrap();
    (items, set)
}

/// Runs the ignored test `name` of the current test binary in a child process, with `env` and,
/// when given, `HIERCOG_TRAIN_ABORT_AT=abort_at` (the trainer then aborts there, as `kill -9`
/// would); returns whether the child exited successfully.
pub fn run_child(name: &str, env: &[(&str, &str)], abort_at: Option<&str>) -> bool {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .envs(env.iter().copied());
    match abort_at {
        Some(a) => cmd.env("HIERCOG_TRAIN_ABORT_AT", a),
        None => cmd.env_remove("HIERCOG_TRAIN_ABORT_AT"),
    };
    cmd.output().unwrap().status.success()
}
