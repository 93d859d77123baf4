//! Results of a walk run: the summary text, the JSON report and JUnit XML (a test suite
//! per recipe and testbed, a test case per walk), reduced from engine events.
//!
//! Invariants: [`RunResults::apply`] reads only the event and the time it is given, so a
//! live run and a replayed event recording report the same; the job lines come from
//! [`crate::report::RunReport`] (LNST's folding rule); steps are kept for at most
//! [`STEPS_KEPT_WALKS`] walks (failed walks always keep theirs), so memory stays bounded on
//! huge runs; cancelled and skipped walks are reported as skipped, never as failures.

use super::event::{RunEvent, TestbedMap};
use crate::engine::Event;
use crate::report::RunReport;
use crate::walk::{Outcome, WalkId};
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// Walks whose passing steps are kept for the JSON report.
pub const STEPS_KEPT_WALKS: usize = 10_000;

/// One step as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepEntry {
    pub index: usize,
    pub action: String,
    pub option: String,
    pub command: Option<String>,
    pub outcome: Option<Outcome>,
    pub exit_status: Option<i32>,
    pub duration_ms: u64,
    pub excerpt: String,
}

/// One walk as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WalkEntry {
    pub walk_id: WalkId,
    pub testbed: usize,
    pub outcome: Option<Outcome>,
    pub duration_ms: u64,
    pub failed_action: Option<String>,
    /// `action=value ...` of the whole walk, when the run said.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub values: String,
    pub steps: Vec<StepEntry>,
}

impl WalkEntry {
    /// `action=value` pairs of the walk (of its steps when the run did not say).
    pub fn values(&self) -> String {
        if !self.values.is_empty() {
            return self.values.clone();
        }
        self.steps
            .iter()
            .map(|s| format!("{}={}", s.action, s.option))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn failing_step(&self) -> Option<&StepEntry> {
        self.steps
            .iter()
            .rev()
            .find(|s| s.outcome.is_some_and(|o| o != Outcome::Pass))
    }
}

/// A run's results.
#[derive(Debug, Clone, Default)]
pub struct RunResults {
    pub recipe: String,
    pub strategy: String,
    pub testbeds: Vec<TestbedMap>,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    pub walks: Vec<WalkEntry>,
    pub totals: [u64; 5],
    pub setup_failures: Vec<String>,
    pub undone: u64,
    pub undo_failures: Vec<String>,
    pub stopped: Option<String>,
    pub jobs: RunReport,
    /// Steps of walks still open, by (walk, testbed).
    open: Vec<WalkEntry>,
    kept_passing: usize,
}

impl RunResults {
    /// Applies one engine event observed at `now_ms`.
    pub fn apply(&mut self, event: &Event, now_ms: u64) {
        match event {
            Event::Run(run) => self.apply_run(run, now_ms),
            other => self.jobs.apply(other, now_ms),
        }
    }

    fn open_walk(&mut self, walk_id: WalkId, testbed: usize) -> &mut WalkEntry {
        let at = self
            .open
            .iter()
            .position(|w| w.walk_id == walk_id && w.testbed == testbed);
        let at = match at {
            Some(at) => at,
            None => {
                self.open.push(WalkEntry {
                    walk_id,
                    testbed,
                    outcome: None,
                    duration_ms: 0,
                    failed_action: None,
                    values: String::new(),
                    steps: Vec::new(),
                });
                self.open.len() - 1
            }
        };
        &mut self.open[at]
    }

