//! `minirun volume create|ls|inspect|rm|prune`.
use super::Ctx;
use crate::volume::{Volume, VolumeStore};
use anyhow::{Result, bail};
use std::io::BufRead;

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume (a random name when none is given) and print its name.
    Create { name: Option<String> },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Output format: table (default) or json.
        #[arg(long, default_value = "table")]
        format: String,
        /// Only print names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show volumes as a JSON array.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes (refused while a container uses one).
    #[command(alias = "remove")]
    Rm {
        /// Do not fail on a missing volume.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every volume no container uses.
    Prune {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

fn docker_json(v: &Volume) -> serde_json::Value {
    serde_json::json!({
        "CreatedAt": v.created,
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": {},
        "Scope": "local",
        "Anonymous": v.anonymous,
    })
}

pub fn run(ctx: &Ctx, c: VolumeCmd) -> Result<i32> {
    let store = VolumeStore::open(&ctx.paths)?;
    match c {
        VolumeCmd::Create { name } => println!("{}", store.create(name.as_deref(), false)?.name),
        VolumeCmd::Ls { format, quiet } => {
            let vols = store.list()?;
            match (format.as_str(), quiet) {
                (_, true) => vols.iter().for_each(|v| println!("{}", v.name)),
                ("json", _) => {
                    println!("{}", serde_json::to_string_pretty(&vols.iter().map(docker_json).collect::<Vec<_>>())?)
                }
                ("table", _) => {
                    println!("{:<10}VOLUME NAME", "DRIVER");
                    vols.iter().for_each(|v| println!("{:<10}{}", v.driver, v.name));
                }
                (f, _) => bail!("unknown --format {f:?}: use table or json"),
            }
        }
        VolumeCmd::Inspect { names } => {
            let mut out = Vec::new();
            for n in &names {
                match store.get(n)? {
                    Some(v) => out.push(docker_json(&v)),
                    None => bail!("no such volume: {n}"),
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        VolumeCmd::Rm { force, names } => {
            let mut failed = false;
            for n in &names {
                match store.remove(n, force) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("minirun: {}", crate::error::report(&e));
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(crate::error::EXIT_RUNTIME);
            }
        }
        VolumeCmd::Prune { force } => {
            if !force {
                eprint!(
                    "WARNING! This will remove all volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
                );
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    return Ok(0);
                }
            }
            let removed = store.prune()?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                removed.iter().for_each(|n| println!("{n}"));
            }
        }
    }
    Ok(0)
}
