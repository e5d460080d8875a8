//! End-to-end tests of `hiercog run` on a small synthetic configuration: interruption at named
//! points (`HIERCOG_ABORT_AT`: the process aborts there, leaving what `kill -9` leaves) during
//! extraction, the probe stage and the report, then resumption (nothing finished is redone, nothing
//! corrupt or temporary is left); two processes on one run directory; and the Slurm plan executed
//! by a fake `sbatch`.
//!
//! They need the default EfficientNet-Lite0 weights: without them they fail, naming
//! `scripts/fetch-default-model.sh` (which `scripts/test.sh` runs first).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;
use support::{hiercog, run_ok};

/// Fails the test, with the command that installs them, when the default weights are missing.
fn require_weights() {
    let cache = std::env::var_os("HIERCOG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hiercog")
        });
    assert!(
        cache.join("efficientnet-lite0-57934424.pth").is_file(),
        "the default EfficientNet-Lite0 weights are not installed in {}: run \
         scripts/fetch-default-model.sh (or `hiercog models fetch-default`), then re-run the tests",
        cache.display()
    );
}

/// A small run: 152 synthetic concepts × 10 images (6 train, 4 test), 2 levels of 6 concepts. The
/// run directory `run` is relative: relative to the config file's directory.
fn write_config(dir: &Path) -> PathBuf {
    let cfg = r#"run_dir = "run"
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
"#;
    let path = dir.join("run.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn show(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `hiercog` with `HIERCOG_ABORT_AT=point`; it must abort there. Returns its output.
fn run_aborting_at(args: &[&str], point: &str) -> Output {
    let out = hiercog(args)
        .env("HIERCOG_ABORT_AT", point)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(&format!("aborting at {point:?}")),
        "hiercog {args:?} did not abort at {point:?}:\n{}",
        show(&out)
    );
    out
}

fn files_named(dir: &Path, pred: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if pred(&e.file_name().to_string_lossy()) {
            out.push(p.clone());
        }
        if p.is_dir() {
            out.extend(files_named(&p, pred));
        }
    }
    out
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, &|n| {
        hiercog_io::is_temporary(n) || n.contains(".tmp") || n.contains(".partial")
    })
}

