//! `hiercog experiment hierarchy` from the command line: bad input is refused with the flag
//! named and a non-zero exit before any work; the Slurm plan of an experiment.

use std::process::Command;

const HIERCOG: &str = env!("CARGO_BIN_EXE_hiercog");

/// Runs `hiercog experiment hierarchy ARGS` in `dir`; returns (success, stdout, stderr).
fn experiment(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(HIERCOG)
        .args(["experiment", "hierarchy"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn bad_recipes_and_depths_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            ["--recipe", "ce,hex:0.1"],
            "error: --recipe: recipe \"hex:0.1\": unknown recipe \"hex\" (did you mean \"hxe\"?)",
        ),
        (
            ["--recipe", "hxe:1e9999"],
            "HXE α = inf is out of range: α must be finite and >= 0",
        ),
        (["--recipe", "soft:-2"], "soft-label β = -2 is out of range"),
        (
            ["--recipe", "ce,mocho"],
            "error: --recipe: recipe \"mocho\": unknown recipe \"mocho\" (did you mean",
        ),
        // MoCHi's numbers with commas stay one recipe (here one number short).
        (
            ["--recipe", "ce,mochi:8,4,moco"],
            "recipe \"mochi:8,4\": MoCHi setting \"8,4\" has 2 number(s)",
        ),
        (
            ["--depth", "small-resent"],
            "error: --depth: unknown training depth \"small-resent\" (did you mean \"small-resnet\"?)",
        ),
        (["--seeds", "3,3"], "error: seed 3 is listed twice"),
    ] {
        let (ok, _, err) = experiment(dir.path(), &args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing was written"
    );
}

#[test]
fn the_effective_config_and_the_slurm_plan() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, toml, err) = experiment(
        dir.path(),
        &[
            "--recipe",
            "ce,trex+hxe:0.1",
            "--epochs",
            "5",
            "--print-config",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        toml.contains("\"trex+hxe:0.1\"") && toml.contains("epochs = 5"),
        "{toml}"
    );

    let (ok, out, err) = experiment(
        dir.path(),
        &[
            "--depth",
            "resnet50",
            "--slurm-plan",
            "plan",
            "--partition",
            "gpu",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("train array: 15 tasks = 5 recipes x 3 seeds"),
        "{out}"
    );
    let plan = dir.path().join("plan");
    let train = std::fs::read_to_string(plan.join("train.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-14",
        "#SBATCH --gpus=1",
        "#SBATCH --partition=gpu",
        "--stage train --task \"$SLURM_ARRAY_TASK_ID\" --result-files --device cuda",
    ] {
        assert!(train.contains(line), "{line} not in\n{train}");
    }
    // Whole-backbone training reads images: no views job.
    assert!(!plan.join("views.sbatch").exists());
    let submit = std::fs::read_to_string(plan.join("submit.sh")).unwrap();
    assert!(
        submit.contains("train=$(sbatch --parsable $after train.sbatch)"),
        "{submit}"
    );
    let cfg = std::fs::read_to_string(plan.join("experiment.toml")).unwrap();
    assert!(cfg.contains("depth = \"resnet50\""), "{cfg}");
    assert!(plan.join("run.toml").is_file());
}
