//! `minirun info`: where data lives, the storage driver and why, the id mappings.
use super::Ctx;
use crate::idmap::{IdMapping, IdRange};
use anyhow::{Result, bail};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format: text (default) or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

fn ranges(r: &[IdRange]) -> String {
    r.iter().map(|r| format!("{} -> {} ({})", r.container, r.host, r.size)).collect::<Vec<_>>().join(", ")
}

pub fn run(ctx: &Ctx, a: Args) -> Result<i32> {
    if !matches!(a.format.as_str(), "text" | "json") {
        bail!("unknown --format {:?}: use text or json", a.format);
    }
    let choice = crate::storage::driver::choose(&ctx.paths, ctx.rootless, ctx.storage_driver.as_deref())?;
    let mapping: Option<IdMapping> = if ctx.rootless { crate::idmap::current_mapping() } else { None };
    let p = &ctx.paths;
    let kernel = crate::storage::driver::kernel_release();
    if a.format == "json" {
        let v = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "rootless": ctx.rootless,
            "kernel": kernel,
            "paths": {
                "data": p.data, "run": p.run, "images": p.images(), "layers": p.layers(),
                "containers": p.containers(), "volumes": p.volumes(),
            },
            "storage_driver": { "name": choice.driver.name(), "reason": choice.reason },
            "id_mapping": mapping,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("version:        {}", env!("CARGO_PKG_VERSION"));
    println!("rootless:       {}", if ctx.rootless { "yes" } else { "no" });
    println!("kernel:         {kernel}");
    println!("data:           {}", p.data.display());
    println!("  images:       {}", p.images().display());
    println!("  layers:       {}", p.layers().display());
    println!("  containers:   {}", p.containers().display());
    println!("  volumes:      {}", p.volumes().display());
    println!("run:            {}", p.run.display());
    println!("storage driver: {}", choice.driver);
    println!("  why:          {}", choice.reason);
    match &mapping {
        Some(m) => {
            println!("id mappings:    uid {}", ranges(&m.uids));
            println!("                gid {}", ranges(&m.gids));
            if let Some(why) = &m.single_id_reason {
                println!("  single id:    {why}");
            }
        }
        None => println!("id mappings:    none (real root, no user namespace)"),
    }
    Ok(0)
}
