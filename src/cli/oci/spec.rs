//! `spec [--rootless] [--bundle DIR]`: write a default config.json.
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A config that runs unprivileged (user namespace mapping the caller).
    #[arg(long)]
    rootless: bool,
    #[arg(long, short = 'b', value_name = "DIR")]
    bundle: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<i32> {
    let dir = match a.bundle {
        Some(b) => b,
        None => std::env::current_dir()?,
    };
    let path = dir.join("config.json");
    if path.exists() {
        bail!("{} already exists: remove it first", path.display());
    }
    let spec = crate::runtime::specgen_default(a.rootless);
    crate::fsutil::atomic_write_json(&path, &spec).with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
