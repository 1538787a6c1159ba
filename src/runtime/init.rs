//! The last steps of a container process, shared by `create`/`run` and `exec`:
//! find the program, keep only fds 0-2 (and the preserved ones), drop privileges,
//! execve. An exec failure travels back to the caller as a StageError.
use super::error::{StageError, StageResult};
use oci_spec::runtime::Process;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolve a bare program name with the PATH of the container's environment.
pub fn find_program(arg0: &str, env: &[String]) -> StageResult<PathBuf> {
    if arg0.contains('/') {
        return Ok(PathBuf::from(arg0));
    }
    let path = env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(arg0);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(StageError::errno("exec", "exec", arg0, nix::errno::Errno::ENOENT))
}

/// Mark every fd from `first` up close-on-exec: the sync socket stays usable to
/// report an exec failure, and nothing of the runtime reaches the container.
pub fn cloexec_from(first: u32) -> StageResult<()> {
    // SAFETY: close_range only changes fd flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if r != 0 {
        return Err(StageError::new("process", "close_range", None, Some(nix::errno::Errno::last() as i32)));
    }
    Ok(())
}

/// Undo what the runtime changed in this process that execve would keep:
/// the blocked signal mask and Rust's ignored SIGPIPE.
pub fn reset_signals() {
    // SAFETY: plain signal syscalls.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Exit status for a failed exec, Docker's convention: 127 not found, 126 otherwise.
pub fn exec_exit_code(e: &StageError) -> i32 {
    if e.errno == Some(libc::ENOENT) { 127 } else { 126 }
}

/// Program lookup, fd hygiene, finalize_process (caps, user, seccomp), execve.
/// Only returns on failure.
pub fn exec_process(process: &Process, preserve_fds: u32) -> StageError {
    match prepare_and_exec(process, preserve_fds) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn prepare_and_exec(process: &Process, preserve_fds: u32) -> StageResult<std::convert::Infallible> {
    let args = process.args().clone().unwrap_or_default();
    let Some(arg0) = args.first() else {
        return Err(StageError::msg("exec", "the config's process.args is empty: nothing to run"));
    };
    let env = process.env().clone().unwrap_or_default();
    let prog = find_program(arg0, &env)?;
    let cprog =
        CString::new(prog.as_os_str().as_bytes()).map_err(|_| StageError::msg("exec", "program path contains NUL"))?;
    let cargs: Vec<CString> = args.iter().map(|a| CString::new(a.as_bytes()).unwrap_or_default()).collect();
    let cenv: Vec<CString> = env.iter().map(|a| CString::new(a.as_bytes()).unwrap_or_default()).collect();
    cloexec_from(3 + preserve_fds)?;
    super::security::finalize_process(process)?;
    reset_signals();
    let e = nix::unistd::execve(&cprog, &cargs, &cenv).unwrap_err();
    Err(StageError::errno("exec", "exec", arg0.clone(), e))
}

/// P1's last step, shared by `create`/`run` and `exec`: fork P2, which runs `p2`
/// (it returns only with an error, sent to the caller and turned into P2's exit
/// status); the parent reports P2's pid and leaves. Single-threaded callers only.
pub fn fork_p2(
    chan: &super::sync::Chan,
    stage: &str,
    what: &str,
    p2: impl FnOnce() -> StageResult<std::convert::Infallible>,
) -> StageResult<std::convert::Infallible> {
    use super::sync::Msg;
    // SAFETY: the caller is single-threaded.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let e = match p2() {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let code = if e.stage == "exec" { exec_exit_code(&e) } else { 1 };
            if chan.send(&Msg::Error { error: e.clone() }, None).is_err() {
                // The caller is gone (create returned): say it on the container's stderr.
                eprintln!("minirun-oci: {e}");
            }
            // SAFETY: leave without running destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            chan.stage_send(&Msg::Pid { pid: child.as_raw() }, None)?;
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        Err(e) => Err(StageError::errno(stage, "fork", what, e)),
    }
}
