//! `minirun ps`: Docker's table, or JSON.
use super::Ctx;
use crate::container::record::Status;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default: running only).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate ids and commands.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Output format: table or json.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn run(ctx: &Ctx, a: PsArgs) -> Result<i32> {
    let list = crate::container::list(ctx)?;
    let shown: Vec<_> = list.into_iter().filter(|c| a.all || c.live_status() == Status::Running).collect();
    if a.format == "json" {
        let v: Vec<_> = shown.iter().map(crate::container::summary_json).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if a.quiet {
        for c in &shown {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = shown
        .iter()
        .map(|c| {
            let mut cmd = shell_join(&c.command);
            if !a.no_trunc && cmd.chars().count() > 20 {
                cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
            }
            [
                if a.no_trunc { c.id.clone() } else { c.short_id().to_string() },
                c.image.clone(),
                format!("\"{cmd}\""),
                crate::container::human_since(&c.created),
                crate::container::status_text(c),
                c.name.clone(),
            ]
        })
        .collect();
    let header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"];
    print_table(&header, &rows);
    Ok(0)
}

fn shell_join(v: &[String]) -> String {
    v.join(" ")
}

/// Left-aligned columns separated by three spaces, like docker.
pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut w = [0usize; N];
    for (i, h) in header.iter().enumerate() {
        w[i] = h.chars().count();
    }
    for r in rows {
        for i in 0..N {
            w[i] = w[i].max(r[i].chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{:<width$}   ", c, width = w[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.iter().map(|s| s.to_string()).collect());
    for r in rows {
        line(r.to_vec());
    }
}
