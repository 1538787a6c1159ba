//! `minirun tag`.
use super::Ctx;
use crate::image::reference::Reference;
use crate::image::store::ImageStore;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image to name (name[:tag] or id).
    source: String,
    /// New name NAME[:TAG].
    target: String,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    // Parsed here, not by clap, so a bad name exits 125 like every store error.
    let target = Reference::parse(&a.target)?;
    let store = ImageStore::open(&ctx.paths)?;
    let _lock = store.lock()?;
    let rec = store.resolve(&a.source)?;
    store.add_name(&rec.id, &target.to_string())?;
    Ok(0)
}
