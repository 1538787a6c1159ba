//! `list [--format table|json] [-q]`
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// Only the ids.
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    let all = if root.exists() { crate::runtime::ops::list(root)? } else { Vec::new() };
    if a.quiet {
        for s in &all {
            super::out(&s.id);
        }
    } else if a.format == "json" {
        super::out(&serde_json::to_string(&all)?);
    } else {
        super::out(&format!("{:<20} {:<8} {:<10} {:<40} {:<32} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED"));
        for s in &all {
            super::out(&format!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                s.id,
                s.pid,
                s.status,
                s.bundle.display(),
                s.created,
                s.owner
            ));
        }
    }
    Ok(0)
}
