//! Disk usage of the store (`system df`) and the human formats docker prints.

use super::store::ImageStore;
use anyhow::Result;
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Counts and bytes of one kind of object.
#[derive(Debug, Default, Serialize)]
pub struct Usage {
    pub count: usize,
    /// Bytes on disk (du: allocated blocks).
    pub size: u64,
}

/// Image usage: `virtual_size` counts each image's layers as if it had its own copy.
#[derive(Debug, Default, Serialize)]
pub struct ImageUsage {
    pub count: usize,
    pub virtual_size: u64,
}

/// Layer usage, split by how many images share each layer (content bytes).
#[derive(Debug, Default, Serialize)]
pub struct LayerUsage {
    pub count: usize,
    /// Content bytes of all layers, each counted once.
    pub size: u64,
    /// Bytes of layers used by more than one image.
    pub shared_size: u64,
    /// Bytes of layers used by exactly one image.
    pub unique_size: u64,
    /// Bytes of layers no image uses (prune removes them).
    pub unused_size: u64,
    /// What sharing saves: images' virtual size minus the bytes stored once.
    pub saved_by_sharing: u64,
}

/// Everything `system df` reports.
#[derive(Debug, Default, Serialize)]
pub struct DiskUsage {
    pub images: ImageUsage,
    pub layers: LayerUsage,
    pub containers: Usage,
    pub volumes: Usage,
}

/// Measure the store.
pub fn disk_usage(store: &ImageStore) -> Result<DiskUsage> {
    let mut u = DiskUsage::default();
    let images = store.list()?;
    u.images.count = images.len();
    u.images.virtual_size = images.iter().map(|i| i.size).sum();
    let users = store.layer_users()?;
    for l in store.layers.list()? {
        let n = users.get(&l.chain_id).copied().unwrap_or(0);
        u.layers.count += 1;
        u.layers.size += l.size;
        match n {
            0 => u.layers.unused_size += l.size,
            1 => u.layers.unique_size += l.size,
            _ => u.layers.shared_size += l.size,
        }
        u.layers.saved_by_sharing += l.size * (n.max(1) as u64 - 1);
    }
    for (usage, dir) in [(&mut u.containers, store.paths().containers()), (&mut u.volumes, store.paths().volumes())] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            // Each container or volume is one visible directory; the store's own
            // directory and its lock or staging entries are not usage.
            let entries: Vec<_> = rd
                .flatten()
                .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
                .collect();
            usage.count = entries.len();
            usage.size = entries.iter().map(|e| du(&e.path())).sum();
        }
    }
    Ok(u)
}

/// Allocated bytes under `p` (like `du -s`), not following symlinks.
pub fn du(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    let mut n = md.blocks() * 512;
    if md.is_dir()
        && let Ok(rd) = std::fs::read_dir(p)
    {
        for e in rd.flatten() {
            n += du(&e.path());
        }
    }
    n
}

/// Sizes the way docker prints them (SI units: kB, MB, GB).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        return format!("{n}B");
    }
    // Four significant digits, like docker's %.4g.
    let prec = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let num = format!("{v:.prec$}");
    format!("{}{}", num.trim_end_matches('0').trim_end_matches('.'), UNITS[i])
}

/// "3 hours ago" for an RFC 3339 time.
pub fn human_ago(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return rfc3339.to_string();
    };
    let s = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    let (n, unit) = match s {
        0..60 => return "Less than a minute ago".into(),
        60..3600 => (s / 60, "minute"),
        3600..86400 => (s / 3600, "hour"),
        86400..2_592_000 => (s / 86400, "day"),
        2_592_000..31_536_000 => (s / 2_592_000, "month"),
        _ => (s / 31_536_000, "year"),
    };
    if n == 1 { format!("1 {unit} ago") } else { format!("{n} {unit}s ago") }
}

/// Parse `64m`, `2g`, `1024`, `10MiB`: binary multiples, case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix("ib").or_else(|| t.strip_suffix('b')).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size {s:?}: use bytes or a k/m/g/t suffix, e.g. 64m or 2g"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("x").is_err());
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }
}
