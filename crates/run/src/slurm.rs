//! `hiercog plan --cluster slurm`: the run's tasks as Slurm jobs that call `hiercog` itself.
//!
//! The plan directory holds the run's effective config (`run.toml`, every path absolute, so jobs
//! run the same from any directory), four scripts and two drivers: `prepare.sbatch` (one job:
//! images, levels, image lists), `extract.sbatch` (a job array, one task per dataset × split, on
//! GPUs), `probe.sbatch` (a job array, one task per dataset × shots × seed, on CPUs, with its own
//! partition, CPUs and memory; each task writes only its own result file and never opens the
//! SQLite store, whose locking is unsafe on NFS/Lustre), and `report.sbatch` (copies the result
//! files into the store and writes the report). `submit.sh` submits them chained with
//! `--dependency=afterok`. Array index i runs the i-th task of its stage, as listed by
//! `hiercog run --config plan/run.toml --list-tasks`.
//!
//! A failed array task leaves the jobs after it pending forever (their `afterok` cannot be met).
//! [`missing_tasks`] finds the tasks without output and [`write_resubmit`] writes
//! `resubmit.sh`, which submits them and everything after them (`hiercog plan --resubmit-missing`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::results::ProbeRecord;
use crate::stages::{Pipeline, Task};
use crate::{Error, Result};

/// Cluster options of the plan.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    /// GPUs per extraction task (0: extract on CPUs, without `--device cuda`).
    pub gpus: usize,
    /// Wall-time limit per job (`HH:MM:SS`).
    pub time: String,
    /// Partition of the prepare, extract and report jobs.
    pub partition: Option<String>,
    /// CPUs per prepare, extract and report task.
    pub cpus: usize,
    /// Memory per prepare, extract and report task (Slurm's `--mem`, e.g. `32G`).
    pub mem: Option<String>,
    /// Partition of the probe tasks (CPU work); default: `partition`.
    pub probe_partition: Option<String>,
    /// CPUs per probe task.
    pub probe_cpus: usize,
    /// Memory per probe task; default: [`probe_memory_gb`].
    pub probe_mem: Option<String>,
    /// The `hiercog` executable the jobs call.
    pub hiercog: PathBuf,
    /// Extra `#SBATCH` lines (e.g. `--account=...`).
    pub extra: Vec<String>,
}

/// What [`write_plan`] wrote.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The plan directory (absolute).
    pub dir: PathBuf,
    /// Tasks of the extraction job array (one per dataset × split).
    pub extract_tasks: usize,
    /// Tasks of the probe job array (one per dataset × shots × seed).
    pub probe_tasks: usize,
    /// Memory asked for each probe task.
    pub probe_mem: String,
}

/// The name of the run config inside a plan directory.
pub const PLAN_CONFIG: &str = "run.toml";

/// `s` quoted for a POSIX shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Tasks of one stage, in the order their array index refers to.
pub fn stage_tasks(p: &Pipeline, stage: &str) -> Result<Vec<Task>> {
    Ok(p.tasks()?
        .into_iter()
        .filter(|t| t.stage() == stage)
        .collect())
}

/// Memory (bytes) a probe task needs for a dataset of `rows` feature rows (train and test) of
/// `dim` floats: the features once (a memory-mapped file is copied into the preprocessed matrix
/// with its pages released as it goes), plus 3 GB for what the solver adds. Its caps bound that:
/// a copied search split of at most 1 GiB (a row view above), cached logits of at most 1.5 GiB
/// (row-blocked passes above), the L-BFGS history and the gradient's slabs. Measured by
/// `crates/probe/benches/memory_cli.sh` (2,048-d, 1,000 classes): 1.05, 1.87 and 0.62 GiB above the
/// features at 50k, 100k and 300k training rows.
pub fn probe_memory_bytes(rows: usize, dim: usize) -> f64 {
    rows as f64 * dim as f64 * 4.0 + 3e9
}

