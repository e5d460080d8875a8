//! (being written)

#[derive(clap::Args)]
pub struct RunArgs {}

#[derive(clap::Args)]
pub struct ReportArgs {}

#[derive(clap::Args)]
pub struct PlanArgs {}

pub fn run(_args: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

pub fn run_report(_args: ReportArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}

pub fn run_plan(_args: PlanArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
