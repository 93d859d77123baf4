//! The walk executor: runs a prepared recipe's walks over its testbeds, writes the trace,
//! publishes [`RunEvent`]s and undoes every change at the end.
//!
//! Schedule: walks are dealt round-robin to the K testbeds; each testbed runs its setup,
//! then its walks epoch by epoch ([`crate::walk::schedule_epochs`]): a serial action runs
//! once per parameterization of its prefix, after every walk of the testbed finished the
//! previous epoch, then every walk of the group runs its segment (up to `parallel` walks at
//! once when the recipe declares them independent). Without serial actions the walks are
//! streamed from the plan (constant memory whatever the walk count).
//!
//! Invariants:
//! - a stop (Ctrl-C, SIGTERM, `--max-failures`, abort) lets the steps in flight finish,
//!   starts no new walk, ends the walks it interrupted as `cancel`, undoes, and writes the
//!   trace footer; a cancelled or skipped walk never counts as a failure;
//! - every step and walk end is handed to the trace writer before its event is published;
//!   the writer writes each record at once and fsyncs after each batch of walk ends (group
//!   commit), so a walk end is durable before the writer takes more work;
//! - undo runs per testbed, newest first, after its last walk — unless `keep_on_failure`
//!   and the testbed failed, in which case its undo log stays in the run directory for
//!   `labdeck undo RUN_DIR`.

use super::action::{self, StepResult, StepSettings, TestbedChanges, WalkCtx};
use super::event::{RunEvent, RunMode};
use super::prepare::Prepared;
use super::step::StepDecision;
use crate::devices::apply;
use crate::engine::{EngineHandle, JobSpec, JobState};
use crate::walk::trace::{Footer, Header, Step, TraceError, TraceWriter, WalkEnd, unix_millis_now};
use crate::walk::{Outcome, WalkId, schedule_epochs};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Why a run could not be carried out (after it started).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot write the trace: {0}")]
    Trace(#[from] TraceError),
    #[error("cannot create the run directory {path}: {source}")]
    RunDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot record undo steps in {path}: {source}")]
    UndoLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the engine stopped")]
    Engine,
}

/// Stop and pause, shared by the executor and whoever drives it (signals, TUI, REPL).
#[derive(Debug, Clone)]
pub struct RunControl {
    stop: Arc<Mutex<Option<String>>>,
    paused: watch::Sender<bool>,
}

impl Default for RunControl {
    fn default() -> Self {
        RunControl {
            stop: Arc::default(),
            paused: watch::channel(false).0,
        }
    }
}

impl RunControl {
    /// Asks the run to stop (the first reason wins).
    pub fn stop(&self, reason: impl Into<String>) {
        let mut stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if stop.is_none() {
            *stop = Some(reason.into());
        }
        drop(stop);
        self.paused.send_replace(false);
    }

