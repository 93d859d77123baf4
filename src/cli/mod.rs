//! The command line: clap definitions and the runners behind each subcommand.
//!
//! Invariants: every runner talks to machines only through the engine; usage and config
//! errors exit with 2 (clap's own usage errors already do); a runner returns the process
//! exit code instead of exiting, so `main` can restore state and flush logs first.

pub mod devices;
pub mod exec;
pub mod hosts;
pub mod lab;
pub mod match_cmd;
pub mod plan;
pub mod repl;
pub mod replay;
pub mod run;
pub mod session_cmd;
pub mod tui;
pub mod undo;
pub mod vpp;

use crate::pool::Pool;
use crate::transport::Trust;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// labdeck: an interactive console for network test labs.
#[derive(Debug, Parser)]
#[command(name = "labdeck", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
    /// Log level or filter (`debug`, `labdeck=debug,russh=warn`); overrides RUST_LOG.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Bring a lab of SSH hosts in network namespaces up or down (root).
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Connect to every machine of a pool and show a table of their state.
    Hosts(hosts::HostsArgs),
    /// Run one command on a machine, streaming its output; exits with its exit status.
    Exec(exec::ExecArgs),
    /// Show a machine's network devices (one command on the host).
    Devices(devices::DevicesArgs),
    /// Undo the device and system changes recorded in an undo log.
    Undo(undo::UndoArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to stdout.
    Man,
    /// Find testbeds for a recipe's roles in a pool (no connection); explain a miss.
    Match(match_cmd::MatchArgs),
    /// Show the walks of a recipe's walk order under a strategy.
    Plan(plan::PlanArgs),
    /// Run a recipe's walks over the pool's testbeds; writes a run directory.
    Run(run::RunArgs),
    /// Open a session (`sessions/<name>`): the TUI, or a headless run with --batch.
    Open(session_cmd::OpenArgs),
    /// List the recorded runs of a session or a runs directory.
    Runs(session_cmd::RunsArgs),
    /// A built-in session on this machine (no root, no SSH): walks that really fail, ready to
    /// step through. --batch runs it headless; --lab runs it on a lab over SSH (root).
    Demo(session_cmd::DemoArgs),
    /// Replay one walk of a trace, optionally step by step.
    Replay(replay::ReplayArgs),
    /// Minimise a failed walk of a trace to the smallest walk that fails the same way.
    Shrink(replay::ShrinkArgs),
    /// VPP binary-API calls through a machine's SSH connection, and the client cache.
    Vpp(vpp::VppArgs),
    /// Benchmarks against reference implementations, measured in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The interactive console: hosts, jobs, match, plan and runs with history and completion.
    Repl(repl::ReplArgs),
    /// The terminal UI: hosts, devices, jobs, walks, API clients and the log of a pool.
    Tui(tui::TuiArgs),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Commands per second on one host: labdeck (channel per command, long-lived shell)
    /// against OpenSSH ControlMaster and plain ssh.
    Ssh {
        #[command(flatten)]
        pool: PoolArgs,
        /// The machine to run `true` on.
        host: String,
        /// Commands per labdeck and ControlMaster measurement.
        #[arg(long, short = 'n', default_value_t = 1000)]
        commands: usize,
        /// Commands for plain ssh (about 100x slower).
        #[arg(long, default_value_t = 40)]
        plain_commands: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
}

/// Options shared by every command that opens a pool.
#[derive(Debug, Clone, Args)]
pub struct PoolArgs {
    /// The pool file (TOML).
    #[arg(long, short = 'P', env = "LABDECK_POOL", value_name = "FILE")]
    pub pool: PathBuf,
    /// Record unknown host keys in the pool's known_hosts instead of refusing them.
    #[arg(long)]
    pub accept_new_hostkeys: bool,
    /// Seconds to wait for a connection and its authentication.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub connect_timeout: f64,
}

impl PoolArgs {
    pub fn load(&self) -> Result<Pool, crate::pool::PoolError> {
        Pool::load(&self.pool)
    }

    /// Loads the pool and starts an engine on it with a subscription, for one-shot
    /// commands. A pool error is reported here and becomes exit code 2.
    pub fn start_engine(
        &self,
    ) -> Result<
        (
            Pool,
            crate::engine::EngineHandle,
            tokio::sync::mpsc::UnboundedReceiver<crate::engine::Event>,
        ),
        i32,
    > {
        let pool = self.load().map_err(|e| {
            report(e);
            2
        })?;
        let engine = crate::engine::EngineHandle::spawn(pool.clone(), self.engine_config(&pool));
        let events = engine.subscribe().map_err(|_| 1)?;
        Ok((pool, engine, events))
    }

    /// Engine settings for a one-shot command: no fast-path shell (it would only pay off
    /// over many commands).
    pub fn engine_config(&self, pool: &Pool) -> crate::engine::EngineConfig {
        crate::engine::EngineConfig {
            trust: Trust {
                labdeck_known_hosts: pool.known_hosts.clone(),
                user_known_hosts: true,
                accept_new_hostkeys: self.accept_new_hostkeys || pool.accept_new_hostkeys,
            },
            connect_timeout: Duration::from_secs_f64(self.connect_timeout.clamp(0.1, 3600.0)),
            fast_path: false,
            output_dir: None,
        }
    }
}

/// Opens the TUI on a session: its pool, recipe, params and theme; runs go to the session.
pub(crate) async fn tui_session(session: &crate::session::Session) -> i32 {
    let args = tui::TuiArgs {
        pool: PoolArgs {
            pool: session.pool.clone(),
            accept_new_hostkeys: false,
            connect_timeout: 10.0,
        },
        recipe: session.recipe.clone(),
        theme: session.theme.clone().unwrap_or_else(|| "dark".into()),
        keymap: None,
        params: session
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        runs_dir: session.runs_dir(),
        trace: None,
        session_name: Some(session.name.clone()),
    };
    tui::run(args).await
}

/// Left-aligned columns separated by two spaces, no trailing blanks.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(header_row).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Prints a diagnostic the way miette renders it, to stderr.
pub fn report(diagnostic: impl miette::Diagnostic + Send + Sync + 'static) {
    eprintln!("{:?}", miette::Report::new(diagnostic));
}

/// Runs the parsed command line and returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Commands::Lab(command) => lab::run(command),
        Commands::Hosts(args) => hosts::run(args).await,
        Commands::Exec(args) => exec::run(args).await,
        Commands::Devices(args) => devices::run(args).await,
        Commands::Undo(args) => undo::run(args).await,
        Commands::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "labdeck",
                &mut std::io::stdout(),
            );
            0
        }
        Commands::Man => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("labdeck: {e}");
                    1
                }
            }
        }
        Commands::Match(args) => match_cmd::run(args),
        Commands::Plan(args) => plan::run(args),
        Commands::Vpp(args) => vpp::run(args).await,
        Commands::Run(args) => run::run(args).await,
        Commands::Replay(args) => replay::replay(args).await,
        Commands::Open(args) => session_cmd::open(args).await,
        Commands::Runs(args) => session_cmd::runs(args),
        Commands::Demo(args) => session_cmd::demo(args).await,
        Commands::Shrink(args) => replay::shrink(args).await,
        Commands::Repl(args) => repl::run(args).await,
        Commands::Tui(args) => tui::run(args).await,
        Commands::Bench(BenchCommand::Ssh {
            pool,
            host,
            commands,
            plain_commands,
            concurrency,
        }) => {
            let loaded = match pool.load() {
                Ok(p) => p,
                Err(e) => {
                    report(e);
                    return 2;
                }
            };
            let bench = crate::bench::SshBench {
                pool: loaded,
                host,
                commands: commands.max(1),
                plain_ssh_commands: plain_commands,
                concurrency,
            };
            match crate::bench::run_ssh(&bench).await {
                Ok(figures) => {
                    print!("{}", crate::bench::render(&figures));
                    0
                }
                Err(e) => {
                    eprintln!("labdeck bench: {e}");
                    1
                }
            }
        }
    }
}
