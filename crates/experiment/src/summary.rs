//! The experiment's table: one row per recipe (and one for the frozen pretrained backbone), the
//! CoG numbers as mean ± std over training seeds, each recipe compared with cross-entropy seed by
//! seed (paired t-test), the answer those comparisons give, and the plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use hiercog_report::plot::{self, BarGroup, LineOptions, Series};
use hiercog_report::table::{mean_std, Table};
use hiercog_run::report::{fmt_stat, ReportInput, Stat};
use hiercog_run::results::ProbeRecord;
use hiercog_run::SEEN;
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::experiment::UnitResult;
use crate::recipe::Recipe;
use crate::stats::{paired_t_test, PairedTest};
use crate::Result;

/// The significance level of the verdicts (two-sided paired t-test over seeds).
pub const ALPHA: f64 = 0.05;

/// The numbers of one replicate (a training seed; for the pretrained row, a probe seed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedValues {
    /// The seed.
    pub seed: u64,
    /// All-data top-1 (%) per dataset, in the report's dataset order (`NaN` where missing).
    pub top1: Vec<f64>,
    /// Mean LCA height of top-1 mistakes on the seen test set.
    pub mistake_severity: Option<f64>,
    /// Average hierarchical distance of the top-5 predictions on the seen test set.
    pub hdist_at_5: Option<f64>,
    /// Few-shot top-1 (%) per dataset: shots → value.
    pub few_shot: Vec<BTreeMap<usize, f64>>,
}

impl SeedValues {
    /// Mean all-data top-1 over the levels (every dataset but the seen set).
    pub fn mean_level_top1(&self) -> f64 {
        let levels = &self.top1[1..];
        levels.iter().sum::<f64>() / levels.len().max(1) as f64
    }
}

/// One row of the table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecipeRow {
    /// The recipe (`pretrained` for the frozen backbone's own features).
    pub recipe: String,
    /// All-data top-1 per dataset (seen first), over seeds.
    pub top1: Vec<Option<Stat>>,
    /// Seen-set mistake severity.
    pub mistake_severity: Option<Stat>,
    /// Seen-set hdist@5.
    pub hdist_at_5: Option<Stat>,
    /// Mean all-data top-1 over the levels.
    pub mean_level_top1: Option<Stat>,
    /// Few-shot top-1 per dataset: shots → stat.
    pub few_shot: Vec<BTreeMap<usize, Stat>>,
    /// Training images per class of each dataset's all-data probe (the x of its all-data point).
    pub images_per_class: Vec<Option<f64>>,
    /// Training top-1 (%) of the last epoch, over seeds (none for the pretrained row): how well
    /// the recipe fitted the seen training set.
    pub train_top1: Option<Stat>,
    /// Mean training seconds per seed (none for the pretrained row).
    pub train_seconds: Option<f64>,
    /// Mean seconds per seed of representing and probing.
    pub eval_seconds: Option<f64>,
    /// The per-seed numbers.
    pub per_seed: Vec<SeedValues>,
}

/// What a comparison says at [`ALPHA`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Better than the control beyond seed noise.
    Better,
    /// Worse than the control beyond seed noise.
    Worse,
    /// No difference beyond seed noise (or too few seeds to tell).
    NoDifference,
}

impl Verdict {
    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoDifference => "no difference beyond seed noise",
        }
    }
}

/// A recipe against the control on one metric, paired by seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// The recipe.
    pub recipe: String,
    /// What it is compared with: the control (cross-entropy), or, for a self-supervised recipe
    /// with the hierarchy, also the same recipe without it.
    pub control: String,
    /// The metric (`seen top-1`, `L3 top-1`, `mean L top-1`, `mistake severity`, ...).
    pub metric: String,
    /// Whether a larger value is better (accuracies) or worse (distances).
    pub higher_is_better: bool,
    /// The paired t-test of recipe − control (`None` with fewer than 2 common seeds).
    pub test: Option<PairedTest>,
    /// What it says.
    pub verdict: Verdict,
}

