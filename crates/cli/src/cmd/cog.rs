//! (being written)

#[derive(clap::Args)]
pub struct CogArgs {}

pub fn run(_args: CogArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
