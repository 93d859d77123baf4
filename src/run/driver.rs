//! The session's run driver: what the REPL's and the TUI's command line (`run`, `walks`,
//! `replay`, step decisions, `rerun`, `undo`) do, over the session's engine.
//!
//! Invariants: one run, replay or rerun at a time per session; long operations return as
//! soon as they started (their progress reaches every front end as `Event::Run`); a replay
//! in step mode holds the [`StepControl`] that `decide` feeds; nothing here prints — every
//! answer is lines for the front end.

use super::exec::{self, RunControl, RunSettings, StepGate, files};
use super::prepare::{Prepared, TestbedChoice};
use super::recorded::load_recorded;
use super::{RunMode, RunView, StepControl, StepDecision};
use crate::console::{DriverFuture, RunDriver};
use crate::engine::{EngineHandle, Event};
use crate::pool::Pool;
use crate::walk::trace::unix_millis_now;
use crate::walk::{Strategy, WalkId};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct DriverState {
    busy: Option<String>,
    control: Option<RunControl>,
    step: Option<StepControl>,
    last_trace: Option<PathBuf>,
    last_dir: Option<PathBuf>,
    view: RunView,
}

/// The run driver of one session (pool, recipe, run directory base).
#[derive(Debug)]
pub struct SessionDriver {
    engine: EngineHandle,
    pool: Pool,
    pool_text: String,
    recipe: Option<PathBuf>,
    overrides: Vec<(String, String)>,
    runs_dir: PathBuf,
    state: Arc<Mutex<DriverState>>,
}

