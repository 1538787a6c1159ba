//! `minirun run` and `minirun create`: Docker's flags, parsed once into `CreateOptions`.
use super::Ctx;
use crate::container::CreateOptions;
use crate::mountspec;
use crate::spec::Network;
use anyhow::{Context, Result};

/// Flags shared by `run` and `create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines, # comments).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User (name or uid) and optionally group: USER[:GROUP].
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Override the image's entrypoint ("" clears it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Network: `none` (default: a private network namespace with only lo) or `host`.
    #[arg(long, default_value = "none", value_parser = ["none", "host"])]
    pub network: String,
    /// Bind mount or volume: NAME:/dst[:ro], /host:/dst[:ro|rw], or /dst for an anonymous volume.
    #[arg(short = 'v', long = "volume", value_name = "SPEC")]
    pub volume: Vec<String>,
    /// A mount: type=volume|bind|tmpfs,src=…,dst=…[,readonly]…
    #[arg(long = "mount", value_name = "SPEC")]
    pub mount: Vec<String>,
    /// A tmpfs: /path[:size=64m,mode=1777].
    #[arg(long = "tmpfs", value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Image name or id.
    pub image: String,
    /// Command and arguments (replace the image's Cmd).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cmd: Vec<String>,
}

/// `run` = `create` + `start`, attached unless -d.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

fn read_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading env file {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(expand_env).collect())
}

/// `-e KEY` takes KEY's value from our environment, as Docker does.
fn expand_env(kv: &str) -> String {
    if kv.contains('=') { kv.to_string() } else { format!("{kv}={}", std::env::var(kv).unwrap_or_default()) }
}

/// Turn the flags into typed options; every mount string is parsed and checked here.
pub fn options(a: CreateArgs) -> Result<CreateOptions> {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.env.iter().map(|s| expand_env(s)));
    let mut mounts = Vec::new();
    for v in &a.volume {
        mounts.push(mountspec::parse_volume_flag(v)?);
    }
    for m in &a.mount {
        mounts.push(mountspec::parse_mount_flag(m)?);
    }
    for t in &a.tmpfs {
        mounts.push(mountspec::parse_tmpfs_flag(t)?);
    }
    mountspec::check_all(&mounts)?;
    let entrypoint = a.entrypoint.map(|e| if e.is_empty() { vec![] } else { vec![e] });
    Ok(CreateOptions {
        name: a.name,
        image: a.image,
        cmd: a.cmd,
        entrypoint,
        env,
        workdir: a.workdir,
        user: a.user,
        hostname: a.hostname,
        read_only: a.read_only,
        network: if a.network == "host" { Network::Host } else { Network::None },
        mounts,
        tty: a.tty,
        interactive: a.interactive,
        auto_remove: a.rm,
    })
}

pub fn create(ctx: &Ctx, a: CreateArgs) -> Result<i32> {
    let opts = options(a)?;
    let rec = crate::container::create(ctx, &opts)?;
    println!("{}", rec.id);
    Ok(0)
}

pub fn run(ctx: &Ctx, a: RunArgs) -> Result<i32> {
    let opts = options(a.create)?;
    let rec = crate::container::create(ctx, &opts)?;
    if a.detach {
        crate::container::start_detached(ctx, &rec.id)?;
        println!("{}", rec.id);
        Ok(0)
    } else {
        crate::container::run_attached(ctx, &rec.id)
    }
}
