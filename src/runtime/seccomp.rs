//! seccomp filters from `linux.seccomp`, loaded through libseccomp.
use super::error::{StageError, StageResult};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};
use std::str::FromStr;

fn serr(op: impl Into<String>, e: impl std::fmt::Display) -> StageError {
    StageError::msg("seccomp", format!("{}: {e}", op.into()))
}

/// The libseccomp action for an OCI action (errno defaults to EPERM like runc).
pub fn action(a: LinuxSeccompAction, errno_ret: Option<u32>) -> ScmpAction {
    match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno_ret.unwrap_or(libc::EPERM as u32) as i32),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno_ret.unwrap_or(libc::EPERM as u32) as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

fn compare(op: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> (ScmpCompareOp, u64) {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        // OCI: value is the mask, valueTwo the expected result.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0)),
    }
}

/// Build the filter described by `cfg`. `nnp`: whether the process gets
/// no_new_privs anyway (libseccomp would otherwise set it on its own).
pub fn build(cfg: &LinuxSeccomp, nnp: bool) -> StageResult<ScmpFilterContext> {
    let default = action(cfg.default_action(), cfg.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| serr("create filter", e))?;
    ctx.set_ctl_nnp(nnp).map_err(|e| serr("set no_new_privs attribute", e))?;
    for a in cfg.architectures().as_deref().unwrap_or(&[]) {
        let name = serde_json::to_value(a).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let arch = ScmpArch::from_str(&name).map_err(|e| serr(format!("architecture {name}"), e))?;
        if !ctx.is_arch_present(arch).unwrap_or(false) {
            ctx.add_arch(arch).map_err(|e| serr(format!("add architecture {name}"), e))?;
        }
    }
    for rule in cfg.syscalls().as_deref().unwrap_or(&[]) {
        add_rule(&mut ctx, rule, default)?;
    }
    Ok(ctx)
}

fn add_rule(ctx: &mut ScmpFilterContext, rule: &LinuxSyscall, default: ScmpAction) -> StageResult<()> {
    let act = action(rule.action(), rule.errno_ret());
    if act == default {
        // libseccomp refuses rules that repeat the default action; they change nothing.
        return Ok(());
    }
    let args = rule.args().as_deref().unwrap_or(&[]);
    let cmps: Vec<ScmpArgCompare> = args
        .iter()
        .map(|a| {
            let (op, datum) = compare(a.op(), a.value(), a.value_two());
            ScmpArgCompare::new(a.index() as u32, op, datum)
        })
        .collect();
    // Several conditions on one argument cannot be ANDed by libseccomp: like runc,
    // such conditions become separate rules (ORed).
    let mut seen = std::collections::HashSet::new();
    let same_arg_twice = !args.iter().all(|a| seen.insert(a.index()));
    for name in rule.names() {
        let sc = match ScmpSyscall::from_name(name) {
            Ok(sc) => sc,
            Err(_) => {
                tracing::debug!("seccomp: unknown syscall {name} skipped");
                continue;
            }
        };
        let r = if cmps.is_empty() {
            ctx.add_rule(act, sc).map(drop)
        } else if same_arg_twice {
            cmps.iter().try_for_each(|c| ctx.add_rule_conditional(act, sc, &[*c]).map(drop))
        } else {
            ctx.add_rule_conditional(act, sc, &cmps).map(drop)
        };
        r.map_err(|e| serr(format!("add rule for {name}"), e))?;
    }
    Ok(())
}

/// Load the filter into the calling thread (the last step before execve).
pub fn load(cfg: &LinuxSeccomp, nnp: bool) -> StageResult<()> {
    let ctx = build(cfg, nnp)?;
    ctx.load().map_err(|e| serr("load filter", e))
}
