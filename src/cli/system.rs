//! `minirun system df|prune`.
use super::Ctx;
use super::images::Format;
use crate::image::store::ImageStore;
use crate::image::usage::{disk_usage, human_size};
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage: images, shared and unique layer bytes, containers, volumes.
    Df {
        /// table (default) or json.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Remove dangling images, unused layers and stale staging.
    Prune {
        /// Remove every image no container uses, not only dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Also prune volumes (not supported yet).
        #[arg(long)]
        volumes: bool,
    },
}

pub fn run(ctx: &Ctx, c: SystemCmd) -> anyhow::Result<i32> {
    let store = ImageStore::open(&ctx.paths)?;
    match c {
        SystemCmd::Df { format } => {
            let u = disk_usage(&store)?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&u)?);
                return Ok(0);
            }
            let l = &u.layers;
            println!("{:12} {:>6} {:>10}", "TYPE", "TOTAL", "SIZE");
            println!(
                "{:12} {:>6} {:>10}   (each image counted with all its layers)",
                "Images",
                u.images.count,
                human_size(u.images.virtual_size)
            );
            println!(
                "{:12} {:>6} {:>10}   (shared by 2+ images {}, unique {}, unused {})",
                "Layers",
                l.count,
                human_size(l.size),
                human_size(l.shared_size),
                human_size(l.unique_size),
                human_size(l.unused_size)
            );
            println!("{:12} {:>6} {:>10}", "Containers", u.containers.count, human_size(u.containers.size));
            println!("{:12} {:>6} {:>10}", "Volumes", u.volumes.count, human_size(u.volumes.size));
            println!("Saved by sharing layers: {}", human_size(l.saved_by_sharing));
            Ok(0)
        }
        SystemCmd::Prune { all, force, volumes } => {
            if volumes {
                anyhow::bail!("system prune --volumes: not supported yet; run it without --volumes");
            }
            if !force && !confirm(all)? {
                return Ok(0);
            }
            let rep = store.prune(all)?;
            for (title, list) in [("Deleted Images:", &rep.images), ("Deleted Layers:", &rep.layers)] {
                if !list.is_empty() {
                    println!("{title}");
                    list.iter().for_each(|d| println!("deleted: {d}"));
                }
            }
            if rep.debris > 0 {
                println!("Removed {} stale staging or orphaned entries", rep.debris);
            }
            println!("Total reclaimed space: {}", human_size(rep.bytes));
            Ok(0)
        }
    }
}

fn confirm(all: bool) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("system prune: not a terminal, cannot ask for confirmation: use -f");
    }
    let what = if all { "all images without a container" } else { "dangling images" };
    print!(
        "WARNING! This will remove {what}, unused layers and stale staging.\nAre you sure you want to continue? [y/N] "
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
