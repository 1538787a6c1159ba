//! How containers are shown: `ps` columns, `ps --format json`, `inspect`.
use super::record::{ContainerRecord, Status};
use crate::cli::Ctx;
use anyhow::Result;
use serde_json::json;

/// "3 seconds ago", "2 minutes ago", … from an RFC 3339 time.
pub fn human_since(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(then) => format!("{} ago", human_duration(chrono::Utc::now().signed_duration_since(then))),
        Err(_) => t.to_string(),
    }
}

fn human_duration(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

/// Docker's STATUS column: "Up 5 seconds", "Exited (0) 3 seconds ago", "Created".
pub fn status_text(c: &ContainerRecord) -> String {
    match c.live_status() {
        Status::Created => "Created".into(),
        Status::Running => {
            let since = c.started_at.as_deref().unwrap_or(&c.created);
            match chrono::DateTime::parse_from_rfc3339(since) {
                Ok(t) => format!("Up {}", human_duration(chrono::Utc::now().signed_duration_since(t))),
                Err(_) => "Up".into(),
            }
        }
        Status::Exited => {
            let code = c.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-1".into());
            match &c.finished_at {
                Some(f) => format!("Exited ({code}) {}", human_since(f)),
                None => format!("Exited ({code})"),
            }
        }
    }
}

/// One `ps --format json` entry.
pub fn summary_json(c: &ContainerRecord) -> serde_json::Value {
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": c.command.join(" "),
        "Created": c.created,
        "State": c.live_status().as_str(),
        "Status": status_text(c),
        "ExitCode": c.exit_code,
        "Mounts": c.mounts.iter().map(|m| m.destination.clone()).collect::<Vec<_>>(),
        "StorageDriver": c.storage_driver,
    })
}

/// `inspect`: configuration, state, mounts, storage driver and writable layer.
pub fn inspect_json(ctx: &Ctx, key: &str) -> Result<serde_json::Value> {
    let c = super::resolve(ctx, key)?;
    let dir = super::bundle_dir(ctx, &c.id);
    let spec = oci_spec::runtime::Spec::load(dir.join("config.json")).ok();
    let process = spec.as_ref().and_then(|s| s.process().clone());
    let plan: Option<crate::storage::driver::RootfsPlan> = crate::fsutil::read_json(&dir.join("rootfs-plan.json")).ok();
    let status = c.live_status();
    let running = status == Status::Running;
    Ok(json!({
        "Id": c.id,
        "Name": c.name,
        "Created": c.created,
        "Path": c.command.first(),
        "Args": c.command.iter().skip(1).collect::<Vec<_>>(),
        "Image": c.image_id,
        "ImageName": c.image,
        "State": {
            "Status": status.as_str(),
            "Running": running,
            "Pid": if running { c.init.map(|p| p.pid).unwrap_or(0) } else { 0 },
            "ExitCode": c.exit_code,
            "StartedAt": c.started_at,
            "FinishedAt": c.finished_at,
            "Error": c.error,
            "MonitorPid": c.monitor.map(|p| p.pid),
        },
        "Config": {
            "Hostname": spec.as_ref().and_then(|s| s.hostname().clone()),
            "Env": process.as_ref().and_then(|p| p.env().clone()),
            "WorkingDir": process.as_ref().map(|p| p.cwd().display().to_string()),
            "User": process.as_ref().map(|p| format!("{}:{}", p.user().uid(), p.user().gid())),
            "Tty": c.tty,
            "OpenStdin": c.interactive,
            "StopSignal": c.stop_signal,
        },
        "HostConfig": {
            "AutoRemove": c.auto_remove,
            "ReadonlyRootfs": spec.as_ref().and_then(|s| s.root().as_ref().and_then(|r| r.readonly())).unwrap_or(false),
        },
        "Mounts": c.mounts,
        "Driver": c.storage_driver,
        "GraphDriver": {
            "Name": c.storage_driver,
            "Data": plan.as_ref().map(|p| json!({
                "UpperDir": p.upper,
                "WorkDir": p.work,
                "MergedDir": p.merged,
                "LowerDir": p.lowers.iter().map(|l| l.display().to_string()).collect::<Vec<_>>().join(":"),
            })),
        },
        "LogPath": dir.join("ctr.log"),
        "Bundle": dir,
    }))
}
