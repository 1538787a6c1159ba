//! spec (filled in by its issue).
