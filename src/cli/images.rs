//! `minirun images` and `minirun image …`.
use super::Ctx;
use crate::image::store::ImageStore;
use crate::image::usage::{human_ago, human_size};

/// Output format of listings.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// table (default) or json.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Full image ids.
    #[arg(long)]
    no_trunc: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum ImageCmd {
    /// Show images' records, layers and configs as a JSON array.
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// List images.
    Ls(Args),
    /// Remove images.
    Rm(super::rmi::Args),
}

pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let store = ImageStore::open(&ctx.paths)?;
    let images = store.list()?;
    let id = |i: &crate::image::store::ImageRecord| {
        if a.no_trunc { i.id.to_string() } else { i.short_id().to_string() }
    };
    if a.quiet {
        for i in &images {
            println!("{}", id(i));
        }
        return Ok(0);
    }
    // One row per name, like docker; a dangling image shows <none>.
    let mut rows = Vec::new();
    for i in &images {
        let names: Vec<(String, String)> = if i.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.names
                .iter()
                .map(|n| crate::image::reference::Reference::parse(n).map(|r| (r.name, r.tag)))
                .collect::<Result<_, _>>()?
        };
        for (repo, tag) in names {
            rows.push((repo, tag, i));
        }
    }
    if a.format == Format::Json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(repo, tag, i)| {
                serde_json::json!({"repository": repo, "tag": tag, "id": i.id, "names": i.names,
                    "created": i.created, "size": i.size, "layers": i.layers.len()})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(10);
    let wt = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(3);
    let wi = if a.no_trunc { 71 } else { 12 };
    println!("{:w$}   {:wt$}   {:wi$}   {:20}   SIZE", "REPOSITORY", "TAG", "IMAGE ID", "CREATED");
    for (repo, tag, i) in rows {
        println!("{repo:w$}   {tag:wt$}   {:wi$}   {:20}   {}", id(i), human_ago(&i.created), human_size(i.size));
    }
    Ok(0)
}

pub fn run_image(ctx: &Ctx, c: ImageCmd) -> anyhow::Result<i32> {
    match c {
        ImageCmd::Ls(a) => run(ctx, a),
        ImageCmd::Rm(a) => super::rmi::run(ctx, a),
        ImageCmd::Inspect { images } => {
            let store = ImageStore::open(&ctx.paths)?;
            let mut out = Vec::new();
            for r in &images {
                let rec = store.resolve(r)?;
                let layers = store.layer_records(&rec)?;
                let config: serde_json::Value = serde_json::from_slice(&store.config_bytes(&rec)?)?;
                out.push(serde_json::json!({"id": rec.id, "names": rec.names, "created": rec.created,
                    "size": rec.size, "manifest_digest": rec.manifest_digest, "layers": layers, "config": config}));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
    }
}
