//! Feature sets written by numpy and torch (tests/fixtures/make_fixtures.py) and round trips
//! through every format, plus the resumable shard writer.

use std::path::{Path, PathBuf};

use hiercog_features::{remove_shards, FeatureSet, Format, ShardWriter};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected_x() -> Vec<f32> {
    (0..5)
        .flat_map(|i| (0..3).map(move |j| i as f32 + j as f32 / 10.0))
        .collect()
}

#[test]
fn reads_what_numpy_and_torch_wrote() {
    for name in ["npy", "set.npz", "X_Y.pth"] {
        let set = FeatureSet::load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((set.rows(), set.dim()), (5, 3), "{name}");
        assert_eq!(set.x(), expected_x().as_slice(), "{name}");
        assert_eq!(set.labels, vec![0, 1, 2, 0, 1], "{name}");
        set.validate().unwrap();
    }
    let npy = FeatureSet::load(&fixture("npy")).unwrap();
    assert!(npy.is_mapped(), "float32 .npy is memory-mapped");
    assert_eq!(npy.class_names.as_ref().unwrap()[2], "n01484850");
}

#[test]
fn round_trips_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let classes = Some(vec!["a".to_string(), "b".into(), "c".into()]);
    let set = FeatureSet::from_vec(expected_x(), 3, vec![2, 1, 0, 0, 1], classes.clone()).unwrap();
    for (format, name) in [
        (Format::Npy, "dir"),
        (Format::Npz, "s.npz"),
        (Format::Safetensors, "s.safetensors"),
        (Format::Pth, "s.pth"),
    ] {
        let path = tmp.path().join(name);
        set.save(&path, format).unwrap();
        let back = FeatureSet::load(&path).unwrap();
        assert_eq!(back.x(), set.x(), "{format:?}");
        assert_eq!(back.labels, set.labels, "{format:?}");
        assert_eq!(back.class_names, classes, "{format:?}");
    }
    // Saving again over an existing set replaces it.
    set.save(&tmp.path().join("dir"), Format::Npy).unwrap();
}

#[test]
fn clear_errors_name_the_problem() {
    let nan = FeatureSet::load(&fixture("nan")).unwrap();
    let msg = nan.validate().unwrap_err().to_string();
    assert!(msg.contains("row 3") && msg.contains("nan"), "{msg}");
    let msg = FeatureSet::load(&fixture("X_f64.npy"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown feature file"), "{msg}");
    let msg = FeatureSet::load(&fixture("missing.npz"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.npz"), "{msg}");
    let err = FeatureSet::load(&fixture("missing.bin")).unwrap_err();
    assert_eq!(
        format!("{err}"),
        format!(
            "cannot read {}: no such file or directory",
            fixture("missing.bin").display()
        )
    );
    assert!(
        std::error::Error::source(&err).is_none(),
        "cause printed once"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bad.safetensors"), b"not safetensors").unwrap();
    let msg = FeatureSet::load(&tmp.path().join("bad.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not a safetensors file"), "{msg}");
}

/// `dir` holds the joined feature set and nothing else.
fn assert_only_the_joined_set_is_left(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("features")]);
}

#[test]
fn shard_writer_resumes_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let x = expected_x();
    let labels = [0u32, 1, 2, 0, 1];
    {
        let mut w = ShardWriter::open(&dir, 3, 2).unwrap();
        w.write_batch(&x[..9], &labels[..3]).unwrap(); // one shard of 2 rows written, 1 row buffered
        assert_eq!(w.completed_rows(), 2);
        // Dropped without finish: a crash. The buffered row is lost, the shard is kept.
    }
    // Stray shard files past the manifest (crash between writing and recording, or a half-done
    // removal) are discarded, even with gaps between them.
    std::fs::write(dir.join("shard-00001.safetensors"), b"partial").unwrap();
    std::fs::write(dir.join("shard-00003.safetensors"), b"partial").unwrap();
    // A `kill -9` during a shard write leaves its temporary: swept on reopening.
    let orphan = dir.join(".shard-00001.safetensors.tmp-999999999-0.safetensors");
    std::fs::write(&orphan, b"half").unwrap();
    let mut w = ShardWriter::open(&dir, 3, 2).unwrap();
    assert_eq!(w.completed_rows(), 2);
    assert!(!dir.join("shard-00001.safetensors").exists());
    assert!(!dir.join("shard-00003.safetensors").exists());
    assert!(!orphan.exists(), "stale temporary swept");
    w.write_batch(&x[6..], &labels[2..]).unwrap();
    let out = w
        .finish(Format::Npy, &["a".into(), "b".into(), "c".into()])
        .unwrap();
    let set = FeatureSet::load(&out).unwrap();
    assert_eq!(set.x(), x.as_slice());
    assert_eq!(set.labels, labels);
    assert_only_the_joined_set_is_left(&dir);
    assert!(
        ShardWriter::open(&dir, 4, 2).is_ok(),
        "no manifest left: a new writer starts fresh"
    );
}

/// What a process killed between the joined set's commit and the removal of the shards leaves:
/// the set, the shards and their manifest. Resuming removes the shards and keeps the set.
#[test]
fn shards_left_beside_a_committed_set_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let x = expected_x();
    let labels = vec![0u32, 1, 2, 0, 1];
    let mut w = ShardWriter::open(&dir, 3, 2).unwrap();
    w.write_batch(&x[..12], &labels[..4]).unwrap(); // two shards
    drop(w);
    let set = FeatureSet::from_vec(x.clone(), 3, labels.clone(), None).unwrap();
    set.save(&dir.join("features"), Format::Npy).unwrap();

    let removed: Vec<_> = remove_shards(&dir)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        removed,
        [
            "shards.json",
            "shard-00000.safetensors",
            "shard-00001.safetensors"
        ]
    );
    assert_only_the_joined_set_is_left(&dir);
    assert_eq!(
        FeatureSet::load(&dir.join("features")).unwrap().labels,
        labels
    );
    assert!(
        remove_shards(&dir).unwrap().is_empty(),
        "nothing left to remove"
    );
    assert!(remove_shards(&tmp.path().join("missing"))
        .unwrap()
        .is_empty());
}

#[test]
fn float64_is_converted_and_float16_refused_clearly() {
    let set = FeatureSet::load(&fixture("f64")).unwrap();
    assert!(
        !set.is_mapped(),
        "float64 is read and converted, not mapped"
    );
    assert_eq!(set.x(), expected_x().as_slice());
    assert_eq!(set.labels, vec![0, 1, 2, 0, 1]);
    let msg = FeatureSet::load(&fixture("f16")).unwrap_err().to_string();
    assert!(
        msg.contains("f16") && msg.contains("<f2") && msg.contains("float32"),
        "{msg}"
    );
}
