//! The run's report: the CoG table (seen set and L1..Lk, mean ± std over seeds), few-shot curves,
//! the level-similarity histogram and hierarchical metrics, as `report.md`, `report.json` and plots;
//! and the side-by-side comparison of several runs (`hiercog report RUN_DIR...`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hiercog_probe::{PathEnd, ProbeResult};
use hiercog_report::plot::{self, LineOptions, Series};
use hiercog_report::table::{mean_std, Table};
use serde::{Deserialize, Serialize};

use crate::results::ProbeRecord;
use crate::{Error, Result};

/// Mean and standard deviation over seeds of one number, with the number of seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stat {
    /// Mean over seeds.
    pub mean: f64,
    /// Population standard deviation over seeds (divided by the number of seeds).
    pub std: f64,
    /// Number of seeds the statistic is over.
    pub seeds: usize,
}

impl Stat {
    fn of(values: &[f64]) -> Option<Stat> {
        (!values.is_empty()).then(|| {
            let (mean, std) = mean_std(values);
            Stat {
                mean,
                std,
                seeds: values.len(),
            }
        })
    }
}

/// One dataset's numbers (accuracies in percent).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetReport {
    /// `seen` or the level's name (`L1`..`Lk`).
    pub name: String,
    /// Number of concepts (classes of the probe).
    pub classes: usize,
    /// Training images of the all-data probe.
    pub train_images: usize,
    /// Test images every probe is scored on.
    pub test_images: usize,
    /// Mean Lin similarity of the level's concepts to the seen set (`None` for the seen set).
    pub mean_similarity: Option<f64>,
    /// Top-1 accuracy of the all-data linear probe.
    pub top1: Option<Stat>,
    /// Top-5 accuracy of the all-data linear probe.
    pub top5: Option<Stat>,
    /// Top-1 accuracy of the k-NN probe (when `probe.knn` is set).
    pub knn_top1: Option<Stat>,
    /// mAP (percent) of the test images as queries against the train images, ranked by the k-NN
    /// probe's cosine similarity (deterministic: computed once, on the first seed's run).
    #[serde(default)]
    pub knn_map: Option<Stat>,
    /// H-AP (percent) of the same rankings, in the hierarchy of the class distances.
    #[serde(default)]
    pub knn_hap: Option<Stat>,
    /// Mean LCA height of the top-1 mistakes (all-data probe).
    pub mistake_severity: Option<Stat>,
    /// The top-1 mistakes of the all-data runs, summed over seeds: what the mistake severity is a
    /// mean over.
    #[serde(default)]
    pub mistakes: Option<usize>,
    /// Average hierarchical distance@5: the mean LCA height between the true class and each of
    /// the top-5 predictions (all-data probe).
    pub hdist_at_5: Option<Stat>,
    /// Few-shot top-1 by shots per class.
    pub few_shot: BTreeMap<usize, Stat>,
}

/// The whole report (`report.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// True when the images are hiercog's synthetic set, not photographs.
    pub synthetic: bool,
    /// The backbone, as configured (`model.name`).
    pub model: String,
    /// The probe's solver (`fast` or `sgd`).
    pub solver: String,
    /// The seeds every statistic is over.
    pub seeds: Vec<u64>,
    /// The seen set first, then the levels in order.
    pub datasets: Vec<DatasetReport>,
    /// Probe runs not finished yet (the report is partial when non-zero).
    pub missing_runs: usize,
    /// The machines the probe runs were computed on, with how many runs each: results are
    /// identical run to run on one machine and may move in the last digits across CPUs.
    #[serde(default)]
    pub machines: Vec<(String, usize)>,
    /// Runs whose chosen λ is the largest of the regularisation path.
    #[serde(default)]
    pub lambda_at_largest: usize,
    /// The hierarchy the class distances are measured in.
    #[serde(default)]
    pub hierarchy: String,
    /// Runs whose chosen λ is the smallest of the regularisation path.
    #[serde(default)]
    pub lambda_at_smallest: usize,
    /// The reduction the features went through before probing (`tldr:128`...), fitted on the
    /// seen set's train features; `None`: the features as extracted.
    #[serde(default)]
    pub reduction: Option<String>,
}

impl RunReport {
    /// A line on the λ chosen at an end of the path (the best may lie beyond it), if any was.
    pub fn path_end_note(&self) -> Option<String> {
        let runs = self.lambda_at_largest + self.lambda_at_smallest;
        (runs > 0).then(|| {
            format!(
                "the chosen λ is at an end of the regularisation path in {runs} probe runs \
                 ({} at the largest λ, {} at the smallest): the best λ may lie beyond it; \
                 compare with `hiercog probe --l2-range` over a wider range",
                self.lambda_at_largest, self.lambda_at_smallest
            )
        })
    }

