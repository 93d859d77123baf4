//! `labdeck exec`: run one command on one machine, stream its output, exit with its status.
//!
//! Arguments after `--` are an argument vector: each is shell-quoted, so spaces, quotes,
//! `$`, `;` and backticks reach the remote program literally. `--sh LINE` passes a shell
//! command line instead, for pipes and redirections.

use super::{PoolArgs, report};
use crate::engine::{EngineHandle, Event, ExecRequest, JobResult};
use crate::quote::join_argv;
use crate::transport::Stream;
use clap::Args;
use std::io::Write;

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The machine to run on.
    pub host: String,
    /// Run this shell command line (pipes, redirections) instead of an argument vector.
    #[arg(long = "sh", value_name = "LINE", conflicts_with = "argv")]
    pub shell_line: Option<String>,
    /// The command and its arguments, each passed literally.
    #[arg(last = true, value_name = "ARGV")]
    pub argv: Vec<String>,
}

pub async fn run(args: ExecArgs) -> i32 {
    let command = match (&args.shell_line, args.argv.is_empty()) {
        (Some(line), _) => line.clone(),
        (None, false) => join_argv(&args.argv),
        (None, true) => {
            eprintln!(
                "error: nothing to run\n  hint: labdeck exec --pool P HOST -- COMMAND [ARGS...]"
            );
            return 2;
        }
    };
    let pool = match args.pool.load() {
        Ok(p) => p,
        Err(e) => {
            report(e);
            return 2;
        }
    };
    let engine = EngineHandle::spawn(pool.clone(), args.pool.engine_config(&pool));
    let Ok(mut events) = engine.subscribe() else {
        return 1;
    };
    let job = match engine
        .exec(ExecRequest {
            host: args.host.clone(),
            command,
        })
        .await
    {
        Ok(job) => job,
        Err(e) => {
            report(e);
            return 2;
        }
    };
    let mut code = 255;
    while let Some(event) = events.recv().await {
        match event {
            Event::JobOutput {
                job: j,
                stream,
                data,
            } if j == job => {
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().write_all(&data),
                    Stream::Stderr => std::io::stderr().write_all(&data),
                };
            }
            Event::JobFinished { job: j, result, .. } if j == job => {
                let _ = std::io::stdout().flush();
                code = match result {
                    JobResult::Exited(outcome) => outcome.shell_code(),
                    JobResult::Error { error, hint } => {
                        eprintln!("labdeck: {}: {error}\n  hint: {hint}", job.host);
                        255
                    }
                };
                break;
            }
            _ => {}
        }
    }
    engine.shutdown().await;
    code
}
