//! The one channel between the caller (P0) and the runtime's stages (P1, P2): a
//! SOCK_SEQPACKET socketpair carrying typed JSON messages, one message per packet,
//! optionally with a file descriptor attached (the pty master).
//!
//! Accepted order, as seen by the caller (`Sequence` enforces it):
//!
//! ```text
//! child → caller                       caller → child
//! [UsernsReady]   (new user namespace)  [MapsWritten]
//! Pid{pid}        (P2's host pid)       PidAck
//! [Pty] + fd      (process.terminal)
//! Ready           (rootfs done)         Continue{created, state}   (create/run only)
//! Created         (createContainer hooks ran in the container)
//! EOF = execve succeeded (the socket is CLOEXEC)  |  Error{..} at any point
//! ```
use super::error::{StageError, StageResult};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A message on the sync socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// P1 has unshared its user namespace: the caller may write the maps.
    UsernsReady,
    /// The caller wrote the id maps.
    MapsWritten,
    /// P1 forked the container process; its pid in the caller's pid namespace.
    Pid { pid: i32 },
    /// The caller knows the pid: the container process may talk now.
    PidAck,
    /// The pty master travels with this message (SCM_RIGHTS).
    Pty,
    /// The container process is prepared and waits.
    Ready,
    /// Go on (after the prestart/createRuntime hooks); carries the state JSON for the
    /// createContainer hooks (`created`) and the startContainer hooks (`state`).
    Continue { created: String, state: String },
    /// The createContainer hooks ran (in the container's namespaces).
    Created,
    /// A stage failed.
    Error { error: StageError },
}

/// Validates the order of messages the caller receives.
#[derive(Debug)]
pub struct Sequence {
    expect: Vec<&'static str>,
}

fn name(m: &Msg) -> &'static str {
    match m {
        Msg::UsernsReady => "userns_ready",
        Msg::MapsWritten => "maps_written",
        Msg::Pid { .. } => "pid",
        Msg::PidAck => "pid_ack",
        Msg::Pty => "pty",
        Msg::Ready => "ready",
        Msg::Continue { .. } => "continue",
        Msg::Created => "created",
        Msg::Error { .. } => "error",
    }
}

impl Sequence {
    /// The messages expected from the stages, given whether a user namespace is
    /// created and whether a pty is sent.
    pub fn new(userns: bool, pty: bool) -> Self {
        let mut expect = Vec::new();
        if userns {
            expect.push("userns_ready");
        }
        expect.push("pid");
        if pty {
            expect.push("pty");
        }
        expect.push("ready");
        Sequence { expect }
    }

    /// Accept `m` as the next message, or say what was expected instead.
    /// An error is always accepted.
    pub fn accept(&mut self, m: &Msg) -> Result<(), String> {
        if matches!(m, Msg::Error { .. }) {
            return Ok(());
        }
        match self.expect.first() {
            Some(&e) if e == name(m) => {
                self.expect.remove(0);
                Ok(())
            }
            Some(e) => Err(format!("sync: expected {e}, got {}", name(m))),
            None => Err(format!("sync: unexpected {} after ready", name(m))),
        }
    }

    /// True once Ready was received.
    pub fn done(&self) -> bool {
        self.expect.is_empty()
    }
}

/// One end of the socketpair.
pub struct Chan {
    pub fd: OwnedFd,
}

/// A CLOEXEC SOCK_SEQPACKET pair: (caller end, child end).
pub fn pair() -> std::io::Result<(Chan, Chan)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe { Ok((Chan { fd: OwnedFd::from_raw_fd(fds[0]) }, Chan { fd: OwnedFd::from_raw_fd(fds[1]) })) }
}

/// Send `data` with an optional fd over a unix socket (MSG_NOSIGNAL: a gone peer is an error, not SIGPIPE).
pub fn send_raw(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> std::io::Result<()> {
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
    // u64 array keeps the control buffer aligned for cmsghdr.
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; all pointers outlive the sendmsg call.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        }
        loop {
            let r = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
            if r >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Receive one packet and an optional attached fd. Empty data = EOF.
pub fn recv_raw(sock: RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut cbuf = [0u64; 8];
    // SAFETY: as in send_raw; received fds are taken into OwnedFd exactly once.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = loop {
            let r = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if r >= 0 {
                break r as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let mut fd = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Ok((n, fd))
    }
}

impl Chan {
    /// Send a message (with an fd for `Pty`).
    pub fn send(&self, m: &Msg, fd: Option<RawFd>) -> std::io::Result<()> {
        let data = serde_json::to_vec(m).map_err(std::io::Error::other)?;
        send_raw(self.fd.as_raw_fd(), &data, fd)
    }

    /// Receive the next message; None at EOF (the peer exec'd or exited).
    pub fn recv(&self) -> std::io::Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        let (n, fd) = recv_raw(self.fd.as_raw_fd(), &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        let m = serde_json::from_slice(&buf[..n]).map_err(std::io::Error::other)?;
        Ok(Some((m, fd)))
    }

    /// In a stage: send, turning a failure into a StageError.
    pub fn stage_send(&self, m: &Msg, fd: Option<RawFd>) -> StageResult<()> {
        self.send(m, fd).map_err(|e| io_stage("sync", "send to the caller on", "the sync socket", &e))
    }

    /// In a stage: wait for exactly `want` from the caller.
    pub fn stage_expect(&self, want: &str) -> StageResult<Msg> {
        match self.recv() {
            Ok(Some((m, _))) if name(&m) == want => Ok(m),
            Ok(Some((m, _))) => {
                Err(StageError::msg("sync", format!("expected {want} from the caller, got {}", name(&m))))
            }
            Ok(None) => Err(StageError::msg("sync", format!("the caller went away while waiting for {want}"))),
            Err(e) => Err(io_stage("sync", "receive from the caller on", "the sync socket", &e)),
        }
    }
}

/// A StageError from an io::Error.
pub fn io_stage(stage: &str, op: &str, path: &str, e: &std::io::Error) -> StageError {
    StageError::new(stage, op, Some(path.to_string()), e.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_with_userns_and_pty() {
        let mut s = Sequence::new(true, true);
        for m in [Msg::UsernsReady, Msg::Pid { pid: 7 }, Msg::Pty, Msg::Ready] {
            assert!(!s.done());
            s.accept(&m).unwrap();
        }
        assert!(s.done());
        assert!(s.accept(&Msg::Ready).is_err());
    }

    #[test]
    fn rejects_out_of_order() {
        let mut s = Sequence::new(false, false);
        assert!(s.accept(&Msg::Ready).is_err());
        assert!(s.accept(&Msg::UsernsReady).is_err());
        s.accept(&Msg::Pid { pid: 1 }).unwrap();
        assert!(s.accept(&Msg::Pty).is_err());
        let err = Msg::Error { error: StageError::msg("x", "y") };
        s.accept(&err).unwrap();
        s.accept(&Msg::Ready).unwrap();
    }

    #[test]
    fn roundtrip_with_fd() {
        let (a, b) = pair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        a.send(&Msg::Pty, Some(f.as_raw_fd())).unwrap();
        let (m, fd) = b.recv().unwrap().unwrap();
        assert_eq!(m, Msg::Pty);
        assert!(fd.is_some());
        a.send(&Msg::Continue { created: "{}".into(), state: "{}".into() }, None).unwrap();
        assert_eq!(b.recv().unwrap().unwrap().0, Msg::Continue { created: "{}".into(), state: "{}".into() });
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }
}
