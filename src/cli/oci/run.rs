//! `run [--detach] [create options] ID`
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Return once the program runs instead of waiting for it.
    #[arg(long, short = 'd')]
    detach: bool,
    #[command(flatten)]
    create: super::create::Args,
}

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    super::create::builder(root, &a.create)?.run(a.detach)
}