    /// The line saying where the probe runs were computed.
    pub fn machines_line(&self) -> String {
        if self.machines.is_empty() {
            return "machine: not recorded".into();
        }
        let list: Vec<String> = self
            .machines
            .iter()
            .map(|(m, n)| format!("{m} ({n} runs)"))
            .collect();
        format!(
            "computed on: {} — identical run to run on one machine; floating-point results may \
             move across CPUs",
            list.join("; ")
        )
    }
}

/// What a report is made of, gathered by the pipeline
/// ([`Pipeline::report_input`](crate::Pipeline::report_input)).
#[derive(Clone, Debug)]
pub struct ReportInput {
    /// True when the images are hiercog's synthetic set.
    pub synthetic: bool,
    /// The backbone.
    pub model: String,
    /// The probe solver.
    pub solver: String,
    /// The probe seeds.
    pub seeds: Vec<u64>,
    /// The datasets in table order (the seen set, then the levels), each with the mean similarity
    /// of its concepts to the seen set (`None` for the seen set).
    pub datasets: Vec<(String, Option<f64>)>,
    /// The finished probe runs, in task order.
    pub runs: Vec<ProbeRecord>,
    /// Probe runs not finished yet.
    pub missing_runs: usize,
    /// The levels' benchmark directory (its similarity histogram is copied into the report).
    pub levels_dir: Option<PathBuf>,
    /// The hierarchy the class distances are measured in (a sentence for the report).
    pub hierarchy: String,
    /// The reduction before probing, if any.
    pub reduction: Option<String>,
}

/// The report's numbers: mean ± std over seeds per dataset and shot count.
pub fn summarize(input: &ReportInput) -> RunReport {
    let mut datasets: Vec<DatasetReport> = input
        .datasets
        .iter()
        .map(|(name, mean_similarity)| DatasetReport {
            name: name.clone(),
            classes: 0,
            train_images: 0,
            test_images: 0,
            mean_similarity: *mean_similarity,
            top1: None,
            top5: None,
            knn_top1: None,
            knn_map: None,
            knn_hap: None,
            mistake_severity: None,
            mistakes: None,
            hdist_at_5: None,
            few_shot: BTreeMap::new(),
        })
        .collect();
    // Results per (dataset, shots), over seeds.
    let mut by_run: BTreeMap<(&str, Option<usize>), Vec<&ProbeResult>> = BTreeMap::new();
    for r in &input.runs {
        by_run
            .entry((r.dataset.as_str(), r.shots))
            .or_default()
            .push(&r.result);
    }
    for d in &mut datasets {
        if let Some(runs) = by_run.get(&(d.name.as_str(), None)) {
            let r0 = runs[0];
            d.classes = r0.classes;
            d.train_images = r0.train_rows;
            d.test_images = r0.test_rows;
            let values = |f: &dyn Fn(&ProbeResult) -> Option<f64>| -> Option<Stat> {
                Stat::of(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            d.top1 = values(&|r| Some(r.test.top1));
            d.top5 = values(&|r| Some(r.test.top5));
            d.knn_top1 = values(&|r| r.knn.as_ref().map(|k| k.top1));
            d.knn_map = values(&|r| r.knn_retrieval.as_ref().map(|k| k.map));
            d.knn_hap = values(&|r| r.knn_retrieval.as_ref().and_then(|k| k.hap));
            d.mistake_severity = values(&|r| {
                r.test
                    .hierarchical
                    .as_ref()
                    .and_then(|h| h.mistake_severity)
            });
            d.hdist_at_5 = values(&|r| r.test.hierarchical.as_ref().map(|h| h.hdist_at_5));
            d.mistakes = d.mistake_severity.as_ref().map(|_| {
                runs.iter()
                    .map(|r| (r.test_rows as f64 * (100.0 - r.test.top1) / 100.0).round() as usize)
                    .sum()
            });
        }
        for (&(name, shots), runs) in &by_run {
            if let (true, Some(n)) = (name == d.name, shots) {
                let v: Vec<f64> = runs.iter().map(|r| r.test.top1).collect();
                d.few_shot
                    .insert(n, Stat::of(&v).expect("at least one run"));
            }
        }
    }
    let mut machines: BTreeMap<String, usize> = BTreeMap::new();
    for r in &input.runs {
        let m = r
            .machine
            .as_ref()
            .map_or_else(|| "not recorded".into(), |m| m.to_string());
        *machines.entry(m).or_default() += 1;
    }
    let at_end = |end| {
        input
            .runs
            .iter()
            .filter(|r| r.result.lambda_at_path_end() == Some(end))
            .count()
    };
    RunReport {
        synthetic: input.synthetic,
        model: input.model.clone(),
        solver: input.solver.clone(),
        seeds: input.seeds.clone(),
        datasets,
        missing_runs: input.missing_runs,
        machines: machines.into_iter().collect(),
        lambda_at_largest: at_end(PathEnd::Largest),
        lambda_at_smallest: at_end(PathEnd::Smallest),
        hierarchy: input.hierarchy.clone(),
        reduction: input.reduction.clone(),
    }
}

/// `"71.3 ± 0.4"` (`decimals` digits), the mean alone for one seed, `–` for none.
pub fn fmt_stat(s: &Option<Stat>, decimals: usize) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.seeds == 1 => format!("{:.*}", decimals, s.mean),
        Some(s) => format!("{:.*} ± {:.*}", decimals, s.mean, decimals, s.std),
    }
}

