//! Run events: what a walk run (or a replay, or a shrink) reports while it goes.
//!
//! The executor publishes these through the engine ([`crate::engine::Event::Run`]), so every
//! front end sees them in one ordered stream with the job events they cause. Views reduce
//! them with [`super::view::RunView::apply`]; a live run and a replay of its trace render
//! the same.
//!
//! Invariants: `Started` comes first and `Finished` last; every `StepStarted` is followed by
//! its `StepFinished` (same walk, testbed and index) before that walk's `WalkFinished`; in
//! step mode a step's `StepPending` always precedes its `StepStarted` (nothing runs before
//! it was shown).

use crate::walk::{Outcome, WalkId};
use serde::{Deserialize, Serialize};

/// What kind of run this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// `labdeck run`: the plan's walks.
    Run,
    /// `labdeck run --rerun-failed`: the failed walks of an earlier trace.
    Rerun,
    /// `labdeck replay`: one walk again.
    Replay,
    /// `labdeck shrink`: attempts at a smaller failing walk.
    Shrink,
}

/// One testbed: role → machine, in recipe role order.
pub type TestbedMap = Vec<(String, String)>;

/// Everything a run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    Started {
        mode: RunMode,
        recipe: String,
        strategy: String,
        testbeds: Vec<TestbedMap>,
        /// Walks this run will end (run, rerun) or try (replay: 1).
        walks: u64,
        epochs: usize,
        /// The run directory, when one is written.
        run_dir: Option<String>,
        /// Unix milliseconds.
        at_ms: u64,
    },
    /// A setup command of a testbed ended (setup runs once per testbed before any walk).
    Setup {
        testbed: usize,
        host: String,
        command: String,
        outcome: Outcome,
        message: String,
    },
    EpochStarted {
        /// 0-based.
        epoch: usize,
        of: usize,
        /// The serial action that opens this epoch with its value (`mtu=9000`), if any.
        serial: Option<String>,
    },
    /// Step mode: the next step, shown before it runs; the run waits for a decision unless
    /// it is continuing (`waits` says which).
    StepPending {
        walk_id: WalkId,
        testbed: usize,
        /// Index of the action in the walk order.
        index: usize,
        action: String,
        option: String,
        command: Option<String>,
        /// The recorded outcome of this step in the trace being replayed.
        recorded: Option<Outcome>,
        /// The cursor stopped here because of a breakpoint.
        breakpoint: bool,
        /// The run waits for a [`crate::run::StepDecision`] (false while continuing).
        waits: bool,
    },
    StepStarted {
        walk_id: WalkId,
        testbed: usize,
        index: usize,
        action: String,
        option: String,
        command: Option<String>,
    },
    StepFinished {
        walk_id: WalkId,
        testbed: usize,
        index: usize,
        action: String,
        outcome: Outcome,
        exit_status: Option<i32>,
        duration_ms: u64,
        /// Bounded excerpt of the output or the reason of the outcome.
        excerpt: String,
        /// Replays: the outcome the trace recorded for this step.
        recorded: Option<Outcome>,
    },
    WalkFinished {
        walk_id: WalkId,
        testbed: usize,
        outcome: Outcome,
        duration_ms: u64,
        failed_action: Option<String>,
        /// The walk's values, `action=value` separated by spaces (empty when unknown).
        #[serde(default)]
        values: String,
    },
    Paused,
    Resumed,
    /// A stop was requested (Ctrl-C, SIGTERM, max failures, abort): steps in flight finish,
    /// no new walk starts.
    Stopping {
        reason: String,
    },
    /// One undo step ran.
    Undone {
        host: String,
        description: String,
        error: Option<String>,
    },
    /// Shrink: an attempt ended (`reproduced`: it still fails the same way).
    ShrinkAttempt {
        options: Vec<String>,
        actions: Vec<String>,
        reproduced: bool,
    },
    Finished {
        passed: u64,
        failed: u64,
        errors: u64,
        cancelled: u64,
        skipped: u64,
        elapsed_ms: u64,
        /// Why the run stopped early, if it did.
        stopped: Option<String>,
    },
}
