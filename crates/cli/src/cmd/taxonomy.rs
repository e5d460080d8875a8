//! (being written)

#[derive(clap::Args)]
pub struct TaxonomyArgs {}

pub fn run(_args: TaxonomyArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
