//! `minirun rmi` (also `minirun image rm`).
use super::Ctx;
use crate::image::store::{ImageStore, Removal};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove the image even when it has several names.
    #[arg(short, long)]
    force: bool,
    /// Images to remove (name[:tag] or id).
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ImageStore::open(&ctx.paths)?;
    let mut failed = Vec::new();
    for r in &a.images {
        match store.remove(r, a.force) {
            Ok(done) => {
                for d in done {
                    match d {
                        Removal::Untagged(n) => println!("Untagged: {n}"),
                        Removal::Deleted(id) => println!("Deleted: {id}"),
                        Removal::LayerDeleted(c) => tracing::info!("deleted layer {c}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("minirun: {}", crate::error::report(&e));
                failed.push(r.clone());
            }
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("could not remove {}", failed.join(", "));
    }
    Ok(0)
}
