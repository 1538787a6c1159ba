//! `minirun system df|prune`.
use super::Ctx;
use super::images::Format;
use crate::container::record::Status;
use crate::image::store::ImageStore;
use crate::image::usage::{disk_usage, du, human_size};
use crate::volume::VolumeStore;
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage: images, shared and unique layer bytes, containers, volumes.
    Df {
        /// table (default) or json.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Remove stopped containers, dangling images, unused layers and stale staging.
    Prune {
        /// Remove every image no container uses, not only dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Also remove volumes no container uses.
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
            if !force && !confirm(all, volumes)? {
                return Ok(0);
            }
            prune(ctx, &store, all, volumes)?;
            Ok(0)
        }
    }
}

/// Docker's order: stopped containers first (so the images and volumes they held
/// become unused), then images and layers, then volumes.
fn prune(ctx: &Ctx, store: &ImageStore, all: bool, volumes: bool) -> anyhow::Result<()> {
    let mut bytes = 0;
    let mut containers = Vec::new();
    for c in crate::container::list(ctx)? {
        if c.live_status() == Status::Running {
            continue;
        }
        let size = du(&crate::container::bundle_dir(ctx, &c.id));
        crate::container::remove(ctx, &c.id, false, false)
            .with_context(|| format!("system prune: removing stopped container {} ({})", c.name, c.short_id()))?;
        bytes += size;
        containers.push(c.id);
    }
    let rep = store.prune(all)?;
    bytes += rep.bytes;
    let mut vols = Vec::new();
    if volumes {
        let vs = VolumeStore::open(&ctx.paths)?;
        let sizes: Vec<(String, u64)> = vs.list()?.into_iter().map(|v| (v.name, du(&v.mountpoint))).collect();
        vols = vs.prune()?;
        bytes += sizes.iter().filter(|(n, _)| vols.contains(n)).map(|(_, s)| s).sum::<u64>();
    }
    let digests = |v: &[crate::image::digest::Digest]| v.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    let sections = [
        ("Deleted Containers:", containers),
        ("Deleted Volumes:", vols),
        ("Deleted Images:", digests(&rep.images)),
        ("Deleted Layers:", digests(&rep.layers)),
    ];
    for (title, list) in sections {
        if !list.is_empty() {
            println!("{title}");
            list.iter().for_each(|d| println!("deleted: {d}"));
        }
    }
    if rep.debris > 0 {
        println!("Removed {} stale staging or orphaned entries", rep.debris);
    }
    println!("Total reclaimed space: {}", human_size(bytes));
    Ok(())
}

fn confirm(all: bool, volumes: bool) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("system prune: not a terminal, cannot ask for confirmation: use -f");
    }
    let what = if all { "all images without a container" } else { "dangling images" };
    let vols = if volumes { ", all volumes not used by a container" } else { "" };
    print!(
        "WARNING! This will remove all stopped containers, {what}{vols}, unused layers and stale staging.\n\
         Are you sure you want to continue? [y/N] "
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
