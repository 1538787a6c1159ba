//! Resolving and changing paths inside a root directory, with the root as a boundary.
//!
//! Every lookup of a parent directory goes through openat2(2) with `RESOLVE_IN_ROOT`, so
//! `..` and symlinks (absolute or relative) inside the tree can never lead out of it.
//! Operations on the final component never follow it (`*at` calls with
//! `AT_SYMLINK_NOFOLLOW`, `O_NOFOLLOW`, or a plain unlink/mknod that does not follow).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Turn a -1 return into the errno as an io::Error.
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// A byte string as a C string; tar names cannot contain NUL, so this only fails on
/// hostile input, which gets a clear error.
pub fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// `struct open_how` of openat2(2) (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// An O_PATH handle on the root directory that every lookup is confined to.
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Open `path` (which must be a directory, not a symlink) as the boundary.
    pub fn open(path: &Path) -> io::Result<Root> {
        let c = cstr(path.as_os_str().as_bytes())?;
        // SAFETY: plain open(2) of a C string; the fd is owned below.
        let fd = cvt(unsafe {
            libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        })?;
        // SAFETY: fd was just returned by open and is ours.
        Ok(Root { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Open `path` as the boundary, following a final symlink or magic link (a
    /// container's `/proc/PID/root`).
    pub fn open_following(path: &Path) -> io::Result<Root> {
        let c = cstr(path.as_os_str().as_bytes())?;
        // SAFETY: plain open(2) of a C string; the fd is owned below.
        let fd = cvt(unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) })?;
        // SAFETY: fd was just returned by open and is ours.
        Ok(Root { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// The raw fd of the root, usable as the dirfd of *at calls.
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Open the directory `rel` (relative, `/`-separated) as an O_PATH fd, resolving
    /// every component (symlinks included) inside the root.
    pub fn open_dir(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        let c = cstr(rel)?;
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        };
        // The kernel returns EAGAIN when a concurrent rename could have fooled the
        // walk; nothing else renames inside a staging directory, so a few retries do.
        let mut tries = 0;
        loop {
            // SAFETY: openat2 with a valid dirfd, C string and open_how of the right size.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.fd.as_raw_fd(),
                    c.as_ptr(),
                    &how as *const OpenHow,
                    std::mem::size_of::<OpenHow>(),
                )
            };
            if r >= 0 {
                // SAFETY: openat2 returned a new fd that we now own.
                return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) && tries < 8 {
                tries += 1;
                continue;
            }
            return Err(e);
        }
    }
}

/// The process umask, read without changing it (umask(2) would race with other
/// threads creating files); None when /proc does not say.
pub fn current_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// Does the directory have the setgid bit (so new entries inherit its group)?
pub fn is_setgid_dir(dir: RawFd) -> io::Result<bool> {
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd (O_PATH is fine for fstat) and out pointer.
    cvt(unsafe { libc::fstat(dir, &mut st) })?;
    Ok(st.st_mode & libc::S_ISGID != 0)
}

/// What sits at a name, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Symlink,
    /// A character device 0:0, i.e. an overlay whiteout.
    Whiteout,
    Other,
}

/// lstat of `name` in `dir`; Ok(None) when it does not exist.
pub fn kind_at(dir: RawFd, name: &CStr) -> io::Result<Option<Kind>> {
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dirfd, C string and out pointer.
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) { Ok(None) } else { Err(e) };
    }
    Ok(Some(match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        libc::S_IFCHR if st.st_rdev == 0 => Kind::Whiteout,
        _ => Kind::Other,
    }))
}

