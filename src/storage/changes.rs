//! `minirun diff`: what a container changed, with `docker diff` semantics.
//!
//! Overlay drivers: read from the writable layer (a 0:0 whiteout is a deletion, an
//! opaque dir replaced its lower content, a path no lower layer shows is added, any
//! other path changed). vfs: compare the container's copy with the layers' view.
//! Parent directories of a change are listed as changed, as Docker does.

use super::driver::{Driver, RootfsPlan};
use super::vfs::{WHITEOUT_PREFIX, is_opaque, is_opaque_marker, is_whiteout};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Kind of change, printed as `A`, `C` or `D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    A,
    C,
    D,
}

/// One changed path (absolute, inside the container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}", self.kind, self.path)
    }
}

/// What the image's layers (bottom → top) show at `rel`, following whiteouts and
/// opaque directories: the metadata of the visible entry, or None.
pub fn lower_lookup(lowers: &[PathBuf], rel: &Path) -> Option<Metadata> {
    let comps: Vec<_> = rel.components().collect();
    if comps.is_empty() {
        return lowers.last().and_then(|l| l.symlink_metadata().ok());
    }
    for layer in lowers.iter().rev() {
        let mut cur = layer.clone();
        let mut hides_below = false;
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let Ok(md) = cur.symlink_metadata() else {
                break;
            };
            if is_whiteout(&md) {
                return None;
            }
            if i + 1 == comps.len() {
                return Some(md);
            }
            if !md.is_dir() {
                return None;
            }
            if is_opaque(&cur) {
                hides_below = true;
            }
        }
        if hides_below {
            return None;
        }
    }
    None
}

/// Names the layers show inside directory `rel`.
pub fn lower_children(lowers: &[PathBuf], rel: &Path) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    'layers: for layer in lowers.iter().rev() {
        let mut cur = layer.clone();
        for c in rel.components() {
            cur.push(c);
            match cur.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => break 'layers, // a whiteout or a file hides everything below
                Err(_) => continue 'layers,
            }
            if cur != layer.join(rel) && is_opaque(&cur) {
                // An opaque ancestor in this layer: lower layers are hidden from here.
                collect(&layer.join(rel), &mut seen, &mut deleted);
                break 'layers;
            }
        }
        collect(&cur, &mut seen, &mut deleted);
        if is_opaque(&cur) {
            break;
        }
    }
    seen
}

fn collect(dir: &Path, seen: &mut BTreeSet<String>, deleted: &mut BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if deleted.contains(&name) || seen.contains(&name) {
            continue;
        }
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        if is_opaque_marker(name.as_bytes()) {
            continue;
        }
        if is_whiteout(&md) {
            deleted.insert(name);
        } else if let Some(t) = name.strip_prefix(WHITEOUT_PREFIX) {
            if !t.starts_with(".wh.") {
                deleted.insert(t.to_string());
            }
        } else {
            seen.insert(name);
        }
    }
}

fn abs(rel: &Path) -> String {
    format!("/{}", rel.display())
}

fn sorted_names(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

fn walk_upper(upper: &Path, lowers: &[PathBuf], rel: &Path, out: &mut BTreeMap<String, ChangeKind>) -> Result<()> {
    let dir = upper.join(rel);
    let names = sorted_names(&dir)?;
    if !rel.as_os_str().is_empty() && is_opaque(&dir) {
        for gone in lower_children(lowers, rel) {
            if !names.contains(&gone) {
                out.insert(abs(&rel.join(&gone)), ChangeKind::D);
            }
        }
    }
    for name in names {
        let r = rel.join(&name);
        let md = dir.join(&name).symlink_metadata().with_context(|| format!("stat {}", dir.join(&name).display()))?;
        if is_opaque_marker(name.as_bytes()) {
            continue;
        }
        if is_whiteout(&md) {
            out.insert(abs(&r), ChangeKind::D);
            continue;
        }
        if let Some(t) = name.strip_prefix(WHITEOUT_PREFIX) {
            out.insert(abs(&rel.join(t)), ChangeKind::D);
            continue;
        }
        let kind = if lower_lookup(lowers, &r).is_some() { ChangeKind::C } else { ChangeKind::A };
        out.insert(abs(&r), kind);
        if md.is_dir() {
            walk_upper(upper, lowers, &r, out)?;
        }
    }
    Ok(())
}

fn differs(a: &Metadata, b: &Metadata, pa: &Path, pb: &Path) -> bool {
    if a.file_type() != b.file_type() || a.mode() != b.mode() || a.uid() != b.uid() || a.gid() != b.gid() {
        return true;
    }
    if a.is_dir() {
        return false; // children decide; parents are added afterwards
    }
    if a.file_type().is_symlink() {
        return std::fs::read_link(pa).ok() != std::fs::read_link(pb).ok();
    }
    a.size() != b.size() || a.mtime() != b.mtime() || a.mtime_nsec() != b.mtime_nsec() || a.rdev() != b.rdev()
}

fn walk_copy(root: &Path, lowers: &[PathBuf], rel: &Path, out: &mut BTreeMap<String, ChangeKind>) -> Result<()> {
    let dir = root.join(rel);
    let names = sorted_names(&dir)?;
    for gone in lower_children(lowers, rel) {
        if !names.contains(&gone) {
            out.insert(abs(&rel.join(&gone)), ChangeKind::D);
        }
    }
    for name in names {
        let r = rel.join(&name);
        let p = dir.join(&name);
        let md = p.symlink_metadata().with_context(|| format!("stat {}", p.display()))?;
        let lower = lower_lookup(lowers, &r);
        match &lower {
            None => {
                out.insert(abs(&r), ChangeKind::A);
            }
            Some(lm) => {
                let lp =
                    lowers.iter().rev().map(|l| l.join(&r)).find(|x| x.symlink_metadata().is_ok()).unwrap_or_default();
                if differs(&md, lm, &p, &lp) {
                    out.insert(abs(&r), ChangeKind::C);
                }
            }
        }
        if md.is_dir() {
            if lower.as_ref().is_some_and(|m| m.is_dir()) {
                walk_copy(root, lowers, &r, out)?;
            } else {
                walk_all_added(root, &r, out)?;
            }
        }
    }
    Ok(())
}

fn walk_all_added(root: &Path, rel: &Path, out: &mut BTreeMap<String, ChangeKind>) -> Result<()> {
    for name in sorted_names(&root.join(rel))? {
        let r = rel.join(&name);
        out.insert(abs(&r), ChangeKind::A);
        if root.join(&r).symlink_metadata().is_ok_and(|m| m.is_dir()) {
            walk_all_added(root, &r, out)?;
        }
    }
    Ok(())
}

/// The container's changes relative to its image, sorted by path.
pub fn changes(plan: &RootfsPlan) -> Result<Vec<Change>> {
    let mut out = BTreeMap::new();
    match plan.driver {
        Driver::Vfs => walk_copy(&plan.upper, &plan.lowers, Path::new(""), &mut out)?,
        _ => walk_upper(&plan.upper, &plan.lowers, Path::new(""), &mut out)?,
    }
    // Docker lists every parent directory of a change as changed.
    let paths: Vec<String> = out.keys().cloned().collect();
    for p in paths {
        let mut cur = Path::new(&p).parent();
        while let Some(d) = cur.filter(|d| *d != Path::new("/")) {
            out.entry(d.display().to_string()).or_insert(ChangeKind::C);
            cur = d.parent();
        }
    }
    Ok(out.into_iter().map(|(path, kind)| Change { kind, path }).collect())
}