/// The whole experiment report (`experiment.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// The images are hiercog's synthetic set.
    pub synthetic: bool,
    /// The frozen backbone of the CoG run.
    pub model: String,
    /// What was trained, in words.
    pub training: String,
    /// Training seeds.
    pub seeds: Vec<u64>,
    /// Datasets: the seen set, then the levels.
    pub datasets: Vec<String>,
    /// Mean Lin similarity of each dataset to the seen set (`None` for the seen set).
    pub similarity: Vec<Option<f64>>,
    /// The frozen backbone's own row (std over probe seeds).
    pub pretrained: RecipeRow,
    /// One row per recipe (std over training seeds).
    pub rows: Vec<RecipeRow>,
    /// Every recipe but the control against the control (and each self-supervised `-lca` recipe
    /// against its recipe without the hierarchy, when listed).
    pub comparisons: Vec<Comparison>,
    /// The answer, one sentence per recipe.
    pub answer: Vec<String>,
    /// Units not finished yet (the report is partial when non-empty).
    pub missing: Vec<String>,
    /// Edges of the taxonomy that the label tree dropped (DAG → tree).
    pub dropped_edges: usize,
}

/// What [`summarize`] reads.
pub struct SummaryInput<'a> {
    /// The experiment's configuration.
    pub config: &'a ExperimentConfig,
    /// What was trained, in words.
    pub training: String,
    /// The CoG run of the frozen backbone.
    pub baseline: &'a ReportInput,
    /// The finished units.
    pub units: &'a [UnitResult],
    /// Labels of the units not finished.
    pub missing: Vec<String>,
    /// Edges dropped by the label tree.
    pub dropped_edges: usize,
}

fn stat(values: &[f64]) -> Option<Stat> {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    (!values.is_empty()).then(|| {
        let (mean, std) = mean_std(&values);
        Stat {
            mean,
            std,
            seeds: values.len(),
        }
    })
}

/// The numbers of one replicate from its probe records.
fn seed_values(seed: u64, records: &[&ProbeRecord], datasets: &[String]) -> SeedValues {
    let all = |d: &str| {
        records
            .iter()
            .find(|r| r.dataset == d && r.shots.is_none())
            .map(|r| &r.result)
    };
    let seen = all(SEEN);
    let hier = seen.and_then(|r| r.test.hierarchical.as_ref());
    SeedValues {
        seed,
        top1: datasets
            .iter()
            .map(|d| all(d).map_or(f64::NAN, |r| r.test.top1))
            .collect(),
        mistake_severity: hier.and_then(|h| h.mistake_severity),
        hdist_at_5: hier.map(|h| h.hdist_at_5),
        few_shot: datasets
            .iter()
            .map(|d| {
                records
                    .iter()
                    .filter(|r| r.dataset == *d)
                    .filter_map(|r| r.shots.map(|n| (n, r.result.test.top1)))
                    .collect()
            })
            .collect(),
    }
}

/// A row from its replicates' records.
fn row(
    recipe: String,
    replicates: &[(u64, Vec<&ProbeRecord>)],
    datasets: &[String],
    units: &[&UnitResult],
) -> RecipeRow {
    let n = units.len().max(1) as f64;
    let seconds = (!units.is_empty()).then(|| {
        (
            units.iter().map(|u| u.train_seconds).sum::<f64>() / n,
            units
                .iter()
                .map(|u| u.represent_seconds + u.probe_seconds)
                .sum::<f64>()
                / n,
        )
    });
    let per_seed: Vec<SeedValues> = replicates
        .iter()
        .map(|(seed, recs)| seed_values(*seed, recs, datasets))
        .collect();
    let over = |f: &dyn Fn(&SeedValues) -> Option<f64>| {
        stat(&per_seed.iter().filter_map(f).collect::<Vec<_>>())
    };
    let images_per_class = datasets
        .iter()
        .map(|d| {
            let v: Vec<f64> = replicates
                .iter()
                .flat_map(|(_, recs)| recs.iter())
                .filter(|r| r.dataset == *d && r.shots.is_none() && r.result.classes > 0)
                .map(|r| r.result.train_rows as f64 / r.result.classes as f64)
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        })
        .collect();
    RecipeRow {
        recipe,
        top1: (0..datasets.len())
            .map(|i| over(&|s| Some(s.top1[i])))
            .collect(),
        mistake_severity: over(&|s| s.mistake_severity),
        hdist_at_5: over(&|s| s.hdist_at_5),
        mean_level_top1: over(&|s| Some(s.mean_level_top1())),
        few_shot: (0..datasets.len())
            .map(|i| {
                let shots: std::collections::BTreeSet<usize> = per_seed
                    .iter()
                    .flat_map(|s| s.few_shot[i].keys().copied())
                    .collect();
                shots
                    .into_iter()
                    .filter_map(|n| {
                        stat(
                            &per_seed
                                .iter()
                                .filter_map(|s| s.few_shot[i].get(&n).copied())
                                .collect::<Vec<_>>(),
                        )
                        .map(|st| (n, st))
                    })
                    .collect()
            })
            .collect(),
        images_per_class,
        train_top1: stat(&units.iter().map(|u| u.train_top1).collect::<Vec<_>>()),
        train_seconds: seconds.map(|s| s.0),
        eval_seconds: seconds.map(|s| s.1),
        per_seed,
    }
}

