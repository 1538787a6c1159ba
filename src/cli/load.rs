//! `minirun load`.
use super::Ctx;
use crate::image::import::{ImportOptions, load, unpack_options};
use crate::image::reference::Reference;
use crate::image::store::ImageStore;
use crate::image::usage::parse_size;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// OCI layout directory, OCI archive or docker-archive to load.
    #[arg(short = 'i', long = "input", value_name = "PATH")]
    input: PathBuf,
    /// Name the loaded image NAME[:TAG] whatever the input says.
    #[arg(long, value_name = "NAME[:TAG]")]
    tag: Option<String>,
    /// Refuse a layer whose uncompressed content exceeds this size (e.g. 64m, 2g).
    #[arg(long, env = "MINIRUN_MAX_LAYER_SIZE", default_value = "32g")]
    max_layer_size: String,
    /// Print only the image ids.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let max = parse_size(&a.max_layer_size).map_err(|e| anyhow::anyhow!("--max-layer-size: {e}"))?;
    let store = ImageStore::open(&ctx.paths)?;
    let opts = ImportOptions {
        tag: a.tag.as_deref().map(Reference::parse).transpose()?,
        unpack: unpack_options(ctx.rootless, max),
        progress: !a.quiet && std::io::stderr().is_terminal(),
    };
    for img in load(&store, &a.input, &opts)? {
        if a.quiet {
            println!("{}", img.id);
        } else if img.names.is_empty() {
            println!("Loaded image ID: {}", img.id);
        } else {
            for n in &img.names {
                println!("Loaded image: {n}");
            }
        }
    }
    Ok(0)
}
