//! `start ID`
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    crate::runtime::ops::start(root, &a.id)?;
    Ok(0)
}
