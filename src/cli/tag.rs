//! `minirun tag`.
use super::Ctx;
use crate::image::reference::Reference;
use crate::image::store::ImageStore;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image to name (name[:tag] or id).
    source: String,
    /// New name NAME[:TAG].
    #[arg(value_parser = Reference::parse_arg)]
    target: Reference,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ImageStore::open(&ctx.paths)?;
    let _lock = store.lock()?;
    let rec = store.resolve(&a.source)?;
    store.add_name(&rec.id, &a.target.to_string())?;
    Ok(0)
}
