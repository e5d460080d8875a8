//! `hiercog plan --cluster slurm`: the run's tasks as Slurm jobs that call `hiercog` itself.
//!
//! Four scripts and a driver: `prepare.sbatch` (one job: images, levels, image lists), then
//! `extract.sbatch` (a job array, one task per dataset × split, on GPUs), `probe.sbatch` (a job
//! array, one task per dataset × shots × seed, on CPUs; each writes its own result file, so no
//! two tasks share a database lock on a network file system), and `report.sbatch` (merges the
//! result files into the store and writes the report). `submit.sh` submits them chained with
//! `--dependency=afterok`. Array index i runs the i-th task of its stage, as listed by
//! `hiercog run --config RUN_CONFIG --list-tasks`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::stages::{Pipeline, Task};
use crate::Result;

/// Cluster options of the plan.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    /// GPUs per extraction task.
    pub gpus: usize,
    /// Wall-time limit per job (`HH:MM:SS`).
    pub time: String,
    pub partition: Option<String>,
    /// CPUs per task.
    pub cpus: usize,
    /// The `hiercog` executable the jobs call.
    pub hiercog: PathBuf,
    /// Extra `#SBATCH` lines (e.g. `--account=...`).
    pub extra: Vec<String>,
}

/// What [`write_plan`] wrote.
#[derive(Clone, Debug)]
pub struct Plan {
    pub dir: PathBuf,
    pub extract_tasks: usize,
    pub probe_tasks: usize,
}

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

/// Writes the scripts for the run configured in `config` (an absolute path is best: jobs run
/// from the submission directory) into `out`.
pub fn write_plan(p: &Pipeline, config: &Path, out: &Path, opts: &SlurmOptions) -> Result<Plan> {
    std::fs::create_dir_all(out).map_err(hiercog_io::Error::write(out))?;
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(hiercog_io::Error::write(&logs))?;
    let extract = stage_tasks(p, "extract")?.len();
    let probe = stage_tasks(p, "probe")?.len();
    let run = format!(
        "{} run --config {}",
        quote(&opts.hiercog.display().to_string()),
        quote(&config.display().to_string())
    );
    let header = |name: &str, array: Option<usize>, gpus: usize| {
        sbatch_header(name, array, gpus, &logs, opts)
    };
    let device = if opts.gpus > 0 { " --device cuda" } else { "" };
    let scripts = [
        (
            "prepare",
            format!("{}{run} --stage prepare\n", header("prepare", None, 0)),
        ),
        (
            "extract",
            format!(
                "{}{run} --stage extract --task \"$SLURM_ARRAY_TASK_ID\"{device}\n",
                header("extract", Some(extract), opts.gpus)
            ),
        ),
        (
            "probe",
            format!(
                "{}{run} --stage probe --task \"$SLURM_ARRAY_TASK_ID\" --result-files\n",
                header("probe", Some(probe), 0)
            ),
        ),
        (
            "report",
            format!("{}{run} --stage report\n", header("report", None, 0)),
        ),
    ];
    for (name, text) in &scripts {
        write_script(&out.join(format!("{name}.sbatch")), text)?;
    }
    let submit = format!(
        "#!/usr/bin/env bash\n\
         # Submits the hiercog run as four chained Slurm jobs: prepare -> extract[{extract}] -> probe[{probe}] -> report.\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         prepare=$(sbatch --parsable prepare.sbatch)\n\
         extract=$(sbatch --parsable --dependency=afterok:$prepare extract.sbatch)\n\
         probe=$(sbatch --parsable --dependency=afterok:$extract probe.sbatch)\n\
         report=$(sbatch --parsable --dependency=afterok:$probe report.sbatch)\n\
         echo \"submitted: prepare $prepare, extract $extract, probe $probe, report $report\"\n"
    );
    write_script(&out.join("submit.sh"), &submit)?;
    Ok(Plan {
        dir: out.to_path_buf(),
        extract_tasks: extract,
        probe_tasks: probe,
    })
}

/// The job script header: `#SBATCH` lines for the job `name` (a job array of `array` tasks if
/// given, logs in `logs`), `gpus` GPUs, the options' time, CPUs, partition and extra lines; then
/// `set -euo pipefail`.
pub fn sbatch_header(
    name: &str,
    array: Option<usize>,
    gpus: usize,
    logs: &Path,
    opts: &SlurmOptions,
) -> String {
    let mut s = String::from("#!/usr/bin/env bash\n");
    let _ = writeln!(
        s,
        "# Written by hiercog (a Slurm plan); submit with submit.sh."
    );
    let _ = writeln!(s, "#SBATCH --job-name=hiercog-{name}");
    let _ = writeln!(s, "#SBATCH --time={}", opts.time);
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", opts.cpus);
    if let Some(part) = &opts.partition {
        let _ = writeln!(s, "#SBATCH --partition={part}");
    }
    if gpus > 0 {
        let _ = writeln!(s, "#SBATCH --gpus={gpus}");
    }
    match array {
        Some(n) => {
            let _ = writeln!(s, "#SBATCH --array=0-{}", n.saturating_sub(1));
            let _ = writeln!(s, "#SBATCH --output={}/{name}-%A_%a.log", logs.display());
        }
        None => {
            let _ = writeln!(s, "#SBATCH --output={}/{name}-%j.log", logs.display());
        }
    }
    for e in &opts.extra {
        let _ = writeln!(s, "#SBATCH {e}");
    }
    s.push_str("set -euo pipefail\n");
    s
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
