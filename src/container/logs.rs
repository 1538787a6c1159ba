//! A detached container's output, kept as JSON lines in its directory (Docker's
//! json-file format): `{"stream":"stdout","time":"…","log":"…"}`.
use super::record::{ContainerStore, Status};
use crate::cli::Ctx;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};

/// One chunk of output.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogLine {
    pub stream: String,
    pub time: String,
    pub log: String,
}

/// The log file of a container.
pub fn log_path(ctx: &Ctx, id: &str) -> std::path::PathBuf {
    super::bundle_dir(ctx, id).join("ctr.log")
}

/// Append one chunk (called by the monitor).
pub fn append(f: &mut std::fs::File, stream: &str, data: &[u8]) -> std::io::Result<()> {
    let line = LogLine {
        stream: stream.into(),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        log: String::from_utf8_lossy(data).into_owned(),
    };
    let mut s = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
    s.push(b'\n');
    f.write_all(&s)
}

/// Print a container's output: stdout chunks to stdout, stderr chunks to stderr;
/// with `follow`, keep going until the container has stopped and all is printed.
pub fn logs(ctx: &Ctx, key: &str, follow: bool) -> Result<()> {
    let rec = super::resolve(ctx, key)?;
    let path = log_path(ctx, &rec.id);
    let store = ContainerStore::open(&ctx.paths)?;
    let file = match std::fs::File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let Some(file) = file else {
        if !follow {
            return Ok(());
        }
        anyhow::bail!("container {} has no log: only detached containers keep one", rec.name);
    };
    let mut rd = BufReader::new(file);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let mut emit = |line: &str| -> Result<()> {
        if let Ok(l) = serde_json::from_str::<LogLine>(line) {
            let w: &mut dyn Write = if l.stream == "stderr" { &mut err } else { &mut out };
            w.write_all(l.log.as_bytes())?;
            w.flush()?;
        }
        Ok(())
    };
    // A line without its newline yet stays in `buf` until the monitor finishes it.
    let mut buf = String::new();
    let mut finishing = false;
    loop {
        let n = rd.read_line(&mut buf).context("reading the log")?;
        if buf.ends_with('\n') {
            emit(&buf)?;
            buf.clear();
            continue;
        }
        if n > 0 {
            continue;
        }
        if !follow || finishing {
            return Ok(());
        }
        let done = match store.load(&rec.id) {
            Ok(r) => r.live_status() != Status::Running && r.monitor.map(|m| !m.alive()).unwrap_or(true),
            Err(_) => true,
        };
        // After the container is done, read once more: the monitor may have written
        // its last chunk right before recording the exit.
        finishing = done;
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
