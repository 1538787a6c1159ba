//! `minirun system df|prune`.
use super::Ctx;

#[derive(clap::Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage: images, shared and unique layer bytes, containers, volumes.
    Df {},
}

pub fn run(_ctx: &Ctx, _c: SystemCmd) -> anyhow::Result<i32> {
    anyhow::bail!("system: not implemented yet")
}
