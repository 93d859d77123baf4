//! Results of a run: the LNST-style text summary, a JSON report and JUnit XML, all built by
//! one pure reducer over engine events, so a live run and a replayed recording report the
//! same.
//!
//! Invariants: [`RunReport::apply`] only reads the event and the time it is given; the
//! summary folds a job's start and finish into one line exactly when nothing else was
//! reported between them (LNST's rule); a job counts as passed only in state `Passed`, and
//! the overall result is PASS only when every finished job passed and none is still open.

use crate::engine::{Ending, Event, JobRef, JobState};
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// Everything the reports say about one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEntry {
    pub host: String,
    pub id: u64,
    pub command: String,
    pub background: bool,
    pub started_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub state: Option<JobState>,
    pub exit_code: Option<u32>,
    pub signal: Option<String>,
    pub error: Option<String>,
    pub stdout_file: Option<String>,
    pub stderr_file: Option<String>,
}

impl JobEntry {
    fn label(&self) -> String {
        format!("{}#{}", self.host, self.id)
    }

    fn verdict(&self) -> &'static str {
        match self.state {
            Some(JobState::Passed) => "PASS",
            Some(_) => "FAIL",
            None => "RUNNING",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    Start(usize),
    Finish(usize),
}

/// A run's results, built from events.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub name: String,
    /// How the pool was matched (the testbed), one line per role.
    pub testbed: Vec<String>,
    pub jobs: Vec<JobEntry>,
    timeline: Vec<Mark>,
}

impl RunReport {
    pub fn new(name: impl Into<String>, testbed: Vec<String>) -> RunReport {
        RunReport {
            name: name.into(),
            testbed,
            ..RunReport::default()
        }
    }

    fn index(&self, job: &JobRef) -> Option<usize> {
        self.jobs
            .iter()
            .position(|j| j.host == job.host && j.id == job.id)
    }

    /// Applies one event observed at `now_ms` (unix milliseconds).
    pub fn apply(&mut self, event: &Event, now_ms: u64) {
        match event {
            Event::JobStarted {
                job,
                command,
                background,
                files,
            } => {
                self.jobs.push(JobEntry {
                    host: job.host.clone(),
                    id: job.id,
                    command: command.clone(),
                    background: *background,
                    started_at_ms: now_ms,
                    finished_at_ms: None,
                    duration_ms: None,
                    state: None,
                    exit_code: None,
                    signal: None,
                    error: None,
                    stdout_file: files.as_ref().map(|f| f.stdout.display().to_string()),
                    stderr_file: files.as_ref().map(|f| f.stderr.display().to_string()),
                });
                self.timeline.push(Mark::Start(self.jobs.len() - 1));
            }
            Event::JobFinished {
                job,
                state,
                ending,
                duration,
                json,
            } => {
                let Some(i) = self.index(job) else { return };
                let entry = &mut self.jobs[i];
                entry.finished_at_ms = Some(now_ms);
                entry.duration_ms = Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
                entry.state = Some(*state);
                match ending {
                    Ending::Exited(o) => {
                        entry.exit_code = o.code;
                        entry.signal = o.signal.clone();
                    }
                    Ending::TransportError { error, .. } => entry.error = Some(error.clone()),
                }
                if let Some(Err(why)) = json {
                    entry.error = Some(why.clone());
                }
                if *state == JobState::TimedOut {
                    entry.error = Some(format!(
                        "timed out after {:.1} s",
                        Duration::from_millis(entry.duration_ms.unwrap_or(0)).as_secs_f64()
                    ));
                }
                self.timeline.push(Mark::Finish(i));
            }
            _ => {}
        }
    }

