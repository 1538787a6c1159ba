//! `create [--bundle DIR] [--pid-file F] [--console-socket P] [--no-pivot] ID`
use crate::runtime::container::ContainerBuilder;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Options shared by `create` and `run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Bundle directory holding config.json (default: the current directory).
    #[arg(long, short = 'b', value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Write the container's host pid here (no newline).
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// AF_UNIX socket that receives the pty master (process.terminal).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// chroot instead of pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted (no session keyring is created anyway).
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// The builder for a bundle, as create/run configure it.
pub fn builder(root: &Path, a: &Args) -> Result<ContainerBuilder> {
    crate::runtime::state::validate_id(&a.id)?;
    let bundle = match &a.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let cfg = bundle.join("config.json");
    let spec = oci_spec::runtime::Spec::load(&cfg).with_context(|| format!("loading {}", cfg.display()))?;
    // systemd's socket activation: LISTEN_FDS=N passes fds 3..3+N too.
    let listen: u32 = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(ContainerBuilder::new(&a.id, &bundle, spec, root)
        .pid_file(a.pid_file.clone())
        .console_socket(a.console_socket.clone())
        .no_pivot(a.no_pivot)
        .preserve_fds(a.preserve_fds + listen))
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    builder(root, &a)?.create()?;
    Ok(0)
}