    /// Why the run was asked to stop, if it was.
    pub fn stop_reason(&self) -> Option<String> {
        self.stop.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn pause(&self) {
        if self.stop_reason().is_none() {
            self.paused.send_replace(true);
        }
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    async fn wait_while_paused(&self) {
        let mut rx = self.paused.subscribe();
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub mode: RunMode,
    /// Run these walk ids (in this order) instead of the plan's walks.
    pub walk_ids: Option<Vec<WalkId>>,
    pub run_dir: Option<PathBuf>,
    /// Stop after this many failed (or errored) walks.
    pub max_failures: Option<u64>,
    /// Leave a failed testbed as it is (undo later with `labdeck undo RUN_DIR`).
    pub keep_on_failure: bool,
    /// Walks at once per testbed (only when the recipe declares walks independent).
    pub parallel: usize,
    pub step: StepSettings,
    /// Step mode: every step is shown before it runs and waits for a decision.
    pub gate: Option<StepGate>,
    /// Replays: the outcome the trace recorded per (walk, action position).
    pub recorded: HashMap<(WalkId, usize), Outcome>,
    /// Shrink: run every walk with these option indices instead of its own (`None` drops
    /// the action from the walk).
    pub shape: Option<Vec<Option<usize>>>,
}

impl RunSettings {
    /// The plan's walks, one at a time per testbed, written to `run_dir` (or nowhere), each
    /// step killed after `step_timeout`; no stop after failures, undo at the end, no step
    /// mode, no recorded outcomes, no shrink shape.
    pub fn new(mode: RunMode, run_dir: Option<PathBuf>, step_timeout: Duration) -> RunSettings {
        RunSettings {
            mode,
            walk_ids: None,
            run_dir: run_dir.clone(),
            max_failures: None,
            keep_on_failure: false,
            parallel: 1,
            step: StepSettings {
                timeout: step_timeout,
                run_dir,
            },
            gate: None,
            recorded: HashMap::new(),
            shape: None,
        }
    }
}

/// Step mode's side of [`crate::run::StepControl`]: the decisions and the breakpoints.
#[derive(Debug, Clone)]
pub struct StepGate {
    decisions: Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<StepDecision>>>,
    breakpoints: Arc<Mutex<std::collections::BTreeSet<String>>>,
    /// Run without asking until a breakpoint or a failure.
    continuing: Arc<std::sync::atomic::AtomicBool>,
}

impl StepGate {
    /// A gate reading the decisions of `control`'s receiver, with initial breakpoints.
    pub fn new(
        decisions: tokio::sync::mpsc::UnboundedReceiver<StepDecision>,
        breakpoints: impl IntoIterator<Item = String>,
    ) -> StepGate {
        StepGate {
            decisions: Arc::new(tokio::sync::Mutex::new(decisions)),
            breakpoints: Arc::new(Mutex::new(breakpoints.into_iter().collect())),
            continuing: Arc::default(),
        }
    }
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub footer: Footer,
    pub stopped: Option<String>,
    /// Undo logs left behind (keep-on-failure), per testbed.
    pub kept_undo: Vec<(usize, PathBuf)>,
    pub undo_failures: Vec<String>,
    pub trace: Option<PathBuf>,
}

impl RunSummary {
    /// Walks that failed or errored.
    pub fn failures(&self) -> u64 {
        self.footer.failed + self.footer.errors
    }
}

enum TraceMsg {
    Step(Box<Step>),
    WalkEnd(WalkEnd),
}

/// The trace writer on its own thread (blocking I/O with fsyncs).
struct TraceSink {
    tx: Option<std::sync::mpsc::Sender<TraceMsg>>,
    thread: Option<std::thread::JoinHandle<Result<TraceWriter, TraceError>>>,
}

impl TraceSink {
    fn start(writer: Option<TraceWriter>) -> TraceSink {
        let Some(mut writer) = writer else {
            return TraceSink {
                tx: None,
                thread: None,
            };
        };
        let (tx, rx) = std::sync::mpsc::channel::<TraceMsg>();
        let thread = std::thread::spawn(move || {
            // Group commit: write everything queued, then one fsync for the batch, so a
            // walk end is durable before the writer takes more work.
            let mut first_error = None;
            let write = |writer: &mut TraceWriter, msg: TraceMsg| -> Result<bool, TraceError> {
                match msg {
                    TraceMsg::Step(step) => writer.write_step(&step).map(|()| false),
                    TraceMsg::WalkEnd(end) => writer.write_walk_end_unsynced(&end).map(|()| true),
                }
            };
            while let Ok(msg) = rx.recv() {
                if first_error.is_some() {
                    continue;
                }
                let mut needs_sync = false;
                let mut result = write(&mut writer, msg).map(|ended| needs_sync |= ended);
                while result.is_ok() {
                    match rx.try_recv() {
                        Ok(more) => {
                            result = write(&mut writer, more).map(|ended| needs_sync |= ended)
                        }
                        Err(_) => break,
                    }
                }
                if result.is_ok() && needs_sync {
                    result = writer.sync();
                }
                if let Err(e) = result {
                    first_error = Some(e);
                }
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(writer),
            }
        });
        TraceSink {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    fn send(&self, msg: TraceMsg) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(msg);
        }
    }

    /// Closes the channel and returns the writer (or the first write error).
    async fn close(mut self) -> Result<Option<TraceWriter>, TraceError> {
        self.tx = None;
        let Some(thread) = self.thread.take() else {
            return Ok(None);
        };
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(result)) => result.map(Some),
            _ => Err(TraceError::Io {
                path: PathBuf::from("trace"),
                source: std::io::Error::other("the trace writer thread died"),
            }),
        }
    }
}

/// State shared by the testbed tasks of one run.
struct Shared {
    engine: EngineHandle,
    prepared: Arc<Prepared>,
    settings: RunSettings,
    control: RunControl,
    trace: TraceSink,
    /// Failed or errored walks per testbed.
    testbed_failures: Vec<AtomicU64>,
    /// Testbeds left as a failure left them (`keep_on_failure`): no more walks run there.
    kept: Vec<std::sync::atomic::AtomicBool>,
    segments: AtomicU64,
    counts: Mutex<[u64; 5]>,
}

impl Shared {
    /// Whether testbed `testbed` is kept as a failure left it (no more walks there).
    fn is_kept(&self, testbed: usize) -> bool {
        self.kept
            .get(testbed)
            .is_some_and(|k| k.load(Ordering::SeqCst))
    }

    fn publish(&self, event: RunEvent) {
        let _ = self.engine.publish(event);
    }

    fn record_step(
        &self,
        walk_id: WalkId,
        testbed: usize,
        position: usize,
        value: &str,
        r: &StepResult,
    ) {
        let action = self
            .prepared
            .recipe
            .walk
            .order
            .get(position)
            .cloned()
            .unwrap_or_default();
        self.trace.send(TraceMsg::Step(Box::new(Step {
            walk_id,
            testbed,
            action: action.clone(),
            option: serde_json::Value::String(value.to_owned()),
            command: r.command.clone(),
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            exit_status: r.exit_status,
            outcome: r.outcome,
            output_excerpt: r.excerpt.clone(),
            output_file: r.output_file.clone(),
        })));
        self.publish(RunEvent::StepFinished {
            walk_id,
            testbed,
            index: position,
            action,
            outcome: r.outcome,
            exit_status: r.exit_status,
            duration_ms: r.duration_ms,
            excerpt: r.excerpt.clone(),
            recorded: self.settings.recorded.get(&(walk_id, position)).copied(),
        });
    }

