//! Parsing of -v / --mount / --tmpfs strings into typed requests, once, at the edge.
//!
//! Docker's syntax and meaning: `-v NAME:/dst[:ro]`, `-v /host:/dst[:ro|:rw]`,
//! `-v /dst` (anonymous volume), `--mount type=…,key=value,…`, `--tmpfs /dst[:opts]`.
//! Every error quotes the offending text and says what is wrong.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Mount propagation of a bind mount (`bind-propagation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    RPrivate,
    Private,
    RShared,
    Shared,
    RSlave,
    Slave,
}

impl Propagation {
    /// Parse Docker's spelling (`rprivate`, `shared`, …).
    pub fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "rprivate" => Propagation::RPrivate,
            "private" => Propagation::Private,
            "rshared" => Propagation::RShared,
            "shared" => Propagation::Shared,
            "rslave" => Propagation::RSlave,
            "slave" => Propagation::Slave,
            _ => return None,
        })
    }

    /// The OCI mount option naming this propagation.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::RPrivate => "rprivate",
            Propagation::Private => "private",
            Propagation::RShared => "rshared",
            Propagation::Shared => "shared",
            Propagation::RSlave => "rslave",
            Propagation::Slave => "slave",
        }
    }
}

const PROPAGATIONS: &str = "rprivate, private, rshared, shared, rslave, slave";

/// One mount the user asked for, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountRequest {
    /// A named (`name: Some`) or anonymous (`None`) volume.
    Volume { name: Option<String>, dst: PathBuf, readonly: bool, nocopy: bool },
    /// A host directory or file (absolute, existing) bound into the container.
    Bind { src: PathBuf, dst: PathBuf, readonly: bool, propagation: Option<Propagation> },
    /// A fresh tmpfs.
    Tmpfs { dst: PathBuf, size: Option<u64>, mode: Option<u32> },
}

impl MountRequest {
    /// The destination inside the container.
    pub fn dst(&self) -> &Path {
        match self {
            MountRequest::Volume { dst, .. } | MountRequest::Bind { dst, .. } | MountRequest::Tmpfs { dst, .. } => dst,
        }
    }
}

/// Check a volume name against Docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn validate_volume_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("empty volume name");
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap();
    let ok = first.is_ascii_alphanumeric() && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!("invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed");
    }
    Ok(())
}

/// Validate and normalize a container destination: absolute, no `..`, not `/`.
pub fn parse_destination(dst: &str, whole: &str) -> Result<PathBuf> {
    if dst.is_empty() {
        bail!("{whole:?}: missing destination path");
    }
    let p = Path::new(dst);
    if !p.is_absolute() {
        bail!("{whole:?}: destination {dst:?} must be an absolute path");
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => bail!("{whole:?}: destination {dst:?} must not contain \"..\""),
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => unreachable!("no prefixes on unix"),
        }
    }
    if out == Path::new("/") {
        bail!("{whole:?}: destination can't be \"/\"");
    }
    Ok(out)
}

fn parse_bind_source(src: &str, whole: &str) -> Result<PathBuf> {
    let p = Path::new(src);
    if !p.is_absolute() {
        bail!("{whole:?}: bind source {src:?} must be an absolute path");
    }
    if p.components().any(|c| c == Component::ParentDir) {
        bail!("{whole:?}: bind source {src:?} must not contain \"..\"");
    }
    if std::fs::symlink_metadata(p).is_err() {
        bail!("{whole:?}: bind source path does not exist: {src}");
    }
    Ok(p.to_path_buf())
}

/// Parse a size like `64m`, `1g`, `512k`, `1024`, `1.5g` (binary units, as Docker's tmpfs).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        c if c.is_ascii_digit() => (t, 1),
        _ => return None,
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult);
    }
    let f: f64 = num.parse().ok()?;
    let v = f * mult as f64;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
}

