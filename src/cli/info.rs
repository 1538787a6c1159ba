//! `minirun info`.
use super::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _a: Args) -> anyhow::Result<i32> {
    anyhow::bail!("info: not implemented yet")
}
