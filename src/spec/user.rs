//! `-u USER[:GROUP]` resolved against the image's /etc/passwd and /etc/group.

use anyhow::{Result, bail};

/// The container process's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// From the passwd entry; `/` when there is none (as Docker).
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 6 || l.starts_with('#') {
                return None;
            }
            Some(PasswdEntry { name: f[0].into(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].into() })
        })
        .collect()
}

fn groups(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 || l.starts_with('#') {
                return None;
            }
            let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).map(String::from).collect());
            Some(GroupEntry { name: f[0].into(), gid: f[2].parse().ok()?, members: members.unwrap_or_default() })
        })
        .collect()
}

/// Resolve `user` (`name`, `uid`, `name:group`, `uid:gid`, …; empty = root) with
/// `read_file` reading a file of the image (`/etc/passwd`, `/etc/group`).
pub fn resolve_user(user: &str, read_file: &dyn Fn(&str) -> Option<String>) -> Result<ResolvedUser> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let pw = passwd(&read_file("/etc/passwd").unwrap_or_default());
    let gr = groups(&read_file("/etc/group").unwrap_or_default());
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => pw.iter().find(|e| e.uid == uid),
        Err(_) => match pw.iter().find(|e| e.name == u) {
            Some(e) => Some(e),
            None => bail!("unable to find user {u}: no matching entries in the image's /etc/passwd"),
        },
    };
    let uid = u.parse::<u32>().ok().or(entry.map(|e| e.uid)).unwrap_or(0);
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match gr.iter().find(|e| e.name == g) {
                Some(e) => e.gid,
                None => bail!("unable to find group {g}: no matching entries in the image's /etc/group"),
            },
        };
    }
    // Supplementary groups from /etc/group membership (not with an explicit group, as Docker).
    let mut additional_gids: Vec<u32> = match (entry, g) {
        (Some(e), None) => gr.iter().filter(|x| x.members.contains(&e.name) && x.gid != gid).map(|x| x.gid).collect(),
        _ => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    let home = entry.map(|e| e.home.clone()).filter(|h| !h.is_empty()).unwrap_or_else(|| "/".into());
    Ok(ResolvedUser { uid, gid, additional_gids, home })
}
