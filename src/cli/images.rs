//! `minirun images` and `minirun image …`.
use super::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {}

#[derive(clap::Subcommand, Debug)]
pub enum ImageCmd {
    /// Show an image's record and config as JSON.
    Inspect {},
}

pub fn run(_ctx: &Ctx, _a: Args) -> anyhow::Result<i32> {
    anyhow::bail!("images: not implemented yet")
}

pub fn run_image(_ctx: &Ctx, _c: ImageCmd) -> anyhow::Result<i32> {
    anyhow::bail!("image: not implemented yet")
}
