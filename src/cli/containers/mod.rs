//! Container verbs: run, create, start, stop, kill, rm, ps, inspect, logs, exec, diff, wait.
//! Each parses its flags into typed options and calls `crate::container`.
use super::Ctx;

mod exec;
mod inspect;
mod lifecycle;
mod logs;
mod ps;
mod run;

#[derive(clap::Subcommand, Debug)]
pub enum ContainerCmd {
    /// Create and start a container from an image.
    Run(run::RunArgs),
    /// Create a container without starting it.
    Create(run::CreateArgs),
    /// Start created or stopped containers.
    Start(lifecycle::StartArgs),
    /// Stop running containers: StopSignal (or SIGTERM), then SIGKILL after the timeout.
    Stop(lifecycle::StopArgs),
    /// Send a signal to running containers.
    Kill(lifecycle::KillArgs),
    /// Remove containers and their writable layers.
    Rm(lifecycle::RmArgs),
    /// Wait for containers to stop and print their exit codes.
    Wait(lifecycle::WaitArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// Show a container's configuration and state as JSON.
    Inspect(inspect::InspectArgs),
    /// Show what a container changed in its writable layer (A added, C changed, D deleted).
    Diff(inspect::DiffArgs),
    /// Show a container's output.
    Logs(logs::LogsArgs),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
}

pub fn run(ctx: &Ctx, c: ContainerCmd) -> anyhow::Result<i32> {
    match c {
        ContainerCmd::Run(a) => run::run(ctx, a),
        ContainerCmd::Create(a) => run::create(ctx, a),
        ContainerCmd::Start(a) => lifecycle::start(ctx, a),
        ContainerCmd::Stop(a) => lifecycle::stop(ctx, a),
        ContainerCmd::Kill(a) => lifecycle::kill(ctx, a),
        ContainerCmd::Rm(a) => lifecycle::rm(ctx, a),
        ContainerCmd::Wait(a) => lifecycle::wait(ctx, a),
        ContainerCmd::Ps(a) => ps::run(ctx, a),
        ContainerCmd::Inspect(a) => inspect::inspect(ctx, a),
        ContainerCmd::Diff(a) => inspect::diff(ctx, a),
        ContainerCmd::Logs(a) => logs::run(ctx, a),
        ContainerCmd::Exec(a) => exec::run(ctx, a),
    }
}
