//! `--console-socket`: the container's pty master is handed to the caller's AF_UNIX
//! socket with SCM_RIGHTS (runc's protocol: connect, one message carrying the fd).
use super::error::{StageError, StageResult};
use anyhow::{Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Send `master` to the socket listening at `path`.
pub fn send_to_socket(path: &Path, master: RawFd) -> Result<()> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("connecting to console socket {}", path.display()))?;
    super::sync::send_raw(s.as_raw_fd(), b"/dev/ptmx", Some(master))
        .with_context(|| format!("sending the pty master to {}", path.display()))
}

/// In the container: open a new pty from the container's /dev/ptmx, make its slave
/// the controlling terminal and stdio; returns the master.
pub fn open_pty_as_stdio() -> StageResult<OwnedFd> {
    // SAFETY: plain libc calls on fds we own; the returned fds are wrapped once.
    unsafe {
        let m = libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if m < 0 {
            return Err(errno("open", "/dev/ptmx"));
        }
        let master = OwnedFd::from_raw_fd(m);
        if libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            return Err(errno("unlock pty", "/dev/ptmx"));
        }
        // TIOCGPTPEER opens the slave through the master, not by a path the rootfs could redirect.
        let s = libc::ioctl(m, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY);
        if s < 0 {
            return Err(errno("open pty slave of", "/dev/ptmx"));
        }
        if libc::ioctl(s, libc::TIOCSCTTY, 0) != 0 {
            return Err(errno("set controlling terminal", "pty"));
        }
        for fd in 0..3 {
            if libc::dup2(s, fd) < 0 {
                return Err(errno("dup2 pty to stdio", "pty"));
            }
        }
        if s > 2 {
            libc::close(s);
        }
        Ok(master)
    }
}

fn errno(op: &str, path: &str) -> StageError {
    StageError::new("console", op, Some(path.into()), Some(nix::errno::Errno::last() as i32))
}
