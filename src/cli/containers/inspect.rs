//! `minirun inspect` and `minirun diff`.
use super::Ctx;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

pub fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<i32> {
    let mut out = Vec::new();
    for n in &a.containers {
        out.push(crate::container::inspect_json(ctx, n)?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

pub fn diff(ctx: &Ctx, a: DiffArgs) -> Result<i32> {
    for line in crate::container::diff(ctx, &a.container)? {
        println!("{line}");
    }
    Ok(0)
}