/// Parse an octal mode like `1770` or `0755` (at most 07777).
pub fn parse_mode(s: &str) -> Option<u32> {
    let m = u32::from_str_radix(s, 8).ok()?;
    (m <= 0o7777 && !s.is_empty()).then_some(m)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Parse one `-v`/`--volume` value.
pub fn parse_volume_flag(s: &str) -> Result<MountRequest> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [dst] => {
            if !dst.starts_with('/') {
                bail!("{s:?}: invalid volume specification: an anonymous volume needs an absolute destination");
            }
            (None, *dst, None)
        }
        [src, dst] => (Some(*src), *dst, None),
        [src, dst, opts] => (Some(*src), *dst, Some(*opts)),
        _ => bail!("{s:?}: invalid volume specification: expected [SOURCE:]DESTINATION[:OPTIONS]"),
    };
    let dst = parse_destination(dst, s)?;
    let mut readonly = false;
    let mut nocopy = false;
    let mut propagation = None;
    let mut mode_seen = false;
    for o in opts.map(|o| o.split(',').collect::<Vec<_>>()).unwrap_or_default() {
        match o {
            "ro" | "rw" => {
                if mode_seen {
                    bail!("{s:?}: ro/rw given twice");
                }
                mode_seen = true;
                readonly = o == "ro";
            }
            "nocopy" => nocopy = true,
            "z" | "Z" => {} // SELinux relabel: nothing to do without SELinux.
            _ => match Propagation::parse(o) {
                Some(p) => propagation = Some(p),
                None => bail!("{s:?}: unknown volume option {o:?} (valid: ro, rw, nocopy, {PROPAGATIONS})"),
            },
        }
    }
    match src {
        None => Ok(MountRequest::Volume { name: None, dst, readonly, nocopy }),
        Some(src) if src.starts_with('/') => {
            if nocopy {
                bail!("{s:?}: nocopy applies to volumes, not to a bind mount");
            }
            let src = parse_bind_source(src, s)?;
            Ok(MountRequest::Bind { src, dst, readonly, propagation })
        }
        Some(src) if src.starts_with('.') || src.contains('/') => {
            bail!("{s:?}: bind source {src:?} must be an absolute path (or a volume name)")
        }
        Some(name) => {
            if propagation.is_some() {
                bail!("{s:?}: propagation applies to bind mounts, not to a volume");
            }
            validate_volume_name(name).map_err(|e| anyhow::anyhow!("{s:?}: {e}"))?;
            Ok(MountRequest::Volume { name: Some(name.to_string()), dst, readonly, nocopy })
        }
    }
}

/// Parse one `--mount` value (`type=volume|bind|tmpfs,key=value,…`).
pub fn parse_mount_flag(s: &str) -> Result<MountRequest> {
    parse_mount_inner(s)
}

