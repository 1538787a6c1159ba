//! `minirun system prune -a -f --volumes` with real containers, as root and rootless:
//! stopped containers, unused volumes and unused images go; whatever the running
//! container uses stays.
mod common;
mod image_support;

use common::Env;
use image_support::*;

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn prune_all_with_volumes_keeps_what_the_running_container_uses() {
    for env in Env::both() {
        load(&env, "base", &[]);
        load(&env, "shared-a", &[]);
        let base_id = inspect(&env, "base")["id"].as_str().unwrap().to_string();
        let other_id = inspect(&env, "shared-a")["id"].as_str().unwrap().to_string();
        env.ok(&["volume", "create", "unused"]);
        env.ok(&["volume", "create", "used"]);
        env.ok(&["run", "--name", "stopped", "base", "true"]);
        let running = env.ok(&["run", "-d", "--name", "running", "-v", "used:/data", "base", "sleep", "100"]);
        let running = running.trim().to_string();
        let stopped = env.ok(&["ps", "-aq", "--no-trunc"]);
        let stopped: Vec<String> = lines(&stopped).into_iter().filter(|id| *id != running).collect();
        assert_eq!(stopped.len(), 1, "[{}] {stopped:?}", env.label());

        let out = env.ok(&["system", "prune", "-a", "-f", "--volumes"]);
        let deleted: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("deleted: ")).collect();
        assert!(out.contains("Deleted Containers:") && deleted.contains(&stopped[0].as_str()), "{out}");
        assert!(!deleted.contains(&running.as_str()), "{out}");
        assert!(deleted.contains(&"unused") && !deleted.contains(&"used"), "{out}");
        assert!(deleted.contains(&other_id.as_str()) && !deleted.contains(&base_id.as_str()), "{out}");
        assert!(out.contains("Total reclaimed space"), "{out}");

        assert_eq!(env.ok(&["ps", "-aq", "--no-trunc"]).trim(), running, "[{}]", env.label());
        assert_eq!(env.ok(&["volume", "ls", "-q"]).trim(), "used");
        assert_eq!(env.ok(&["images", "-q", "--no-trunc"]).trim(), base_id);

        // Nothing left to prune: a second run removes nothing.
        let out = env.ok(&["system", "prune", "-a", "-f", "--volumes"]);
        assert!(!out.contains("deleted: "), "{out}");

        env.ok(&["rm", "-f", &running]);
        assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
    }
}
