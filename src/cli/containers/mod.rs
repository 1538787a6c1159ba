//! Container verbs: run, create, start, stop, kill, rm, ps, inspect, logs, exec, diff, wait.
use super::Ctx;

#[derive(clap::Subcommand, Debug)]
pub enum ContainerCmd {
    /// List containers.
    Ps {},
}

pub fn run(_ctx: &Ctx, _c: ContainerCmd) -> anyhow::Result<i32> {
    anyhow::bail!("containers: not implemented yet")
}