/// The metrics every recipe is compared on: (name, value of a replicate, higher is better).
type Metric = (String, Box<dyn Fn(&SeedValues) -> Option<f64>>, bool);

fn metrics(datasets: &[String]) -> Vec<Metric> {
    let mut m: Vec<Metric> = vec![(
        "mean L top-1".into(),
        Box::new(|s: &SeedValues| Some(s.mean_level_top1())),
        true,
    )];
    for (i, d) in datasets.iter().enumerate() {
        m.push((
            format!("{d} top-1"),
            Box::new(move |s: &SeedValues| Some(s.top1[i]).filter(|v| v.is_finite())),
            true,
        ));
    }
    m.push((
        "mistake severity".into(),
        Box::new(|s: &SeedValues| s.mistake_severity),
        false,
    ));
    m.push((
        "hdist@5".into(),
        Box::new(|s: &SeedValues| s.hdist_at_5),
        false,
    ));
    m
}

/// One recipe against the control on one metric, paired by seed.
fn compare(recipe: &RecipeRow, control: &RecipeRow, metric: &Metric) -> Comparison {
    let (name, value, higher_is_better) = metric;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for s in &recipe.per_seed {
        let c = control.per_seed.iter().find(|c| c.seed == s.seed);
        if let (Some(x), Some(y)) = (value(s), c.and_then(value)) {
            a.push(x);
            b.push(y);
        }
    }
    let test = paired_t_test(&a, &b);
    let verdict = match &test {
        Some(t) if t.p < ALPHA && t.mean_diff != 0.0 => {
            if (t.mean_diff > 0.0) == *higher_is_better {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        }
        _ => Verdict::NoDifference,
    };
    Comparison {
        recipe: recipe.recipe.clone(),
        control: control.recipe.clone(),
        metric: name.clone(),
        higher_is_better: *higher_is_better,
        test,
        verdict,
    }
}

/// One sentence on a comparison's headline metric (`levels` unseen levels).
fn headline_sentence(head: &Comparison, levels: usize) -> String {
    match &head.test {
        Some(t) => format!(
            "{} vs {} on the unseen levels (all-data top-1 averaged over {levels} levels): \
             {:+.2} points (sd {:.2} over {} seeds, paired t-test p = {:.3}): {}.",
            head.recipe,
            head.control,
            t.mean_diff,
            t.sd_diff,
            t.pairs,
            t.p,
            head.verdict.words()
        ),
        None => format!(
            "{} vs {}: fewer than 2 common seeds finished, no comparison.",
            head.recipe, head.control
        ),
    }
}

/// The report's numbers: rows, comparisons with the control, the answer.
pub fn summarize(input: &SummaryInput) -> ExperimentReport {
    let datasets: Vec<String> = input
        .baseline
        .datasets
        .iter()
        .map(|d| d.0.clone())
        .collect();
    let similarity = input.baseline.datasets.iter().map(|d| d.1).collect();

    let mut by_seed: BTreeMap<u64, Vec<&ProbeRecord>> = BTreeMap::new();
    for r in &input.baseline.runs {
        by_seed.entry(r.seed).or_default().push(r);
    }
    let pretrained = row(
        "pretrained (frozen)".into(),
        &by_seed.into_iter().collect::<Vec<_>>(),
        &datasets,
        &[],
    );

    let rows: Vec<RecipeRow> = input
        .config
        .recipes
        .iter()
        .map(|recipe| {
            let units: Vec<&UnitResult> = input
                .units
                .iter()
                .filter(|u| u.unit.recipe == *recipe)
                .collect();
            let replicates: Vec<(u64, Vec<&ProbeRecord>)> = units
                .iter()
                .map(|u| (u.unit.seed, u.probes.iter().collect()))
                .collect();
            row(recipe.to_string(), &replicates, &datasets, &units)
        })
        .collect();

    // The control: the first plain cross-entropy without t-ReX, else the first recipe.
    let control_index = input
        .config
        .recipes
        .iter()
        .position(|r| *r == Recipe::cross_entropy())
        .unwrap_or(0);
    let control = &rows[control_index];
    let metric_list = metrics(&datasets);
    let recipes = &input.config.recipes;
    let mut comparisons = Vec::new();
    let mut answer = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if i == control_index {
            continue;
        }
        // Against the control; a self-supervised recipe with the hierarchy also against the same
        // recipe without it, when listed (what the hierarchy alone changes).
        let twin = (recipes[i].contrastive().is_some() && recipes[i].uses_hierarchy())
            .then(|| recipes[i].hierarchy_control())
            .and_then(|t| recipes.iter().position(|x| *x == t))
            .filter(|&j| j != control_index);
        for against in std::iter::once(control).chain(twin.map(|j| &rows[j])) {
            let cs: Vec<Comparison> = metric_list.iter().map(|m| compare(r, against, m)).collect();
            answer.push(headline_sentence(&cs[0], datasets.len().saturating_sub(1)));
            comparisons.extend(cs);
        }
    }

    // One sentence over the recipes that use the hierarchy (HXE, soft labels, MoCHi-LCA), on the
    // headline, each against the same training without the hierarchy (cross-entropy for the
    // supervised ones, the recipe without `-lca` for the self-supervised ones).
    let verdicts: Vec<(&str, &str, Verdict)> = comparisons
        .iter()
        .filter(|c| c.metric == metric_list[0].0)
        .filter_map(|c| {
            let recipe = recipes.iter().find(|r| r.to_string() == c.recipe)?;
            (recipe.uses_hierarchy() && recipe.hierarchy_control().to_string() == c.control)
                .then_some((c.recipe.as_str(), c.control.as_str(), c.verdict))
        })
        .collect();
    if !verdicts.is_empty() {
        let named = |v: Verdict| {
            verdicts
                .iter()
                .filter(|x| x.2 == v)
                .map(|x| x.0)
                .collect::<Vec<_>>()
        };
        let (better, worse) = (named(Verdict::Better), named(Verdict::Worse));
        let overall = match (better.is_empty(), worse.is_empty()) {
            (true, true) => "no difference beyond seed noise".to_string(),
            (false, true) => format!("better ({})", better.join(", ")),
            (true, false) => format!("worse ({})", worse.join(", ")),
            (false, false) => format!(
                "mixed: better with {}, worse with {}",
                better.join(", "),
                worse.join(", ")
            ),
        };
        let control_name = Recipe::cross_entropy().to_string();
        let against = if verdicts.iter().all(|v| v.1 == control_name) {
            "plain cross-entropy".to_string()
        } else {
            format!(
                "the same training without it ({})",
                verdicts
                    .iter()
                    .map(|v| format!("{} vs {}", v.0, v.1))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        answer.insert(
            0,
            format!(
                "Training with the hierarchy ({}) against {against}, on the unseen levels: \
                 {overall}.",
                verdicts.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
            ),
        );
    }

    ExperimentReport {
        synthetic: input.baseline.synthetic,
        model: input.baseline.model.clone(),
        training: input.training.clone(),
        seeds: input.config.seeds.clone(),
        datasets,
        similarity,
        pretrained,
        rows,
        comparisons,
        answer,
        missing: input.missing.clone(),
        dropped_edges: input.dropped_edges,
    }
}

/// The main table: one row per recipe, the pretrained row last.
pub fn table(r: &ExperimentReport) -> Table {
    let mut headers: Vec<String> = ["recipe", "seeds", "seen top-1", "mistake sev.", "hdist@5"]
        .map(String::from)
        .to_vec();
    headers.extend(r.datasets[1..].iter().map(|d| format!("{d} top-1")));
    headers.extend(["mean L top-1", "train top-1", "train s/seed"].map(String::from));
    let mut t = Table::new(headers).with_title(format!(
        "Recipes trained on the seen concepts, CoG linear probe of the new representation: \
         mean ± std over {} training seeds{}",
        r.seeds.len(),
        if r.synthetic {
            " — SYNTHETIC images"
        } else {
            ""
        }
    ));
    for row in r
        .rows
        .iter()
        .chain(Some(&r.pretrained).filter(|p| !p.per_seed.is_empty()))
    {
        let mut cells = vec![
            row.recipe.clone(),
            row.per_seed.len().to_string(),
            fmt_stat(&row.top1[0], 1),
            fmt_stat(&row.mistake_severity, 2),
            fmt_stat(&row.hdist_at_5, 2),
        ];
        cells.extend(row.top1[1..].iter().map(|s| fmt_stat(s, 1)));
        cells.push(fmt_stat(&row.mean_level_top1, 1));
        cells.push(fmt_stat(&row.train_top1, 1));
        cells.push(row.train_seconds.map_or("–".into(), |s| format!("{s:.0}")));
        t.push_row(cells);
    }
    t
}

/// Every comparison with the control: difference, its sd over seeds, p, verdict.
pub fn comparison_table(r: &ExperimentReport) -> Table {
    let mut t = Table::new([
        "recipe", "vs", "metric", "Δ mean", "sd of Δ", "seeds", "p", "verdict",
    ])
    .with_title(format!(
        "Each recipe minus the control, paired by seed (two-sided paired t-test, α = {ALPHA})"
    ));
    for c in &r.comparisons {
        let (d, sd, n, p) = match &c.test {
            Some(t) => (
                format!("{:+.2}", t.mean_diff),
                format!("{:.2}", t.sd_diff),
                t.pairs.to_string(),
                format!("{:.3}", t.p),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        t.push_row([
            c.recipe.clone(),
            c.control.clone(),
            c.metric.clone(),
            d,
            sd,
            n,
            p,
            c.verdict.words().to_string(),
        ]);
    }
    t
}

/// Writes `experiment.md`, `.json`, `.csv` (the main table), `comparisons.csv` and the plots
/// into `dir`.
pub fn write(r: &ExperimentReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(hiercog_io::Error::write(dir))?;
    hiercog_io::sweep_temporaries(dir)?;
    let tag = if r.synthetic {
        " (SYNTHETIC images)"
    } else {
        ""
    };
    let rows: Vec<&RecipeRow> = r
        .rows
        .iter()
        .chain(Some(&r.pretrained).filter(|p| !p.per_seed.is_empty()))
        .collect();
    let mut plots = Vec::new();

    let groups: Vec<BarGroup> = r
        .datasets
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let bars = rows
                .iter()
                .filter_map(|row| {
                    row.top1[i]
                        .as_ref()
                        .map(|s| (row.recipe.clone(), s.mean, Some(s.std)))
                })
                .collect();
            (d.clone(), bars)
        })
        .filter(|g: &BarGroup| !g.1.is_empty())
        .collect();
    if !groups.is_empty() {
        plots.extend(plot::bars(
            &dir.join("top1_by_recipe"),
            &format!("All-data linear-probe top-1 per dataset and recipe{tag}"),
            "top-1 accuracy (%)",
            &groups,
        )?);
    }
    for (i, d) in r.datasets.iter().enumerate() {
        let series: Vec<Series> = rows
            .iter()
            .map(|row| {
                let mut points: Vec<(f64, f64)> = Vec::new();
                let mut err = Vec::new();
                for (&n, s) in &row.few_shot[i] {
                    points.push((n as f64, s.mean));
                    err.push(s.std);
                }
                if let (Some(x), Some(s)) = (row.images_per_class[i], &row.top1[i]) {
                    points.push((x, s.mean));
                    err.push(s.std);
                }
                Series {
                    label: row.recipe.clone(),
                    points,
                    err: Some(err),
                }
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if series.is_empty() {
            continue;
        }
        let all_x = rows.iter().find_map(|row| row.images_per_class[i]);
        plots.extend(plot::line(
            &dir.join(format!("few_shot_{d}")),
            &format!("{d}: 1-shot to all data, per recipe{tag}"),
            "training images per class",
            "top-1 accuracy (%)",
            &series,
            &LineOptions {
                log2_x: true,
                vlines: all_x
                    .map(|x| vec![(x, "all data".to_string())])
                    .unwrap_or_default(),
                y_range: Some((0.0, 100.0)),
            },
        )?);
    }

    let main = table(r);
    let comparisons = comparison_table(r);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# hiercog experiment: does training with the hierarchy help unseen concepts?\n"
    );
    if r.synthetic {
        let _ = writeln!(
            md,
            "> **SYNTHETIC IMAGES.** hiercog's synthetic hierarchical image set, not photographs: \
             these numbers exercise the real experiment; they say nothing about ImageNet-CoG.\n"
        );
    }
    let _ = writeln!(
        md,
        "Frozen backbone: `{}`. Trained: {}.\n",
        r.model, r.training
    );
    let _ = writeln!(
        md,
        "Training seeds {:?}; each representation is probed with its training seed (validation \
         split and few-shot samples), so recipes are compared seed by seed on the same samples. \
         The label tree dropped {} DAG edge(s).\n",
        r.seeds, r.dropped_edges
    );
    if !r.missing.is_empty() {
        let _ = writeln!(
            md,
            "**Partial:** {} unit(s) not finished: {}.\n",
            r.missing.len(),
            r.missing.join(", ")
        );
    }
    let _ = writeln!(md, "{}", main.to_markdown());
    let _ = writeln!(
        md,
        "\nSeen top-1, mistake severity (mean LCA height of top-1 mistakes) and hdist@5 (mean LCA \
         height over the top-5 predictions) are measured on the seen test set; L1…Lk are the \
         levels of unseen concepts, L1 closest to the seen concepts. std is over seeds (numpy's \
         population std). Train top-1 is the last epoch's accuracy on the seen training set (how \
         well the recipe fitted it; for the self-supervised recipes, how often the positive key \
         ranked first among the queue's negatives and MoCHi's synthetic ones). The pretrained row is the frozen backbone's own features \
         (std over probe seeds).\n"
    );
    let _ = writeln!(md, "## The answer on this data\n");
    for a in &r.answer {
        let _ = writeln!(md, "- {a}");
    }
    let _ = writeln!(
        md,
        "\nThe headline is the one metric fixed in advance, the mean all-data top-1 over the \
         levels. The table below makes {} tests at α = {ALPHA}: about {:.0} of them are expected \
         to pass by chance alone, so read a single \"better\" or \"worse\" there with care.\n",
        r.comparisons.len(),
        r.comparisons.len() as f64 * ALPHA
    );
    let _ = writeln!(md, "{}", comparisons.to_markdown());
    for f in &plots {
        if f.extension().is_some_and(|e| e == "png") {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(md, "\n![{name}]({name})");
        }
    }
    hiercog_io::write_atomic(&dir.join("experiment.md"), md.as_bytes())?;
    hiercog_io::write_atomic(&dir.join("experiment.csv"), main.to_csv().as_bytes())?;
    hiercog_io::write_atomic(
        &dir.join("comparisons.csv"),
        comparisons.to_csv().as_bytes(),
    )?;
    let json = serde_json::to_string_pretty(r).expect("reports serialize");
    hiercog_io::write_atomic(&dir.join("experiment.json"), json.as_bytes())?;
    Ok(())
}
