//! Layer store, safe unpack with whiteouts, and the storage drivers.
pub mod inroot;
pub mod layers;
pub mod unpack;