/// Memory (GB) a probe task needs, from the largest dataset's feature set
/// ([`probe_memory_bytes`]): at most `train_per_concept + test_per_concept` images of each of its
/// concepts (the seen set counted as 1,000 concepts when it is ImageNet-1K).
pub fn probe_memory_gb(p: &Pipeline) -> Result<usize> {
    let cfg = p.config();
    let dim = hiercog_nn::model_spec(&cfg.model.name)?.feature_dim;
    let seen = match &cfg.levels.seen {
        crate::config::ConceptSet::Listed(hiercog_cog::ConceptSource::Imagenet1k) => 1000,
        _ => 0,
    };
    let concepts = cfg.levels.concepts_per_level.max(seen);
    let rows = concepts * (cfg.images.train_per_concept + cfg.images.test_per_concept);
    Ok((probe_memory_bytes(rows, dim) / 1e9).ceil() as usize)
}

/// Writes the plan of the pipeline's run into `out`: its config and the scripts.
pub fn write_plan(p: &Pipeline, out: &Path, opts: &SlurmOptions) -> Result<Plan> {
    let out = std::path::absolute(out).map_err(hiercog_io::Error::write(out))?;
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(hiercog_io::Error::write(&logs))?;
    let config = out.join(PLAN_CONFIG);
    hiercog_io::write_atomic(&config, p.config().to_toml().as_bytes())?;
    let extract = stage_tasks(p, "extract")?.len();
    let probe = stage_tasks(p, "probe")?.len();
    let probe_mem = match &opts.probe_mem {
        Some(m) => m.clone(),
        None => format!("{}G", probe_memory_gb(p)?),
    };
    let run = format!(
        "{} run --config {}",
        quote(&opts.hiercog.display().to_string()),
        quote(&config.display().to_string())
    );
    let header = |job: &SbatchJob| sbatch_header(job, &logs, opts);
    let main = |name, array, gpus| SbatchJob::main(name, array, gpus, opts);
    let device = if opts.gpus > 0 { " --device cuda" } else { "" };
    let probe_job = SbatchJob {
        name: "probe",
        array: Some(probe),
        gpus: 0,
        partition: opts.probe_partition.as_ref().or(opts.partition.as_ref()),
        cpus: opts.probe_cpus,
        mem: Some(&probe_mem),
    };
    let scripts = [
        (
            "prepare",
            format!(
                "{}{run} --stage prepare\n",
                header(&main("prepare", None, 0))
            ),
        ),
        (
            "extract",
            format!(
                "{}{run} --stage extract --task \"$SLURM_ARRAY_TASK_ID\"{device}\n",
                header(&main("extract", Some(extract), opts.gpus))
            ),
        ),
        (
            "probe",
            format!(
                "{}export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"\n\
                 {run} --stage probe --task \"$SLURM_ARRAY_TASK_ID\" --result-files\n",
                header(&probe_job),
                opts.probe_cpus
            ),
        ),
        (
            "report",
            format!("{}{run} --stage report\n", header(&main("report", None, 0))),
        ),
    ];
    for (name, text) in &scripts {
        write_script(&out.join(format!("{name}.sbatch")), text)?;
    }
    let submit = format!(
        "#!/usr/bin/env bash\n\
         # Submits the hiercog run as four chained Slurm jobs: prepare -> extract[{extract}] -> probe[{probe}] -> report.\n\
         # If a task fails, the jobs after it stay pending: `hiercog plan --resubmit-missing {dir}`.\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         prepare=$(sbatch --parsable prepare.sbatch)\n\
         extract=$(sbatch --parsable --dependency=afterok:$prepare extract.sbatch)\n\
         probe=$(sbatch --parsable --dependency=afterok:$extract probe.sbatch)\n\
         report=$(sbatch --parsable --dependency=afterok:$probe report.sbatch)\n\
         echo \"submitted: prepare $prepare, extract $extract, probe $probe, report $report\"\n",
        dir = out.display()
    );
    write_script(&out.join("submit.sh"), &submit)?;
    Ok(Plan {
        dir: out,
        extract_tasks: extract,
        probe_tasks: probe,
        probe_mem,
    })
}