    /// `action=value ...` of a walk (its shape under shrink).
    fn walk_label(&self, walk_id: WalkId) -> String {
        let order = &self.prepared.recipe.walk.order;
        let values: Vec<Option<String>> = match &self.settings.shape {
            Some(shape) => shape
                .iter()
                .zip(&self.prepared.option_sets)
                .map(|(o, set)| o.and_then(|o| set.values.get(o).cloned()))
                .collect(),
            None => self
                .prepared
                .walk_values(walk_id)
                .map(|v| v.into_iter().map(Some).collect())
                .unwrap_or_default(),
        };
        order
            .iter()
            .zip(values)
            .filter_map(|(a, v)| v.map(|v| format!("{a}={v}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn end_walk(
        &self,
        walk_id: WalkId,
        testbed: usize,
        outcome: Outcome,
        duration_ms: u64,
        failed_action: Option<String>,
    ) {
        self.trace.send(TraceMsg::WalkEnd(WalkEnd {
            walk_id,
            testbed,
            outcome,
            duration_ms,
            failed_action: failed_action.clone(),
        }));
        // Walks that failed or errored so far, this one included.
        let failures = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts[outcome.slot()] += 1;
            counts[Outcome::Fail.slot()] + counts[Outcome::Error.slot()]
        };
        self.publish(RunEvent::WalkFinished {
            walk_id,
            testbed,
            outcome,
            duration_ms,
            failed_action,
            values: self.walk_label(walk_id),
        });
        if matches!(outcome, Outcome::Fail | Outcome::Error) {
            tracing::info!(walk_id, testbed, ?outcome, "walk failed");
            if let Some(count) = self.testbed_failures.get(testbed) {
                count.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(max) = self.settings.max_failures
                && failures >= max
            {
                let reason =
                    format!("stopped after {failures} failed walks (--max-failures {max})");
                if self.control.stop_reason().is_none() {
                    self.publish(RunEvent::Stopping {
                        reason: reason.clone(),
                    });
                }
                self.control.stop(reason);
            }
        }
    }
}

/// File names inside a run directory.
pub mod files {
    pub const TRACE: &str = "trace.jsonl";
    pub const OUTPUT_DIR: &str = "output";
    pub const SUMMARY: &str = "summary.txt";
    pub const JSON: &str = "report.json";
    pub const JUNIT: &str = "junit.xml";

    /// The undo log of testbed `k`.
    pub fn undo_log(k: usize) -> String {
        format!("undo-testbed{k}.jsonl")
    }

    /// The undo logs a run directory holds (kept or crashed testbeds), in testbed order.
    pub fn undo_logs(run_dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        let mut logs: Vec<std::path::PathBuf> = std::fs::read_dir(run_dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("undo-testbed") && n.ends_with(".jsonl"))
            })
            .collect();
        logs.sort();
        Ok(logs)
    }
}

/// Runs the walks. Events go out through `engine`; the trace goes to `RUN_DIR/trace.jsonl`.
pub async fn execute(
    engine: &EngineHandle,
    prepared: Arc<Prepared>,
    settings: RunSettings,
    control: RunControl,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let trace_path = settings.run_dir.as_ref().map(|d| d.join(files::TRACE));
    let writer = match &trace_path {
        Some(path) => {
            let mut header = Header::new(
                prepared.recipe.name.clone(),
                prepared.recipe_text.clone(),
                prepared.plan.strategy().to_string(),
            );
            header.params = prepared.params_json();
            header.pool_digest = prepared.pool_digest.clone();
            header.testbeds = prepared.testbed_maps();
            Some(TraceWriter::create(path, &header)?)
        }
        None => None,
    };
    let testbed_count = prepared.testbeds.len().max(1);
    let walks_total = match &settings.walk_ids {
        Some(ids) => ids.len() as u64,
        None => prepared.plan.walk_count(),
    };
    let epochs = crate::walk::epoch_segments(&prepared.plan).len();
    engine
        .publish(RunEvent::Started {
            mode: settings.mode,
            recipe: prepared.recipe.name.clone(),
            strategy: prepared.plan.strategy().to_string(),
            testbeds: (0..prepared.testbeds.len())
                .map(|t| prepared.testbed_pairs(t))
                .collect(),
            walks: walks_total,
            epochs,
            run_dir: settings.run_dir.as_ref().map(|d| d.display().to_string()),
            at_ms: unix_millis_now(),
        })
        .map_err(|_| RunError::Engine)?;
    let shared = Arc::new(Shared {
        engine: engine.clone(),
        prepared: prepared.clone(),
        settings: settings.clone(),
        control: control.clone(),
        trace: TraceSink::start(writer),
        testbed_failures: (0..prepared.testbeds.len())
            .map(|_| AtomicU64::new(0))
            .collect(),
        kept: (0..prepared.testbeds.len())
            .map(|_| Default::default())
            .collect(),
        segments: AtomicU64::new(0),
        counts: Mutex::new([0; 5]),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for testbed in 0..testbed_count.min(prepared.testbeds.len()) {
        let shared = shared.clone();
        tasks.spawn(async move { run_testbed(shared, testbed).await });
    }
    let mut kept_undo = Vec::new();
    let mut undo_failures = Vec::new();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(end)) => {
                kept_undo.extend(end.kept);
                undo_failures.extend(end.undo_failures);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(RunError::UndoLog {
                    path: PathBuf::new(),
                    source: std::io::Error::other(format!("a testbed task failed: {e}")),
                });
            }
        }
    }
    let Ok(shared) = Arc::try_unwrap(shared) else {
        return Err(RunError::Engine);
    };
    let counts = *shared.counts.lock().unwrap_or_else(|e| e.into_inner());
    let segments = shared.segments.load(Ordering::SeqCst);
    let elapsed_ms = elapsed_ms(started);
    let writer = shared.trace.close().await?;
    let footer = match writer {
        Some(writer) => tokio::task::spawn_blocking(move || writer.finish(segments, elapsed_ms))
            .await
            .map_err(|_| RunError::Engine)??,
        None => Footer {
            walk_count: counts.iter().sum(),
            passed: counts[0],
            failed: counts[1],
            errors: counts[2],
            cancelled: counts[3],
            skipped: counts[4],
            segment_count: segments,
            elapsed_ms,
            failed_ids: Vec::new(),
        },
    };
    let stopped = control.stop_reason();
    let _ = engine.publish(RunEvent::Finished {
        passed: footer.passed,
        failed: footer.failed,
        errors: footer.errors,
        cancelled: footer.cancelled,
        skipped: footer.skipped,
        elapsed_ms,
        stopped: stopped.clone(),
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(RunSummary {
        footer,
        stopped,
        kept_undo,
        undo_failures,
        trace: trace_path,
    })
}

struct TestbedEnd {
    kept: Option<(usize, PathBuf)>,
    undo_failures: Vec<String>,
}

/// The walks of testbed `testbed`: every K-th of the run's walks.
fn testbed_walks(shared: &Shared, testbed: usize) -> Box<dyn Iterator<Item = WalkId> + Send + '_> {
    let k = shared.prepared.testbeds.len().max(1);
    match &shared.settings.walk_ids {
        Some(ids) => Box::new(ids.iter().copied().skip(testbed).step_by(k)),
        None => Box::new(shared.prepared.plan.walk_ids().skip(testbed).step_by(k)),
    }
}

async fn run_testbed(shared: Arc<Shared>, testbed: usize) -> Result<TestbedEnd, RunError> {
    let log_file = shared
        .settings
        .run_dir
        .as_ref()
        .map(|d| d.join(files::undo_log(testbed)));
    let changes =
        TestbedChanges::new(&shared.prepared, testbed, log_file.as_deref()).map_err(|source| {
            RunError::UndoLog {
                path: log_file.clone().unwrap_or_default(),
                source,
            }
        })?;
    let changes = Arc::new(tokio::sync::Mutex::new(changes));
    let setup_error = run_setup(&shared, testbed).await;
    let mut testbed_failed = false;
    match setup_error {
        Some(reason) => {
            testbed_failed = true;
            // Every walk of this testbed ends in error: none can run without its setup.
            let ids: Vec<WalkId> = testbed_walks(&shared, testbed).collect();
            for id in ids {
                shared.end_walk(
                    id,
                    testbed,
                    Outcome::Error,
                    0,
                    Some(format!("setup: {reason}")),
                );
            }
        }
        None => run_walks(&shared, testbed, &changes).await,
    }
    testbed_failed |= shared
        .testbed_failures
        .get(testbed)
        .is_some_and(|c| c.load(Ordering::SeqCst) > 0);
    let mut changes = changes.lock().await;
    if shared.settings.keep_on_failure && testbed_failed && !changes.undo.steps().is_empty() {
        return Ok(TestbedEnd {
            kept: log_file.map(|f| (testbed, f)),
            undo_failures: Vec::new(),
        });
    }
    let steps = changes
        .undo
        .drain_newest_first()
        .map_err(|source| RunError::UndoLog {
            path: log_file.clone().unwrap_or_default(),
            source,
        })?;
    let undo_failures = undo_steps(&shared, &steps).await;
    Ok(TestbedEnd {
        kept: None,
        undo_failures,
    })
}

/// Runs the recipe's setup on a testbed; `Some(reason)` when a step failed.
async fn run_setup(shared: &Shared, testbed: usize) -> Option<String> {
    let prepared = &shared.prepared;
    for (role, steps) in &prepared.recipe.setup {
        let Some(machine) = prepared.machine(testbed, role) else {
            continue;
        };
        for template in steps {
            let lookup = |name: &str| -> Option<String> {
                if let Some(param) = name.strip_prefix("params.") {
                    return prepared.params.get(param).map(ToString::to_string);
                }
                let parts: Vec<&str> = name.split('.').collect();
                match parts.as_slice() {
                    [r, i, a] => prepared.iface_attr(testbed, r, i, a),
                    _ => None,
                }
            };
            let command = match crate::recipe::template::render_shell(template, lookup) {
                Ok(c) => c,
                Err(e) => return Some(e),
            };
            let result = run_plain(
                &shared.engine,
                machine,
                &command,
                shared.settings.step.timeout,
            )
            .await;
            let (outcome, message) = match &result {
                Ok(()) => (Outcome::Pass, String::new()),
                Err(why) => (Outcome::Error, why.clone()),
            };
            shared.publish(RunEvent::Setup {
                testbed,
                host: machine.to_owned(),
                command: command.clone(),
                outcome,
                message,
            });
            if let Err(why) = result {
                return Some(format!("`{command}` on {machine}: {why}"));
            }
        }
    }
    None
}

/// Runs a command and waits; `Err` with the reason unless it exited 0.
pub(crate) async fn run_plain(
    engine: &EngineHandle,
    machine: &str,
    command: &str,
    timeout: Duration,
) -> Result<(), String> {
    let job = engine
        .exec(JobSpec {
            host: machine.to_owned(),
            command: command.to_owned(),
            timeout: Some(timeout),
            ..JobSpec::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let snap = engine
        .wait(job, timeout + Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    if snap.state == JobState::Passed {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&snap.stderr_tail);
        Err(format!(
            "{}: {}",
            snap.state.label(),
            stderr.trim().lines().last().unwrap_or("")
        ))
    }
}

/// A walk in progress on a testbed.
struct WalkProgress {
    /// Time spent in the walk's earlier segments (waiting for other walks excluded).
    spent: Duration,
}

impl WalkProgress {
    /// A start instant that makes `elapsed()` count the earlier segments too.
    fn resume(&self) -> Instant {
        Instant::now()
            .checked_sub(self.spent)
            .unwrap_or_else(Instant::now)
    }
}

async fn run_walks(
    shared: &Arc<Shared>,
    testbed: usize,
    changes: &Arc<tokio::sync::Mutex<TestbedChanges>>,
) {
    let plan = &shared.prepared.plan;
    // A replay or shrink runs one walk: its serial actions are plain steps in order.
    let has_serial = plan.dimensions().iter().any(|d| d.serial)
        && !matches!(shared.settings.mode, RunMode::Replay | RunMode::Shrink);
    let order_len = plan.dimensions().len();
    if !has_serial {
        // One epoch: stream the walks.
        shared.publish(RunEvent::EpochStarted {
            epoch: 0,
            of: 1,
            serial: None,
        });
        let ids = testbed_walks(shared, testbed);
        run_segment_walks(shared, testbed, changes, ids, 0..order_len, true, &mut None).await;
        return;
    }
    let ids: Vec<WalkId> = testbed_walks(shared, testbed).collect();
    let epochs = match schedule_epochs(plan, &ids) {
        Ok(e) => e,
        Err(e) => {
            for id in ids {
                shared.end_walk(
                    id,
                    testbed,
                    Outcome::Error,
                    0,
                    Some(format!("schedule: {e}")),
                );
            }
            return;
        }
    };
    let mut alive: Option<HashMap<WalkId, WalkProgress>> = Some(HashMap::new());
    let epoch_count = epochs.len();
    for (number, epoch) in epochs.into_iter().enumerate() {
        let last = number + 1 == epoch_count;
        for group in epoch.groups {
            let live: Vec<WalkId> = if number == 0 {
                group.walk_ids.clone()
            } else {
                let alive = alive.as_ref();
                group
                    .walk_ids
                    .iter()
                    .copied()
                    .filter(|id| alive.is_some_and(|a| a.contains_key(id)))
                    .collect()
            };
            let Some(&first) = live.first() else { continue };
            if shared.control.stop_reason().is_some() || shared.is_kept(testbed) {
                break;
            }
            shared.control.wait_while_paused().await;
            if let Some(serial) = epoch.serial_action {
                let values = match shared.prepared.walk_values(first) {
                    Ok(v) => v.into_iter().map(Some).collect::<Vec<_>>(),
                    Err(_) => continue,
                };
                let serial_name = plan
                    .dimensions()
                    .get(serial)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                let value = values.get(serial).cloned().flatten().unwrap_or_default();
                shared.publish(RunEvent::EpochStarted {
                    epoch: number,
                    of: epoch_count,
                    serial: Some(format!("{serial_name}={value}")),
                });
                let result = run_one_step(shared, testbed, changes, first, &values, serial).await;
                if result.outcome != Outcome::Pass {
                    for id in &live {
                        let duration = alive
                            .as_mut()
                            .and_then(|a| a.remove(id))
                            .map_or(0, |p| p.spent.as_millis() as u64);
                        shared.end_walk(
                            *id,
                            testbed,
                            result.outcome,
                            duration,
                            Some(serial_name.clone()),
                        );
                    }
                    continue;
                }
            }
            let ids = Box::new(live.into_iter());
            run_segment_walks(
                shared,
                testbed,
                changes,
                ids,
                epoch.segment.clone(),
                last,
                &mut alive,
            )
            .await;
        }
        if shared.control.stop_reason().is_some() || shared.is_kept(testbed) {
            break;
        }
    }
    // Walks a stop (or a kept testbed) interrupted between epochs end as cancelled.
    if let Some(alive) = alive {
        for (id, progress) in alive {
            shared.end_walk(
                id,
                testbed,
                Outcome::Cancel,
                progress.spent.as_millis() as u64,
                Some("run stopped".into()),
            );
        }
    }
}

/// Runs one segment (`positions`) of each walk of `ids`; ends walks that fail, or that pass
/// their `last` segment. `alive` tracks walks between epochs (`None`: single epoch).
#[allow(clippy::too_many_arguments)]
async fn run_segment_walks(
    shared: &Arc<Shared>,
    testbed: usize,
    changes: &Arc<tokio::sync::Mutex<TestbedChanges>>,
    ids: Box<dyn Iterator<Item = WalkId> + Send + '_>,
    positions: std::ops::Range<usize>,
    last: bool,
    alive: &mut Option<HashMap<WalkId, WalkProgress>>,
) {
    let parallel = shared.settings.parallel.max(1);
    let mut running = tokio::task::JoinSet::new();
    for id in ids {
        if shared.control.stop_reason().is_some() || shared.is_kept(testbed) {
            break;
        }
        shared.control.wait_while_paused().await;
        if shared.control.stop_reason().is_some() {
            break;
        }
        while running.len() >= parallel {
            if let Some(Ok((id, done))) = running.join_next().await {
                settle(alive, id, done);
            }
        }
        if shared.control.stop_reason().is_some() || shared.is_kept(testbed) {
            // Not started: with epochs it is still alive and ends as cancelled.
            break;
        }
        let started = alive
            .as_mut()
            .and_then(|a| a.remove(&id))
            .map(|p| p.resume())
            .unwrap_or_else(Instant::now);
        if parallel == 1 {
            // One walk at a time: no task per walk.
            let done = run_walk_segment(
                shared,
                testbed,
                changes,
                id,
                positions.clone(),
                last,
                started,
            )
            .await;
            settle(alive, id, done);
            continue;
        }
        let shared = shared.clone();
        let changes = changes.clone();
        let positions = positions.clone();
        running.spawn(async move {
            let done =
                run_walk_segment(&shared, testbed, &changes, id, positions, last, started).await;
            (id, done)
        });
    }
    while let Some(joined) = running.join_next().await {
        if let Ok((id, done)) = joined {
            settle(alive, id, done);
        }
    }
}

fn settle(alive: &mut Option<HashMap<WalkId, WalkProgress>>, id: WalkId, still: Option<Instant>) {
    if let (Some(alive), Some(started)) = (alive.as_mut(), still) {
        alive.insert(
            id,
            WalkProgress {
                spent: started.elapsed(),
            },
        );
    }
}

/// Runs a segment of one walk, then undoes the changes it made (when walks run one at a
/// time on the testbed), so every walk starts from the same state and replays alone
/// reproduce it; serial actions' changes stay until the run ends. Returns `Some(start)`
/// when the walk is still alive (more epochs to go), `None` when it ended.
async fn run_walk_segment(
    shared: &Shared,
    testbed: usize,
    changes: &tokio::sync::Mutex<TestbedChanges>,
    walk_id: WalkId,
    positions: std::ops::Range<usize>,
    last: bool,
    started: Instant,
) -> Option<Instant> {
    let isolated = shared.settings.parallel <= 1;
    let mark = changes.lock().await.undo.steps().len();
    let failures_before = shared
        .testbed_failures
        .get(testbed)
        .map_or(0, |c| c.load(Ordering::SeqCst));
    let alive =
        walk_segment_body(shared, testbed, changes, walk_id, positions, last, started).await;
    let failed = shared
        .testbed_failures
        .get(testbed)
        .is_some_and(|c| c.load(Ordering::SeqCst) > failures_before);
    if failed && shared.settings.keep_on_failure {
        // Leave the testbed as the failure left it; its undo log stays for `labdeck undo`.
        if let Some(k) = shared.kept.get(testbed) {
            k.store(true, Ordering::SeqCst);
        }
        tracing::info!(testbed, walk_id, "testbed kept after a failure");
        return alive;
    }
    if isolated {
        let steps = changes.lock().await.undo.take_since(mark);
        match steps {
            Ok(steps) => {
                // Failures are published as `Undone` events and fail the run's result.
                let _ = undo_steps(shared, &steps).await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot rewrite the undo log"),
        }
    }
    alive
}

/// Runs undo steps (newest first) and publishes each; returns the failures.
async fn undo_steps(shared: &Shared, steps: &[crate::devices::ops::UndoStep]) -> Vec<String> {
    if steps.is_empty() {
        return Vec::new();
    }
    let failed = apply::undo(&shared.engine, steps).await;
    let mut failures = Vec::new();
    for step in steps {
        let error = failed
            .iter()
            .find(|(f, _)| f == step)
            .map(|(_, why)| why.clone());
        if let Some(why) = &error {
            failures.push(format!("{}: {}: {why}", step.host, step.description));
        }
        shared.publish(RunEvent::Undone {
            host: step.host.clone(),
            description: step.description.clone(),
            error,
        });
    }
    failures
}

async fn walk_segment_body(
    shared: &Shared,
    testbed: usize,
    changes: &tokio::sync::Mutex<TestbedChanges>,
    walk_id: WalkId,
    positions: std::ops::Range<usize>,
    last: bool,
    started: Instant,
) -> Option<Instant> {
    let values = match &shared.settings.shape {
        Some(shape) => shape
            .iter()
            .zip(&shared.prepared.option_sets)
            .map(|(o, set)| o.and_then(|o| set.values.get(o).cloned()))
            .collect::<Vec<_>>(),
        None => match shared.prepared.walk_values(walk_id) {
            Ok(v) => v.into_iter().map(Some).collect::<Vec<_>>(),
            Err(e) => {
                shared.end_walk(walk_id, testbed, Outcome::Error, 0, Some(e.to_string()));
                return None;
            }
        },
    };
    shared.segments.fetch_add(1, Ordering::Relaxed);
    if positions.start == 0 {
        let ctx = WalkCtx {
            prepared: &shared.prepared,
            testbed,
            walk_id,
            values: &values,
        };
        if let Some((position, outcome, reason)) = action::skip_check(&ctx) {
            let action = shared.prepared.recipe.walk.order.get(position).cloned();
            tracing::debug!(walk_id, %reason, "walk not run");
            shared.end_walk(walk_id, testbed, outcome, 0, action);
            return None;
        }
    }
    if let Some(gate) = &shared.settings.gate {
        return gated_segment(
            shared, gate, testbed, changes, walk_id, &values, positions, last, started,
        )
        .await;
    }
    for position in positions {
        if values.get(position).is_none_or(Option::is_none) {
            continue; // Dropped by shrink.
        }
        if shared.control.stop_reason().is_some() {
            // A stop lets the step in flight finish; the walk's next step never starts.
            shared.end_walk(
                walk_id,
                testbed,
                Outcome::Cancel,
                elapsed_ms(started),
                shared.prepared.recipe.walk.order.get(position).cloned(),
            );
            return None;
        }
        let result = run_one_step(shared, testbed, changes, walk_id, &values, position).await;
        if result.outcome != Outcome::Pass {
            let action = shared.prepared.recipe.walk.order.get(position).cloned();
            shared.end_walk(
                walk_id,
                testbed,
                result.outcome,
                elapsed_ms(started),
                action,
            );
            return None;
        }
    }
    segment_passed(shared, walk_id, testbed, last, started)
}

/// Step mode: shows each step before it runs and does what the front end decides.
#[allow(clippy::too_many_arguments)]
async fn gated_segment(
    shared: &Shared,
    gate: &StepGate,
    testbed: usize,
    changes: &tokio::sync::Mutex<TestbedChanges>,
    walk_id: WalkId,
    values: &[Option<String>],
    positions: std::ops::Range<usize>,
    last: bool,
    started: Instant,
) -> Option<Instant> {
    let order = &shared.prepared.recipe.walk.order;
    let mut position = positions.start;
    let mut failed: Option<(Outcome, usize)> = None;
    let mut decisions = gate.decisions.lock().await;
    while position < positions.end {
        if values.get(position).is_none_or(Option::is_none) {
            position += 1;
            continue; // Dropped by shrink.
        }
        let action = order.get(position).cloned().unwrap_or_default();
        let at_breakpoint = gate
            .breakpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&action);
        let ask = !gate.continuing.load(Ordering::SeqCst) || at_breakpoint || failed.is_some();
        // Every step is shown before it runs, whether or not the run waits for an answer.
        let ctx = WalkCtx {
            prepared: &shared.prepared,
            testbed,
            walk_id,
            values,
        };
        shared.publish(RunEvent::StepPending {
            walk_id,
            testbed,
            index: position,
            action: action.clone(),
            option: values.get(position).cloned().flatten().unwrap_or_default(),
            command: action::render_command(&ctx, position).ok().flatten(),
            recorded: shared.settings.recorded.get(&(walk_id, position)).copied(),
            breakpoint: at_breakpoint,
            waits: ask,
        });
        let decision = if ask {
            gate.continuing.store(false, Ordering::SeqCst);
            decisions.recv().await.unwrap_or(StepDecision::Abort)
        } else {
            StepDecision::Run
        };
        match decision {
            StepDecision::Breakpoint(name) => {
                let mut points = gate.breakpoints.lock().unwrap_or_else(|e| e.into_inner());
                if !points.remove(&name) {
                    points.insert(name);
                }
                continue;
            }
            StepDecision::Abort => {
                shared.control.stop("aborted in step mode");
                shared.end_walk(
                    walk_id,
                    testbed,
                    Outcome::Cancel,
                    elapsed_ms(started),
                    Some(action),
                );
                return None;
            }
            StepDecision::Skip if failed.is_none() => {
                let skipped = StepResult {
                    outcome: Outcome::Skip,
                    exit_status: None,
                    command: None,
                    excerpt: "skipped in step mode".into(),
                    output_file: None,
                    started_at: unix_millis_now(),
                    duration_ms: 0,
                };
                shared.record_step(
                    walk_id,
                    testbed,
                    position,
                    &values.get(position).cloned().flatten().unwrap_or_default(),
                    &skipped,
                );
                position += 1;
                continue;
            }
            StepDecision::Retry if failed.is_none() && position == positions.start => {
                // Nothing ran yet: ask again.
                continue;
            }
            StepDecision::Retry => {
                // Run the step just run again (the failed one, or the previous one).
                let again = match failed {
                    Some((_, p)) => p,
                    None => position - 1,
                };
                let result = run_one_step(shared, testbed, changes, walk_id, values, again).await;
                failed = (result.outcome != Outcome::Pass).then_some((result.outcome, again));
                if failed.is_none() && again == position {
                    position += 1;
                }
                continue;
            }
            StepDecision::Continue => gate.continuing.store(true, Ordering::SeqCst),
            StepDecision::Run | StepDecision::Skip => {}
        }
        if let Some((outcome, p)) = failed {
            // Run or continue after a failure accepts it: the walk ends.
            shared.end_walk(
                walk_id,
                testbed,
                outcome,
                elapsed_ms(started),
                order.get(p).cloned(),
            );
            return None;
        }
        let result = run_one_step(shared, testbed, changes, walk_id, values, position).await;
        if result.outcome == Outcome::Pass {
            position += 1;
        } else {
            failed = Some((result.outcome, position));
        }
    }
    if let Some((outcome, p)) = failed {
        shared.end_walk(
            walk_id,
            testbed,
            outcome,
            elapsed_ms(started),
            order.get(p).cloned(),
        );
        return None;
    }
    segment_passed(shared, walk_id, testbed, last, started)
}

/// A segment that passed: the walk ends as passed after its `last` segment, else it stays
/// alive for the next epoch.
fn segment_passed(
    shared: &Shared,
    walk_id: WalkId,
    testbed: usize,
    last: bool,
    started: Instant,
) -> Option<Instant> {
    if !last {
        return Some(started);
    }
    shared.end_walk(walk_id, testbed, Outcome::Pass, elapsed_ms(started), None);
    None
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Pre-checks, announces, runs and records one step.
async fn run_one_step(
    shared: &Shared,
    testbed: usize,
    changes: &tokio::sync::Mutex<TestbedChanges>,
    walk_id: WalkId,
    values: &[Option<String>],
    position: usize,
) -> StepResult {
    let ctx = WalkCtx {
        prepared: &shared.prepared,
        testbed,
        walk_id,
        values,
    };
    let value = values.get(position).cloned().flatten().unwrap_or_default();
    let action = shared
        .prepared
        .recipe
        .walk
        .order
        .get(position)
        .cloned()
        .unwrap_or_default();
    let rendered = action::render_command(&ctx, position);
    let command = rendered.clone().ok().flatten();
    shared.publish(RunEvent::StepStarted {
        walk_id,
        testbed,
        index: position,
        action,
        option: value.clone(),
        command: command.clone(),
    });
    let result = match action::pre_check(&ctx, position) {
        Some((outcome, reason)) => StepResult {
            outcome,
            exit_status: None,
            command,
            excerpt: reason,
            output_file: None,
            started_at: unix_millis_now(),
            duration_ms: 0,
        },
        None => {
            action::run_step(
                &shared.engine,
                &ctx,
                position,
                rendered,
                changes,
                &shared.settings.step,
            )
            .await
        }
    };
    shared.record_step(walk_id, testbed, position, &value, &result);
    result
}

/// A run directory path for `recipe` under `base`: `base/<UTC timestamp>-<recipe>`.
pub fn new_run_dir(base: &Path, recipe: &str) -> PathBuf {
    let stamp = utc_stamp(unix_millis_now() / 1000);
    let safe: String = recipe
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut dir = base.join(format!("{stamp}-{safe}"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = base.join(format!("{stamp}-{safe}-{n}"));
    }
    dir
}

/// `YYYYMMDDTHHMMSSZ` for unix seconds (civil-from-days, proleptic Gregorian).
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_795_000_000), "20261118T110640Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    }
}