impl SessionDriver {
    /// A driver over `engine`; it follows the engine's run events for `walks`.
    pub fn new(
        engine: EngineHandle,
        pool: Pool,
        recipe: Option<PathBuf>,
        overrides: Vec<(String, String)>,
        runs_dir: PathBuf,
    ) -> SessionDriver {
        let pool_text = std::fs::read_to_string(&pool.path).unwrap_or_default();
        let state = Arc::new(Mutex::new(DriverState::default()));
        if let Ok(mut events) = engine.subscribe() {
            let state = state.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if let Event::Run(run) = event {
                        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                        s.view.apply(&run, unix_millis_now());
                    }
                }
            });
        }
        SessionDriver {
            engine,
            pool,
            pool_text,
            recipe,
            overrides,
            runs_dir,
            state,
        }
    }

    /// Stops the run, replay or rerun in progress (if any) and waits until it has undone
    /// its changes and written its trace footer: front ends call this before they quit.
    pub async fn stop_and_wait(&self, reason: &str) {
        {
            let s = self.lock();
            if let Some(control) = &s.control {
                control.stop(reason);
            }
            if let Some(step) = &s.step {
                step.decide(StepDecision::Abort);
            }
        }
        while self.lock().busy.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DriverState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `settings` on `prepared` in the background.
    fn start(
        &self,
        what: String,
        prepared: Prepared,
        settings: RunSettings,
        run_dir: PathBuf,
    ) -> Result<Vec<String>, String> {
        let control = RunControl::default();
        {
            let mut s = self.lock();
            if let Some(busy) = &s.busy {
                return Err(format!("{busy} is still going; wait for it or `abort` it"));
            }
            s.busy = Some(what.clone());
            s.control = Some(control.clone());
        }
        std::fs::create_dir_all(run_dir.join(files::OUTPUT_DIR)).map_err(|e| e.to_string())?;
        let walks = settings
            .walk_ids
            .as_ref()
            .map_or(prepared.plan.walk_count(), |w| w.len() as u64);
        let testbeds = prepared.testbeds.len();
        let engine = self.engine.clone();
        let state = self.state.clone();
        let trace = run_dir.join(files::TRACE);
        let dir = run_dir.clone();
        tokio::spawn(async move {
            let result = exec::execute(&engine, Arc::new(prepared), settings, control).await;
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.busy = None;
            s.control = None;
            s.step = None;
            if result.is_ok() {
                s.last_trace = Some(trace);
                s.last_dir = Some(dir);
            }
            if let Err(e) = result {
                tracing::warn!(error = %e, "run failed");
            }
        });
        Ok(vec![format!(
            "{what} started: {walks} walk(s) on {testbeds} testbed(s), directory {}",
            run_dir.display()
        )])
    }

    fn settings(
        mode: RunMode,
        run_dir: &Path,
        walk_ids: Option<Vec<WalkId>>,
        parallel: usize,
    ) -> RunSettings {
        RunSettings {
            walk_ids,
            parallel,
            ..RunSettings::new(mode, Some(run_dir.to_owned()), Duration::from_secs(600))
        }
    }

    fn last_trace(&self) -> Result<PathBuf, String> {
        self.lock()
            .last_trace
            .clone()
            .ok_or_else(|| "no finished run in this session yet: `run` first".to_owned())
    }

    fn start_run(&self, args: Vec<String>) -> Result<Vec<String>, String> {
        let recipe = self
            .recipe
            .clone()
            .ok_or("this session has no recipe (start it with --recipe)")?;
        let mut overrides = self.overrides.clone();
        let mut strategy = None;
        let mut choice = TestbedChoice::default();
        let mut max_failures = None;
        let mut words = args.into_iter();
        while let Some(word) = words.next() {
            let mut value = |name: &str| words.next().ok_or(format!("{name} needs a value"));
            match word.as_str() {
                "--strategy" => {
                    strategy = Some(
                        value("--strategy")?
                            .parse::<Strategy>()
                            .map_err(|e| e.to_string())?,
                    )
                }
                "--testbeds" => {
                    choice.count = Some(
                        value("--testbeds")?
                            .parse()
                            .map_err(|_| "--testbeds needs a number")?,
                    )
                }
                "--max-failures" => {
                    max_failures = Some(
                        value("--max-failures")?
                            .parse::<u64>()
                            .map_err(|_| "--max-failures needs a number")?,
                    )
                }
                "-p" | "--param" => {
                    let p = value("-p")?;
                    overrides.push(
                        crate::recipe::params::parse_override(&p).map_err(|e| e.to_string())?,
                    );
                }
                other => {
                    return Err(format!(
                        "run: unknown argument `{other}` (--strategy S, --testbeds K, --max-failures N, -p NAME=VALUE)"
                    ));
                }
            }
        }
        let text =
            std::fs::read_to_string(&recipe).map_err(|e| format!("{}: {e}", recipe.display()))?;
        let prepared = Prepared::new(
            &recipe,
            text,
            &overrides,
            strategy,
            self.pool.clone(),
            &self.pool_text,
            &choice,
        )
        .map_err(|e| e.to_string())?;
        let run_dir = exec::new_run_dir(&self.runs_dir, &prepared.recipe.name);
        let parallel = prepared.recipe.walk.parallel;
        let mut settings = Self::settings(RunMode::Run, &run_dir, None, parallel);
        settings.max_failures = max_failures;
        self.start("run".into(), prepared, settings, run_dir)
    }

    fn start_replay(&self, walk: WalkId, step: bool, rerun: bool) -> Result<Vec<String>, String> {
        let trace = self.last_trace()?;
        let recorded = load_recorded(&trace, walk)?;
        let choice = TestbedChoice {
            count: None,
            exact: recorded
                .header
                .testbeds
                .get(recorded.testbed)
                .cloned()
                .map(|m| vec![m]),
        };
        let prepared = Prepared::from_trace_header(
            &trace,
            &recorded.header,
            self.pool.clone(),
            &self.pool_text,
            &choice,
        )
        .map_err(|e| e.to_string())?;
        let base =
            trace
                .parent()
                .unwrap_or(Path::new("."))
                .join(if rerun { "reruns" } else { "replays" });
        let run_dir = base.join(format!(
            "{}-walk{walk}",
            exec::utc_stamp(unix_millis_now() / 1000)
        ));
        let mode = if rerun {
            RunMode::Rerun
        } else {
            RunMode::Replay
        };
        let mut settings = Self::settings(mode, &run_dir, Some(vec![walk]), 1);
        for (position, action) in prepared.recipe.walk.order.iter().enumerate() {
            if let Some(outcome) = recorded.steps.get(action) {
                settings.recorded.insert((walk, position), *outcome);
            }
        }
        if step {
            let (control, rx) = StepControl::new();
            settings.gate = Some(StepGate::new(rx, Vec::new()));
            self.lock().step = Some(control);
        }
        let what = if rerun {
            format!("rerun of walk {walk}")
        } else {
            format!("replay of walk {walk}")
        };
        self.start(what, prepared, settings, run_dir)
    }
}

