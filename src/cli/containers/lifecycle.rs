//! `start`, `stop`, `kill`, `rm`, `wait`.
use super::Ctx;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Attach to the output and exit with the container's status.
    #[arg(short = 'a', long)]
    pub attach: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// Signal to send (name or number).
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Kill a running container first.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Also remove the container's anonymous volumes.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Apply `f` to each name, print what Docker prints, and fail (125) if any failed.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<Option<String>>) -> Result<i32> {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("minirun: {}", crate::error::report(&e));
                failed = true;
            }
        }
    }
    Ok(if failed { crate::error::EXIT_RUNTIME } else { 0 })
}

pub fn start(ctx: &Ctx, a: StartArgs) -> Result<i32> {
    if a.attach {
        anyhow::ensure!(a.containers.len() == 1, "start -a takes one container");
        let rec = crate::container::resolve(ctx, &a.containers[0])?;
        return crate::container::run_attached(ctx, &rec.id);
    }
    each(&a.containers, |n| {
        let rec = crate::container::resolve(ctx, n)?;
        crate::container::start_detached(ctx, &rec.id)?;
        Ok(Some(n.to_string()))
    })
}

pub fn stop(ctx: &Ctx, a: StopArgs) -> Result<i32> {
    each(&a.containers, |n| {
        crate::container::stop(ctx, n, std::time::Duration::from_secs(a.time))?;
        Ok(Some(n.to_string()))
    })
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<i32> {
    let sig = crate::container::parse_signal(&a.signal)?;
    each(&a.containers, |n| {
        crate::container::kill(ctx, n, sig)?;
        Ok(Some(n.to_string()))
    })
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    each(&a.containers, |n| {
        crate::container::remove(ctx, n, a.force, a.volumes)?;
        Ok(Some(n.to_string()))
    })
}

pub fn wait(ctx: &Ctx, a: WaitArgs) -> Result<i32> {
    each(&a.containers, |n| Ok(Some(crate::container::wait(ctx, n)?.to_string())))
}
