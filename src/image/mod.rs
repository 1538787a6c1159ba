//! image (filled in by its issue).