/// Shards and shard manifests anywhere in `dir`: none may outlive the feature set they make up.
fn shard_files(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, &|n| n.starts_with("shard-") || n == "shards.json")
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
fn interrupted_in_every_stage_then_resumed() {
    require_weights();
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path());
    let cfg = config.to_str().unwrap();
    let run = tmp.path().join("run");
    run_ok(&["run", "--config", cfg, "--stage", "prepare"]);

    // 1. Abort while the second shard of the first dataset is being written: one shard is done,
    //    the second is a complete temporary that was never renamed.
    run_aborting_at(&["run", "--config", cfg], "commit shard-00001.safetensors");
    let features = run.join("features/seen/train");
    let first_shard = features.join("shard-00000.safetensors");
    let first_shard_inode = std::fs::metadata(&first_shard).unwrap().ino();
    assert_eq!(temporaries(&run).len(), 1, "{:?}", temporaries(&run));

    // 2. Resume: the first shard is kept (the same file, not written again), the orphan removed;
    //    abort once the joined feature set is committed, before its shards are removed.
    run_aborting_at(&["run", "--config", cfg], "remove shards");
    assert_eq!(
        std::fs::metadata(&first_shard).unwrap().ino(),
        first_shard_inode
    );
    assert!(features.join("features").is_dir());
    assert!(features.join("shards.json").is_file());
    assert!(temporaries(&run).is_empty(), "{:?}", temporaries(&run));

    // 3. Resume: the leftover shards go, the set is kept; abort after 4 probe runs are recorded.
    let out = run_aborting_at(&["run", "--config", cfg], "after probe seen 1-shot seed 37");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("extract seen/train: features already extracted (removed"),
        "{err}"
    );
    assert_eq!(probe_records(&run), 4);
    assert!(temporaries(&run).is_empty(), "{:?}", temporaries(&run));
    assert!(shard_files(&run).is_empty(), "{:?}", shard_files(&run));

    // 4. Resume again, and abort while the report is being written.
    let out = run_aborting_at(&["run", "--config", cfg], "commit report.md");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("finished earlier").count(), 4, "{err}");
    assert!(err.contains("features already extracted"), "{err}");
    // 3 datasets × (all-data + 2 shot counts) × 2 seeds.
    assert_eq!(probe_records(&run), 18);
    assert_eq!(
        temporaries(&run.join("report")).len(),
        1,
        "{:?}",
        temporaries(&run)
    );

    // 5. Finish: the recorded probe runs are reused, the report written, nothing temporary left.
    let out = run_ok(&["run", "--config", cfg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("finished earlier").count(), 18, "{err}");
    assert!(!err.contains("▸ extract"), "{err}");
    let report = std::fs::read_to_string(run.join("report/report.md")).unwrap();
    assert!(report.contains("SYNTHETIC"));
    // Hierarchical metrics: one hierarchy for every dataset, and how many mistakes each mistake
    // severity is a mean over.
    assert!(
        report.contains("concepts of the benchmark (the seen set and every level)")
            && report.contains("one hierarchy shared by every dataset"),
        "{report}"
    );
    assert!(report.contains(" (n="), "{report}");
    // The k-NN probe's retrieval metrics: mAP and H-AP of every dataset, once per dataset.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report/report.json")).unwrap())
            .unwrap();
    for d in json["datasets"].as_array().unwrap() {
        for key in ["knn_map", "knn_hap"] {
            let stat = &d[key];
            assert_eq!(stat["seeds"], 1, "{key} of {}: {stat}", d["name"]);
            let v = stat["mean"].as_f64().unwrap();
            assert!(v > 0.0 && v <= 100.0, "{key} of {}: {stat}", d["name"]);
        }
    }
    let csv = std::fs::read_to_string(run.join("report/report.csv")).unwrap();
    assert!(csv.contains("k-NN mAP,k-NN H-AP"), "{csv}");
    // Where the numbers were computed: the CPU model and the thread count, in every report.
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        });
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap().get());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains(&format!("{threads} threads (18 runs)")),
        "{report}"
    );
    assert!(
        stdout.contains(&format!("{threads} threads (18 runs)")),
        "{stdout}"
    );
    for text in [
        report.clone(),
        std::fs::read_to_string(run.join("report/report.json")).unwrap(),
        stdout,
    ] {
        assert!(text.contains(&format!("{threads} threads")), "{text}");
        if let Some(cpu) = &cpu {
            assert!(text.contains(cpu.as_str()), "{text}");
        }
    }
    for plot in [
        "few_shot.png",
        "few_shot.svg",
        "level_similarity.png",
        "cog_top1.svg",
    ] {
        assert!(run.join("report").join(plot).is_file(), "{plot} missing");
    }
    assert!(temporaries(&run).is_empty(), "{:?}", temporaries(&run));

    // 5. The same run directory spelled otherwise (absolute, from another directory) is the same
    //    run: nothing is redone.
    let out = hiercog(&["run", "--run-dir", run.to_str().unwrap(), "--config", cfg])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .matches("finished earlier")
            .count(),
        18
    );
    let out = hiercog(&["run", "--run-dir", "run", "--config", cfg])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));

    // 6. A reduction before probing: fitted on the seen train features, saved in the run
    //    directory; new probe keys (every run probed again), no extraction, and the report says
    //    which reduction it used. Without it again, the first runs are found.
    let out = run_ok(&["run", "--config", cfg, "--reduce", "pca:16"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("finished earlier").count(), 0, "{err}");
    assert!(!err.contains("▸ extract"), "{err}");
    assert!(err.contains("no test data"), "{err}");
    assert_eq!(probe_records(&run), 36);
    let models = files_named(&run.join("reduce"), &|n| n == "model.json");
    assert_eq!(models.len(), 1, "{models:?}");
    // Named by the reduction and a hash of the features it was fitted on.
    let name = models[0]
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    let hash = name.strip_prefix("pca-16-").unwrap_or_default();
    assert!(
        hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    let report = std::fs::read_to_string(run.join("report/report.md")).unwrap();
    assert!(report.contains("Features reduced by `pca:16`"), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("reduced by pca:16"), "{stdout}");
    let json = std::fs::read_to_string(run.join("report/report.json")).unwrap();
    assert!(json.contains("\"reduction\": \"pca:16\""), "{json}");
    let out = run_ok(&[
        "run", "--config", cfg, "--reduce", "pca:16", "--stage", "probe",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("finished earlier").count(), 18, "{err}");
    let out = run_ok(&["run", "--config", cfg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("finished earlier").count(), 18, "{err}");
    let report = std::fs::read_to_string(run.join("report/report.md")).unwrap();
    assert!(report.contains("no reduction"), "{report}");

    // 7. A second process on a task that another holds waits for it, saying who holds it.
    let lock = hiercog_io::FileLock::acquire(&run.join("locks/report.lock"), |_| {
        panic!("nobody holds the report")
    })
    .unwrap();
    let mut child = hiercog(&["run", "--config", cfg, "--stage", "report"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let waiting = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.contains("waiting for it to finish"))
        .expect("the second process says it waits");
    assert!(
        waiting.contains(&format!("report: pid {} on ", std::process::id())),
        "{waiting}"
    );
    drop(lock);
    lines.for_each(drop);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_missing_checkpoint_or_device_fails_before_prepare() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path());
    let cfg = config.to_str().unwrap();
    for (weights, device, says) in [
        ("missing.pth", "cpu", "missing.pth does not exist"),
        (cfg, "cuda:x", "expected cuda:N"),
    ] {
        let out = hiercog(&[
            "run",
            "--config",
            cfg,
            "--weights",
            weights,
            "--device",
            device,
        ])
        .output()
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
        assert!(!tmp.path().join("run/levels").exists(), "prepare ran");
    }
}

/// A fake `sbatch`: runs a job at once (its array tasks one after another; `--array` on the command
/// line wins over the script's), unless a job it depends on (`afterok`) failed or never ran, as
/// Slurm leaves it pending then; prints the job id. Job states live in `$FAKE_SLURM_STATE`.
const FAKE_SBATCH: &str = r#"#!/usr/bin/env bash
set -uo pipefail
state="$FAKE_SLURM_STATE"
mkdir -p "$state"
id=$(( $(cat "$state/counter" 2>/dev/null || echo 0) + 1 ))
echo "$id" > "$state/counter"
array=""; dep=""
for a in "$@"; do
  case "$a" in
    --array=*) array="${a#--array=}" ;;
    --dependency=afterok:*) dep="${a#--dependency=afterok:}" ;;
  esac
done
script="${@: -1}"
[ -n "$array" ] || array=$(sed -n 's/^#SBATCH --array=//p' "$script")
if [ -n "$dep" ] && [ "$(cat "$state/job-$dep")" != ok ]; then
  echo never > "$state/job-$id"; echo "$id"; exit 0
fi
tasks() { local IFS=,; for r in $1; do case $r in *-*) seq "${r%-*}" "${r#*-}" ;; *) echo "$r" ;; esac; done; }
ok=ok
if [ -n "$array" ]; then
  for i in $(tasks "$array"); do
    echo "$(basename "$script") $i" >> "$state/ran"
    SLURM_ARRAY_TASK_ID=$i bash "$script" >> "$state/log" 2>&1 || ok=failed
  done
