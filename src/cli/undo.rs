//! `labdeck undo`: restores what a run changed, from the undo log it left behind
//! (`--keep-on-failure` runs, crashes).

use super::PoolArgs;
use crate::devices::{apply, ops::UndoLog};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The undo log (JSON lines) of the run, or a run directory (every testbed's log).
    pub log: PathBuf,
}

/// The undo logs a path names: itself, or the `undo-testbed*.jsonl` files of a run
/// directory.
fn logs_of(path: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    crate::run::exec::files::undo_logs(path)
}

pub async fn run(args: UndoArgs) -> i32 {
    let logs = match logs_of(&args.log) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("labdeck: cannot read {}: {e}", args.log.display());
            return 2;
        }
    };
    let mut steps = Vec::new();
    for log in &logs {
        match UndoLog::read(log) {
            Ok(s) => steps.extend(s),
            Err(e) => {
                eprintln!("labdeck: cannot read undo log {}: {e}", log.display());
                return 2;
            }
        }
    }
    if steps.is_empty() {
        println!("nothing to undo in {}", args.log.display());
        return 0;
    }
    let (_pool, engine, _events) = match args.pool.start_engine() {
        Ok(started) => started,
        Err(code) => return code,
    };
    let newest_first: Vec<_> = steps.into_iter().rev().collect();
    let failed = apply::undo(&engine, &newest_first).await;
    engine.shutdown().await;
    for step in &newest_first {
        let mark = if failed.iter().any(|(f, _)| f == step) {
            "FAIL"
        } else {
            "ok  "
        };
        println!("{mark} {}: {}", step.host, step.description);
    }
    for (step, why) in &failed {
        eprintln!(
            "labdeck: undo of `{}` on {} failed: {why}",
            step.description, step.host
        );
    }
    if failed.is_empty() {
        for log in &logs {
            let _ = std::fs::remove_file(log);
        }
        println!("{} changes undone", newest_first.len());
        0
    } else {
        1
    }
}
