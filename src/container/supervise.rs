//! The supervision loop shared by a foreground `run` and the detached monitor:
//! forward signals to the container, relay a terminal, pump output into the log,
//! reap the container's init and return its exit status (128+N after signal N).
use anyhow::{Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// What to supervise.
pub struct Supervision {
    /// Host pid of the container's init.
    pub pid: i32,
    /// The terminal's master side, relayed to our stdin/stdout.
    pub tty_master: Option<OwnedFd>,
    /// Relay our stdin to the terminal (`-i`).
    pub relay_stdin: bool,
    /// Detached: the container's stdout and stderr pipes, and the log they go to.
    pub log: Option<(OwnedFd, OwnedFd, File)>,
}

fn read_some(fd: &impl AsRawFd, buf: &mut [u8]) -> isize {
    // SAFETY: reading into a buffer we own.
    unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
}

fn write_all(fd: i32, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a live buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

/// Copy our terminal's size to the container's terminal.
fn copy_winsize(master: &OwnedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize.
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Puts our terminal in raw mode while a container terminal is relayed.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        match nix::sys::termios::tcgetattr(stdin.as_fd()) {
            Ok(orig) => {
                let mut raw = orig.clone();
                nix::sys::termios::cfmakeraw(&mut raw);
                let _ = nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw);
                RawMode(Some(orig))
            }
            Err(_) => RawMode(None),
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin().as_fd(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

/// The signals supervision handles: those a foreground `run` forwards, and SIGCHLD.
fn handled() -> SigSet {
    crate::runtime::wait::forwarded()
}

/// Block the signals supervision handles, so they stay pending until `supervise`.
pub fn block_signals() -> Result<()> {
    handled().thread_block().context("blocking signals")
}

/// Supervise until the init has exited and its output is drained.
pub fn supervise(s: Supervision) -> Result<i32> {
    let mask = handled();
    mask.thread_block().context("blocking signals")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).context("signalfd")?;
    let _raw = match &s.tty_master {
        Some(m) => {
            copy_winsize(m);
            Some(RawMode::enter())
        }
        None => None,
    };
    let target = Pid::from_raw(s.pid);
    let mut status: Option<i32> = None;
    let mut master = s.tty_master;
    let mut stdin_open = s.relay_stdin && master.is_some();
    let (mut out, mut err, mut log) = match s.log {
        Some((o, e, f)) => (Some(o), Some(e), Some(f)),
        None => (None, None, None),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut drain_deadline: Option<std::time::Instant> = None;
    // The init may have exited before the signalfd existed: look once before waiting.
    let mut check_children = true;
    loop {
        let open_outputs = master.is_some() as usize + out.is_some() as usize + err.is_some() as usize;
        if status.is_some() && open_outputs == 0 {
            break;
        }
        if let Some(d) = drain_deadline {
            // Output held open by something that outlived the init: stop waiting.
            if std::time::Instant::now() >= d {
                break;
            }
        }
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let idx_master = master.as_ref().map(|m| {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let idx_stdin = if stdin_open && status.is_none() {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        let idx_out = out.as_ref().map(|o| {
            fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let idx_err = err.as_ref().map(|e| {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let timeout = if check_children {
            PollTimeout::ZERO
        } else if status.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll"),
        }
        let ready =
            |i: Option<usize>| -> bool { i.and_then(|i| fds[i].revents()).map(|r| !r.is_empty()).unwrap_or(false) };
        let (r_sig, r_master, r_stdin, r_out, r_err) =
            (ready(Some(0)), ready(idx_master), ready(idx_stdin), ready(idx_out), ready(idx_err));
        drop(fds);
        let mut signals = Vec::new();
        if check_children {
            signals.push(libc::SIGCHLD);
            check_children = false;
        }
        if r_sig {
            while let Ok(Some(info)) = sfd.read_signal() {
                signals.push(info.ssi_signo as i32);
            }
        }
        {
            for signo in signals {
                if signo == libc::SIGCHLD {
                    // Reap everything: orphans of the container come back to us too.
                    loop {
                        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                            Ok(WaitStatus::Exited(p, c)) if p == target => status = Some(c),
                            Ok(WaitStatus::Signaled(p, sig, _)) if p == target => status = Some(128 + sig as i32),
                            Ok(WaitStatus::StillAlive) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                    if status.is_some() && drain_deadline.is_none() {
                        drain_deadline = Some(std::time::Instant::now() + std::time::Duration::from_secs(2));
                    }
                } else if signo == libc::SIGWINCH {
                    if let Some(m) = &master {
                        copy_winsize(m);
                    }
                } else if status.is_none()
                    && let Ok(sig) = Signal::try_from(signo)
                {
                    let _ = nix::sys::signal::kill(target, sig);
                }
            }
        }
        if r_master {
            let n = master.as_ref().map(|m| read_some(m, &mut buf)).unwrap_or(0);
            if n > 0 {
                write_all(1, &buf[..n as usize]);
            } else if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                master = None;
            }
        }
        if r_stdin {
            let n = read_some(&std::io::stdin(), &mut buf);
            if n > 0 {
                if let Some(m) = &master {
                    write_all(m.as_raw_fd(), &buf[..n as usize]);
                }
            } else {
                stdin_open = false;
            }
        }
        for (ready, pipe, stream) in [(r_out, &mut out, "stdout"), (r_err, &mut err, "stderr")] {
            if !ready {
                continue;
            }
            let n = pipe.as_ref().map(|p| read_some(p, &mut buf)).unwrap_or(0);
            if n > 0 {
                if let Some(f) = log.as_mut() {
                    let _ = super::logs::append(f, stream, &buf[..n as usize]);
                }
            } else {
                *pipe = None;
            }
        }
    }
    let _ = mask.thread_unblock();
    drop(log);
    Ok(status.unwrap_or(-1))
}