    pub fn passed(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.state == Some(JobState::Passed))
            .count()
    }

    pub fn failed(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.state.is_some_and(|s| s != JobState::Passed))
            .count()
    }

    pub fn overall_pass(&self) -> bool {
        self.jobs.iter().all(|j| j.state == Some(JobState::Passed))
    }

    /// LNST's text summary.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "RUN SUMMARY: {}", self.name);
        for line in &self.testbed {
            let _ = writeln!(s, "  {line}");
        }
        let mut i = 0;
        while i < self.timeline.len() {
            match self.timeline[i] {
                Mark::Start(j) if self.timeline.get(i + 1) == Some(&Mark::Finish(j)) => {
                    let _ = writeln!(s, "{}", self.finish_line(j));
                    i += 2;
                    continue;
                }
                Mark::Start(j) => {
                    let e = &self.jobs[j];
                    let kind = if e.background { "background " } else { "" };
                    let _ = writeln!(s, "START {}\t{kind}{}", e.label(), e.command);
                }
                Mark::Finish(j) => {
                    let _ = writeln!(s, "{}", self.finish_line(j));
                }
            }
            i += 1;
        }
        let _ = writeln!(
            s,
            "Overall result of this Run: {}",
            if self.overall_pass() { "PASS" } else { "FAIL" }
        );
        let _ = writeln!(s, "{} passed, {} failed", self.passed(), self.failed());
        s
    }

    fn finish_line(&self, j: usize) -> String {
        let e = &self.jobs[j];
        let detail = match (e.state, e.exit_code, &e.signal, &e.error) {
            (_, _, _, Some(err)) => format!(" ({err})"),
            (Some(JobState::Passed) | None, ..) => String::new(),
            (Some(state), Some(code), _, _) => format!(" ({}, exit {code})", state.label()),
            (Some(state), None, Some(sig), _) => format!(" ({}, signal {sig})", state.label()),
            (Some(state), None, None, _) => format!(" ({})", state.label()),
        };
        format!("{} {}\t{}{detail}", e.verdict(), e.label(), e.command)
    }

    /// The JSON report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "version": 1,
            "name": self.name,
            "testbed": self.testbed,
            "passed": self.passed(),
            "failed": self.failed(),
            "result": if self.overall_pass() { "pass" } else { "fail" },
            "jobs": self.jobs,
        })
    }

    /// JUnit XML: one test suite for the run, one test case per job.
    pub fn junit(&self) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new(self.name.clone());
        for e in &self.jobs {
            let status = match e.state {
                Some(JobState::Passed) => TestCaseStatus::success(),
                Some(JobState::Error) | None => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(e.error.clone().unwrap_or_else(|| "did not finish".into()));
                    s
                }
                Some(state) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(e.error.clone().unwrap_or_else(|| match e.exit_code {
                        Some(c) => format!("{}, exit {c}", state.label()),
                        None => state.label().to_owned(),
                    }));
                    s
                }
            };
            let mut case = TestCase::new(format!("{} {}", e.label(), e.command), status);
            case.set_classname(e.host.clone());
            if let Some(ms) = e.duration_ms {
                case.set_time(Duration::from_millis(ms));
            }
            suite.add_test_case(case);
        }
        let mut report = Report::new("labdeck");
        report.add_test_suite(suite);
        report.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ExitOutcome;

    fn job(id: u64) -> JobRef {
        JobRef {
            host: "h1".into(),
            id,
        }
    }

    fn started(id: u64, cmd: &str, background: bool) -> Event {
        Event::JobStarted {
            job: job(id),
            command: cmd.into(),
            background,
            files: None,
        }
    }

    fn finished(id: u64, state: JobState, code: Option<u32>) -> Event {
        Event::JobFinished {
            job: job(id),
            state,
            ending: Ending::Exited(ExitOutcome { code, signal: None }),
            duration: Duration::from_millis(1500),
            json: None,
        }
    }

    fn report() -> RunReport {
        let mut r = RunReport::new("ping-test", vec!["dut -> h1".into()]);
        for (t, e) in [
            started(1, "ip link set eth1 up", false),
            finished(1, JobState::Passed, Some(0)),
            started(2, "iperf3 -s", true),
            started(3, "ping -c1 198.18.1.2", false),
            finished(3, JobState::Failed, Some(1)),
            finished(2, JobState::Killed, None),
        ]
        .iter()
        .enumerate()
        {
            r.apply(e, 1000 + t as u64);
        }
        r
    }

    #[test]
    fn summary_folds_adjacent_start_and_finish_only() {
        let text = report().summary_text();
        assert_eq!(
            text,
            "RUN SUMMARY: ping-test\n  dut -> h1\n\
             PASS h1#1\tip link set eth1 up\n\
             START h1#2\tbackground iperf3 -s\n\
             FAIL h1#3\tping -c1 198.18.1.2 (failed, exit 1)\n\
             FAIL h1#2\tiperf3 -s (killed)\n\
             Overall result of this Run: FAIL\n\
             1 passed, 2 failed\n"
        );
    }

    #[test]
    fn json_report_has_timestamps_commands_and_exit_codes() {
        let v = report().json();
        assert_eq!(v["passed"], 1);
        assert_eq!(v["failed"], 2);
        assert_eq!(v["result"], "fail");
        assert_eq!(v["jobs"][2]["command"], "ping -c1 198.18.1.2");
        assert_eq!(v["jobs"][2]["exit_code"], 1);
        assert_eq!(v["jobs"][2]["duration_ms"], 1500);
        assert_eq!(v["jobs"][0]["started_at_ms"], 1000);
        assert_eq!(v["jobs"][1]["state"], "killed");
    }

    #[test]
    fn junit_has_one_case_per_job_with_failures() {
        let xml = report().junit().expect("xml");
        assert!(
            xml.contains("<testsuite name=\"ping-test\" tests=\"3\""),
            "{xml}"
        );
        assert!(xml.contains("failures=\"2\""), "{xml}");
        assert!(
            xml.contains("<testcase name=\"h1#3 ping -c1 198.18.1.2\" classname=\"h1\""),
            "{xml}"
        );
        assert!(xml.contains("message=\"failed, exit 1\""), "{xml}");
    }
}
