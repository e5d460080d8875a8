//! End-to-end tests of `hiercog run` on a small synthetic configuration: interruption by `kill -9`
//! during extraction and during the probe stage, then resumption (nothing finished is redone, nothing
//! corrupt is left), and the Slurm plan executed by a fake `sbatch`.
//!
//! They need the default EfficientNet-Lite0 weights (`scripts/fetch-default-model.sh`, which
//! `scripts/test.sh` runs first); without them they print a notice and return.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{hiercog, run_ok};

fn weights_present() -> bool {
    let cache = std::env::var_os("HIERCOG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hiercog")
        });
    let present = cache.join("efficientnet-lite0-57934424.pth").is_file();
    if !present {
        eprintln!("SKIPPED: default weights not installed (run scripts/fetch-default-model.sh)");
    }
    present
}

/// A small run: 152 synthetic concepts × 10 images (6 train, 4 test), 2 levels of 6 concepts.
fn write_config(dir: &Path) -> PathBuf {
    let cfg = format!(
        r#"run_dir = "{}"
[images]
synthetic_per_concept = 10
train_per_concept = 6
test_per_concept = 4
[levels]
levels = 2
concepts_per_level = 6
[model]
batch = 16
shard_rows = 32
[probe]
shots = [1, 2]
seeds = [22, 37]
"#,
        dir.join("run").display()
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Starts `hiercog` and kills it (SIGKILL) as soon as `ready` holds, or fails after a minute.
fn kill_when(mut child: Child, ready: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("hiercog finished ({status}) before it could be interrupted");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "timed out waiting to interrupt"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn files_named(dir: &Path, pred: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_named(&p, pred));
        } else if pred(&e.file_name().to_string_lossy()) {
            out.push(p);
        }
    }
    out
}

fn probe_records(run: &Path) -> usize {
    let store = run.join("results.sqlite");
    if !store.is_file() {
        return 0;
    }
    hiercog_store::ResultsStore::open(&store)
        .map(|s| s.list(None).map(|l| l.len()).unwrap_or(0))
        .unwrap_or(0)
}

#[test]
fn kill_9_during_extraction_and_probes_then_resume() {
    if !weights_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path());
    let cfg = config.to_str().unwrap();
    let run = tmp.path().join("run");

    // 1. Interrupt the extraction of the first dataset once a shard of it is complete.
    run_ok(&["run", "--config", cfg, "--stage", "prepare"]);
    let child = hiercog(&["run", "--config", cfg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let features = run.join("features");
    kill_when(child, || {
        !files_named(&features, &|n| {
            n.starts_with("shard-") && !n.contains("tmp")
        })
        .is_empty()
    });
    let shards_before: Vec<(PathBuf, std::time::SystemTime)> =
        files_named(&features, &|n| n.starts_with("shard-"))
            .into_iter()
            .map(|p| {
                let t = std::fs::metadata(&p).unwrap().modified().unwrap();
                (p, t)
            })
            .collect();
    assert!(!shards_before.is_empty());

    // 2. Resume, and interrupt again in the probe stage after some runs are recorded.
    let child = hiercog(&["run", "--config", cfg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(child, || probe_records(&run) >= 3);
    // Shards finished before the first kill were not rewritten.
    for (p, t) in &shards_before {
        if p.exists() {
            assert_eq!(
                std::fs::metadata(p).unwrap().modified().unwrap(),
                *t,
                "{} was redone",
                p.display()
            );
        }
    }
    let done_before = probe_records(&run);

    // 3. Finish: the recorded probe runs are reused, the rest done, the report written.
    let out = run_ok(&["run", "--config", cfg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("features already extracted"), "{err}");
    assert!(
        err.matches("finished earlier").count() >= done_before,
        "{err}"
    );
    // 3 datasets × (all-data + 2 shot counts) × 2 seeds.
    assert_eq!(probe_records(&run), 18);
    let report = std::fs::read_to_string(run.join("report/report.md")).unwrap();
    assert!(report.contains("SYNTHETIC"));
    for plot in [
        "few_shot.png",
        "few_shot.svg",
        "level_similarity.png",
        "cog_top1.svg",
    ] {
        assert!(run.join("report").join(plot).is_file(), "{plot} missing");
    }
    // No temporary or partial file anywhere.
    let leftovers = files_named(&run, &|n| n.contains(".tmp") || n.contains(".partial"));
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // 4. A re-run does nothing new.
    let out = run_ok(&["run", "--config", cfg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("finished earlier").count(), 18, "{err}");
    assert!(!err.contains("▸ extract"), "{err}");
}

#[test]
fn slurm_plan_runs_with_a_fake_sbatch() {
    if !weights_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path());
    let plan = tmp.path().join("plan");
    run_ok(&[
        "plan",
        "--cluster",
        "slurm",
        config.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
        "--gpus",
        "0",
    ]);
    let extract = std::fs::read_to_string(plan.join("extract.sbatch")).unwrap();
    assert!(extract.contains("#SBATCH --array=0-5"), "{extract}");
    let probe = std::fs::read_to_string(plan.join("probe.sbatch")).unwrap();
    assert!(
        probe.contains("#SBATCH --array=0-17") && probe.contains("--result-files"),
        "{probe}"
    );

    // A fake sbatch: runs the script's array tasks one after another, prints a job id.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = r#"#!/usr/bin/env bash
set -euo pipefail
script="${@: -1}"
range=$(sed -n 's/^#SBATCH --array=\([0-9]*\)-\([0-9]*\)$/\1 \2/p' "$script")
if [ -n "$range" ]; then
  for i in $(seq $range); do SLURM_ARRAY_TASK_ID=$i bash "$script" >> "$script.log" 2>&1; done
else
  bash "$script" >> "$script.log" 2>&1
fi
echo $RANDOM
"#;
    let sbatch = bin.join("sbatch");
    std::fs::write(&sbatch, fake).unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&sbatch)
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(plan.join("submit.sh"))
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "submit.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = tmp.path().join("run");
    // The report job merged the 18 per-task result files into the store.
    assert_eq!(probe_records(&run), 18);
    assert!(files_named(&run.join("results"), &|n| n.ends_with(".json")).is_empty());
    let report = std::fs::read_to_string(run.join("report/report.json")).unwrap();
    assert!(report.contains("\"missing_runs\": 0"), "{report}");
}
