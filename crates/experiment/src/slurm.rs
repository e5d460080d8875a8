//! The experiment as Slurm jobs, for GPUs at ImageNet scale: `views.sbatch` (depth (a) only: the
//! frozen backbone over augmented views of the seen training images, one GPU job),
//! `train.sbatch` (a job array, one task per recipe × seed: train, represent every split, probe;
//! each probe run writes its own result file), `report.sbatch` (merges the result files and
//! writes the table). `submit.sh [JOB_ID]` submits them chained with `--dependency=afterok`,
//! after job `JOB_ID` when given (the CoG run's report job, from `hiercog plan`'s `submit.sh`).
//! Array index i runs the i-th task of its stage, as `--list-tasks` prints them.

use std::path::{Path, PathBuf};

use hiercog_run::slurm::{quote, sbatch_header, write_script, SbatchJob, SlurmOptions};

use crate::config::ExperimentConfig;
use crate::Result;

/// What [`write_plan`] wrote.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The folder of the scripts.
    pub dir: PathBuf,
    /// Array tasks of the train stage (recipes × seeds).
    pub train_tasks: usize,
}

/// Writes the scripts of the experiment `config` into `out`. `run_config` and `experiment_config` are the
/// TOML files the jobs pass to `hiercog experiment hierarchy` (absolute paths are best: jobs run
/// from the submission directory); `experiment_dir` is the experiment directory.
pub fn write_plan(
    config: &ExperimentConfig,
    run_config: &Path,
    experiment_config: &Path,
    experiment_dir: &Path,
    out: &Path,
    opts: &SlurmOptions,
) -> Result<Plan> {
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(hiercog_io::Error::write(&logs))?;
    let count = |stage: &str| config.tasks().iter().filter(|t| t.stage() == stage).count();
    let (views, train) = (count("views"), count("train"));
    let command = format!(
        "{} experiment hierarchy --config {} --experiment-config {} --out {}",
        quote(&opts.hiercog.display().to_string()),
        quote(&run_config.display().to_string()),
        quote(&experiment_config.display().to_string()),
        quote(&experiment_dir.display().to_string()),
    );
    let device = if opts.gpus > 0 { " --device cuda" } else { "" };
    let mut jobs = Vec::new();
    if views > 0 {
        jobs.push((
            "views",
            format!(
                "{}{command} --stage views\n",
                sbatch_header(
                    &SbatchJob::main("views", None, opts.gpus, opts),
                    &logs,
                    opts
                )
            ),
        ));
    }
    jobs.push((
        "train",
        format!(
            "{}{command} --stage train --task \"$SLURM_ARRAY_TASK_ID\" --result-files{device}\n",
            sbatch_header(
                &SbatchJob::main("train", Some(train), opts.gpus, opts),
                &logs,
                opts
            )
        ),
    ));
    jobs.push((
        "report",
        format!(
            "{}{command} --stage report\n",
            sbatch_header(&SbatchJob::main("report", None, 0, opts), &logs, opts)
        ),
    ));
    let mut submit = format!(
        "#!/usr/bin/env bash\n\
         # Submits the experiment as chained Slurm jobs ({}), after job $1 when given\n\
         # (the CoG run's report job: the experiment reads its features).\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         after=\"${{1:+--dependency=afterok:$1}}\"\n",
        jobs.iter().map(|j| j.0).collect::<Vec<_>>().join(" -> ")
    );
    for (name, text) in &jobs {
        write_script(&out.join(format!("{name}.sbatch")), text)?;
        submit.push_str(&format!(
            "{name}=$(sbatch --parsable $after {name}.sbatch)\nafter=--dependency=afterok:${name}\n"
        ));
    }
    submit.push_str(&format!(
        "echo \"submitted: {}\"\n",
        jobs.iter()
            .map(|j| format!("{} ${}", j.0, j.0))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    write_script(&out.join("submit.sh"), &submit)?;
    Ok(Plan {
        dir: out.to_path_buf(),
        train_tasks: train,
    })
}
