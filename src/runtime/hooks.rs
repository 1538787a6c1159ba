//! Lifecycle hooks: run with the state JSON on stdin, their args and env, and an
//! optional timeout.
use anyhow::{Context, Result, bail};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Run `hooks` in order; the first failure is returned (named `kind` in the error).
pub fn run_all(kind: &str, hooks: Option<&Vec<Hook>>, state_json: &str) -> Result<()> {
    for h in hooks.into_iter().flatten() {
        run(kind, h, state_json)?;
    }
    Ok(())
}

fn run(kind: &str, h: &Hook, state_json: &str) -> Result<()> {
    let path = h.path();
    let mut cmd = Command::new(path);
    if let Some(args) = h.args() {
        if let Some(a0) = args.first() {
            cmd.arg0(a0);
        }
        cmd.args(args.iter().skip(1));
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let what = format!("{kind} hook {}", path.display());
    let mut child = cmd.spawn().with_context(|| format!("running {what}"))?;
    if let Some(mut sin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = sin.write_all(state_json.as_bytes());
    }
    let status = match h.timeout() {
        Some(t) if t > 0 => {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(t as u64);
            loop {
                if let Some(st) = child.try_wait()? {
                    break st;
                }
                if std::time::Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("{what} timed out after {t}s");
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        _ => child.wait().with_context(|| format!("waiting for {what}"))?,
    };
    if !status.success() {
        bail!("{what} failed: {status}");
    }
    Ok(())
}
