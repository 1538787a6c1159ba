//! The one place the high-level containers call the OCI engine (`crate::runtime`):
//! the same builder `minirun oci run` uses, with the overlay mounted by a pre-rootfs
//! hook inside the container's mount namespace.
use super::record::ContainerRecord;
use super::start::ExecOptions;
use crate::cli::Ctx;
use anyhow::Result;
use std::os::fd::OwnedFd;

/// Where the container's stdio goes.
pub enum Stdio {
    /// Ours (a foreground `run`): the container reads and writes our terminal or pipes.
    Inherit,
    /// A detached container: stdin /dev/null, stdout and stderr into these pipes.
    Pipes { stdout: OwnedFd, stderr: OwnedFd },
}

/// A started container.
pub struct Launched {
    pub pid: i32,
    pub tty_master: Option<OwnedFd>,
}

/// Create and start the container's init (no exec.fifo: like `runc run`).
pub fn launch(_ctx: &Ctx, _rec: &ContainerRecord, _stdio: Stdio) -> Result<Launched> {
    anyhow::bail!("engine adapter pending")
}

/// Run `o` inside the running container.
pub fn exec(_ctx: &Ctx, _rec: &ContainerRecord, _o: &ExecOptions) -> Result<i32> {
    anyhow::bail!("engine adapter pending")
}

/// Forget the engine's state of a container (like `runc delete --force`); never fails.
pub fn cleanup(_ctx: &Ctx, _id: &str) {}