    fn apply_run(&mut self, event: &RunEvent, now_ms: u64) {
        match event {
            RunEvent::Started {
                recipe,
                strategy,
                testbeds,
                at_ms,
                ..
            } => {
                *self = RunResults {
                    recipe: recipe.clone(),
                    strategy: strategy.clone(),
                    testbeds: testbeds.clone(),
                    started_ms: *at_ms,
                    jobs: RunReport::new(
                        recipe.clone(),
                        testbeds
                            .iter()
                            .enumerate()
                            .map(|(i, t)| describe(i, t))
                            .collect(),
                    ),
                    ..RunResults::default()
                };
            }
            RunEvent::Setup {
                testbed,
                host,
                command,
                outcome,
                message,
            } if *outcome != Outcome::Pass => {
                self.setup_failures
                    .push(format!("testbed {testbed}: {host}: `{command}`: {message}"));
            }
            RunEvent::StepStarted {
                walk_id,
                testbed,
                index,
                action,
                option,
                command,
            } => {
                let entry = StepEntry {
                    index: *index,
                    action: action.clone(),
                    option: option.clone(),
                    command: command.clone(),
                    outcome: None,
                    exit_status: None,
                    duration_ms: 0,
                    excerpt: String::new(),
                };
                self.open_walk(*walk_id, *testbed).steps.push(entry);
            }
            RunEvent::StepFinished {
                walk_id,
                testbed,
                index,
                outcome,
                exit_status,
                duration_ms,
                excerpt,
                ..
            } => {
                let walk = self.open_walk(*walk_id, *testbed);
                if let Some(step) = walk
                    .steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.index == *index && s.outcome.is_none())
                {
                    step.outcome = Some(*outcome);
                    step.exit_status = *exit_status;
                    step.duration_ms = *duration_ms;
                    step.excerpt = excerpt.clone();
                }
            }
            RunEvent::WalkFinished {
                walk_id,
                testbed,
                outcome,
                duration_ms,
                failed_action,
                values,
            } => {
                let mut walk = match self
                    .open
                    .iter()
                    .position(|w| w.walk_id == *walk_id && w.testbed == *testbed)
                {
                    Some(at) => self.open.swap_remove(at),
                    None => WalkEntry {
                        walk_id: *walk_id,
                        testbed: *testbed,
                        outcome: None,
                        duration_ms: 0,
                        failed_action: None,
                        values: String::new(),
                        steps: Vec::new(),
                    },
                };
                walk.outcome = Some(*outcome);
                walk.values = values.clone();
                walk.duration_ms = *duration_ms;
                walk.failed_action = failed_action.clone();
                self.totals[outcome.slot()] += 1;
                let failed = matches!(outcome, Outcome::Fail | Outcome::Error);
                if !failed {
                    if self.kept_passing >= STEPS_KEPT_WALKS {
                        walk.steps.clear();
                    } else {
                        self.kept_passing += 1;
                    }
                }
                self.walks.push(walk);
            }
            RunEvent::Undone {
                error,
                host,
                description,
            } => {
                self.undone += 1;
                if let Some(e) = error {
                    self.undo_failures
                        .push(format!("{host}: {description}: {e}"));
                }
            }
            RunEvent::Finished { stopped, .. } => {
                self.stopped = stopped.clone();
                self.finished_ms = Some(now_ms);
            }
            _ => {}
        }
    }

    pub fn passed(&self) -> u64 {
        self.totals[0]
    }

    /// Failed and errored walks.
    pub fn failed(&self) -> u64 {
        self.totals[1] + self.totals[2]
    }

    pub fn overall_pass(&self) -> bool {
        self.failed() == 0 && self.setup_failures.is_empty() && self.undo_failures.is_empty()
    }

