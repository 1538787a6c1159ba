//! `exec [--process F | options] ID [ARGS…]`
use crate::runtime::exec::{ExecOptions, exec};
use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Process, UserBuilder};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// process.json (runtime-spec Process) to run; ARGS and the options below are ignored.
    #[arg(long, short = 'p', value_name = "FILE")]
    process: Option<PathBuf>,
    /// Return once the program runs.
    #[arg(long, short = 'd')]
    detach: bool,
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Allocate a pty (sent to --console-socket).
    #[arg(long, short = 't')]
    tty: bool,
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Extra environment K=V (repeatable).
    #[arg(long, short = 'e', value_name = "K=V")]
    env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    user: Option<String>,
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn process_from_args(root: &Path, a: &Args) -> Result<Process> {
    if a.args.is_empty() {
        bail!("exec needs --process FILE or a command to run");
    }
    let store = crate::runtime::state::Store::open(root)?;
    let rec = store.load(&a.id)?;
    let mut p = rec.minirun.config.process().clone().unwrap_or_default();
    p.set_args(Some(a.args.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(c) = &a.cwd {
        p.set_cwd(c.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        if !kv.contains('=') {
            bail!("--env {kv:?}: expected K=V");
        }
        let k = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(k));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid.parse().with_context(|| format!("--user {u}: expected numeric UID[:GID]"))?;
        let gid: u32 = match gid {
            Some(g) => g.parse().with_context(|| format!("--user {u}: expected numeric UID[:GID]"))?,
            None => 0,
        };
        p.set_user(UserBuilder::default().uid(uid).gid(gid).build()?);
    }
    Ok(p)
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    let process = match &a.process {
        Some(f) => {
            let data = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            serde_json::from_slice(&data).with_context(|| format!("parsing process {}", f.display()))?
        }
        None => process_from_args(root, &a)?,
    };
    exec(
        root,
        &a.id,
        ExecOptions {
            process,
            detach: a.detach,
            pid_file: a.pid_file,
            console_socket: a.console_socket,
            preserve_fds: a.preserve_fds,
        },
    )
}
