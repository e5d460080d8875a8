//! Prints the label tree of a set of WordNet wnids as an is-a edge list (`parent<TAB>child`), and
//! the edges the DAG-to-tree rule dropped as `#` comments: how the parity fixtures get their tree.
//!
//! cargo run --release -p hiercog-losses --example label_tree -- shortest n01440764 n01443537 ...

use hiercog_losses::{LabelTree, TreeFromDag};
use hiercog_taxonomy::Taxonomy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rule: TreeFromDag = args
        .next()
        .ok_or("usage: label_tree RULE WNID...")?
        .parse()?;
    let labels: Vec<String> = args.collect();
    let tree = LabelTree::from_taxonomy(&*Taxonomy::wordnet()?, &labels, rule)?;
    for e in tree.dropped_edges() {
        println!("# dropped by rule {rule}: {}\t{}", e.parent, e.child);
    }
    print!("{}", tree.isa_text());
    Ok(())
}
