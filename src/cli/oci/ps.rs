//! `ps [--format table|json] ID`
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    id: String,
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    let pids = crate::runtime::ops::ps(root, &a.id)?;
    if a.format == "json" {
        super::out(&serde_json::to_string(&pids)?);
    } else {
        super::out("PID");
        for p in pids {
            super::out(&p.to_string());
        }
    }
    Ok(0)
}
