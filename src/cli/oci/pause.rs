//! `pause ID` / `resume ID` (cgroup v1 freezer).
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    id: String,
}

pub fn run(root: &Path, a: Args, frozen: bool) -> Result<i32> {
    crate::runtime::ops::set_paused(root, &a.id, frozen)?;
    Ok(0)
}
