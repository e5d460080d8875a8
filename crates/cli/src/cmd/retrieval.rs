//! `hiercog retrieval`: rank a gallery for held-out queries (or every gallery row against the
//! others) and report mAP, recall@k and hierarchical AP (crate `hiercog-retrieval`), optionally
//! after a reduction (crate `hiercog-reduce`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hiercog_features::FeatureSet;
use hiercog_report::table::Table;
use hiercog_retrieval::{
    ClassHierarchy, Evaluation, ExactIndex, Exclusion, Metric, Queries, RetrievalMetrics, Rows,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::common::TaxonomySource;
use super::reduce::{load_model, reduce_set};

/// Retrieval evaluation: mAP, recall@k and H-AP of queries against a gallery.
///
/// Examples:
///   hiercog retrieval --gallery train/ --queries test/
///   hiercog retrieval --gallery train/ --queries test/ --model tldr128/     # after a reduction
///   hiercog retrieval --gallery feats/                                    # leave-one-out
#[derive(clap::Args)]
pub struct RetrievalArgs {
    /// The database ranked for every query (npy directory, .npz, .safetensors or .pth).
    #[arg(long, alias = "train", value_name = "FEATS")]
    gallery: PathBuf,
    /// Query features; without it, each gallery row queries the others (leave-one-out).
    #[arg(long, value_name = "FEATS")]
    queries: Option<PathBuf>,
    /// Similarity: cosine, ip (inner product) or l2.
    #[arg(long, default_value = "cosine")]
    metric: Metric,
    /// The k of recall@k (fraction of queries with a same-class item among the first k).
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    recall_at: Vec<usize>,
    /// Reduce both sets with this model (from `hiercog reduce fit`) first.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// With --model: keep the reduced vectors unnormalised (default: L2-normalised).
    #[arg(long)]
    no_l2: bool,
    /// Exponent α of the H-AP level weights (l/(L−1))^α.
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    taxonomy: TaxonomySource,
}

fn load(path: &Path) -> anyhow::Result<FeatureSet> {
    let set = FeatureSet::load(path).with_context(|| format!("loading {}", path.display()))?;
    set.validate()?;
    Ok(set)
}

/// Query labels as gallery class indices (matched by class name when both sets have names).
fn query_labels(gallery: &FeatureSet, queries: &FeatureSet) -> anyhow::Result<Vec<u32>> {
    let (Some(g), Some(q)) = (&gallery.class_names, &queries.class_names) else {
        return Ok(queries.labels.clone());
    };
    let index: std::collections::HashMap<&str, u32> = g
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    queries
        .labels
        .iter()
        .enumerate()
        .map(|(row, &l)| {
            let name = &q[l as usize];
            index.get(name.as_str()).copied().with_context(|| {
                format!(
                    "query row {row} has class {name}, which the gallery does not have: every query class must be in the gallery"
                )
            })
        })
        .collect()
}

/// The classes' hierarchy when every gallery class is a concept of the taxonomy.
fn hierarchy(a: &RetrievalArgs, gallery: &FeatureSet) -> anyhow::Result<Option<ClassHierarchy>> {
    let Some(names) = &gallery.class_names else {
        eprintln!("note: the gallery has no class names; H-AP skipped");
        return Ok(None);
    };
    let tax = a.taxonomy.load()?;
    let Some(ids) = names.iter().map(|n| tax.get(n)).collect::<Option<Vec<_>>>() else {
        eprintln!("note: class names are not all concepts of the taxonomy; H-AP skipped (give --taxonomy FILE)");
        return Ok(None);
    };
    Ok(Some(ClassHierarchy::from_taxonomy(&tax, &ids)?))
}

fn print(a: &RetrievalArgs, m: &RetrievalMetrics, h: Option<&ClassHierarchy>, rows: usize) {
    if a.json {
        let recall: serde_json::Map<String, serde_json::Value> = m
            .recall_at
            .iter()
            .map(|(k, r)| (format!("R@{k}"), json!(r)))
            .collect();
        let out = json!({
            "queries": m.queries,
            "gallery": rows,
            "metric": a.metric.to_string(),
            "mAP": m.map,
            "recall": recall,
            "H-AP": m.hap,
            "levels": h.map(|h| h.levels()),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialisable")
        );
        return;
    }
    let mut headers = vec!["queries".to_string(), "gallery".into(), "mAP".into()];
    headers.extend(m.recall_at.iter().map(|(k, _)| format!("R@{k}")));
    headers.push("H-AP".into());
    let mut t = Table::new(headers);
    let mut row = vec![
        m.queries.to_string(),
        rows.to_string(),
        format!("{:.2}", 100.0 * m.map),
    ];
    row.extend(m.recall_at.iter().map(|(_, r)| format!("{:.2}", 100.0 * r)));
    row.push(match (m.hap, h) {
        (Some(v), Some(h)) => format!("{:.2} (L={})", 100.0 * v, h.levels()),
        _ => "–".into(),
    });
    t.push_row(row);
    print!("{}", t.to_terminal());
}

/// Runs `hiercog retrieval`.
pub fn run(a: RetrievalArgs) -> anyhow::Result<()> {
    let mut gallery = load(&a.gallery)?;
    let mut queries = a.queries.as_deref().map(load).transpose()?;
    if let Some(dir) = &a.model {
        let model = load_model(dir)?;
        gallery = reduce_set(&model, &gallery, !a.no_l2)?;
        queries = queries
            .map(|q| reduce_set(&model, &q, !a.no_l2))
            .transpose()?;
    }
    let labels = match &queries {
        Some(q) => query_labels(&gallery, q)?,
        None => gallery.labels.clone(),
    };
    if a.recall_at.is_empty() {
        bail!("--recall-at needs at least one k");
    }
    let h = hierarchy(&a, &gallery)?;
    let g_rows = Rows::new(gallery.x(), gallery.dim())?;
    let index = ExactIndex::new(g_rows, a.metric).context("indexing the gallery")?;
    let (q_rows, exclusion) = match &queries {
        Some(q) => (Rows::new(q.x(), q.dim())?, Exclusion::None),
        None => (g_rows, Exclusion::SelfMatch),
    };
    let pb = ProgressBar::new(q_rows.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("ranking [{bar:30}] {pos}/{len} queries ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let eval = Evaluation {
        recall_at: a.recall_at.clone(),
        hierarchy: h.as_ref(),
        relevance_exponent: a.alpha,
    };
    let m = eval
        .run(
            &index,
            &gallery.labels,
            Queries {
                x: q_rows,
                labels: &labels,
                exclusion,
            },
            &|done, _| pb.set_position(done as u64),
        )
        .context("retrieval evaluation")?;
    pb.finish_and_clear();
    print(&a, &m, h.as_ref(), gallery.rows());
    Ok(())
}
