//! `labdeck exec`: run one command on one machine, stream its output, exit with its status.
//!
//! Arguments after `--` are an argument vector: each is shell-quoted, so spaces, quotes,
//! `$`, `;` and backticks reach the remote program literally. `--sh LINE` passes a shell
//! command line instead, for pipes and redirections. Ctrl-C and SIGTERM kill the job's
//! whole process group on the host before labdeck exits.

use super::{PoolArgs, report};
use crate::engine::{Ending, Event, JobSpec, JobState};
use crate::quote::join_argv;
use crate::transport::Stream;
use clap::Args;
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The machine to run on.
    pub host: String,
    /// Run this shell command line (pipes, redirections) instead of an argument vector.
    #[arg(long = "sh", value_name = "LINE", conflicts_with = "argv")]
    pub shell_line: Option<String>,
    /// Run as a background job: output streams until it ends or until Ctrl-C/SIGTERM,
    /// which kill its process group.
    #[arg(long)]
    pub bg: bool,
    /// Kill the job's process group after SECS and fail with "timed out" (exit 124).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// The job passes when the command fails (exit 0), and fails when it succeeds (exit 1).
    #[arg(long)]
    pub expect_fail: bool,
    /// Parse stdout as JSON; invalid JSON fails the job (exit 1).
    #[arg(long)]
    pub json: bool,
    /// Working directory on the host.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Environment variable for the command (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Write a JSON report of the job (times, command, exit, output files) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
    /// Write the job as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// The command and its arguments, each passed literally.
    #[arg(last = true, value_name = "ARGV")]
    pub argv: Vec<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
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
    let timeout = match args.timeout {
        None => None,
        Some(secs) if secs.is_finite() && secs > 0.0 => Some(Duration::from_secs_f64(secs)),
        Some(secs) => {
            eprintln!("error: --timeout {secs} must be a positive number of seconds");
            return 2;
        }
    };
    let (_pool, engine, mut events) = match args.pool.start_engine() {
        Ok(started) => started,
        Err(code) => return code,
    };
    let spec = JobSpec {
        host: args.host.clone(),
        command,
        background: args.bg,
        timeout,
        expect_fail: args.expect_fail,
        json: args.json,
        cwd: args.cwd.clone(),
        env: args.env.clone(),
        desc: None,
        capture: false,
    };
    let job = match engine.exec(spec).await {
        Ok(job) => job,
        Err(e) => {
            report(e);
            return 2;
        }
    };
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("labdeck: cannot watch SIGTERM: {e}");
                return 1;
            }
        };
    let mut report = crate::report::RunReport::new(format!("labdeck exec {}", job.host), vec![]);
    let mut code = 255;
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("labdeck: interrupted; killing {job}");
                code = 130;
                break;
            }
            _ = terminate.recv() => {
                eprintln!("labdeck: terminated; killing {job}");
                code = 143;
                break;
            }
        };
        if let Some(e) = &event {
            report.apply(e, crate::walk::trace::unix_millis_now());
        }
        match event {
            None => break,
            Some(Event::JobOutput {
                job: j,
                stream,
                data,
            }) if j == job => {
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().write_all(&data),
                    Stream::Stderr => std::io::stderr().write_all(&data),
                };
            }
            Some(Event::JobFinished {
                job: j,
                state,
                ending,
                duration,
                json,
            }) if j == job => {
                let _ = std::io::stdout().flush();
                code = exit_code(&args, state, &ending);
                match (state, &ending) {
                    (JobState::TimedOut, _) => eprintln!(
                        "labdeck: {job} FAIL: timed out after {:.1} s (process group killed)",
                        duration.as_secs_f64()
                    ),
                    (_, Ending::TransportError { error, hint }) => {
                        eprintln!("labdeck: {}: {error}\n  hint: {hint}", job.host)
                    }
                    _ => {}
                }
                if let Some(Err(why)) = json {
                    eprintln!("labdeck: {job} FAIL: {why}");
                }
                break;
            }
            Some(_) => {}
        }
    }
    engine.shutdown().await;
    match write_reports(&args, &report) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("labdeck: {e}");
            if code == 0 { 1 } else { code }
        }
    }
}

fn write_reports(args: &ExecArgs, report: &crate::report::RunReport) -> Result<(), String> {
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report.json()).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        let xml = report.junit().map_err(|e| e.to_string())?;
        std::fs::write(path, xml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn exit_code(args: &ExecArgs, state: JobState, ending: &Ending) -> i32 {
    match (state, ending) {
        (JobState::TimedOut, _) => 124,
        (_, Ending::TransportError { .. }) => 255,
        (JobState::Passed, _) if args.expect_fail || args.json => 0,
        (JobState::Failed, _) if args.expect_fail || args.json => 1,
        (_, Ending::Exited(outcome)) => outcome.shell_code(),
    }
}
