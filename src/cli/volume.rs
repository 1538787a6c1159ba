//! `minirun volume create|ls|inspect|rm|prune`.
use super::Ctx;

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCmd {
    /// List volumes.
    Ls {},
}

pub fn run(_ctx: &Ctx, _c: VolumeCmd) -> anyhow::Result<i32> {
    anyhow::bail!("volume: not implemented yet")
}