/// One job's name and resources, for its `#SBATCH` header.
#[derive(Clone, Debug)]
pub struct SbatchJob<'a> {
    /// The job's name (`hiercog-<name>`, log file names).
    pub name: &'a str,
    /// A job array of this many tasks.
    pub array: Option<usize>,
    /// GPUs per task.
    pub gpus: usize,
    /// The partition, if any.
    pub partition: Option<&'a String>,
    /// CPUs per task.
    pub cpus: usize,
    /// Memory per task (Slurm syntax, e.g. `32G`).
    pub mem: Option<&'a String>,
}

impl<'a> SbatchJob<'a> {
    /// A job on the options' partition with their CPUs and memory.
    pub fn main(name: &'a str, array: Option<usize>, gpus: usize, opts: &'a SlurmOptions) -> Self {
        SbatchJob {
            name,
            array,
            gpus,
            partition: opts.partition.as_ref(),
            cpus: opts.cpus,
            mem: opts.mem.as_ref(),
        }
    }
}

/// The job script header: `#SBATCH` lines for `job` (logs in `logs`), the options' time and
/// extra lines; then `set -euo pipefail`.
pub fn sbatch_header(job: &SbatchJob, logs: &Path, opts: &SlurmOptions) -> String {
    let mut s = String::from("#!/usr/bin/env bash\n");
    let _ = writeln!(
        s,
        "# Written by hiercog (a Slurm plan); submit with submit.sh."
    );
    let _ = writeln!(s, "#SBATCH --job-name=hiercog-{}", job.name);
    let _ = writeln!(s, "#SBATCH --time={}", opts.time);
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", job.cpus);
    if let Some(mem) = job.mem {
        let _ = writeln!(s, "#SBATCH --mem={mem}");
    }
    if let Some(part) = job.partition {
        let _ = writeln!(s, "#SBATCH --partition={part}");
    }
    if job.gpus > 0 {
        let _ = writeln!(s, "#SBATCH --gpus={}", job.gpus);
    }
    match job.array {
        Some(n) => {
            let _ = writeln!(s, "#SBATCH --array=0-{}", n.saturating_sub(1));
            let _ = writeln!(
                s,
                "#SBATCH --output={}/{}-%A_%a.log",
                logs.display(),
                job.name
            );
        }
        None => {
            let _ = writeln!(s, "#SBATCH --output={}/{}-%j.log", logs.display(), job.name);
        }
    }
    for e in &opts.extra {
        let _ = writeln!(s, "#SBATCH {e}");
    }
    s.push_str("set -euo pipefail\n");
    s
}

/// The tasks of a plan's run that have no output yet, by stage (array indices).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Missing {
    /// Images, levels or image lists are missing.
    pub prepare: bool,
    /// Extract tasks without their feature set.
    pub extract: Vec<usize>,
    /// Probe tasks without their result (a per-task file, or a record of the store).
    pub probe: Vec<usize>,
    /// The report is missing or partial.
    pub report: bool,
}

impl Missing {
    /// True when every task has its output.
    pub fn is_empty(&self) -> bool {
        !self.prepare && self.extract.is_empty() && self.probe.is_empty() && !self.report
    }
}