    /// The short summary printed at the end of a run.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "RUN SUMMARY: {} (strategy {}, {} walks on {} testbed{})",
            self.recipe,
            self.strategy,
            self.walks.len(),
            self.testbeds.len(),
            if self.testbeds.len() == 1 { "" } else { "s" }
        );
        for (i, t) in self.testbeds.iter().enumerate() {
            let _ = writeln!(s, "  {}", describe(i, t));
        }
        for f in &self.setup_failures {
            let _ = writeln!(s, "SETUP FAILED {f}");
        }
        for walk in self
            .walks
            .iter()
            .filter(|w| matches!(w.outcome, Some(Outcome::Fail | Outcome::Error)))
        {
            let verdict = if walk.outcome == Some(Outcome::Fail) {
                "FAIL"
            } else {
                "ERROR"
            };
            let _ = write!(
                s,
                "{verdict} walk {} on testbed {}",
                walk.walk_id, walk.testbed
            );
            if let Some(step) = walk.failing_step() {
                let _ = write!(s, " at {}={}", step.action, step.option);
                if let Some(cmd) = &step.command {
                    let _ = write!(s, ": {cmd}");
                }
                let first = step.excerpt.lines().next().unwrap_or("");
                if !first.is_empty() {
                    let _ = write!(s, " ({first})");
                }
            } else if let Some(action) = &walk.failed_action {
                let _ = write!(s, " at {action}");
            }
            let _ = writeln!(s);
        }
        if let Some(why) = &self.stopped {
            let _ = writeln!(s, "STOPPED: {why}");
        }
        let _ = writeln!(s, "undo: {} changes undone", self.undone);
        for f in &self.undo_failures {
            let _ = writeln!(s, "UNDO FAILED {f}");
        }
        let _ = writeln!(
            s,
            "Overall result of this Run: {}",
            if self.overall_pass() { "PASS" } else { "FAIL" }
        );
        let _ = writeln!(
            s,
            "walks: {} passed, {} failed, {} errors, {} cancelled, {} skipped",
            self.totals[0], self.totals[1], self.totals[2], self.totals[3], self.totals[4]
        );
        s
    }

    /// The summary file: the short summary, then every job (LNST's per-host lines).
    pub fn summary_file(&self) -> String {
        format!("{}\n{}", self.summary_text(), self.jobs.summary_text())
    }

    /// The JSON report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "version": 1,
            "recipe": self.recipe,
            "strategy": self.strategy,
            "started_at_ms": self.started_ms,
            "finished_at_ms": self.finished_ms,
            "testbeds": self.testbeds.iter().map(|t| t.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()).collect::<Vec<_>>(),
            "result": if self.overall_pass() { "pass" } else { "fail" },
            "totals": {
                "passed": self.totals[0], "failed": self.totals[1], "errors": self.totals[2],
                "cancelled": self.totals[3], "skipped": self.totals[4],
            },
            "stopped": self.stopped,
            "setup_failures": self.setup_failures,
            "undone": self.undone,
            "undo_failures": self.undo_failures,
            "walks": self.walks,
            "jobs": self.jobs.json()["jobs"],
        })
    }

    /// JUnit XML: a test suite per testbed, a test case per walk.
    pub fn junit(&self) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("labdeck");
        for (i, t) in self.testbeds.iter().enumerate() {
            let mut suite = TestSuite::new(format!("{} [{}]", self.recipe, describe(i, t)));
            for walk in self.walks.iter().filter(|w| w.testbed == i) {
                let message = walk
                    .failing_step()
                    .map(|s| {
                        format!(
                            "{}={}: {}",
                            s.action,
                            s.option,
                            s.excerpt.lines().next().unwrap_or("")
                        )
                    })
                    .or_else(|| walk.failed_action.clone())
                    .unwrap_or_default();
                let status = match walk.outcome {
                    Some(Outcome::Pass) => TestCaseStatus::success(),
                    Some(Outcome::Fail) => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(message);
                        s
                    }
                    Some(Outcome::Error) | None => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                        s.set_message(message);
                        s
                    }
                    Some(outcome @ (Outcome::Skip | Outcome::Cancel)) => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(format!(
                            "{}: {message}",
                            if outcome == Outcome::Skip {
                                "skipped"
                            } else {
                                "cancelled"
                            }
                        ));
                        s
                    }
                };
                let name = if walk.steps.is_empty() && walk.values.is_empty() {
                    format!("walk {}", walk.walk_id)
                } else {
                    format!("walk {} ({})", walk.walk_id, walk.values())
                };
                let mut case = TestCase::new(name, status);
                case.set_classname(self.recipe.clone());
                case.set_time(Duration::from_millis(walk.duration_ms));
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        report.to_string()
    }

    /// TAP version 14: one line per walk.
    pub fn tap(&self) -> String {
        let mut s = format!("TAP version 14\n1..{}\n", self.walks.len());
        for (n, walk) in self.walks.iter().enumerate() {
            let ok = match walk.outcome {
                Some(Outcome::Pass) => "ok".to_owned(),
                Some(Outcome::Skip) => "ok".to_owned(),
                Some(Outcome::Cancel) => "ok".to_owned(),
                _ => "not ok".to_owned(),
            };
            let directive = match walk.outcome {
                Some(Outcome::Skip) => " # SKIP skipped",
                Some(Outcome::Cancel) => " # SKIP cancelled",
                _ => "",
            };
            let _ = writeln!(
                s,
                "{ok} {} - walk {} testbed {}{directive}",
                n + 1,
                walk.walk_id,
                walk.testbed
            );
        }
        s
    }
}

