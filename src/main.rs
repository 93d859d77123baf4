//! The labdeck binary: parses the command line, sets up logging and runs the command.
//!
//! Invariant: the process exits with the runner's code (0 ok, 1 failures, 2 usage or
//! config errors, or a remote command's own status for `exec`).

use clap::Parser;
use labdeck::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let labdeck::cli::Commands::Tui(args) = cli.command {
        return labdeck::cli::tui::main(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
