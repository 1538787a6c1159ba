//! The runc-compatible CLI: `minirun oci COMMAND …`, or top level as `minirun-oci`.
//! Global flags and error reporting live here; one thin file per verb.
use crate::runtime::log;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

mod create;
mod delete;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;

/// Arguments after `minirun oci`.
#[derive(clap::Args, Debug)]
pub struct OciArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<std::ffi::OsString>,
}

/// runc's command line.
#[derive(Parser, Debug)]
#[command(name = "minirun-oci", version, about = "runc-compatible OCI runtime")]
struct Oci {
    /// State directory (default: /run/minirun-oci; rootless: $XDG_RUNTIME_DIR/minirun-oci).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Append log lines (errors, warnings; debug with --debug) to FILE.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_name = "text|json", default_value = "text")]
    log_format: String,
    /// Also log debug notes.
    #[arg(long)]
    debug: bool,
    /// Accepted for runc compatibility; ignored (no systemd cgroup manager).
    #[arg(long)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (rootless is detected).
    #[arg(long, require_equals = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    rootless: Option<String>,
    #[command(subcommand)]
    cmd: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Create a container (its program waits until `start`).
    Create(create::Args),
    /// Run the program of a created container.
    Start(start::Args),
    /// Create and start a container; wait for it unless --detach.
    Run(run::RunArgs),
    /// Print the state of a container as JSON.
    State(state::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::Args),
    /// Remove a container.
    Delete(delete::Args),
    /// Run another process in a running container.
    Exec(exec::Args),
    /// List a container's processes.
    Ps(ps::Args),
    /// Freeze a container's processes.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(pause::Args),
    /// List containers.
    List(list::Args),
    /// Write a default config.json.
    Spec(spec::Args),
    /// Print the runtime's features as JSON.
    Features,
}

/// `minirun oci …`: everything after `oci` on the raw command line is runc's command
/// line (clap's global `--root`/`--debug` of `minirun` would otherwise swallow runc's
/// own). A `--root DIR` given before `oci` (or MINIRUN_ROOT) puts the state under
/// DIR/run/oci, next to the high-level containers.
pub fn main_oci(_a: OciArgs) -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    let at = args.iter().skip(1).position(|a| a == "oci").map(|i| i + 1).unwrap_or(0);
    let rest = &args[at + 1..];
    let mut argv = vec![OsString::from("minirun-oci")];
    if !rest.iter().any(|s| s == "--root" || s.to_string_lossy().starts_with("--root="))
        && let Some(r) = outer_root(&args[..at])
        && let Ok(p) = crate::paths::Paths::resolve(Some(&r), false)
    {
        argv.push("--root".into());
        argv.push(p.oci_state().into());
    }
    argv.extend(rest.iter().cloned());
    main_from_args(argv)
}

/// `--root` given before `oci` on minirun's own command line.
fn outer_root(before: &[OsString]) -> Option<PathBuf> {
    let mut it = before.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--root" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--root=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("MINIRUN_ROOT").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Entry point when invoked as `minirun-oci` (runc's command line, argv[0] included).
pub fn main_from_args(argv: Vec<OsString>) -> i32 {
    let cli = match Oci::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let format = if cli.log_format == "json" { log::Format::Json } else { log::Format::Text };
    log::init(cli.log.clone(), format, cli.debug);
    if cli.log_format != "json" && cli.log_format != "text" {
        return fail(anyhow::anyhow!("unknown --log-format {:?}: use text or json", cli.log_format));
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// Print a line on stdout; a closed pipe (`… | head`) is not a crash.
pub(crate) fn out(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn fail(e: anyhow::Error) -> i32 {
    let msg = crate::error::report(&e);
    eprintln!("minirun-oci: {msg}");
    log::error(&msg);
    1
}

/// The state root: --root, or the default for root / rootless.
fn state_root(root: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(r) = root {
        return Ok(if r.is_absolute() { r } else { std::env::current_dir()?.join(r) });
    }
    if !crate::idmap::is_rootless() {
        return Ok(PathBuf::from("/run/minirun-oci"));
    }
    let base = crate::paths::rootless_runtime_dir().context("finding a runtime directory for rootless state")?;
    Ok(base.join("minirun-oci"))
}

fn dispatch(cli: Oci) -> Result<i32> {
    let root = || state_root(cli.root.clone());
    match cli.cmd {
        Verb::Create(a) => create::run(&root()?, a),
        Verb::Start(a) => start::run(&root()?, a),
        Verb::Run(a) => run::run(&root()?, a),
        Verb::State(a) => state::run(&root()?, a),
        Verb::Kill(a) => kill::run(&root()?, a),
        Verb::Delete(a) => delete::run(&root()?, a),
        Verb::Exec(a) => exec::run(&root()?, a),
        Verb::Ps(a) => ps::run(&root()?, a),
        Verb::Pause(a) => pause::run(&root()?, a, true),
        Verb::Resume(a) => pause::run(&root()?, a, false),
        Verb::List(a) => list::run(&root()?, a),
        Verb::Spec(a) => spec::run(a),
        Verb::Features => features::run(),
    }
}
