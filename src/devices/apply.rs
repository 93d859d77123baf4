//! Applying device ops on a host through the engine, and undoing them.
//!
//! Invariants: an op's undo steps are recorded (and fsynced when the log has a file)
//! before its command runs; undo runs newest first and goes on past a failing step,
//! reporting every failure; devices are re-read before each op, so plans always start from
//! the host's real state.

use super::ops::{self, DeviceOp, Guard, OpError, UndoLog, UndoStep};
use crate::engine::{EngineError, EngineHandle, JobSpec, JobState};
use std::time::Duration;

/// Why a change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Refused(#[from] OpError),
    #[error(transparent)]
    Discover(#[from] super::DiscoverError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("`{command}` failed on {host}: {cause}")]
    Command {
        host: String,
        command: String,
        cause: String,
    },
    #[error("cannot record undo steps: {0}")]
    Log(#[from] std::io::Error),
}

/// Runs one command as a job and returns its stdout, or why it failed.
async fn run(engine: &EngineHandle, host: &str, command: &str) -> Result<String, ChangeError> {
    let job = engine
        .exec(JobSpec {
            host: host.to_owned(),
            command: command.to_owned(),
            ..JobSpec::default()
        })
        .await?;
    let snap = engine.wait(job, Duration::from_secs(120)).await?;
    if snap.state == JobState::Passed {
        Ok(String::from_utf8_lossy(&snap.stdout_tail).into_owned())
    } else {
        Err(ChangeError::Command {
            host: host.to_owned(),
            command: command.to_owned(),
            cause: format!(
                "{:?}: {}",
                snap.exit,
                String::from_utf8_lossy(&snap.stderr_tail).trim()
            ),
        })
    }
}

/// Changes one host's devices, recording how to undo every change.
pub struct HostChanger<'a> {
    pub engine: &'a EngineHandle,
    pub host: String,
    pub guard: Guard,
}

impl HostChanger<'_> {
    /// Plans `op` against the host's current state, records its undo, then runs it.
    pub async fn apply(&mut self, op: &DeviceOp, log: &mut UndoLog) -> Result<(), ChangeError> {
        let devices = super::discover(self.engine, &self.host).await?;
        let current = match ops::read_command(op) {
            Some(cmd) => Some(run(self.engine, &self.host, &cmd).await?.trim().to_owned()),
            None => None,
        };
        let planned = ops::plan(&self.host, op, &devices, &self.guard, current.as_deref())?;
        log.record(&planned.undo)?;
        self.guard.created.extend(planned.creates);
        run(self.engine, &self.host, &planned.command).await?;
        Ok(())
    }
}

/// Runs undo steps (newest first, as given) and returns the ones that failed.
pub async fn undo(engine: &EngineHandle, steps: &[UndoStep]) -> Vec<(UndoStep, String)> {
    let mut failed = Vec::new();
    for step in steps {
        if let Err(e) = run(engine, &step.host, &step.command).await {
            failed.push((step.clone(), e.to_string()));
        }
    }
    failed
}
