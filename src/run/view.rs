//! The pure view of a run: progress, counts, rate, ETA, failed walks and the step cursor,
//! reduced from [`RunEvent`]s. The TUI's walk pane, the batch progress line and the REPL's
//! `walks` command all render this.
//!
//! Invariants: [`RunView::apply`] reads only the event and the time it is given; counts only
//! grow; memory is bounded (at most [`FAILED_KEPT`] failed walks and [`RECENT_STEPS`] recent
//! steps are kept); cancel and skip are never counted as failures.

use super::event::{RunEvent, RunMode, TestbedMap};
use crate::walk::{Outcome, WalkId};
use std::collections::VecDeque;

/// Failed walks kept for display.
pub const FAILED_KEPT: usize = 1000;
/// Recent steps kept for display.
pub const RECENT_STEPS: usize = 200;

/// A failed (or errored) walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedWalk {
    pub walk_id: WalkId,
    pub testbed: usize,
    pub outcome: Outcome,
    pub action: Option<String>,
}

/// A finished step, for the recent-steps list and the step-through pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    pub walk_id: WalkId,
    pub testbed: usize,
    pub index: usize,
    pub action: String,
    pub option: String,
    pub command: Option<String>,
    /// `None` while running.
    pub outcome: Option<Outcome>,
    pub recorded: Option<Outcome>,
    pub exit_status: Option<i32>,
    pub duration_ms: u64,
    pub excerpt: String,
}

/// The step shown before it runs (step mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingStep {
    pub walk_id: WalkId,
    pub testbed: usize,
    pub index: usize,
    pub action: String,
    pub option: String,
    pub command: Option<String>,
    pub recorded: Option<Outcome>,
    pub breakpoint: bool,
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunPhase {
    #[default]
    Idle,
    Running,
    Paused,
    Stopping,
    Finished,
}

/// Everything a view shows about the current run.
#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub mode: Option<RunMode>,
    pub recipe: String,
    pub strategy: String,
    pub testbeds: Vec<TestbedMap>,
    pub run_dir: Option<String>,
    pub phase: RunPhase,
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    pub cancelled: u64,
    pub skipped: u64,
    pub epoch: usize,
    pub epochs: usize,
    pub serial: Option<String>,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    pub stop_reason: Option<String>,
    pub failed_walks: VecDeque<FailedWalk>,
    pub recent: VecDeque<StepLine>,
    pub pending: Option<PendingStep>,
    pub setup_failures: Vec<String>,
    pub undo_failures: Vec<String>,
    pub undone: u64,
    pub shrink_attempts: u64,
    pub shrink_reproduced: u64,
}

impl RunView {
    /// Walks ended so far.
    pub fn done(&self) -> u64 {
        self.passed + self.failed + self.errors + self.cancelled + self.skipped
    }

