//! `minirun logs [-f]`.
use super::Ctx;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow new output until the container stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
    pub container: String,
}

pub fn run(ctx: &Ctx, a: LogsArgs) -> Result<i32> {
    crate::container::logs(ctx, &a.container, a.follow)?;
    Ok(0)
}