impl RunDriver for SessionDriver {
    fn run(&self, args: Vec<String>) -> DriverFuture<'_> {
        Box::pin(async move { self.start_run(args) })
    }

    fn walks(&self) -> DriverFuture<'_> {
        Box::pin(async move {
            let s = self.lock();
            let v = &s.view;
            let mut lines = vec![format!(
                "{} {:?}: {}/{} walks — {} passed, {} failed, {} errors, {} cancelled, {} skipped",
                if v.recipe.is_empty() {
                    "no run yet"
                } else {
                    &v.recipe
                },
                v.phase,
                v.done(),
                v.total,
                v.passed,
                v.failed,
                v.errors,
                v.cancelled,
                v.skipped
            )];
            for f in &v.failed_walks {
                lines.push(format!(
                    "  {:?} walk {} on testbed {} at {}",
                    f.outcome,
                    f.walk_id,
                    f.testbed,
                    f.action.as_deref().unwrap_or("?")
                ));
            }
            if let Some(p) = &v.pending {
                lines.push(format!(
                    "  pending step: {}={} {}",
                    p.action,
                    p.option,
                    p.command.as_deref().unwrap_or("")
                ));
            }
            Ok(lines)
        })
    }

    fn replay(&self, walk: WalkId, step: bool) -> DriverFuture<'_> {
        Box::pin(async move { self.start_replay(walk, step, false) })
    }

    fn decide(&self, decision: StepDecision) -> Result<Vec<String>, String> {
        let s = self.lock();
        if decision == StepDecision::Abort
            && s.step.is_none()
            && let Some(control) = &s.control
        {
            control.stop("aborted from the console");
            return Ok(vec![
                "stopping: the steps in flight finish, then undo".into(),
            ]);
        }
        match &s.step {
            Some(control) if control.decide(decision.clone()) => Ok(vec![format!("{decision:?}")]),
            _ => Err("no replay is waiting for a step decision (`replay ID --step`)".into()),
        }
    }

    fn shrink(&self, walk: WalkId) -> DriverFuture<'_> {
        Box::pin(async move {
            let trace = self.last_trace()?;
            Err(format!(
                "shrink runs as its own command: labdeck shrink --pool {} {} --walk {walk}",
                self.pool.path.display(),
                trace.display()
            ))
        })
    }

    fn rerun(&self, walk: WalkId) -> DriverFuture<'_> {
        Box::pin(async move { self.start_replay(walk, false, true) })
    }

    fn vpp(&self, args: Vec<String>) -> DriverFuture<'_> {
        Box::pin(async move { super::vpp_step::console(&self.engine, args).await })
    }

    fn undo(&self) -> DriverFuture<'_> {
        Box::pin(async move {
            let dir = self
                .lock()
                .last_dir
                .clone()
                .ok_or("no run in this session yet")?;
            let logs = files::undo_logs(&dir).map_err(|e| e.to_string())?;
            let mut steps = Vec::new();
            for log in &logs {
                steps.extend(crate::devices::ops::UndoLog::read(log).map_err(|e| e.to_string())?);
            }
            if steps.is_empty() {
                return Ok(vec![
                    "nothing to undo: the last run restored everything".into(),
                ]);
            }
            steps.reverse();
            let failed = crate::devices::apply::undo(&self.engine, &steps).await;
            let mut lines: Vec<String> = failed
                .iter()
                .map(|(s, e)| format!("undo of `{}` on {} failed: {e}", s.description, s.host))
                .collect();
            if failed.is_empty() {
                for log in &logs {
                    let _ = std::fs::remove_file(log);
                }
            }
            lines.push(format!(
                "{} of {} changes undone",
                steps.len() - failed.len(),
                steps.len()
            ));
            Ok(lines)
        })
    }
}
