//! The five capability sets of `process.capabilities`, applied with the `caps` crate.
use super::error::{StageError, StageResult};
use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

/// OCI capability names (`CAP_NET_RAW`) as a `caps` set; names this build does not
/// know are skipped with a warning (a newer kernel's capability), like runc.
pub fn to_set(c: Option<&Capabilities>) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for cap in c.into_iter().flatten() {
        let name = serde_json::to_value(cap).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        match caps::Capability::from_str(&name) {
            Ok(x) => {
                out.insert(x);
            }
            Err(_) => tracing::warn!("unknown capability {name} ignored"),
        }
    }
    out
}

fn cerr(op: &str, e: caps::errors::CapsError) -> StageError {
    StageError::msg("capabilities", format!("{op}: {e}"))
}

/// Drop from the bounding set everything not listed. Needs CAP_SETPCAP, so this runs
/// before the user switch.
pub fn apply_bounding(c: &LinuxCapabilities) -> StageResult<()> {
    let keep = to_set(c.bounding().as_ref());
    for cap in caps::all() {
        if keep.contains(&cap) {
            continue;
        }
        match caps::drop(None, CapSet::Bounding, cap) {
            Ok(()) => {}
            // Not supported by this kernel: nothing to drop.
            Err(_) if !caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) => {}
            Err(e) => return Err(cerr(&format!("drop {cap} from the bounding set"), e)),
        }
    }
    Ok(())
}

/// Set inheritable, effective, permitted, then raise ambient (which needs each cap in
/// permitted and inheritable). Runs after the user switch (kept with PR_SET_KEEPCAPS).
pub fn apply_sets(c: &LinuxCapabilities) -> StageResult<()> {
    let inh = to_set(c.inheritable().as_ref());
    let eff = to_set(c.effective().as_ref());
    let perm = to_set(c.permitted().as_ref());
    if !eff.is_subset(&perm) {
        return Err(StageError::msg("capabilities", "effective capabilities must be a subset of permitted")
            .with_hint("add the effective capabilities to process.capabilities.permitted"));
    }
    caps::set(None, CapSet::Inheritable, &inh).map_err(|e| cerr("set inheritable capabilities", e))?;
    // Effective first (still within the old permitted), then shrink permitted to a
    // superset of it: the other order fails when permitted drops an effective cap.
    caps::set(None, CapSet::Effective, &eff).map_err(|e| cerr("set effective capabilities", e))?;
    caps::set(None, CapSet::Permitted, &perm).map_err(|e| cerr("set permitted capabilities", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| cerr("clear ambient capabilities", e))?;
    for cap in to_set(c.ambient().as_ref()) {
        // The kernel only raises an ambient cap that is permitted and inheritable;
        // `runc spec` lists ambient caps without inheritable ones, and runc skips them
        // with a warning rather than failing the container: do the same.
        if !(inh.contains(&cap) && perm.contains(&cap)) {
            tracing::debug!("ambient {cap} not raised: it is not in both the permitted and inheritable sets");
            continue;
        }
        caps::raise(None, CapSet::Ambient, cap).map_err(|e| cerr(&format!("raise ambient {cap}"), e))?;
    }
    Ok(())
}
