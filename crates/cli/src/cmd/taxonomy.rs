//! `hiercog taxonomy`: explore the concept hierarchy (crate `hiercog-taxonomy`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hiercog_cog::IcSource;
use hiercog_taxonomy::{
    distance_matrix, read_pair_file, similarities, similarity, ConceptId, DistanceConvention,
    InformationContent, Measure, Taxonomy,
};

use super::common::{resolve_concept, TaxonomySource};

/// Explore the concept hierarchy: synsets, similarities, information content, LCA distances.
#[derive(clap::Args)]
#[command(
    after_help = "Concepts are WordNet 3.0 noun synsets named by ImageNet-style wnids: `n` + the 8-digit \
offset of the synset in WordNet's data.noun (n02084071 = dog; `show dog` lists the synsets having the \
lemma). WordNet is embedded, so nothing needs installing; --wordnet-dir reads another WordNet copy and \
--taxonomy FILE your own hierarchy (then concepts are your labels).

Examples:
  hiercog taxonomy show n02084071
  hiercog taxonomy similarity --measure lin --ic semcor n02084071 n02121808
  hiercog taxonomy similarity --measure wup --pairs pairs.tsv --out scores.tsv
  hiercog taxonomy distances --labels wnids.txt --out dist.tsv --convention padded
  hiercog taxonomy ic --ic imagenet21k n02084071 n00001740"
)]
pub struct TaxonomyArgs {
    #[command(flatten)]
    source: TaxonomySource,
    #[command(subcommand)]
    command: TaxonomyCommand,
}