    /// Fraction done, 0.0 to 1.0.
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            return if self.phase == RunPhase::Finished {
                1.0
            } else {
                0.0
            };
        }
        (self.done() as f64 / self.total as f64).clamp(0.0, 1.0)
    }

    /// Walks per second since the start, at `now_ms`.
    pub fn rate(&self, now_ms: u64) -> f64 {
        let end = self.finished_ms.unwrap_or(now_ms);
        let elapsed = end.saturating_sub(self.started_ms);
        if elapsed == 0 {
            return 0.0;
        }
        self.done() as f64 * 1000.0 / elapsed as f64
    }

    /// Estimated milliseconds to the end, when a rate is known.
    pub fn eta_ms(&self, now_ms: u64) -> Option<u64> {
        let rate = self.rate(now_ms);
        if rate <= 0.0 || self.phase == RunPhase::Finished {
            return None;
        }
        let left = self.total.saturating_sub(self.done()) as f64;
        Some((left / rate * 1000.0) as u64)
    }

    /// Applies one event observed at `now_ms` (unix milliseconds).
    pub fn apply(&mut self, event: &RunEvent, now_ms: u64) {
        match event {
            RunEvent::Started {
                mode,
                recipe,
                strategy,
                testbeds,
                walks,
                epochs,
                run_dir,
                at_ms,
            } => {
                *self = RunView {
                    mode: Some(*mode),
                    recipe: recipe.clone(),
                    strategy: strategy.clone(),
                    testbeds: testbeds.clone(),
                    run_dir: run_dir.clone(),
                    phase: RunPhase::Running,
                    total: *walks,
                    epochs: *epochs,
                    started_ms: *at_ms,
                    ..RunView::default()
                };
            }
            RunEvent::Setup {
                testbed,
                host,
                command,
                outcome,
                message,
            } => {
                if *outcome != Outcome::Pass {
                    self.setup_failures
                        .push(format!("testbed {testbed} {host}: `{command}`: {message}"));
                }
            }
            RunEvent::EpochStarted { epoch, of, serial } => {
                self.epoch = *epoch;
                self.epochs = *of;
                self.serial = serial.clone();
            }
            RunEvent::StepPending {
                walk_id,
                testbed,
                index,
                action,
                option,
                command,
                recorded,
                breakpoint,
                ..
            } => {
                self.pending = Some(PendingStep {
                    walk_id: *walk_id,
                    testbed: *testbed,
                    index: *index,
                    action: action.clone(),
                    option: option.clone(),
                    command: command.clone(),
                    recorded: *recorded,
                    breakpoint: *breakpoint,
                });
            }
            RunEvent::StepStarted {
                walk_id,
                testbed,
                index,
                action,
                option,
                command,
            } => {
                self.pending = None;
                let recorded = None;
                self.push_recent(StepLine {
                    walk_id: *walk_id,
                    testbed: *testbed,
                    index: *index,
                    action: action.clone(),
                    option: option.clone(),
                    command: command.clone(),
                    outcome: None,
                    recorded,
                    exit_status: None,
                    duration_ms: 0,
                    excerpt: String::new(),
                });
            }
            RunEvent::StepFinished {
                walk_id,
                testbed,
                index,
                action,
                outcome,
                exit_status,
                duration_ms,
                excerpt,
                recorded,
            } => {
                let open = self.recent.iter_mut().rev().find(|s| {
                    s.walk_id == *walk_id
                        && s.testbed == *testbed
                        && s.index == *index
                        && s.outcome.is_none()
                });
                match open {
                    Some(line) => {
                        line.outcome = Some(*outcome);
                        line.exit_status = *exit_status;
                        line.duration_ms = *duration_ms;
                        line.excerpt = excerpt.clone();
                        line.recorded = *recorded;
                    }
                    None => self.push_recent(StepLine {
                        walk_id: *walk_id,
                        testbed: *testbed,
                        index: *index,
                        action: action.clone(),
                        option: String::new(),
                        command: None,
                        outcome: Some(*outcome),
                        recorded: *recorded,
                        exit_status: *exit_status,
                        duration_ms: *duration_ms,
                        excerpt: excerpt.clone(),
                    }),
                }
            }
            RunEvent::WalkFinished {
                walk_id,
                testbed,
                outcome,
                failed_action,
                ..
            } => {
                match outcome {
                    Outcome::Pass => self.passed += 1,
                    Outcome::Fail => self.failed += 1,
                    Outcome::Error => self.errors += 1,
                    Outcome::Cancel => self.cancelled += 1,
                    Outcome::Skip => self.skipped += 1,
                }
                if matches!(outcome, Outcome::Fail | Outcome::Error) {
                    if self.failed_walks.len() == FAILED_KEPT {
                        self.failed_walks.pop_front();
                    }
                    self.failed_walks.push_back(FailedWalk {
                        walk_id: *walk_id,
                        testbed: *testbed,
                        outcome: *outcome,
                        action: failed_action.clone(),
                    });
                }
            }
            RunEvent::Paused => self.phase = RunPhase::Paused,
            RunEvent::Resumed => self.phase = RunPhase::Running,
            RunEvent::Stopping { reason } => {
                self.phase = RunPhase::Stopping;
                self.stop_reason = Some(reason.clone());
            }
            RunEvent::Undone {
                host,
                description,
                error,
            } => {
                self.undone += 1;
                if let Some(error) = error {
                    self.undo_failures
                        .push(format!("{host}: {description}: {error}"));
                }
            }
            RunEvent::ShrinkAttempt { reproduced, .. } => {
                self.shrink_attempts += 1;
                if *reproduced {
                    self.shrink_reproduced += 1;
                }
            }
            RunEvent::Finished {
                passed,
                failed,
                errors,
                cancelled,
                skipped,
                stopped,
                ..
            } => {
                self.passed = *passed;
                self.failed = *failed;
                self.errors = *errors;
                self.cancelled = *cancelled;
                self.skipped = *skipped;
                if stopped.is_some() {
                    self.stop_reason = stopped.clone();
                }
                self.pending = None;
                self.phase = RunPhase::Finished;
                self.finished_ms = Some(now_ms);
            }
        }
    }

    fn push_recent(&mut self, line: StepLine) {
        if self.recent.len() == RECENT_STEPS {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(walks: u64) -> RunEvent {
        RunEvent::Started {
            mode: RunMode::Run,
            recipe: "r".into(),
            strategy: "full".into(),
            testbeds: vec![vec![("dut".into(), "h1".into())]],
            walks,
            epochs: 1,
            run_dir: None,
            at_ms: 1_000,
        }
    }

    fn walk_end(walk_id: WalkId, outcome: Outcome) -> RunEvent {
        RunEvent::WalkFinished {
            walk_id,
            testbed: 0,
            outcome,
            duration_ms: 1,
            failed_action: (outcome == Outcome::Fail).then(|| "a".to_owned()),
            values: String::new(),
        }
    }

    #[test]
    fn counts_rate_and_failed_walks() {
        let mut view = RunView::default();
        view.apply(&started(4), 1_000);
        view.apply(&walk_end(0, Outcome::Pass), 1_500);
        view.apply(&walk_end(1, Outcome::Fail), 1_600);
        view.apply(&walk_end(2, Outcome::Cancel), 1_700);
        view.apply(&walk_end(3, Outcome::Skip), 1_800);
        assert_eq!(view.done(), 4);
        assert_eq!(
            (view.passed, view.failed, view.cancelled, view.skipped),
            (1, 1, 1, 1)
        );
        assert_eq!(
            view.failed_walks.len(),
            1,
            "cancel and skip are not failures"
        );
        assert_eq!(view.failed_walks[0].walk_id, 1);
        assert!((view.rate(3_000) - 2.0).abs() < 1e-9);
        assert_eq!(view.eta_ms(3_000), Some(0));
        assert!((view.ratio() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_step_is_pending_until_it_starts() {
        let mut view = RunView::default();
        view.apply(&started(1), 0);
        view.apply(
            &RunEvent::StepPending {
                walk_id: 7,
                testbed: 0,
                index: 0,
                action: "a".into(),
                option: "1".into(),
                command: Some("echo 1".into()),
                recorded: Some(Outcome::Fail),
                breakpoint: false,
                waits: true,
            },
            1,
        );
        assert_eq!(view.pending.as_ref().map(|p| p.walk_id), Some(7));
        view.apply(
            &RunEvent::StepStarted {
                walk_id: 7,
                testbed: 0,
                index: 0,
                action: "a".into(),
                option: "1".into(),
                command: Some("echo 1".into()),
            },
            2,
        );
        assert!(view.pending.is_none());
        view.apply(
            &RunEvent::StepFinished {
                walk_id: 7,
                testbed: 0,
                index: 0,
                action: "a".into(),
                outcome: Outcome::Fail,
                exit_status: Some(1),
                duration_ms: 3,
                excerpt: "boom".into(),
                recorded: Some(Outcome::Fail),
            },
            5,
        );
        let line = view.recent.back().cloned();
        assert_eq!(line.as_ref().and_then(|l| l.outcome), Some(Outcome::Fail));
        assert_eq!(line.map(|l| l.option), Some("1".to_owned()));
    }

    #[test]
    fn memory_is_bounded() {
        let mut view = RunView::default();
        view.apply(&started(5_000), 0);
        for id in 0..5_000 {
            view.apply(&walk_end(id, Outcome::Fail), 1);
        }
        assert_eq!(view.failed_walks.len(), FAILED_KEPT);
        assert_eq!(view.failed, 5_000);
    }
}