fn parse_mount_inner<'a>(s: &'a str) -> Result<MountRequest> {
    let mut ty: Option<&'a str> = None;
    let mut src: Option<&'a str> = None;
    let mut dst: Option<&'a str> = None;
    let mut readonly = false;
    let mut nocopy = false;
    let mut propagation = None;
    let mut size = None;
    let mut mode = None;
    // Keys that only some types accept, to refuse them on the others.
    let mut type_specific: Vec<(&str, &str)> = Vec::new();
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let need = |v: Option<&'a str>| -> Result<&'a str> {
            match v {
                Some(v) if !v.is_empty() => Ok(v),
                _ => bail!("{s:?}: {k} needs a value ({k}=…)"),
            }
        };
        match k {
            "type" => ty = Some(need(v)?),
            "source" | "src" => src = Some(need(v)?),
            "target" | "destination" | "dst" => dst = Some(need(v)?),
            "readonly" | "ro" => {
                readonly = match v {
                    None => true,
                    Some(b) => parse_bool(b).ok_or_else(|| {
                        anyhow::anyhow!("{s:?}: invalid value {b:?} for {k} (use true, false, 1 or 0)")
                    })?,
                }
            }
            "volume-nocopy" => {
                type_specific.push((k, "volume"));
                nocopy = match v {
                    None => true,
                    Some(b) => parse_bool(b).ok_or_else(|| {
                        anyhow::anyhow!("{s:?}: invalid value {b:?} for {k} (use true, false, 1 or 0)")
                    })?,
                }
            }
            "bind-propagation" => {
                type_specific.push((k, "bind"));
                let v = need(v)?;
                propagation =
                    Some(Propagation::parse(v).ok_or_else(|| {
                        anyhow::anyhow!("{s:?}: invalid bind-propagation {v:?} (valid: {PROPAGATIONS})")
                    })?);
            }
            "tmpfs-size" => {
                type_specific.push((k, "tmpfs"));
                let v = need(v)?;
                size = Some(parse_size(v).ok_or_else(|| {
                    anyhow::anyhow!("{s:?}: invalid tmpfs-size {v:?} (a number with an optional k, m or g suffix)")
                })?);
            }
            "tmpfs-mode" => {
                type_specific.push((k, "tmpfs"));
                let v = need(v)?;
                mode =
                    Some(parse_mode(v).ok_or_else(|| {
                        anyhow::anyhow!("{s:?}: invalid tmpfs-mode {v:?} (an octal mode such as 1770)")
                    })?);
            }
            "" => bail!("{s:?}: empty field"),
            _ => bail!(
                "{s:?}: unknown key {k:?} (valid: type, source/src, target/destination/dst, readonly/ro, \
                 volume-nocopy, bind-propagation, tmpfs-size, tmpfs-mode)"
            ),
        }
    }
    let ty = ty.unwrap_or("volume");
    if !matches!(ty, "volume" | "bind" | "tmpfs") {
        bail!("{s:?}: unknown mount type {ty:?} (valid: volume, bind, tmpfs)");
    }
    if let Some((k, _)) = type_specific.iter().find(|(_, t)| *t != ty) {
        bail!("{s:?}: {k} is not valid for type={ty}");
    }
    let dst = match dst {
        Some(d) => parse_destination(d, s)?,
        None => bail!("{s:?}: missing target (target=/path)"),
    };
    match ty {
        "volume" => {
            if let Some(n) = src {
                validate_volume_name(n).map_err(|e| anyhow::anyhow!("{s:?}: {e}"))?;
            }
            Ok(MountRequest::Volume { name: src.map(str::to_string), dst, readonly, nocopy })
        }
        "bind" => {
            let Some(src) = src else { bail!("{s:?}: type=bind needs source=/absolute/path") };
            Ok(MountRequest::Bind { src: parse_bind_source(src, s)?, dst, readonly, propagation })
        }
        _ => {
            if src.is_some() {
                bail!("{s:?}: type=tmpfs takes no source");
            }
            if readonly {
                bail!("{s:?}: a readonly tmpfs is not supported");
            }
            Ok(MountRequest::Tmpfs { dst, size, mode })
        }
    }
}

/// Parse one `--tmpfs /path[:size=…,mode=…]` value.
pub fn parse_tmpfs_flag(s: &str) -> Result<MountRequest> {
    let (dst, opts) = match s.split_once(':') {
        Some((d, o)) => (d, Some(o)),
        None => (s, None),
    };
    let dst = parse_destination(dst, s)?;
    let mut size = None;
    let mut mode = None;
    for o in opts.map(|o| o.split(',').collect::<Vec<_>>()).unwrap_or_default() {
        match o.split_once('=') {
            Some(("size", v)) => {
                size = Some(parse_size(v).ok_or_else(|| {
                    anyhow::anyhow!("{s:?}: invalid size {v:?} (a number with an optional k, m or g suffix)")
                })?)
            }
            Some(("mode", v)) => {
                mode = Some(
                    parse_mode(v)
                        .ok_or_else(|| anyhow::anyhow!("{s:?}: invalid mode {v:?} (an octal mode such as 1777)"))?,
                )
            }
            None if o == "rw" => {}
            _ => bail!("{s:?}: unknown tmpfs option {o:?} (valid: size=…, mode=…, rw)"),
        }
    }
    Ok(MountRequest::Tmpfs { dst, size, mode })
}

/// Check a whole set of requests together: no two on the same destination.
pub fn check_all(reqs: &[MountRequest]) -> Result<()> {
    for (i, a) in reqs.iter().enumerate() {
        if reqs[..i].iter().any(|b| b.dst() == a.dst()) {
            bail!("duplicate mount point: {}", a.dst().display());
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "mountspec_tests.rs"]
mod tests;
