//! Paths inside a container's root filesystem, with the rootfs as the boundary.
//!
//! Every lookup goes through `openat2(RESOLVE_IN_ROOT)`, so a symlink in the image
//! (`/dev -> /host/dir`, `/data -> ../../../../etc`) resolves as if the rootfs were `/`
//! and can never lead outside it. Creation happens one component at a time relative to
//! an fd of the parent, and mounts target `/proc/self/fd/N` of an `O_PATH` fd, so the
//! kernel mounts on exactly the inode we resolved, not on a path re-walked later.
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// An open root directory that paths are resolved in.
pub struct Root {
    fd: OwnedFd,
}

fn cstr(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// `openat2(dirfd, path, how)` through the raw syscall (nix 0.32 has no wrapper).
fn openat2(dirfd: RawFd, path: &Path, flags: OFlag, resolve: u64) -> Result<OwnedFd, Errno> {
    let c = cstr(path)?;
    // SAFETY: open_how is plain data; zeroed is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | OFlag::O_CLOEXEC).bits() as u64;
    how.resolve = resolve;
    loop {
        // SAFETY: valid C string and struct pointers for the duration of the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if r >= 0 {
            // SAFETY: the kernel returned a new fd we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        match Errno::last() {
            Errno::EINTR | Errno::EAGAIN => continue,
            e => return Err(e),
        }
    }
}

/// The path relative to the root: components after `/`, with `.` dropped. `..` is kept
/// (RESOLVE_IN_ROOT clamps it at the root).
fn relative(path: &Path) -> PathBuf {
    path.components().filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir)).collect()
}

/// The `/proc/self/fd/N` path of an fd: mount(2) on it hits exactly that inode.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

impl Root {
    /// Open `dir` (a host path) as the boundary for later lookups.
    pub fn open(dir: &Path) -> Result<Root, Errno> {
        let fd = nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    /// Resolve `path` (absolute or relative: both mean "inside the root") to an
    /// `O_PATH` fd, following symlinks as if the root were `/`.
    pub fn resolve(&self, path: &Path) -> Result<OwnedFd, Errno> {
        let rel = relative(path);
        let rel = if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel };
        openat2(self.fd.as_raw_fd(), &rel, OFlag::O_PATH, libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS)
    }

    /// Resolve without following a symlink in the last component (for symlink checks).
    pub fn resolve_nofollow(&self, path: &Path) -> Result<OwnedFd, Errno> {
        let rel = relative(path);
        openat2(
            self.fd.as_raw_fd(),
            &rel,
            OFlag::O_PATH | OFlag::O_NOFOLLOW,
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        )
    }

    /// Make every directory of `path` exist inside the root (mode 0755) and return an
    /// `O_PATH` fd of the last one. Existing symlinks are followed inside the root.
    pub fn mkdir_all(&self, path: &Path) -> Result<OwnedFd, Errno> {
        let rel = relative(path);
        let mut cur = self.resolve(Path::new("."))?;
        let mut walked = PathBuf::new();
        for comp in rel.components() {
            walked.push(comp);
            match self.resolve(&walked) {
                Ok(fd) => cur = fd,
                Err(Errno::ENOENT) => {
                    let Component::Normal(name) = comp else {
                        return Err(Errno::ENOENT);
                    };
                    let name = Path::new(name);
                    match nix::sys::stat::mkdirat(&cur, name, Mode::from_bits_truncate(0o755)) {
                        // EEXIST: a dangling symlink (or a racing creator); re-resolving
                        // below decides, inside the root.
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                    cur = match self.resolve(&walked) {
                        Ok(fd) => fd,
                        // A dangling symlink whose target is missing: create the target
                        // inside the root, then retry once.
                        Err(Errno::ENOENT) => {
                            let target = self.symlink_target_in_root(&walked)?;
                            self.mkdir_all(&target)?;
                            self.resolve(&walked)?
                        }
                        Err(e) => return Err(e),
                    };
                }
                Err(e) => return Err(e),
            }
            if !is_dir(&cur)? {
                return Err(Errno::ENOTDIR);
            }
        }
        Ok(cur)
    }

    /// Where a symlink at `path` (inside the root) points, as a path inside the root.
    fn symlink_target_in_root(&self, path: &Path) -> Result<PathBuf, Errno> {
        let parent = path.parent().unwrap_or(Path::new(""));
        let name = path.file_name().ok_or(Errno::EINVAL)?;
        let pfd = self.resolve(parent)?;
        let target = nix::fcntl::readlinkat(&pfd, name)?;
        let target = PathBuf::from(target);
        Ok(if target.is_absolute() { target } else { parent.join(target) })
    }

    /// Make `path` exist as a regular file (empty, mode 0644) inside the root, its
    /// parents as directories, and return an `O_PATH` fd of it.
    pub fn create_file(&self, path: &Path) -> Result<OwnedFd, Errno> {
        match self.resolve(path) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let rel = relative(path);
        let name = rel.file_name().ok_or(Errno::EINVAL)?.to_owned();
        let parent = self.mkdir_all(rel.parent().unwrap_or(Path::new("")))?;
        // O_EXCL|O_NOFOLLOW: a dangling symlink in the last component is not followed
        // (that would create its target outside the root); it fails with EEXIST.
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        match nix::fcntl::openat(&parent, Path::new(&name), flags, Mode::from_bits_truncate(0o644)) {
            Ok(fd) => drop(fd),
            Err(Errno::EEXIST) => {
                let target = self.symlink_target_in_root(&rel.clone())?;
                if target != rel {
                    return self.create_file(&target).and_then(|_| self.resolve(path));
                }
            }
            Err(e) => return Err(e),
        }
        self.resolve(path)
    }

    /// Parent directory fd (created if missing) and the last component of `path`.
    pub fn parent_and_name(&self, path: &Path) -> Result<(OwnedFd, PathBuf), Errno> {
        let rel = relative(path);
        let name = rel.file_name().ok_or(Errno::EINVAL)?.into();
        let parent = self.mkdir_all(rel.parent().unwrap_or(Path::new("")))?;
        Ok((parent, name))
    }
}

/// True when the fd refers to a directory.
pub fn is_dir(fd: &OwnedFd) -> Result<bool, Errno> {
    let st = nix::sys::stat::fstat(fd)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        let host = outer.path().join("host");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        symlink(&host, root.join("abs")).unwrap();
        symlink("../../../../../host", root.join("rel")).unwrap();
        symlink("/etc", root.join("data")).unwrap();
        let r = Root::open(&root).unwrap();
        r.mkdir_all(Path::new("/abs/sub")).unwrap();
        r.mkdir_all(Path::new("/rel/sub")).unwrap();
        r.create_file(Path::new("/data/passwd-like")).unwrap();
        assert!(std::fs::read_dir(&host).unwrap().next().is_none(), "created outside the root");
        assert!(root.join(host.strip_prefix("/").unwrap()).join("sub").is_dir());
        assert!(root.join("host/sub").is_dir());
        assert!(root.join("etc/passwd-like").is_file());
        assert!(!Path::new("/etc/passwd-like").exists());
    }

    #[test]
    fn dangling_file_symlink_is_not_followed_out() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let victim = outer.path().join("victim");
        symlink(&victim, root.join("f")).unwrap();
        let r = Root::open(&root).unwrap();
        r.create_file(Path::new("/f")).unwrap();
        assert!(!victim.exists());
        assert!(root.join(victim.strip_prefix("/").unwrap()).is_file());
    }
}
