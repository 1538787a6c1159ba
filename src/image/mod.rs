//! Images: OCI layouts, OCI archives and docker-archives imported into shared,
//! verified layer directories, and the records that name them.
pub mod archive;
pub mod digest;
pub mod docker;
pub mod import;
pub mod layout;
pub mod plan;
pub mod reference;
pub mod store;
pub mod usage;
