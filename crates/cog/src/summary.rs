//! `report.md` and the plots of a benchmark directory.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::benchmark::{Benchmark, RankedConcept};
use hiercog_report::plot::{self, LineOptions, Series};
use hiercog_report::table::Table;

use crate::error::{Error, Result};

/// Seen concepts shown in the "nearest neighbour per level" table.
const NEIGHBOUR_ROWS: usize = 8;
/// Concepts shown per level in the examples table.
const EXAMPLES_PER_LEVEL: usize = 5;

/// A markdown table (numeric columns right-aligned, `|` escaped).
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new(headers.iter().copied());
    for r in rows {
        t.push_row(r.iter().cloned());
    }
    t.to_markdown()
}

fn concept(c: &RankedConcept) -> String {
    format!("{} ({}) {:.3}", c.lemma, c.wnid, c.similarity)
}

/// The report: inputs, filters, level statistics, nearest-neighbour examples, splits, plots.
pub(crate) fn render_report(b: &Benchmark, with_plots: bool) -> String {
    let m = b.manifest();
    let p = &m.params;
    let mut s = String::from("# CoG benchmark\n\n");
    let _ = writeln!(
        s,
        "Written by {} {} ({}). Preset `{}`, measure `{}`, information content `{}`, cuts `{}`.\n",
        m.tool,
        m.version,
        m.kind,
        p["preset"].as_str().unwrap_or("-"),
        p["measure"].as_str().unwrap_or("-"),
        p["ic"].as_str().unwrap_or("-"),
        p["cuts"],
    );
    let _ = writeln!(
        s,
        "Tie-breaking: {}.\n",
        p["tie_breaking"].as_str().unwrap_or("-")
    );

    s.push_str("## Inputs\n\n");
    let rows: Vec<Vec<String>> = m
        .inputs
        .iter()
        .map(|(k, v)| {
            vec![
                k.clone(),
                format!("`{}`", v.source),
                v.items.to_string(),
                format!("`{}`", &v.sha256[..16]),
            ]
        })
        .collect();
    s.push_str(&table(
        &["input", "source", "items", "sha256 (prefix)"],
        &rows,
    ));
    if !m.unknown_seen.is_empty() {
        let _ = writeln!(
            s,
            "\n{} seen names are not in the taxonomy and were skipped: {}.",
            m.unknown_seen.len(),
            m.unknown_seen.join(", ")
        );
    }

    if !m.filters.is_empty() {
        s.push_str("\n## Filters\n\nApplied in this order to the candidate pool.\n\n");
        let rows: Vec<Vec<String>> = m
            .filters
            .iter()
            .map(|f| {
                vec![
                    format!("`{}`", f.name),
                    f.description.clone(),
                    f.removed.to_string(),
                    f.remaining.to_string(),
                    f.examples.join(", "),
                    f.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        s.push_str(&table(
            &[
                "step",
                "what it removes",
                "removed",
                "remaining",
                "e.g.",
                "note",
            ],
            &rows,
        ));
        let _ = writeln!(
            s,
            "\n{} concepts are eligible (ranked in `ranking.tsv`; removed ones in `removed.tsv`).",
            m.eligible
        );
    }

    s.push_str("\n## Levels\n\nS(c) = max over the seen set of sim(c, s).\n\n");
    let rows: Vec<Vec<String>> = m
        .levels
        .iter()
        .map(|l| {
            let st = &l.similarity;
            vec![
                l.name.clone(),
                l.size.to_string(),
                format!("{:.4}", st.max),
                format!("{:.4}", st.median),
                format!("{:.4}", st.mean),
                format!("{:.4}", st.min),
            ]
        })
        .collect();
    s.push_str(&table(
        &["level", "concepts", "max S", "median S", "mean S", "min S"],
        &rows,
    ));
    for n in &m.notes {
        let _ = writeln!(s, "\nNote: {n}.");
    }

    neighbours(b, &mut s);

    s.push_str("\n## Examples per level\n\nConcepts at evenly spaced ranks of each level, with their nearest seen concept.\n\n");
    let mut rows = Vec::new();
    for lv in b.levels() {
        let n = lv.concepts.len();
        let k = EXAMPLES_PER_LEVEL.min(n);
        let picks: BTreeSet<usize> = (0..k)
            .map(|i| if k > 1 { i * (n - 1) / (k - 1) } else { 0 })
            .collect();
        for i in picks {
            let c = &lv.concepts[i];
            rows.push(vec![
                lv.name.clone(),
                concept(c),
                format!("{} ({})", c.nearest_seen_lemma, c.nearest_seen),
            ]);
        }
    }
    s.push_str(&table(
        &["level", "concept, S", "nearest seen concept"],
        &rows,
    ));

    if let Some(sp) = &m.splits {
        let _ = writeln!(
            s,
            "\n## Splits\n\nSource: `{}`{}.\n",
            sp.source,
            sp.params.map_or(String::new(), |p| format!(
                ", seed {}, {} test images per concept, at most {} training images",
                p.seed, p.test, p.train_cap
            ))
        );
        let rows: Vec<Vec<String>> = sp
            .per_level
            .iter()
            .map(|c| vec![c.level.clone(), c.train.to_string(), c.test.to_string()])
            .collect();
        s.push_str(&table(&["level", "train images", "test images"], &rows));
    }

    if with_plots {
        s.push_str(
            "\n## Plots\n\n![similarity histogram by level](plots/similarity_histogram.png)\n\n",
        );
        s.push_str("![ranked similarity with level cuts](plots/ranked_similarity.png)\n");
    }
    s
}

/// Per level, the best-ranked concept having a given nearest seen concept; and how many have it.
type NeighbourRow<'a> = (Vec<Option<&'a RankedConcept>>, usize);

/// The paper's "nearest neighbour per level" table: for the seen concepts that are nearest to
/// concepts of the most levels, the most similar concept of each level that has it as nearest.
fn neighbours(b: &Benchmark, s: &mut String) {
    let k = b.levels().len();
    // seen -> per level, the first (best-ranked) concept having it as nearest; plus its count.
    let mut by_seen: BTreeMap<(&str, &str), NeighbourRow<'_>> = BTreeMap::new();
    for (i, lv) in b.levels().iter().enumerate() {
        for c in &lv.concepts {
            let e = by_seen
                .entry((&c.nearest_seen, &c.nearest_seen_lemma))
                .or_insert_with(|| (vec![None; k], 0));
            e.0[i].get_or_insert(c);
            e.1 += 1;
        }
    }
    let mut ranked: Vec<_> = by_seen.into_iter().collect();
    ranked.sort_by_key(|(name, (cells, n))| {
        (
            std::cmp::Reverse(cells.iter().flatten().count()),
            std::cmp::Reverse(*n),
            *name,
        )
    });
    if ranked.is_empty() {
        return;
    }
    s.push_str("\n## Nearest neighbours per level\n\nSeen concepts that are the nearest seen concept of concepts in the most levels, with the most similar such concept of each level.\n\n");
    let mut header = vec!["seen concept".to_string()];
    header.extend(b.levels().iter().map(|l| l.name.clone()));
    let rows: Vec<Vec<String>> =
        ranked
            .iter()
            .take(NEIGHBOUR_ROWS)
            .map(|((w, lemma), (cells, _))| {
                std::iter::once(format!("{lemma} ({w})"))
                    .chain(cells.iter().map(|c| {
                        c.map_or("-".into(), |c| format!("{} {:.3}", c.lemma, c.similarity))
                    }))
                    .collect()
            })
            .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    s.push_str(&table(&header, &rows));
}

/// Similarity histogram coloured by level and the ranked-similarity curve with the level cuts.
pub(crate) fn draw_plots(b: &Benchmark, dir: &Path) -> Result<Vec<PathBuf>> {
    let plot_err = |what: &str| {
        let what = what.to_string();
        move |e: hiercog_report::Error| Error::Plot {
            what: what.clone(),
            message: e.to_string(),
        }
    };
    let measure = b.manifest().params["measure"]
        .as_str()
        .unwrap_or("sim")
        .to_string();
    let x_label = format!("S(c) = max over seen of {measure}");
    let mut groups: Vec<(String, Vec<f64>)> = b
        .levels()
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                l.concepts.iter().map(|c| c.similarity).collect(),
            )
        })
        .collect();
    let in_level: HashSet<&str> = b
        .levels()
        .iter()
        .flat_map(|l| l.concepts.iter().map(|c| c.wnid.as_str()))
        .collect();
    let rest: Vec<f64> = b
        .ranking()
        .iter()
        .filter(|c| !in_level.contains(c.wnid.as_str()))
        .map(|c| c.similarity)
        .collect();
    if !rest.is_empty() {
        groups.push(("in no level".into(), rest));
    }
    let mut files = plot::histogram(
        &dir.join("similarity_histogram"),
        "Similarity to the seen set, by level",
        &x_label,
        &groups,
        40,
    )
    .map_err(plot_err("the similarity histogram"))?;

    let series = Series {
        label: "eligible concepts".into(),
        points: b
            .ranking()
            .iter()
            .enumerate()
            .map(|(i, c)| ((i + 1) as f64, c.similarity))
            .collect(),
        err: None,
    };
    // A dashed line, labelled with the level, after the lowest-ranked concept of each level.
    let position: HashMap<&str, usize> = b
        .ranking()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.wnid.as_str(), i + 1))
        .collect();
    let vlines = b
        .levels()
        .iter()
        .filter_map(|l| {
            let end = l
                .concepts
                .iter()
                .filter_map(|c| position.get(c.wnid.as_str()))
                .max()?;
            Some((*end as f64 + 0.5, l.name.clone()))
        })
        .collect();
    let opts = LineOptions {
        vlines,
        ..LineOptions::default()
    };
    files.extend(
        plot::line(
            &dir.join("ranked_similarity"),
            "Ranked similarity with level cuts",
            "rank",
            &x_label,
            &[series],
            &opts,
        )
        .map_err(plot_err("the ranked-similarity curve"))?,
    );
    Ok(files)
}