/// The CoG table: one row per dataset.
pub fn cog_table(r: &RunReport) -> Table {
    let shots: Vec<usize> = r
        .datasets
        .iter()
        .flat_map(|d| d.few_shot.keys().copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut headers: Vec<String> = [
        "dataset",
        "classes",
        "mean Lin sim.",
        "top-1",
        "top-5",
        "k-NN top-1",
        "k-NN mAP",
        "k-NN H-AP",
        "mistake sev.",
        "hdist@5",
    ]
    .map(String::from)
    .to_vec();
    headers.extend(shots.iter().map(|n| format!("{n}-shot")));
    let mut t = Table::new(headers).with_title(format!(
        "{}{}: linear probe ({} solver), top-1 % mean ± std over {} seeds{}",
        r.model,
        r.reduction
            .as_ref()
            .map_or(String::new(), |x| format!(" reduced by {x}")),
        r.solver,
        r.seeds.len(),
        if r.synthetic {
            " — SYNTHETIC images"
        } else {
            ""
        }
    ));
    for d in &r.datasets {
        let mut row = vec![
            d.name.clone(),
            d.classes.to_string(),
            d.mean_similarity.map_or("–".into(), |s| format!("{s:.3}")),
            fmt_stat(&d.top1, 1),
            fmt_stat(&d.top5, 1),
            fmt_stat(&d.knn_top1, 1),
            fmt_stat(&d.knn_map, 1),
            fmt_stat(&d.knn_hap, 1),
            match (&d.mistake_severity, d.mistakes) {
                (Some(_), Some(n)) => format!("{} (n={n})", fmt_stat(&d.mistake_severity, 2)),
                _ => fmt_stat(&d.mistake_severity, 2),
            },
            fmt_stat(&d.hdist_at_5, 2),
        ];
        row.extend(
            shots
                .iter()
                .map(|n| fmt_stat(&d.few_shot.get(n).cloned(), 1)),
        );
        t.push_row(row);
    }
    t
}

/// Writes the report (report.md, report.json, report.csv, plots) into `dir` and returns it.
pub fn write(input: &ReportInput, dir: &Path) -> Result<RunReport> {
    let r = summarize(input);
    std::fs::create_dir_all(dir).map_err(hiercog_io::Error::write(dir))?;
    hiercog_io::sweep_temporaries(dir)?;
    let table = cog_table(&r);
    let mut plots = Vec::new();

    let curves: Vec<Series> = r
        .datasets
        .iter()
        .filter(|d| !d.few_shot.is_empty())
        .map(|d| Series {
            label: d.name.clone(),
            points: d
                .few_shot
                .iter()
                .map(|(&n, s)| (n as f64, s.mean))
                .collect(),
            err: Some(d.few_shot.values().map(|s| s.std).collect()),
        })
        .collect();
    if !curves.is_empty() {
        plots.extend(plot::line(
            &dir.join("few_shot"),
            &format!("Few-shot linear probe, {}{}", r.model, synthetic_tag(&r)),
            "images per class",
            "top-1 accuracy (%)",
            &curves,
            &LineOptions {
                log2_x: true,
                y_range: Some((0.0, 100.0)),
                ..LineOptions::default()
            },
        )?);
    }
    // The level-similarity histogram is the level builder's own plot (levels/plots/): copied, not redrawn.
    if let Some(levels_dir) = &input.levels_dir {
        for ext in ["png", "svg"] {
            let from = levels_dir
                .join("plots")
                .join(format!("similarity_histogram.{ext}"));
            let to = dir.join(format!("level_similarity.{ext}"));
            if let Ok(bytes) = std::fs::read(&from) {
                hiercog_io::write_atomic(&to, &bytes)?;
                plots.push(to);
            }
        }
    }
    let all_data: Vec<plot::BarGroup> = r
        .datasets
        .iter()
        .filter_map(|d| {
            d.top1
                .as_ref()
                .map(|s| (d.name.clone(), vec![(r.model.clone(), s.mean, Some(s.std))]))
        })
        .collect();
    if !all_data.is_empty() {
        plots.extend(plot::bars(
            &dir.join("cog_top1"),
            &format!("Linear probe top-1 per level{}", synthetic_tag(&r)),
            "top-1 accuracy (%)",
            &all_data,
        )?);
    }

    let mut md = String::new();
    let _ = writeln!(md, "# hiercog run report\n");
    if r.synthetic {
        let _ = writeln!(
            md,
            "> **SYNTHETIC IMAGES.** These numbers come from hiercog's synthetic hierarchical image set \
             (rendered shapes whose visual factors follow the WordNet hierarchy), not from photographs. \
             They exercise the real pipeline; they say nothing about ImageNet-CoG accuracy.\n"
        );
    }
    let _ = writeln!(
        md,
        "Model: `{}` · solver: `{}` · seeds: {:?}\n",
        r.model, r.solver, r.seeds
    );
    let _ = writeln!(md, "{}.\n", r.machines_line());
    let _ = match &r.reduction {
        Some(x) => writeln!(
            md,
            "Features reduced by `{x}` before probing (every dataset; fitted on the seen set's \
             train features only, no test data; outputs L2-normalised).\n"
        ),
        None => writeln!(md, "Features as extracted (no reduction).\n"),
    };
    if let Some(note) = r.path_end_note() {
        let _ = writeln!(md, "**Note:** {note}.\n");
    }
    if r.missing_runs > 0 {
        let _ = writeln!(
            md,
            "**Partial:** {} probe runs are not finished yet.\n",
            r.missing_runs
        );
    }
    let _ = writeln!(md, "{}", table.to_markdown());
    let _ = writeln!(
        md,
        "\nLevels are ordered by decreasing semantic similarity to the seen concepts (L1 closest). \
         Mistake severity is the mean LCA height of top-1 mistakes (n: the mistakes it is a mean over, \
         summed over seeds); hdist@5 the average LCA height over the top-5 predictions (Bertinetto et \
         al. 2020); k-NN mAP and H-AP (hierarchical average precision, Ramzi et al. 2022) rank \
         every train image for each test image by the k-NN probe's cosine similarity, computed \
         once per dataset (they do not depend on the seed), H-AP with the levels two classes \
         share = the largest class distance minus theirs; {}. Level construction details: `{}`.\n",
        r.hierarchy,
        input
            .levels_dir
            .as_ref()
            .map(|d| d.join("report.md").display().to_string())
            .unwrap_or_default()
    );
    for f in &plots {
        if f.extension().is_some_and(|e| e == "png") {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(md, "![{name}]({name})\n");
        }
    }
    hiercog_io::write_atomic(&dir.join("report.md"), md.as_bytes())?;
    hiercog_io::write_atomic(&dir.join("report.csv"), table.to_csv().as_bytes())?;
    let json = serde_json::to_string_pretty(&r).expect("reports serialize");
    hiercog_io::write_atomic(&dir.join("report.json"), json.as_bytes())?;
    Ok(r)
}

fn synthetic_tag(r: &RunReport) -> &'static str {
    if r.synthetic {
        " (SYNTHETIC images)"
    } else {
        ""
    }
}

/// Loads `RUN_DIR/report/report.json`.
pub fn load(run_dir: &Path) -> Result<RunReport> {
    let path = run_dir.join("report").join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Invalid(format!(
            "{}: {e} — is {} a finished hiercog run? (`hiercog run --config ...` writes it)",
            path.display(),
            run_dir.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Several runs side by side: all-data top-1 per dataset, one column per run.
pub fn compare(runs: &[(String, RunReport)]) -> Table {
    let mut headers = vec!["dataset".to_string()];
    headers.extend(runs.iter().map(|(name, r)| {
        format!(
            "{name} ({}{})",
            r.model,
            if r.synthetic { ", synthetic" } else { "" }
        )
    }));
    let mut t = Table::new(headers).with_title("Linear-probe top-1 (%), mean ± std over seeds");
    let mut names: Vec<String> = Vec::new();
    for (_, r) in runs {
        for d in &r.datasets {
            if !names.contains(&d.name) {
                names.push(d.name.clone());
            }
        }
    }
    for name in names {
        let mut row = vec![name.clone()];
        for (_, r) in runs {
            let stat = r
                .datasets
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.top1.clone());
            row.push(fmt_stat(&stat, 1));
        }
        t.push_row(row);
    }
    t
}
