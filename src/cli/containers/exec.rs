//! `minirun exec`: run a command in a running container's namespaces.
use super::Ctx;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// User (name or uid) and optionally group.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Run in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub cmd: Vec<String>,
}

pub fn run(ctx: &Ctx, a: ExecArgs) -> Result<i32> {
    crate::container::exec(
        ctx,
        &a.container,
        crate::container::ExecOptions {
            cmd: a.cmd,
            env: a.env,
            user: a.user,
            workdir: a.workdir,
            tty: a.tty,
            interactive: a.interactive,
            detach: a.detach,
        },
    )
}
