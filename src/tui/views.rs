//! The TUI's own pure reducers: jobs with bounded output rings, VPP API client rows, the log
//! ring and device rate histories (hosts, devices and runs reuse the engine's and the run
//! module's reducers).
//!
//! Invariants: every function here reads only its event and the time it is given; memory is
//! bounded: at most [`JOBS_KEPT`] jobs (the oldest are forgotten), [`JOB_OUTPUT_LINES`]
//! lines per job and [`OUTPUT_LINES_TOTAL`] over all jobs (the oldest jobs' output goes
//! first), [`LOG_KEPT`] log lines, [`CLIENTS_KEPT`] client rows, [`SPARK_POINTS`] rate
//! points per device; lines longer than [`LINE_CHARS`] are cut.

use crate::engine::{Ending, Event, JobRef, JobState};
use crate::transport::Stream;
use crate::vpp::event::{VppClientEvent, VppClientEventKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

pub const JOBS_KEPT: usize = 10_000;
pub const JOB_OUTPUT_LINES: usize = 500;
pub const OUTPUT_LINES_TOTAL: usize = 200_000;
pub const LOG_KEPT: usize = 100_000;
pub const CLIENTS_KEPT: usize = 1_000;
pub const SPARK_POINTS: usize = 60;
pub const LINE_CHARS: usize = 1_000;

/// One line of a job's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stderr: bool,
    pub text: String,
}

/// A job as the Jobs pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub job: JobRef,
    pub command: String,
    pub background: bool,
    pub state: JobState,
    /// When the UI saw it start (unix ms), for the runtime of running jobs.
    pub started_ms: u64,
    pub duration: Option<Duration>,
    /// The exit status or how it ended, once finished.
    pub exit: Option<String>,
    pub output: VecDeque<OutputLine>,
    /// Bytes after the last newline, per stream (stdout, stderr).
    partial: [Vec<u8>; 2],
}

impl JobRow {
    /// Runtime at `now_ms`: the engine's duration when finished.
    pub fn runtime(&self, now_ms: u64) -> Duration {
        self.duration
            .unwrap_or_else(|| Duration::from_millis(now_ms.saturating_sub(self.started_ms)))
    }

    /// The partial last line of each stream, if any (shown after the complete lines).
    pub fn partial_lines(&self) -> impl Iterator<Item = OutputLine> + '_ {
        self.partial
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(i, p)| OutputLine {
                stderr: i == 1,
                text: clean(p),
            })
    }
}

/// Jobs in start order with an index by id.
#[derive(Debug, Clone, Default)]
pub struct JobsView {
    rows: VecDeque<JobRow>,
    /// Sequence number of `rows[0]`.
    first_seq: u64,
    index: HashMap<JobRef, u64>,
    output_lines: usize,
    /// The oldest sequence number that may still hold output (eviction cursor).
    trim_seq: u64,
}

impl JobsView {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> &VecDeque<JobRow> {
        &self.rows
    }

    pub fn get(&self, job: &JobRef) -> Option<&JobRow> {
        let seq = *self.index.get(job)?;
        self.rows.get(usize::try_from(seq - self.first_seq).ok()?)
    }

    fn get_mut(&mut self, job: &JobRef) -> Option<&mut JobRow> {
        let seq = *self.index.get(job)?;
        self.rows
            .get_mut(usize::try_from(seq - self.first_seq).ok()?)
    }

    /// Total output lines held.
    pub fn output_lines(&self) -> usize {
        self.output_lines
    }

    /// Applies a job event seen at `now_ms`.
    pub fn apply(&mut self, event: &Event, now_ms: u64) {
        match event {
            Event::JobStarted {
                job,
                command,
                background,
                ..
            } => {
                // The engine's own device discoveries are not the user's jobs.
                if command == crate::devices::DISCOVERY_SCRIPT {
                    return;
                }
                if self.rows.len() == JOBS_KEPT
                    && let Some(old) = self.rows.pop_front()
                {
                    self.index.remove(&old.job);
                    self.output_lines -= old.output.len();
                    self.first_seq += 1;
                    self.trim_seq = self.trim_seq.max(self.first_seq);
                }
                let seq = self.first_seq + self.rows.len() as u64;
                self.index.insert(job.clone(), seq);
                self.rows.push_back(JobRow {
                    job: job.clone(),
                    command: clean(command.as_bytes()),
                    background: *background,
                    state: JobState::Running,
                    started_ms: now_ms,
                    duration: None,
                    exit: None,
                    output: VecDeque::new(),
                    partial: [Vec::new(), Vec::new()],
                });
            }
            Event::JobOutput { job, stream, data } => {
                let added = match self.get_mut(job) {
                    Some(row) => push_output(row, *stream == Stream::Stderr, data),
                    None => 0,
                };
                self.output_lines += added;
                self.trim();
            }
            Event::JobFinished {
                job,
                state,
                ending,
                duration,
                ..
            } => {
                let mut added = 0;
                if let Some(row) = self.get_mut(job) {
                    for i in 0..2 {
                        if !row.partial[i].is_empty() {
                            let text = clean(&std::mem::take(&mut row.partial[i]));
                            added += push_line(row, i == 1, text);
                        }
                    }
                    row.state = *state;
                    row.duration = Some(*duration);
                    row.exit = Some(exit_label(ending));
                }
                self.output_lines += added;
                self.trim();
            }
            _ => {}
        }
    }