else
  echo "$(basename "$script")" >> "$state/ran"
  bash "$script" >> "$state/log" 2>&1 || ok=failed
fi
echo "$ok" > "$state/job-$id"
echo "$id"
"#;

#[test]
fn slurm_plan_runs_with_a_fake_sbatch() {
    require_weights();
    let tmp = tempfile::tempdir().unwrap();
    // The config lives in its own folder and names the run directory and the weights relatively.
    let work = tmp.path().join("work");
    let configs = work.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    let config = write_config(&configs);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("run_dir = \"run\"", "run_dir = \"../run\"")
        .replace("[model]\n", "[model]\nweights = \"lite0.pth\"\n");
    std::fs::write(&config, text).unwrap();
    let cache = std::env::var_os("HIERCOG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/hiercog"));
    std::os::unix::fs::symlink(
        cache.join("efficientnet-lite0-57934424.pth"),
        configs.join("lite0.pth"),
    )
    .unwrap();
    let run = work.join("run");

    // Without CUDA in this build, a GPU plan is refused with the command that builds one.
    let plan_cmd = |gpus: &str| {
        hiercog(&[
            "plan",
            "--cluster",
            "slurm",
            "configs/run.toml",
            "--out",
            "plan",
            "--gpus",
            gpus,
        ])
        .current_dir(&work)
        .output()
        .unwrap()
    };
    if !cfg!(feature = "cuda") {
        let out = plan_cmd("1");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains("cargo build --release -p hiercog --features cuda")
                && err.contains("--gpus 0"),
            "{err}"
        );
    }
    let out = plan_cmd("0");
    assert!(out.status.success(), "{}", show(&out));
    let plan = work.join("plan");
    let planned = std::fs::read_to_string(plan.join("run.toml")).unwrap();
    assert!(
        planned.contains(&format!("run_dir = {:?}", run.display().to_string()))
            && planned.contains(&format!(
                "weights = {:?}",
                configs.join("lite0.pth").display().to_string()
            )),
        "{planned}"
    );
    let extract = std::fs::read_to_string(plan.join("extract.sbatch")).unwrap();
    assert!(
        extract.contains("#SBATCH --array=0-5") && !extract.contains("cuda"),
        "{extract}"
    );
    let probe = std::fs::read_to_string(plan.join("probe.sbatch")).unwrap();
    assert!(
        probe.contains("#SBATCH --array=0-17")
            && probe.contains("--result-files")
            && probe.contains("#SBATCH --mem="),
        "{probe}"
    );

    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(&sbatch, FAKE_SBATCH).unwrap();
    std::fs::set_permissions(&sbatch, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let state = tmp.path().join("slurm");
    // Submitted from another directory; one probe array task (index 7) fails once.
    let out = Command::new("bash")
        .arg(plan.join("submit.sh"))
        .current_dir(tmp.path())
        .env("PATH", &path)
        .env("FAKE_SLURM_STATE", &state)
        .env("HIERCOG_ABORT_AT", "before probe L1 all-data seed 37")
        .output()
        .unwrap();
    assert!(out.status.success(), "submit.sh failed:\n{}", show(&out));
    let log = || std::fs::read_to_string(state.join("log")).unwrap_or_default();
    assert!(
        log().contains("aborting at \"before probe L1 all-data seed 37\""),
        "{}",
        log()
    );
    // The report job waits forever; the other 17 probe tasks wrote their own files, and no array
    // task opened the SQLite store.
    assert!(!run.join("report/report.json").exists(), "{}", log());
    assert_eq!(
        files_named(&run.join("results"), &|n| n.ends_with(".json")).len(),
        17
    );
    assert!(!run.join("results.sqlite").exists());

    // One command resubmits the missing task and everything after it.
    let out = hiercog(&["plan", "--resubmit-missing", "work/plan"])
        .current_dir(tmp.path())
        .env("PATH", &path)
        .env("FAKE_SLURM_STATE", &state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", show(&out), log());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("missing: extract [], probe [7], report"),
        "{said}"
    );
    let ran = std::fs::read_to_string(state.join("ran")).unwrap();
    assert!(ran.ends_with("probe.sbatch 7\nreport.sbatch\n"), "{ran}");
    assert_eq!(probe_records(&run), 18);
    let report = std::fs::read_to_string(run.join("report/report.json")).unwrap();
    assert!(report.contains("\"missing_runs\": 0"), "{report}");
    // Nothing is left to resubmit.
    let out = hiercog(&["plan", "--resubmit-missing", plan.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to resubmit"),
        "{}",
        show(&out)
    );
}

/// A small image whose colour and texture depend on its concept and index.
fn write_image(path: &Path, concept: usize, i: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::RgbImage::from_fn(32, 32, |x, y| {
        let c = (concept * 53 + 20) as u32;
        let v = ((x * (concept as u32 + 1) + y * (i as u32 + 2)) % 64) as u8;
        image::Rgb([
            (c % 256) as u8,
            ((c * 3) % 256) as u8 ^ v,
            v.wrapping_mul(3),
        ])
    });
    // The official split file names JPEG files; the decoder reads the format from the content.
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

/// `hiercog run --official-levels L.pkl --official-splits S.pkl --images-root R`, started from a
/// directory other than R, on a tiny ImageNet-21K tree holding the files the split pickle names
/// (pickles in the official format: written by Python's pickle with numpy string arrays, the
/// fixtures of crates/cog).
#[test]
fn official_levels_and_splits_run_from_another_directory() {
    require_weights();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cog/tests/fixtures");
    let levels_pkl = fixtures.join("official_levels_list.pkl");
    let splits_pkl = fixtures.join("official_splits.pkl");
    // The fake ImageNet-21K tree: 5 levels × 4 concepts × (8 train + 2 test) files.
    let in21k = tmp.path().join("data/in21k");
    let official = std::fs::read_to_string(fixtures.join("imagenet_cog_ranking.tsv")).unwrap();
    let wnids: Vec<&str> = official
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let n = wnids.len();
    for (c, w) in (0..20).map(|j| wnids[j * (n - 1) / 19]).enumerate() {
        for i in 0..10 {
            write_image(&in21k.join(w).join(format!("{w}_{i}.JPEG")), c, i);
        }
    }
    // The seen concepts: ImageNet-1K layout (train/, val/), listed in a file.
    let cfg_dir = tmp.path().join("cfg");
    let seen = ["n02110185", "n02123045"];
    for (c, w) in seen.iter().enumerate() {
        for i in 0..10 {
            let split = if i < 8 { "train" } else { "val" };
            write_image(
                &cfg_dir
                    .join("in1k")
                    .join(split)
                    .join(w)
                    .join(format!("{w}_{i}.JPEG")),
                20 + c,
                i,
            );
        }
    }
    std::fs::write(cfg_dir.join("seen.txt"), seen.join("\n")).unwrap();
    let config = cfg_dir.join("cog.toml");
    std::fs::write(
        &config,
        r#"run_dir = "run"
[images]
seen_root = "in1k"
train_per_concept = 8
test_per_concept = 2
[levels]
seen = "seen.txt"
pool = "imagenet21k"
[model]
batch = 16
[probe]
shots = [1]
seeds = [22]
knn = false
"#,
    )
    .unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = hiercog(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--official-levels",
        levels_pkl.to_str().unwrap(),
        "--official-splits",
        splits_pkl.to_str().unwrap(),
        "--images-root",
        "../data/in21k",
    ])
    .current_dir(&elsewhere)
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let run = cfg_dir.join("run");
    let manifest = std::fs::read_to_string(run.join("levels/manifest.json")).unwrap();
    assert!(
        manifest.contains(&format!(
            "\"images_root\": {:?}",
            in21k.display().to_string()
        )),
        "{manifest}"
    );
    let report = std::fs::read_to_string(run.join("report/report.json")).unwrap();
    assert!(report.contains("\"missing_runs\": 0"), "{report}");
    for level in ["L1", "L5"] {
        assert!(
            report.contains(&format!("\"name\": \"{level}\"")),
            "{report}"
        );
    }
    assert!(!report.contains("\"synthetic\": true"), "{report}");
}