/// `testbed K: role=machine ...`.
pub fn describe(index: usize, testbed: &TestbedMap) -> String {
    let roles: Vec<String> = testbed.iter().map(|(r, m)| format!("{r}={m}")).collect();
    format!("testbed {index}: {}", roles.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::event::RunMode;

    fn events() -> Vec<RunEvent> {
        let step = |walk_id, index: usize, action: &str, option: &str, outcome| {
            vec![
                RunEvent::StepStarted {
                    walk_id,
                    testbed: 0,
                    index,
                    action: action.into(),
                    option: option.into(),
                    command: Some(format!("echo {option}")),
                },
                RunEvent::StepFinished {
                    walk_id,
                    testbed: 0,
                    index,
                    action: action.into(),
                    outcome,
                    exit_status: Some(if outcome == Outcome::Pass { 0 } else { 1 }),
                    duration_ms: 5,
                    excerpt: if outcome == Outcome::Pass {
                        String::new()
                    } else {
                        "boom".into()
                    },
                    recorded: None,
                },
            ]
        };
        let mut all = vec![RunEvent::Started {
            mode: RunMode::Run,
            recipe: "r".into(),
            strategy: "full".into(),
            testbeds: vec![vec![("dut".into(), "h1".into())]],
            walks: 3,
            epochs: 1,
            run_dir: None,
            at_ms: 0,
        }];
        all.extend(step(0, 0, "a", "1", Outcome::Pass));
        all.push(RunEvent::WalkFinished {
            walk_id: 0,
            testbed: 0,
            outcome: Outcome::Pass,
            duration_ms: 5,
            failed_action: None,
            values: String::new(),
        });
        all.extend(step(1, 0, "a", "2", Outcome::Fail));
        all.push(RunEvent::WalkFinished {
            walk_id: 1,
            testbed: 0,
            outcome: Outcome::Fail,
            duration_ms: 5,
            failed_action: Some("a".into()),
            values: String::new(),
        });
        all.extend(step(2, 0, "a", "3", Outcome::Skip));
        all.push(RunEvent::WalkFinished {
            walk_id: 2,
            testbed: 0,
            outcome: Outcome::Skip,
            duration_ms: 0,
            failed_action: Some("a".into()),
            values: String::new(),
        });
        all.push(RunEvent::Finished {
            passed: 1,
            failed: 1,
            errors: 0,
            cancelled: 0,
            skipped: 1,
            elapsed_ms: 20,
            stopped: None,
        });
        all
    }

    fn results() -> RunResults {
        let mut r = RunResults::default();
        for (t, e) in events().into_iter().enumerate() {
            r.apply(&Event::Run(e), t as u64);
        }
        r
    }

    #[test]
    fn summary_names_the_failing_step() {
        let text = results().summary_text();
        assert!(
            text.contains("FAIL walk 1 on testbed 0 at a=2: echo 2 (boom)"),
            "{text}"
        );
        assert!(
            text.contains("walks: 1 passed, 1 failed, 0 errors, 0 cancelled, 1 skipped"),
            "{text}"
        );
        assert!(text.contains("Overall result of this Run: FAIL"), "{text}");
    }

    #[test]
    fn junit_has_a_suite_per_testbed_and_skips_are_not_failures() {
        let xml = results().junit().expect("xml");
        assert!(
            xml.contains("<testsuite name=\"r [testbed 0: dut=h1]\" tests=\"3\""),
            "{xml}"
        );
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("skipped=\"1\""), "{xml}");
        assert!(xml.contains("walk 1 (a=2)"), "{xml}");
    }

    #[test]
    fn json_round_trips_and_tap_counts() {
        let r = results();
        let json = r.json();
        let text = serde_json::to_string(&json).expect("json");
        let back: serde_json::Value = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, json);
        assert_eq!(json["totals"]["failed"], 1);
        assert_eq!(json["walks"][1]["steps"][0]["exit_status"], 1);
        let tap = r.tap();
        assert!(tap.contains("not ok 2 - walk 1 testbed 0"), "{tap}");
        assert!(
            tap.contains("ok 3 - walk 2 testbed 0 # SKIP skipped"),
            "{tap}"
        );
    }
}
