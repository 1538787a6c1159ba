//! `delete [--force] ID`
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill a running container first; a missing id is not an error.
    #[arg(long, short = 'f')]
    force: bool,
    id: String,
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    crate::runtime::ops::delete(root, &a.id, a.force)?;
    Ok(0)
}
