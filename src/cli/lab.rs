//! `labdeck lab up|status|down` (and the hidden `lab serve` daemon entry).

use super::report;
use crate::lab::{self, Topology, UpOptions};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Create N hosts in network namespaces, wired by veth links, each with its own sshd.
    Up {
        #[command(flatten)]
        dir: LabDir,
        /// Number of hosts (1–64).
        #[arg(long, short = 'n', default_value_t = 2)]
        hosts: usize,
        /// How the hosts are wired.
        #[arg(long, short = 't', value_enum, default_value_t = Topology::Line)]
        topology: Topology,
    },
    /// Show the lab's hosts, ports and links.
    Status {
        #[command(flatten)]
        dir: LabDir,
    },
    /// Remove every namespace, link, process and file of the lab (safe to run twice).
    Down {
        #[command(flatten)]
        dir: LabDir,
    },
    /// The lab's listener daemon (started by `lab up`).
    #[command(hide = true)]
    Serve {
        #[command(flatten)]
        dir: LabDir,
    },
}

#[derive(Debug, Clone, Args)]
pub struct LabDir {
    /// The lab directory (state, keys, pool file).
    #[arg(
        long,
        short = 'd',
        env = "LABDECK_LAB_DIR",
        default_value = "labdeck-lab"
    )]
    pub dir: PathBuf,
}

pub fn run(command: LabCommand) -> i32 {
    let result = match command {
        LabCommand::Up {
            dir,
            hosts,
            topology,
        } => lab::up(&UpOptions {
            dir: dir.dir.clone(),
            hosts,
            topology,
        })
        .and_then(|state| {
            let dir = lab::absolute_dir(&dir.dir)?;
            print!("{}", lab::describe(&dir, &state));
            println!(
                "next: labdeck hosts --pool {0}/pool.toml; labdeck lab down --dir {0}",
                dir.display()
            );
            Ok(0)
        }),
        LabCommand::Status { dir } => {
            lab::absolute_dir(&dir.dir).and_then(|d| match lab::load_state(&d)? {
                None => {
                    println!("no lab in {}", d.display());
                    Ok(1)
                }
                Some(state) => {
                    print!("{}", lab::describe(&d, &state));
                    Ok(if lab::is_running(&state) { 0 } else { 1 })
                }
            })
        }
        LabCommand::Down { dir } => lab::down(&dir.dir).map(|r| {
            if r.had_lab {
                println!(
                    "lab down: removed {} namespaces, stopped {} processes, removed {} files",
                    r.namespaces.len(),
                    r.processes,
                    r.files
                );
            } else {
                println!("no lab in {}", dir.dir.display());
            }
            0
        }),
        LabCommand::Serve { dir } => lab::serve::run(&dir.dir).map(|()| 0),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            report(e);
            code
        }
    }
}

/// `labdeck demo --lab`: two hosts on a line, quietly (0, or the error's exit code).
pub fn up_for_demo(dir: &std::path::Path) -> i32 {
    match lab::up(&UpOptions {
        dir: dir.to_owned(),
        hosts: 2,
        topology: Topology::Line,
    }) {
        Ok(_) => 0,
        Err(e) => {
            let code = e.exit_code();
            report(e);
            code
        }
    }
}

/// Takes the demo's lab down (errors are reported, not fatal).
pub fn down_for_demo(dir: &std::path::Path) {
    if let Err(e) = lab::down(dir) {
        report(e);
    }
}
