//! Command line: clap definitions, one thin file per verb. Options are parsed here,
//! once, into typed values; the library below never sees raw strings.

use crate::error::{EXIT_RUNTIME, exit_code_of, report};
use crate::paths::Paths;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub mod oci;

mod images;
mod info;
mod load;
mod rmi;
mod system;
mod tag;

mod containers;
mod volume;

/// minirun: images as shared read-only layers, containers as a writable layer on top,
/// volumes for data that must outlive them.
#[derive(Parser, Debug)]
#[command(name = "minirun", version, about, propagate_version = true)]
pub struct Cli {
    /// Keep all data and state under DIR (also MINIRUN_ROOT).
    #[arg(long, global = true, env = "MINIRUN_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Storage driver: overlay, fuse-overlayfs or vfs (default: probed; also MINIRUN_STORAGE_DRIVER).
    #[arg(long, global = true, env = "MINIRUN_STORAGE_DRIVER", value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    /// Log level: error, warn, info, debug.
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    /// Shorthand for --log-level debug.
    #[arg(long, short = 'D', global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once per process: the size of the biggest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Show where data lives, the storage driver and the id mappings.
    Info(info::Args),
    /// Load an image from an OCI layout, an OCI archive or a docker-archive.
    Load(load::Args),
    /// Add a name to an image.
    Tag(tag::Args),
    /// List images.
    Images(images::Args),
    /// Manage images (inspect, ls, rm).
    #[command(subcommand)]
    Image(images::ImageCmd),
    /// Remove images.
    Rmi(rmi::Args),
    /// Disk usage and cleanup.
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Manage named volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    #[command(flatten)]
    Container(containers::ContainerCmd),
    /// The runc-compatible low-level runtime (also reachable as `minirun-oci`).
    Oci(oci::OciArgs),
}

/// What every high-level verb needs: the resolved places and the global choices.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub paths: Paths,
    pub rootless: bool,
    pub storage_driver: Option<String>,
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MINIRUN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("minirun={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Entry point of the binary: returns the process exit status.
pub fn main() -> i32 {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let base = std::path::Path::new(&argv0).file_name().unwrap_or_default().to_string_lossy().into_owned();
    if base.starts_with("minirun-oci") || base == "runc" {
        return oci::main_from_args(std::env::args_os().collect());
    }
    // A usage error is minirun failing: 125, as Docker exits (clap would exit 2).
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_RUNTIME } else { 0 };
        }
    };
    if let Command::Oci(a) = cli.cmd {
        return oci::main_oci(a);
    }
    init_logging(if cli.debug { "debug" } else { &cli.log_level });
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("minirun: {}", report(&e));
            exit_code_of(&e, EXIT_RUNTIME)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let rootless = crate::idmap::is_rootless();
    // Rootless, every verb that touches the store runs inside our own user namespace,
    // as podman does, so image files keep their owners (mapped onto sub-ids).
    // `info` too: the storage driver probe must run where containers will.
    let needs_userns = !matches!(cli.cmd, Command::Oci(_));
    if rootless && needs_userns && !crate::idmap::in_user_namespace() {
        let m = crate::idmap::rootless_mapping(crate::idmap::host_uid(), crate::idmap::host_gid());
        if let Some(why) = &m.single_id_reason {
            tracing::warn!("single-id mapping: {why}");
        }
        let paths = Paths::resolve(cli.root.as_deref(), rootless)?;
        return crate::idmap::reexec_in_userns(&m, crate::idmap::find_holder(&paths.run));
    }
    let paths = Paths::resolve(cli.root.as_deref(), rootless)?;
    let ctx = Ctx { paths, rootless, storage_driver: cli.storage_driver };
    match cli.cmd {
        Command::Info(a) => info::run(&ctx, a),
        Command::Load(a) => load::run(&ctx, a),
        Command::Tag(a) => tag::run(&ctx, a),
        Command::Images(a) => images::run(&ctx, a),
        Command::Image(c) => images::run_image(&ctx, c),
        Command::Rmi(a) => rmi::run(&ctx, a),
        Command::System(c) => system::run(&ctx, c),
        Command::Volume(c) => volume::run(&ctx, c),
        Command::Container(c) => containers::run(&ctx, c),
        Command::Oci(_) => unreachable!("handled above"),
    }
}
