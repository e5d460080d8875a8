//! (being written)

#[derive(clap::Args)]
pub struct ExtractArgs {}

#[derive(clap::Args)]
pub struct ClassifyArgs {}

#[derive(clap::Args)]
pub struct ModelsArgs {}

pub fn run_extract(_args: ExtractArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

pub fn run_classify(_args: ClassifyArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

pub fn run_models(_args: ModelsArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