/// What is missing in the run of `p`. A probe task counts as done when a result file in
/// `results/` holds its dataset, shots and seed (no feature set is hashed, so this is quick on a
/// login node); the report when `report/report.json` says no run is missing.
pub fn missing_tasks(p: &Pipeline) -> Result<Missing> {
    let dir = p.dir();
    let prepare = p.levels().is_err() || !dir.seen_splits().is_file();
    let extract = stage_tasks(p, "extract")?
        .iter()
        .enumerate()
        .filter(|(_, t)| match t {
            Task::Extract { dataset, split } => !p.features_path(dataset, *split).exists(),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    let mut done = HashSet::new();
    if let Ok(entries) = std::fs::read_dir(dir.result_files()) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(hiercog_io::Error::read(&path))?;
            if let Ok(r) = serde_json::from_str::<ProbeRecord>(&text) {
                done.insert((r.dataset, r.shots, r.seed));
            }
        }
    }
    let probe = stage_tasks(p, "probe")?
        .into_iter()
        .enumerate()
        .filter(|(_, t)| match t {
            Task::Probe {
                dataset,
                shots,
                seed,
            } => !done.contains(&(dataset.clone(), *shots, *seed)),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    let report = crate::report::load(dir.root()).map_or(true, |r| r.missing_runs > 0);
    Ok(Missing {
        prepare,
        extract,
        probe,
        report,
    })
}

/// Writes `resubmit.sh` into the plan directory: it submits the missing tasks (arrays restricted to
/// their indices) and every stage after the first missing one, chained with `afterok`. Returns
/// its path.
pub fn write_resubmit(plan_dir: &Path, missing: &Missing) -> Result<PathBuf> {
    if !plan_dir.join("submit.sh").is_file() {
        return Err(Error::Invalid(format!(
            "{} is not a plan directory (no submit.sh): give the --out of `hiercog plan`",
            plan_dir.display()
        )));
    }
    let list = |ix: &[usize]| {
        ix.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut s = String::from(
        "#!/usr/bin/env bash\n\
         # Written by `hiercog plan --resubmit-missing`: the tasks without output, and every stage after them.\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         dep=\n",
    );
    let mut submit = |name: &str, array: Option<String>| {
        let array = array.map_or(String::new(), |a| format!(" --array={a}"));
        let _ = writeln!(
            s,
            "{name}=$(sbatch --parsable $dep{array} {name}.sbatch)\n\
             dep=\"--dependency=afterok:${name}\"\n\
             echo \"submitted {name}{}: ${name}\"",
            array.replace('"', "")
        );
    };
    let mut after = missing.prepare;
    if after {
        submit("prepare", None);
    }
    // After a missing prepare every extraction may be affected; else only the missing ones.
    if after || !missing.extract.is_empty() {
        submit("extract", (!after).then(|| list(&missing.extract)));
        after = true;
    }
    if after || !missing.probe.is_empty() {
        submit(
            "probe",
            (!missing.probe.is_empty() && !after).then(|| list(&missing.probe)),
        );
        after = true;
    }
    if after || missing.report {
        submit("report", None);
    }
    let path = plan_dir.join("resubmit.sh");
    write_script(&path, &s)?;
    Ok(path)
}

/// Writes an executable script, atomically.
pub fn write_script(path: &Path, text: &str) -> Result<()> {
    hiercog_io::write_atomic(path, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(hiercog_io::Error::write(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resubmission_restarts_at_the_first_missing_stage() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("submit.sh"), "").unwrap();
        let script = |m: &Missing| {
            let p = write_resubmit(dir.path(), m).unwrap();
            std::fs::read_to_string(p).unwrap()
        };
        let s = script(&Missing {
            probe: vec![3, 7],
            report: true,
            ..Missing::default()
        });
        assert!(
            !s.contains("prepare.sbatch") && !s.contains("extract.sbatch"),
            "{s}"
        );
        assert!(
            s.contains("--array=3,7 probe.sbatch") && s.contains("report.sbatch"),
            "{s}"
        );
        // A missing extraction: only it, then every probe task (its probes are among them).
        let s = script(&Missing {
            extract: vec![1],
            probe: vec![4],
            report: true,
            ..Missing::default()
        });
        assert!(s.contains("--array=1 extract.sbatch"), "{s}");
        assert!(s.contains("$dep probe.sbatch"), "{s}");
        let s = script(&Missing {
            report: true,
            ..Missing::default()
        });
        assert!(
            !s.contains("probe.sbatch") && s.contains("report.sbatch"),
            "{s}"
        );
    }
}