    /// Drops the oldest jobs' output until the total fits.
    fn trim(&mut self) {
        while self.output_lines > OUTPUT_LINES_TOTAL {
            let at = usize::try_from(self.trim_seq.saturating_sub(self.first_seq)).unwrap_or(0);
            let Some(row) = self.rows.get_mut(at) else {
                break;
            };
            if row.output.is_empty() {
                self.trim_seq += 1;
                continue;
            }
            while self.output_lines > OUTPUT_LINES_TOTAL && row.output.pop_front().is_some() {
                self.output_lines -= 1;
            }
        }
    }
}

fn push_output(row: &mut JobRow, stderr: bool, data: &[u8]) -> usize {
    let slot = usize::from(stderr);
    let mut added = 0;
    let mut rest = data;
    while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
        let mut bytes = std::mem::take(&mut row.partial[slot]);
        bytes.extend_from_slice(&rest[..pos]);
        added += push_line(row, stderr, clean(&bytes));
        rest = &rest[pos + 1..];
    }
    let partial = &mut row.partial[slot];
    let room = (LINE_CHARS * 4).saturating_sub(partial.len());
    partial.extend_from_slice(&rest[..rest.len().min(room)]);
    added
}

/// Pushes a line; answers how many lines the total grew by (0 when the ring was full).
fn push_line(row: &mut JobRow, stderr: bool, text: String) -> usize {
    let full = row.output.len() == JOB_OUTPUT_LINES;
    if full {
        row.output.pop_front();
    }
    row.output.push_back(OutputLine { stderr, text });
    usize::from(!full)
}

/// Text safe to draw: lossy UTF-8, tabs as spaces, other control characters dropped, cut
/// at [`LINE_CHARS`].
pub fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .take(LINE_CHARS)
        .collect()
}

/// How a job ended, in a few characters.
pub fn exit_label(ending: &Ending) -> String {
    match ending {
        Ending::Exited(outcome) => match (&outcome.code, &outcome.signal) {
            (Some(code), _) => code.to_string(),
            (None, Some(signal)) => format!("SIG{signal}"),
            (None, None) => "?".to_owned(),
        },
        Ending::TransportError { .. } => "transport".to_owned(),
    }
}

/// A VPP API client as the API clients pane shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientRow {
    pub state: &'static str,
    pub reuses: u64,
    pub last_ping: Option<Duration>,
    pub ping_failed: bool,
    pub detail: String,
}

/// Client rows by cache key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientsView {
    pub rows: BTreeMap<String, ClientRow>,
}

impl ClientsView {
    pub fn apply(&mut self, event: &VppClientEvent) {
        if !self.rows.contains_key(&event.key) && self.rows.len() >= CLIENTS_KEPT {
            // Forget a disconnected client first, else refuse the new key.
            let gone = self
                .rows
                .iter()
                .find(|(_, r)| matches!(r.state, "disconnected" | "dead"))
                .map(|(k, _)| k.clone());
            match gone {
                Some(key) => {
                    self.rows.remove(&key);
                }
                None => return,
            }
        }
        let row = self.rows.entry(event.key.clone()).or_default();
        if let Some(reuses) = event.reuses {
            row.reuses = reuses;
        }
        let state = match event.kind {
            VppClientEventKind::Connected | VppClientEventKind::Reused => Some("connected"),
            VppClientEventKind::ConnectFailed => Some("connect failed"),
            VppClientEventKind::Disconnected => Some("disconnected"),
            VppClientEventKind::Dead => Some("dead"),
            VppClientEventKind::Reconnecting => Some("reconnecting"),
            VppClientEventKind::RestartStarted => Some("restarting"),
            VppClientEventKind::RestartWaiting => Some("waiting for VPP"),
            VppClientEventKind::RestartReady => Some("VPP ready"),
            VppClientEventKind::Ping | VppClientEventKind::Event => None,
        };
        if let Some(state) = state {
            row.state = state;
        }
        if event.kind == VppClientEventKind::Ping {
            row.ping_failed = event.latency.is_none();
            if event.latency.is_some() {
                row.last_ping = event.latency;
            }
        }
        row.detail = clean(event.detail.as_bytes());
    }
}

/// A line of the Log pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`, or `»` for command answers.
    pub level: &'static str,
    pub text: String,
}

/// The bounded log ring.
#[derive(Debug, Clone, Default)]
pub struct LogRing {
    pub lines: VecDeque<LogEntry>,
    /// Lines dropped (ring overflow and inbox overflow).
    pub dropped: u64,
}

