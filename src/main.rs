//! The labdeck binary: parses the command line, sets up logging and runs the command.
//!
//! Invariant: the process exits with the runner's code (0 ok, 1 failures, 2 usage or
//! config errors, or a remote command's own status for `exec`); the log guard lives until
//! then, so every log line is flushed.

use clap::Parser;
use labdeck::cli::{Cli, Commands, run};
use labdeck::logging::{self, LogConfig, LogError};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The TUI owns the terminal and routes tracing into its Log pane.
    if let Commands::Tui(args) = cli.command {
        return labdeck::cli::tui::main(args);
    }
    // Line-editing and full-screen front ends own the terminal: logs go to files only.
    let terminal = !matches!(
        &cli.command,
        Commands::Repl(_)
            | Commands::Open(labdeck::cli::session_cmd::OpenArgs { batch: false, .. })
            | Commands::Demo(labdeck::cli::session_cmd::DemoArgs { batch: false, .. })
    );
    let log_config = LogConfig {
        level: cli.log_level.clone(),
        state_dir: logging::state_dir(),
        run_dir: None,
        terminal,
    };
    let _log_guard = match logging::init(&log_config) {
        Ok((guard, skipped)) => {
            for destination in skipped {
                tracing::debug!(error = %destination, "log destination skipped");
            }
            Some(guard)
        }
        Err(e @ LogError::Level { .. }) => {
            eprintln!("labdeck: {e}");
            return std::process::ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("labdeck: {e}");
            None
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        command = std::env::args().nth(1).unwrap_or_default(),
        "labdeck started"
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labdeck: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(cli));
    tracing::info!(code, "labdeck finished");
    drop(runtime);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