/// Open `name` in `dir` as an O_PATH directory fd without following a symlink.
pub fn open_subdir(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with valid arguments; the fd is owned below.
    let fd = cvt(unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
    // SAFETY: new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open `name` in `dir` for reading as a real (non-O_PATH) directory fd, not following
/// a symlink: used for fchmod/futimens/fsetxattr and for listing.
pub fn open_dir_rd(dir: RawFd, name: &CStr) -> io::Result<File> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with valid arguments; the fd is owned below.
    let fd = cvt(unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
    // SAFETY: new fd we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Create a new regular file with `mode` (minus the umask), never following or
/// reusing an existing name. The returned fd is writable whatever the mode says.
pub fn create_file(dir: RawFd, name: &CStr, mode: u32) -> io::Result<File> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with valid arguments; the fd is owned below.
    let fd = cvt(unsafe { libc::openat(dir, name.as_ptr(), flags, mode as libc::c_uint) })?;
    // SAFETY: new fd we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// mkdirat.
pub fn mkdir(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid dirfd and C string.
    cvt(unsafe { libc::mkdirat(dir, name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// mknodat (fifos, devices, whiteouts).
pub fn mknod(dir: RawFd, name: &CStr, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    // SAFETY: valid dirfd and C string.
    cvt(unsafe { libc::mknodat(dir, name.as_ptr(), mode as libc::mode_t, dev) }).map(drop)
}

/// symlinkat; the target is stored as given and never resolved.
pub fn symlink(target: &CStr, dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: valid C strings and dirfd.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) }).map(drop)
}

/// linkat without AT_SYMLINK_FOLLOW: a symlink target is linked itself, not followed.
pub fn hardlink(odir: RawFd, oname: &CStr, ndir: RawFd, nname: &CStr) -> io::Result<()> {
    // SAFETY: valid dirfds and C strings.
    cvt(unsafe { libc::linkat(odir, oname.as_ptr(), ndir, nname.as_ptr(), 0) }).map(drop)
}

/// unlinkat of a non-directory (or an empty directory with `dir = true`).
pub fn unlink(dir: RawFd, name: &CStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid dirfd and C string.
    cvt(unsafe { libc::unlinkat(dir, name.as_ptr(), flags) }).map(drop)
}

/// Remove whatever is at `name` (a whole subtree for a directory), never following
/// symlinks: each level is opened with O_NOFOLLOW relative to its already-open parent.
/// Iterative, so a hostile deep tree costs fds (a clean EMFILE), never the stack.
pub fn remove_all(dir: RawFd, name: &CStr) -> io::Result<()> {
    match unlink(dir, name, false) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {}
        Err(e) => return Err(e),
    }
    // Each frame: an open directory, the names left in it, and its name in the parent.
    let top = open_dir_rd(dir, name)?;
    let names = list_dir(&top)?;
    let mut stack: Vec<(File, Vec<CString>, Option<CString>)> = vec![(top, names, None)];
    while let Some((d, names, _)) = stack.last_mut() {
        let Some(n) = names.pop() else {
            let (_, _, own) = stack.pop().expect("non-empty stack");
            if let (Some(own), Some((parent, _, _))) = (own, stack.last()) {
                unlink(parent.as_raw_fd(), &own, true)?;
            }
            continue;
        };
        match unlink(d.as_raw_fd(), &n, false) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                let sub = open_dir_rd(d.as_raw_fd(), &n)?;
                let sub_names = list_dir(&sub)?;
                stack.push((sub, sub_names, Some(n)));
            }
            Err(e) => return Err(e),
        }
    }
    unlink(dir, name, true)
}

/// The names in an open directory, without `.` and `..`.
fn list_dir(d: &File) -> io::Result<Vec<CString>> {
    let d = nix::dir::Dir::from_fd(d.try_clone()?.into()).map_err(io::Error::from)?;
    let mut v = Vec::new();
    for ent in d {
        let ent = ent.map_err(io::Error::from)?;
        let n = ent.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            v.push(n.to_owned());
        }
    }
    Ok(v)
}

/// fchownat without following a symlink.
pub fn chown(dir: RawFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid dirfd and C string.
    cvt(unsafe { libc::fchownat(dir, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) }).map(drop)
}

/// fchown on an open file.
pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we hold.
    cvt(unsafe { libc::fchown(fd, uid, gid) }).map(drop)
}

/// fchmod on an open file (keeps setuid/setgid/sticky; call it after chown).
pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we hold.
    cvt(unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(drop)
}

/// fchmodat2 with AT_SYMLINK_NOFOLLOW (kernel >= 6.6), for nodes that cannot be opened
/// (fifos, devices) — a symlink is never followed.
pub fn chmod_nofollow(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: fchmodat2 with valid dirfd and C string.
    let r = unsafe {
        libc::syscall(libc::SYS_fchmodat2, dir, name.as_ptr(), mode as libc::mode_t, libc::AT_SYMLINK_NOFOLLOW)
    };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// A (seconds, nanoseconds) pair as a timespec.
pub fn timespec(t: (i64, u32)) -> libc::timespec {
    libc::timespec { tv_sec: t.0 as libc::time_t, tv_nsec: t.1 as libc::c_long }
}

/// utimensat without following a symlink.
pub fn utimes(dir: RawFd, name: &CStr, atime: (i64, u32), mtime: (i64, u32)) -> io::Result<()> {
    let ts = [timespec(atime), timespec(mtime)];
    // SAFETY: valid dirfd, C string and a two-element timespec array.
    cvt(unsafe { libc::utimensat(dir, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) }).map(drop)
}

/// futimens on an open file.
pub fn futimes(fd: RawFd, atime: (i64, u32), mtime: (i64, u32)) -> io::Result<()> {
    let ts = [timespec(atime), timespec(mtime)];
    // SAFETY: fd we hold and a two-element timespec array.
    cvt(unsafe { libc::futimens(fd, ts.as_ptr()) }).map(drop)
}

/// fsetxattr on an open file or directory.
pub fn fsetxattr(fd: RawFd, key: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: fd we hold, C string key and a byte buffer with its length.
    cvt(unsafe { libc::fsetxattr(fd, key.as_ptr(), value.as_ptr().cast(), value.len(), 0) }).map(drop)
}

/// lsetxattr on `name` inside the already-resolved directory `dir`, for nodes that
/// cannot be opened (symlinks, fifos, devices). The path goes through our own fd in
/// /proc/self/fd, and lsetxattr does not follow the final component.
pub fn lsetxattr_at(dir: RawFd, name: &CStr, key: &CStr, value: &[u8]) -> io::Result<()> {
    let mut p = format!("/proc/self/fd/{dir}/").into_bytes();
    p.extend_from_slice(name.to_bytes());
    let p = cstr(&p)?;
    // SAFETY: C strings and a byte buffer with its length.
    cvt(unsafe { libc::lsetxattr(p.as_ptr(), key.as_ptr(), value.as_ptr().cast(), value.len(), 0) }).map(drop)
}