impl LogRing {
    pub fn push(&mut self, level: &'static str, text: &str) {
        if self.lines.len() == LOG_KEPT {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(LogEntry {
            level,
            text: clean(text.as_bytes()),
        });
    }
}

/// Recent rx/tx rates of one device, for its sparklines (bits per second).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateHistory {
    pub rx: VecDeque<f64>,
    pub tx: VecDeque<f64>,
}

/// Records the rates the devices reducer just computed for `host`.
pub fn record_rates(
    histories: &mut HashMap<(String, String), RateHistory>,
    host: &str,
    view: &crate::engine::DevicesView,
) {
    for (device, rates) in &view.rates {
        let history = histories
            .entry((host.to_owned(), device.clone()))
            .or_default();
        for (ring, value) in [
            (&mut history.rx, rates.rx_bits_per_sec),
            (&mut history.tx, rates.tx_bits_per_sec),
        ] {
            if ring.len() == SPARK_POINTS {
                ring.pop_front();
            }
            ring.push_back(value.max(0.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ExitOutcome;
    use std::sync::Arc;

    fn job(id: u64) -> JobRef {
        JobRef {
            host: "h".into(),
            id,
        }
    }

    fn started(id: u64) -> Event {
        Event::JobStarted {
            job: job(id),
            command: format!("cmd {id}"),
            background: false,
            files: None,
        }
    }

    fn output(id: u64, text: &str) -> Event {
        Event::JobOutput {
            job: job(id),
            stream: Stream::Stdout,
            data: Arc::from(text.as_bytes()),
        }
    }

    #[test]
    fn output_is_split_into_lines_across_chunks() {
        let mut jobs = JobsView::default();
        jobs.apply(&started(1), 10);
        jobs.apply(&output(1, "hel"), 11);
        jobs.apply(&output(1, "lo\nwor"), 12);
        jobs.apply(
            &Event::JobFinished {
                job: job(1),
                state: JobState::Failed,
                ending: Ending::Exited(ExitOutcome {
                    code: Some(3),
                    signal: None,
                }),
                duration: Duration::from_millis(5),
                json: None,
            },
            20,
        );
        let row = jobs.get(&job(1)).expect("row");
        let texts: Vec<&str> = row.output.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["hello", "wor"]);
        assert_eq!(row.exit.as_deref(), Some("3"));
        assert_eq!(row.state, JobState::Failed);
        assert_eq!(jobs.output_lines(), 2);
    }

    #[test]
    fn jobs_and_output_are_bounded() {
        let mut jobs = JobsView::default();
        for id in 0..(JOBS_KEPT as u64 + 10) {
            jobs.apply(&started(id), 0);
        }
        assert_eq!(jobs.len(), JOBS_KEPT);
        assert!(jobs.get(&job(0)).is_none());
        assert!(jobs.get(&job(10)).is_some());
        let many = "x\n".repeat(JOB_OUTPUT_LINES + 7);
        jobs.apply(&output(10, &many), 0);
        assert_eq!(
            jobs.get(&job(10)).map(|r| r.output.len()),
            Some(JOB_OUTPUT_LINES)
        );
        let per_job = "y\n".repeat(JOB_OUTPUT_LINES);
        for id in 11..(11 + (OUTPUT_LINES_TOTAL / JOB_OUTPUT_LINES) as u64 + 3) {
            jobs.apply(&output(id, &per_job), 0);
        }
        assert!(jobs.output_lines() <= OUTPUT_LINES_TOTAL);
        assert_eq!(
            jobs.get(&job(10)).map(|r| r.output.len()),
            Some(0),
            "oldest trimmed first"
        );
    }

    #[test]
    fn client_rows_follow_events() {
        let mut clients = ClientsView::default();
        let event = |kind, reuses, latency| VppClientEvent {
            key: "h1:22:/run/vpp/api.sock".into(),
            kind,
            detail: String::new(),
            reuses,
            latency,
        };
        clients.apply(&event(VppClientEventKind::Connected, Some(0), None));
        clients.apply(&event(VppClientEventKind::Reused, Some(2), None));
        clients.apply(&event(
            VppClientEventKind::Ping,
            None,
            Some(Duration::from_micros(350)),
        ));
        let row = &clients.rows["h1:22:/run/vpp/api.sock"];
        assert_eq!((row.state, row.reuses), ("connected", 2));
        assert_eq!(row.last_ping, Some(Duration::from_micros(350)));
        clients.apply(&event(VppClientEventKind::Disconnected, None, None));
        assert_eq!(
            clients.rows["h1:22:/run/vpp/api.sock"].state,
            "disconnected"
        );
    }

    #[test]
    fn the_log_ring_is_bounded_and_clean() {
        let mut log = LogRing::default();
        for i in 0..LOG_KEPT + 3 {
            log.push("INFO", &format!("line\t{i}\x1b"));
        }
        assert_eq!(log.lines.len(), LOG_KEPT);
        assert_eq!(log.dropped, 3);
        assert_eq!(log.lines[0].text, "line 3");
    }
}
