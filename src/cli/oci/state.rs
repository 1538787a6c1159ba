//! `state ID`: the runtime-spec state JSON.
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    let s = crate::runtime::ops::state(root, &a.id)?;
    super::out(&serde_json::to_string_pretty(&s)?);
    Ok(0)
}