#[derive(clap::Subcommand)]
enum TaxonomyCommand {
    /// Show a concept: lemmas, gloss, depths, parents, children and every path from the root.
    Show {
        /// The concept: a wnid such as n02084071, or a label of your --taxonomy file.
        concept: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Similarity of two concepts, or of every pair in a file, with NLTK's conventions.
    ///
    /// Measures: path = 1/(shortest is-a path + 1); lch = Leacock-Chodorow, -log((path+1)/(2*19));
    /// wup = Wu-Palmer, from the depth of the lowest common subsumer; res = Resnik, IC of the most
    /// informative common subsumer; lin = 2*IC(lcs)/(IC(a)+IC(b)); jcn = Jiang-Conrath,
    /// 1/(IC(a)+IC(b)-2*IC(lcs)). res, lin and jcn need --ic. Values equal NLTK 3.10's to 1e-9.
    #[command(verbatim_doc_comment)]
    Similarity {
        /// path | lch | wup | res | lin | jcn
        #[arg(long, short)]
        measure: Measure,
        /// Information content for res/lin/jcn: semcor (WordNet's SemCor sense counts, as NLTK's
        /// wordnet.ic), intrinsic (from hyponym counts, Seco et al. 2004), imagenet21k (share of
        /// the 21,841 ImageNet-21K synsets under a concept: the CoG choice), counts:FILE (your
        /// `concept<TAB>count` lines, propagated to ancestors).
        #[arg(long)]
        ic: Option<IcSource>,
        /// Read `a<TAB>b` lines from FILE and write `a<TAB>b<TAB>value` lines in the same order
        /// (`NA` where the similarity is undefined, e.g. lin of the root with itself).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["a", "b"])]
        pairs: Option<PathBuf>,
        /// Where --pairs output goes (default: standard output).
        #[arg(long, value_name = "FILE", requires = "pairs")]
        out: Option<PathBuf>,
        /// First concept.
        #[arg(required_unless_present = "pairs")]
        a: Option<String>,
        /// Second concept.
        #[arg(required_unless_present = "pairs")]
        b: Option<String>,
        /// Print JSON instead of the bare number (single pair only).
        #[arg(long, conflicts_with = "pairs")]
        json: bool,
    },
    /// LCA-height distances between all pairs of a label set ("Making Better Mistakes").
    ///
    /// Writes `a<TAB>b<TAB>distance` for every pair a <= b in label-file order (self pairs
    /// included, distance 0). height: the height of the lowest common ancestor in the hierarchy
    /// made of the labels and their ancestors (labels at the bottom have height 0). padded: D -
    /// depth(LCA), D the deepest label's depth, as if every label were padded down to depth D:
    /// the convention of the making-better-mistakes distance files.
    #[command(verbatim_doc_comment)]
    Distances {
        /// File with one concept per line (`#` comments allowed), e.g. the 1,000 ImageNet-1K wnids.
        #[arg(long, value_name = "FILE")]
        labels: PathBuf,
        /// Output TSV file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// height | padded
        #[arg(long, default_value = "height")]
        convention: DistanceConvention,
    },
    /// Information content of concepts: -log of the probability of meeting the concept or one
    /// of its descendants (1e300 stands for infinity, as in NLTK: nothing counted under it).
    Ic {
        /// semcor | intrinsic | imagenet21k | counts:FILE
        #[arg(long)]
        ic: IcSource,
        /// Concepts to report.
        #[arg(required = true)]
        concepts: Vec<String>,
    },
}

pub fn run(args: TaxonomyArgs) -> anyhow::Result<()> {
    let tax = args.source.load()?;
    match args.command {
        TaxonomyCommand::Show { concept, json } => show(&tax, &concept, json),
        TaxonomyCommand::Similarity {
            measure,
            ic,
            pairs,
            out,
            a,
            b,
            json,
        } => {
            if measure.needs_ic() && ic.is_none() {
                anyhow::bail!("measure {measure} needs information content: pass --ic semcor, intrinsic, imagenet21k or counts:FILE");
            }
            let ic = ic
                .as_ref()
                .map(|src| information_content(src, &tax))
                .transpose()?;
            let ic = ic.as_ref();
            match pairs {
                Some(path) => similarity_pairs(&tax, ic, measure, &path, out.as_deref()),
                None => {
                    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
                    let v = similarity(
                        &tax,
                        ic,
                        measure,
                        resolve_concept(&tax, &a)?,
                        resolve_concept(&tax, &b)?,
                    )?;
                    if json {
                        let j = serde_json::json!({"a": a, "b": b, "measure": measure.short_name(), "value": v});
                        println!("{j}");
                    } else {
                        println!("{v}");
                    }
                    Ok(())
                }
            }
        }
        TaxonomyCommand::Distances {
            labels,
            out,
            convention,
        } => {
            let ids = tax.read_concept_file(&labels)?;
            let m = distance_matrix(&tax, &ids, convention)?;
            let mut text = String::with_capacity(ids.len() * ids.len() * 12);
            for i in 0..ids.len() {
                for j in i..ids.len() {
                    text.push_str(&format!(
                        "{}\t{}\t{}\n",
                        tax.name(ids[i]),
                        tax.name(ids[j]),
                        m.get(i, j)
                    ));
                }
            }
            hiercog_io::write_atomic(&out, text.as_bytes())?;
            eprintln!(
                "{} labels, {} pairs, largest distance {} -> {}",
                ids.len(),
                ids.len() * (ids.len() + 1) / 2,
                m.max(),
                out.display()
            );
            Ok(())
        }
        TaxonomyCommand::Ic { ic, concepts } => {
            let values = information_content(&ic, &tax)?;
            for name in concepts {
                let c = resolve_concept(&tax, &name)?;
                println!("{name}\t{}\t{}", tax.lemmas(c)[0], values.ic(c));
            }
            Ok(())
        }
    }
}

fn show(tax: &Taxonomy, concept: &str, json: bool) -> anyhow::Result<()> {
    let c = resolve_concept(tax, concept)?;
    let label = |x: ConceptId| format!("{} ({})", tax.name(x), tax.lemmas(x)[0]);
    let paths: Vec<Vec<ConceptId>> = tax.hypernym_paths(c);
    let nh = tax.n_hypernyms(c);
    if json {
        println!("{}", serde_json::to_string_pretty(&tax.info(c))?);
        return Ok(());
    }
    println!("{}  {}", tax.name(c), tax.nltk_name(c));
    println!("lemmas:    {}", tax.lemmas(c).join(", "));
    if let Some(g) = tax.gloss(c) {
        println!("gloss:     {g}");
    }
    println!(
        "depth:     min {}, max {} (edges up to the root)",
        tax.min_depth(c),
        tax.max_depth(c)
    );
    let list = |xs: &[ConceptId]| xs.iter().map(|&x| label(x)).collect::<Vec<_>>().join(", ");
    if nh > 0 {
        println!("is a:      {}", list(&tax.parents(c)[..nh]));
    }
    if nh < tax.parents(c).len() {
        println!("instance of: {}", list(&tax.parents(c)[nh..]));
    }
    let kids = tax.children(c);
    if !kids.is_empty() {
        let shown: Vec<String> = kids.iter().take(12).map(|&x| label(x)).collect();
        let more = if kids.len() > 12 {
            format!(", ... ({} in all)", kids.len())
        } else {
            String::new()
        };
        println!("children:  {}{more}", shown.join(", "));
    }
    println!("paths from the root ({}):", paths.len());
    for p in &paths {
        let names: Vec<&str> = p.iter().map(|&x| tax.lemmas(x)[0].as_str()).collect();
        println!("  {}", names.join(" > "));
    }
    Ok(())
}

/// The `--ic` source's information content, with the source named on failure.
fn information_content(src: &IcSource, tax: &Taxonomy) -> anyhow::Result<InformationContent> {
    src.information_content(tax)
        .with_context(|| format!("computing the {src} IC (--ic)"))
}

fn similarity_pairs(
    tax: &Taxonomy,
    ic: Option<&InformationContent>,
    measure: Measure,
    path: &Path,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let pairs = read_pair_file(tax, path)?;
    let values = similarities(tax, ic, measure, &pairs)?;
    let mut body = String::new();
    let mut undefined = 0;
    for (&(a, b), v) in pairs.iter().zip(&values) {
        match v {
            Some(v) => body.push_str(&format!("{}\t{}\t{v}\n", tax.name(a), tax.name(b))),
            None => {
                undefined += 1;
                body.push_str(&format!("{}\t{}\tNA\n", tax.name(a), tax.name(b)));
            }
        }
    }
    match out {
        Some(p) => hiercog_io::write_atomic(p, body.as_bytes())?,
        None => std::io::stdout().lock().write_all(body.as_bytes())?,
    }
    if undefined > 0 {
        eprintln!("note: {undefined} pair(s) have no defined {measure} similarity (written as NA)");
    }
    Ok(())
}
