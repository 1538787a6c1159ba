//! Typed errors that cross the process boundary between the runtime's stages.

use serde::{Deserialize, Serialize};

/// A failure inside a runtime stage (the namespace setup process or the container
/// init), sent back to the caller as JSON so it can print "exec /bin/nope: no such
/// file or directory" and choose the exit status (126 / 127).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StageError {
    /// Which stage failed: "userns", "mounts", "rootfs", "process", "exec", …
    pub stage: String,
    /// What was being done, phrased to be followed by the path: "mount proc on", "exec".
    pub op: String,
    pub path: Option<String>,
    pub errno: Option<i32>,
    /// How to fix it, where we know.
    pub hint: Option<String>,
}

impl StageError {
    pub fn new(stage: &str, op: impl Into<String>, path: Option<String>, errno: Option<i32>) -> Self {
        StageError { stage: stage.into(), op: op.into(), path, errno, hint: None }
    }

    /// From a nix errno.
    pub fn errno(stage: &str, op: impl Into<String>, path: impl Into<String>, e: nix::errno::Errno) -> Self {
        Self::new(stage, op, Some(path.into()), Some(e as i32))
    }

    /// A failure with no errno (bad config, …).
    pub fn msg(stage: &str, op: impl Into<String>) -> Self {
        Self::new(stage, op, None, None)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.op)?;
        if let Some(p) = &self.path {
            write!(f, " {p}")?;
        }
        if let Some(e) = self.errno {
            let s = nix::errno::Errno::from_raw(e).desc().to_lowercase();
            write!(f, ": {s}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for StageError {}

/// Result type of code running inside a runtime stage.
pub type StageResult<T> = Result<T, StageError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_runc() {
        let e = StageError::errno("exec", "exec", "/bin/nope", nix::errno::Errno::ENOENT);
        assert_eq!(e.to_string(), "exec /bin/nope: no such file or directory");
        let e = StageError::errno("mounts", "mount proc on", "/proc", nix::errno::Errno::EPERM);
        assert_eq!(e.to_string(), "mount proc on /proc: operation not permitted");
    }
}
