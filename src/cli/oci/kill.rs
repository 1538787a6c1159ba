//! `kill [--all] ID [SIGNAL]` (TERM, SIGTERM or 15; default TERM).
use anyhow::{Result, bail};
use nix::sys::signal::Signal;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal every process of the container.
    #[arg(long, short = 'a')]
    all: bool,
    id: String,
    #[arg(default_value = "TERM")]
    signal: String,
}

/// A signal by number, or by name with or without the SIG prefix; 0 (None) only checks.
pub fn parse_signal(s: &str) -> Result<Option<Signal>> {
    if s == "0" {
        return Ok(None);
    }
    Ok(Some(parse_named(s)?))
}

fn parse_named(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return match Signal::try_from(n) {
            Ok(sig) => Ok(sig),
            Err(_) => bail!("unknown signal {s}"),
        };
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    match name.parse::<Signal>() {
        Ok(sig) => Ok(sig),
        Err(_) => bail!("unknown signal {s:?}: use a name (TERM, SIGKILL) or a number"),
    }
}

pub fn run(root: &Path, a: Args) -> Result<i32> {
    let sig = parse_signal(&a.signal)?;
    crate::runtime::ops::kill(root, &a.id, sig, a.all)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn signals() {
        use super::parse_signal;
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("9").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("0").unwrap(), None);
        assert_eq!(parse_signal("TERM").unwrap(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sigusr1").unwrap(), Some(Signal::SIGUSR1));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
