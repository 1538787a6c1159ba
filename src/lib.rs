//! minirun: a rootless container runtime that shows how a container engine stores data.
//!
//! One module per concept; see docs/ARCHITECTURE.md for the picture.
pub mod cli;
pub mod container;
pub mod error;
pub mod fsutil;
pub mod idmap;
pub mod image;
pub mod mountspec;
pub mod paths;
pub mod runtime;
pub mod spec;
pub mod storage;
pub mod volume;
