//! Exit codes and the one place that maps errors to them.
//!
//! Docker's convention for the high-level verbs: 125 when minirun itself failed,
//! 126 when the command cannot be invoked, 127 when it is not found, otherwise the
//! container's own status (128+N after signal N). The runc-compatible verbs exit 1.

use std::fmt;

/// minirun itself failed (bad input, store error, runtime error).
pub const EXIT_RUNTIME: i32 = 125;
/// The container command exists but cannot be invoked.
pub const EXIT_CANNOT_INVOKE: i32 = 126;
/// The container command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// An error that carries the exit status it must produce.
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub msg: String,
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ExitError {}

impl ExitError {
    /// An error that makes the process exit with `code` (already boxed for `?`).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(code: i32, msg: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(ExitError { code, msg: msg.into() })
    }
}

/// The exit status an error maps to; `default` for errors that carry none.
pub fn exit_code_of(err: &anyhow::Error, default: i32) -> i32 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ExitError>() {
            return e.code;
        }
    }
    default
}

/// Print an error chain on one line, the way users of docker and runc expect:
/// `minirun: outer: inner: root cause`.
pub fn report(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}
