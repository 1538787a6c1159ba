//! Layer store, safe unpack with whiteouts, and the storage drivers.
pub mod changes;
pub mod driver;
pub mod fuse;
pub mod inroot;
pub mod layers;
pub mod overlay;
pub mod unpack;
pub mod vfs;
