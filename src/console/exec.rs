//! [`Console`]: executes console commands against the engine and returns plain output
//! lines; turns engine events into notification lines for front ends to show
//! asynchronously (above the REPL's prompt, in the TUI's log).
//!
//! Commands whose engine side lives in the walk executor (`run`, `walks`, `replay`, step
//! control, `shrink`, `rerun`, `vpp`, `undo` without a log) go through a [`RunDriver`] that
//! the integrator attaches; without one they answer with a "not available" line.
//!
//! Invariants: the console holds no host or job state of its own beyond what events tell
//! it (host views, output tails of background jobs, completion data); no lock is held
//! across an `.await`; a foreground `exec` can be interrupted ([`Console::interrupt`]),
//! which kills its process group; every failure becomes output lines, never a panic.

use super::command::{
    self, ConsoleCommand, DisconnectSpec, ExecCommand, ExecRequest, MatchRequest, PlanRequest,
    RecipeOptions,
};
use super::complete::CompletionData;
use crate::engine::{
    Command, DisconnectTarget, Ending, EngineHandle, Event, HostView, JobRef, JobSnapshot, JobSpec,
    JobState, apply_host_event,
};
use crate::pool::Pool;
use crate::recipe::{Recipe, params};
use crate::run::{RunEvent, StepDecision};
use crate::walk::{Outcome, WalkId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What a driver call answers: output lines, or an error message.
pub type DriverFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<String>, String>> + Send + 'a>>;

/// The walk executor's side of the console, implemented by the integrator.
///
/// Long operations (`run`, `replay`, `shrink`, `rerun`) return once they have started;
/// their progress reaches every front end as [`Event::Run`] through the engine.
pub trait RunDriver: Send + Sync {
    /// Starts a run of the session's recipe; `args` are the words after `run`.
    fn run(&self, args: Vec<String>) -> DriverFuture<'_>;
    /// The walks of the current or last run and their outcomes.
    fn walks(&self) -> DriverFuture<'_>;
    /// Replays one walk (`step`: one step at a time, driven by [`RunDriver::decide`]).
    fn replay(&self, walk: WalkId, step: bool) -> DriverFuture<'_>;
    /// A decision for the pending step of a step-mode replay.
    fn decide(&self, decision: StepDecision) -> Result<Vec<String>, String>;
    fn shrink(&self, walk: WalkId) -> DriverFuture<'_>;
    fn rerun(&self, walk: WalkId) -> DriverFuture<'_>;
    /// `vpp …`: the words after `vpp`.
    fn vpp(&self, args: Vec<String>) -> DriverFuture<'_>;
    /// Undoes the last run's changes.
    fn undo(&self) -> DriverFuture<'_>;
    /// VPP message names, for completion.
    fn vpp_messages(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub lines: Vec<String>,
    /// The user asked to leave.
    pub quit: bool,
}

impl Output {
    fn lines(lines: Vec<String>) -> Output {
        Output { lines, quit: false }
    }

    fn line(line: impl Into<String>) -> Output {
        Output::lines(vec![line.into()])
    }
}

/// A recipe with its parsed `-p` overrides.
type LoadedRecipe = (Recipe, Vec<(String, String)>);

/// How long a foreground `exec` may run (it can always be interrupted).
const FOREGROUND_LIMIT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Output kept per background job for its end notification.
const BACKGROUND_TAIL_BYTES: usize = 4096;
/// Lines of a background job's output shown when it ends.
const BACKGROUND_TAIL_LINES: usize = 5;

#[derive(Debug, Default)]
struct Session {
    hosts: HashMap<String, HostView>,
    /// Running background jobs: their command and output tail.
    background: HashMap<JobRef, (String, Vec<u8>)>,
    foreground: Foreground,
}

/// The foreground `exec`, for interrupts.
#[derive(Debug, Default, PartialEq)]
enum Foreground {
    #[default]
    None,
    /// Queued, id not known yet; `interrupted`: kill it as soon as it is.
    Starting {
        interrupted: bool,
    },
    Running(JobRef),
}

/// Executes console commands for one pool (and optionally one recipe).
pub struct Console {
    engine: EngineHandle,
    pool: Pool,
    recipe: Option<PathBuf>,
    /// Recipe role → machine of the first testbed, so `exec ROLE` works.
    roles: BTreeMap<String, String>,
    driver: Option<Arc<dyn RunDriver>>,
    session: Mutex<Session>,
    completion: Arc<Mutex<CompletionData>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Splits text into lines (lossy UTF-8), without a trailing empty one.
fn text_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A diagnostic as lines: the error, then its help.
fn error_lines(error: &dyn miette::Diagnostic) -> Vec<String> {
    let mut lines = vec![format!("error: {error}")];
    if let Some(help) = error.help() {
        lines.push(format!("  help: {help}"));
    }
    lines
}

fn ending_text(ending: &Ending) -> String {
    match ending {
        Ending::Exited(outcome) => match (&outcome.code, &outcome.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "no exit status".to_owned(),
        },
        Ending::TransportError { error, hint } if hint.is_empty() => error.clone(),
        Ending::TransportError { error, hint } => format!("{error} (hint: {hint})"),
    }
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "passed",
        Outcome::Fail => "FAILED",
        Outcome::Error => "ERROR",
        Outcome::Skip => "skipped",
        Outcome::Cancel => "cancelled",
    }
}

/// The first line of a command, shortened for tables.
fn short_command(command: &str) -> String {
    let first = command.lines().next().unwrap_or_default();
    let mut short: String = first.chars().take(60).collect();
    if short.len() < first.len() || command.lines().nth(1).is_some() {
        short.push('…');
    }
    short
}

/// Role → machine of the recipe's first testbed in the pool (empty when none).
fn first_testbed_roles(pool: &Pool, recipe: &Recipe) -> BTreeMap<String, String> {
    let mapper = crate::mapper::Mapper::new(
        crate::recipe::adapt::pool_view(pool),
        crate::recipe::adapt::requirements(recipe),
    );
    match mapper.ok().and_then(|m| m.first_match()) {
        Some(testbed) => testbed.hosts.into_iter().collect(),
        None => BTreeMap::new(),
    }
}

impl Console {
    /// A console over a running engine. With a recipe, its roles complete and resolve to
    /// the machines of its first testbed.
    pub fn new(
        engine: EngineHandle,
        pool: Pool,
        recipe: Option<PathBuf>,
        driver: Option<Arc<dyn RunDriver>>,
    ) -> Console {
        let mut roles = BTreeMap::new();
        let mut role_names = Vec::new();
        if let Some(path) = &recipe {
            match Recipe::load(path) {
                Ok(loaded) => {
                    role_names = loaded.hosts.iter().map(|h| h.name.clone()).collect();
                    roles = first_testbed_roles(&pool, &loaded);
                }
                Err(e) => tracing::warn!(recipe = %path.display(), error = %e, "recipe not loaded"),
            }
        }
        let completion = CompletionData {
            hosts: pool.machines.iter().map(|m| m.name.clone()).collect(),
            roles: role_names,
            vpp_messages: driver
                .as_ref()
                .map(|d| d.vpp_messages())
                .unwrap_or_default(),
            ..CompletionData::default()
        };
        Console {
            engine,
            pool,
            recipe,
            roles,
            driver,
            session: Mutex::new(Session::default()),
            completion: Arc::new(Mutex::new(completion)),
        }
    }

    /// The completion data, shared with an editor on another thread.
    pub fn completion(&self) -> Arc<Mutex<CompletionData>> {
        Arc::clone(&self.completion)
    }

    /// Replaces the VPP message names offered for completion.
    pub fn set_vpp_messages(&self, names: Vec<String>) {
        lock(&self.completion).vpp_messages = names;
    }

    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// A machine name for `name`: a pool machine as is, a recipe role as its machine.
    fn resolve_host(&self, name: &str) -> String {
        if self.pool.machine(name).is_some() {
            return name.to_owned();
        }
        self.roles
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }

    /// Updates what the console knows from one engine event and returns the lines to show
    /// the user now (job and walk ends, host failures, run progress), if any.
    pub fn observe(&self, event: &Event) -> Vec<String> {
        let mut session = lock(&self.session);
        apply_host_event(&mut session.hosts, event);
        match event {
            Event::HostFailed { host, error, hint } => {
                vec![format!("host {host} failed: {error} (hint: {hint})")]
            }
            Event::JobStarted {
                job,
                command,
                background,
                ..
            } => {
                lock(&self.completion).jobs.insert(job.to_string());
                if *background {
                    session
                        .background
                        .insert(job.clone(), (short_command(command), Vec::new()));
                }
                Vec::new()
            }
            Event::JobOutput { job, data, .. } => {
                if let Some((_, tail)) = session.background.get_mut(job) {
                    tail.extend_from_slice(data);
                    let excess = tail.len().saturating_sub(BACKGROUND_TAIL_BYTES);
                    tail.drain(..excess);
                }
                Vec::new()
            }
            Event::JobFinished {
                job,
                state,
                ending,
                duration,
                ..
            } => {
                lock(&self.completion).jobs.remove(&job.to_string());
                let Some((command, tail)) = session.background.remove(job) else {
                    return Vec::new();
                };
                let mut lines = vec![format!(
                    "[{job} {} ({}, {:.1} s): {command}]",
                    state.label(),
                    ending_text(ending),
                    duration.as_secs_f64()
                )];
                let output = text_lines(&tail);
                let skip = output.len().saturating_sub(BACKGROUND_TAIL_LINES);
                lines.extend(output.into_iter().skip(skip).map(|l| format!("  {l}")));
                lines
            }
            Event::Run(run) => {
                drop(session);
                self.observe_run(run)
            }
            _ => Vec::new(),
        }
    }

    fn observe_run(&self, event: &RunEvent) -> Vec<String> {
        match event {
            RunEvent::Started {
                mode,
                recipe,
                strategy,
                walks,
                testbeds,
                ..
            } => {
                vec![format!(
                "{mode:?} of \"{recipe}\" started: {walks} walks ({strategy}) on {} testbeds",
                testbeds.len()
            )
            .to_lowercase()]
            }
            RunEvent::WalkFinished {
                walk_id,
                testbed,
                outcome,
                failed_action,
                ..
            } => {
                lock(&self.completion).walks.insert(*walk_id);
                if matches!(outcome, Outcome::Fail | Outcome::Error) {
                    let at = failed_action
                        .as_ref()
                        .map(|a| format!(" at {a}"))
                        .unwrap_or_default();
                    vec![format!(
                        "walk {walk_id} {}{at} (testbed {testbed})",
                        outcome_label(*outcome)
                    )]
                } else {
                    Vec::new()
                }
            }
            RunEvent::StepPending {
                walk_id,
                action,
                option,
                command,
                recorded,
                breakpoint,
                waits,
                ..
            } => {
                let mut line = format!("walk {walk_id}: next step {action}={option}");
                if let Some(command) = command {
                    line.push_str(&format!(": {}", short_command(command)));
                }
                if let Some(recorded) = recorded {
                    line.push_str(&format!(" (recorded: {})", outcome_label(*recorded)));
                }
                if *breakpoint {
                    line.push_str(" [breakpoint]");
                }
                if *waits {
                    vec![
                        line,
                        "  step | skip | retry | continue | break ACTION | abort".to_owned(),
                    ]
                } else {
                    vec![line]
                }
            }
            RunEvent::StepFinished {
                walk_id,
                action,
                outcome,
                recorded,
                excerpt,
                ..
            } if recorded.is_some() => {
                let mut lines = vec![format!(
                    "walk {walk_id}: {action} {}{}",
                    outcome_label(*outcome),
                    recorded
                        .map(|r| format!(" (recorded: {})", outcome_label(r)))
                        .unwrap_or_default()
                )];
                lines.extend(excerpt.lines().take(3).map(|l| format!("  {l}")));
                lines
            }
            RunEvent::Stopping { reason } => vec![format!("stopping: {reason}")],
            RunEvent::Finished {
                passed,
                failed,
                errors,
                cancelled,
                skipped,
                elapsed_ms,
                stopped,
            } => {
                let mut line = format!(
                    "run finished: {passed} passed, {failed} failed, {errors} errors, {skipped} skipped, {cancelled} cancelled in {:.1} s",
                    *elapsed_ms as f64 / 1e3
                );
                if let Some(why) = stopped {
                    line.push_str(&format!(" (stopped: {why})"));
                }
                vec![line]
            }
            _ => Vec::new(),
        }
    }

    /// Parses and executes one line.
    pub async fn execute_line(&self, line: &str) -> Output {
        match command::parse(line) {
            Ok(None) => Output::default(),
            Ok(Some(command)) => self.execute(command).await,
            Err(e) => Output::lines(e.to_string().lines().map(str::to_owned).collect()),
        }
    }

    /// Kills the foreground job, if one runs (Ctrl-C during `exec`), with SIGTERM: SIGINT
    /// is ignored by commands a non-interactive shell started in the background.
    /// Returns no lines when no foreground job runs (the caller may then abandon the
    /// command).
    pub async fn interrupt(&self) -> Vec<String> {
        let job = {
            let mut session = lock(&self.session);
            match std::mem::take(&mut session.foreground) {
                Foreground::None => return Vec::new(),
                Foreground::Starting { .. } => {
                    session.foreground = Foreground::Starting { interrupted: true };
                    return vec!["interrupted: the job is killed as soon as it starts".to_owned()];
                }
                Foreground::Running(job) => job,
            }
        };
        self.kill_interrupted(&job).await
    }

    async fn kill_interrupted(&self, job: &JobRef) -> Vec<String> {
        match self.engine.kill(job.clone(), "TERM").await {
            Ok(()) => vec![format!("interrupted: sent TERM to {job}'s process group")],
            Err(e) => error_lines(&e),
        }
    }

    fn unavailable(what: &str) -> Output {
        Output::line(format!(
            "`{what}` is not available in this session (no walk executor is attached)"
        ))
    }

    fn driver(&self) -> Option<&dyn RunDriver> {
        self.driver.as_deref()
    }

    /// Executes one command.
    pub async fn execute(&self, command: ConsoleCommand) -> Output {
        let from_driver = |result: Result<Vec<String>, String>| match result {
            Ok(lines) => Output::lines(lines),
            Err(e) => Output::line(format!("error: {e}")),
        };
        match command {
            ConsoleCommand::Quit => Output {
                lines: Vec::new(),
                quit: true,
            },
            ConsoleCommand::Help(topic) => Output::lines(command::help(topic.as_deref())),
            ConsoleCommand::Hosts => self.hosts().await,
            ConsoleCommand::Connect(target) => {
                let (command, what) = match target {
                    None => (
                        Command::ConnectAll,
                        format!("connecting to {} machines", self.pool.machines.len()),
                    ),
                    Some(name) => {
                        let host = self.resolve_host(&name);
                        if self.pool.machine(&host).is_none() {
                            return Output::line(self.unknown_host(&name));
                        }
                        (
                            Command::Connect { host: host.clone() },
                            format!("connecting to {host}"),
                        )
                    }
                };
                match self.engine.send(command) {
                    Ok(()) => Output::line(format!("{what} (`hosts` shows the result)")),
                    Err(e) => Output::lines(error_lines(&e)),
                }
            }
            ConsoleCommand::Disconnect(spec) => {
                let target = match spec {
                    DisconnectSpec::All => DisconnectTarget::All,
                    DisconnectSpec::Named(name) => {
                        let host = self.resolve_host(&name);
                        if self.pool.machine(&host).is_some() {
                            DisconnectTarget::Host(host)
                        } else {
                            DisconnectTarget::Key(name)
                        }
                    }
                };
                match self.engine.disconnect(target).await {
                    Ok(n) => Output::line(format!(
                        "closed {n} connection{}",
                        if n == 1 { "" } else { "s" }
                    )),
                    Err(e) => Output::lines(error_lines(&e)),
                }
            }
            ConsoleCommand::Devices(name) => {
                let host = self.resolve_host(&name);
                match crate::devices::discover(&self.engine, &host).await {
                    Ok(found) => Output::lines(
                        crate::cli::devices::render(&found)
                            .lines()
                            .map(str::to_owned)
                            .collect(),
                    ),
                    Err(crate::devices::DiscoverError::Engine(e)) => Output::lines(error_lines(&e)),
                    Err(e) => Output::line(format!("error: {e}")),
                }
            }
            ConsoleCommand::Exec(request) => self.exec(request).await,
            ConsoleCommand::Jobs => self.jobs().await,
            ConsoleCommand::Kill { job, signal } => {
                match self.engine.kill(job.clone(), &signal).await {
                    Ok(()) => Output::line(format!("sent {signal} to {job}'s process group")),
                    Err(e) => Output::lines(error_lines(&e)),
                }
            }
            ConsoleCommand::Wait { job, timeout } => match self.engine.wait(job, timeout).await {
                Ok(snapshot) => Output::lines(job_report(&snapshot, true)),
                Err(e) => Output::lines(error_lines(&e)),
            },
            ConsoleCommand::Match(request) => self.match_testbeds(&request),
            ConsoleCommand::Plan(request) => self.plan(&request),
            ConsoleCommand::Undo(Some(log)) => self.undo_log(log).await,
            ConsoleCommand::Undo(None) => match self.driver() {
                Some(d) => from_driver(d.undo().await),
                None => Output::line(
                    "`undo` without a log is not available in this session (no walk executor is attached); use `undo LOG`",
                ),
            },
            ConsoleCommand::Walks => match self.driver() {
                Some(d) => from_driver(d.walks().await),
                None => Self::unavailable("walks"),
            },
            ConsoleCommand::Run(args) => match self.driver() {
                Some(d) => from_driver(d.run(args).await),
                None => Self::unavailable("run"),
            },
            ConsoleCommand::Replay { walk, step } => match self.driver() {
                Some(d) => from_driver(d.replay(walk, step).await),
                None => Self::unavailable("replay"),
            },
            ConsoleCommand::Step(decision) => match self.driver() {
                Some(d) => from_driver(d.decide(decision)),
                None => Self::unavailable("step"),
            },
            ConsoleCommand::Shrink(walk) => match self.driver() {
                Some(d) => from_driver(d.shrink(walk).await),
                None => Self::unavailable("shrink"),
            },
            ConsoleCommand::Rerun(walk) => match self.driver() {
                Some(d) => from_driver(d.rerun(walk).await),
                None => Self::unavailable("rerun"),
            },
            ConsoleCommand::Vpp(args) => match self.driver() {
                Some(d) => from_driver(d.vpp(args).await),
                None => Self::unavailable("vpp"),
            },
        }
    }

    fn unknown_host(&self, name: &str) -> String {
        let names = self.pool.machines.iter().map(|m| m.name.as_str());
        match crate::diag::nearest(name, names) {
            Some(near) => {
                format!("error: no machine `{name}` in the pool (did you mean `{near}`?)")
            }
            None => format!("error: no machine `{name}` in the pool"),
        }
    }

    async fn hosts(&self) -> Output {
        let views = lock(&self.session).hosts.clone();
        let mut text = crate::cli::hosts::render_table(&self.pool, &views);
        if let Ok(snapshot) = self.engine.snapshot().await {
            text.push('\n');
            text.push_str(&crate::cli::hosts::render_cache(&snapshot.cache));
        }
        Output::lines(text.lines().map(str::to_owned).collect())
    }

    async fn jobs(&self) -> Output {
        let snapshot = match self.engine.snapshot().await {
            Ok(s) => s,
            Err(e) => return Output::lines(error_lines(&e)),
        };
        if snapshot.jobs.is_empty() {
            return Output::line("no jobs");
        }
        let rows = snapshot
            .jobs
            .iter()
            .map(|j| {
                vec![
                    j.job.to_string(),
                    j.state.label().to_owned(),
                    if j.spec.background { "bg" } else { "" }.to_owned(),
                    j.exit.as_ref().map_or("-".to_owned(), ending_text),
                    short_command(j.spec.desc.as_deref().unwrap_or(&j.spec.command)),
                ]
            })
            .collect();
        let text = crate::cli::table(&["JOB", "STATE", "BG", "END", "COMMAND"], rows);
        Output::lines(text.lines().map(str::to_owned).collect())
    }

    async fn exec(&self, request: ExecRequest) -> Output {
        let command = match &request.command {
            ExecCommand::Argv(argv) => crate::quote::join_argv(argv),
            ExecCommand::Shell(line) => line.clone(),
        };
        let host = self.resolve_host(&request.host);
        if self.pool.machine(&host).is_none() {
            return Output::line(self.unknown_host(&request.host));
        }
        let spec = JobSpec {
            host,
            command,
            background: request.background,
            timeout: request.timeout,
            ..JobSpec::default()
        };
        if request.background {
            return match self.engine.exec(spec).await {
                Ok(job) => Output::line(format!(
                    "{job} runs in the background (`wait {job}`, `kill {job}`)"
                )),
                Err(e) => Output::lines(error_lines(&e)),
            };
        }
        lock(&self.session).foreground = Foreground::Starting { interrupted: false };
        let job = match self.engine.exec(spec).await {
            Ok(job) => job,
            Err(e) => {
                lock(&self.session).foreground = Foreground::None;
                return Output::lines(error_lines(&e));
            }
        };
        let interrupted = {
            let mut session = lock(&self.session);
            let interrupted = session.foreground == Foreground::Starting { interrupted: true };
            session.foreground = if interrupted {
                Foreground::None
            } else {
                Foreground::Running(job.clone())
            };
            interrupted
        };
        let mut lines = Vec::new();
        if interrupted {
            lines = self.kill_interrupted(&job).await;
        }
        let result = self.engine.wait(job.clone(), FOREGROUND_LIMIT).await;
        {
            let mut session = lock(&self.session);
            if session.foreground == Foreground::Running(job) {
                session.foreground = Foreground::None;
            }
        }
        match result {
            Ok(snapshot) => lines.extend(job_report(&snapshot, false)),
            Err(e) => lines.extend(error_lines(&e)),
        }
        Output::lines(lines)
    }

    fn recipe_for(&self, options: &RecipeOptions) -> Result<LoadedRecipe, Vec<String>> {
        let Some(path) = options.recipe.as_ref().or(self.recipe.as_ref()) else {
            return Err(vec![
                "error: no recipe: start the session with --recipe FILE or pass --recipe FILE"
                    .to_owned(),
            ]);
        };
        let recipe = Recipe::load(path).map_err(|e| error_lines(&e))?;
        let overrides = options
            .params
            .iter()
            .map(|arg| params::parse_override(arg))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error_lines(&crate::recipe::RecipeError::from(e)))?;
        Ok((recipe, overrides))
    }

    fn match_testbeds(&self, request: &MatchRequest) -> Output {
        let (recipe, overrides) = match self.recipe_for(&request.recipe) {
            Ok(loaded) => loaded,
            Err(lines) => return Output::lines(lines),
        };
        if let Err(e) = params::check_overrides(&recipe.params, &overrides) {
            return Output::lines(error_lines(&crate::recipe::RecipeError::from(e)));
        }
        let query = crate::cli::match_cmd::MatchQuery {
            all: request.all,
            disjoint: request.disjoint,
            limit: request.limit,
        };
        match crate::cli::match_cmd::match_report(&self.pool, &recipe, &query) {
            Ok((text, _)) => Output::lines(text.lines().map(str::to_owned).collect()),
            Err(e) => Output::line(format!("error: {e}")),
        }
    }

    fn plan(&self, request: &PlanRequest) -> Output {
        let (recipe, overrides) = match self.recipe_for(&request.recipe) {
            Ok(loaded) => loaded,
            Err(lines) => return Output::lines(lines),
        };
        use crate::cli::plan::{PlanReportError, plan_report};
        match plan_report(&recipe, &overrides, request.strategy, request.limit) {
            Ok((text, _)) => Output::lines(text.lines().map(str::to_owned).collect()),
            Err(PlanReportError::Params(e)) => {
                Output::lines(error_lines(&crate::recipe::RecipeError::from(e)))
            }
            Err(PlanReportError::Options(e)) => Output::lines(error_lines(&e)),
            Err(PlanReportError::Plan(e)) => Output::line(format!("error: {e}")),
        }
    }

    async fn undo_log(&self, log: PathBuf) -> Output {
        use crate::devices::{apply, ops::UndoLog};
        let steps = match UndoLog::read(&log) {
            Ok(steps) => steps,
            Err(e) => {
                return Output::line(format!(
                    "error: cannot read undo log {}: {e}",
                    log.display()
                ));
            }
        };
        if steps.is_empty() {
            return Output::line(format!("nothing to undo in {}", log.display()));
        }
        let newest_first: Vec<_> = steps.into_iter().rev().collect();
        let failed = apply::undo(&self.engine, &newest_first).await;
        let mut lines: Vec<String> = newest_first
            .iter()
            .map(|step| {
                let mark = if failed.iter().any(|(f, _)| f == step) {
                    "FAIL"
                } else {
                    "ok  "
                };
                format!("{mark} {}: {}", step.host, step.description)
            })
            .collect();
        for (step, why) in &failed {
            lines.push(format!(
                "error: undo of `{}` on {} failed: {why}",
                step.description, step.host
            ));
        }
        if failed.is_empty() {
            let _ = std::fs::remove_file(&log);
            lines.push(format!("{} changes undone", newest_first.len()));
        }
        Output::lines(lines)
    }
}

/// A finished (or still running) job as lines: its output, then a status line unless it
/// simply passed (`always_status`: show it anyway).
fn job_report(snapshot: &JobSnapshot, always_status: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if snapshot.stdout_tail.len() >= crate::engine::TAIL_BYTES
        || snapshot.stderr_tail.len() >= crate::engine::TAIL_BYTES
    {
        lines.push("(output truncated to its last 64 KiB)".to_owned());
    }
    lines.extend(text_lines(&snapshot.stdout_tail));
    lines.extend(text_lines(&snapshot.stderr_tail));
    let passed = snapshot.state == JobState::Passed;
    if always_status || !passed {
        let end = snapshot
            .exit
            .as_ref()
            .map(|e| format!(" ({})", ending_text(e)))
            .unwrap_or_default();
        lines.push(format!("{} {}{end}", snapshot.job, snapshot.state.label()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ExitOutcome;

    fn local_pool() -> Pool {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool.toml");
        std::fs::write(
            &path,
            "[machines.me]\ntransport = \"local\"\n[machines.me2]\ntransport = \"local\"\n",
        )
        .unwrap();
        Pool::load(&path).unwrap()
    }

    fn console() -> Console {
        let pool = local_pool();
        let engine = EngineHandle::spawn(pool.clone(), crate::engine::EngineConfig::default());
        Console::new(engine, pool, None, None)
    }

    #[tokio::test]
    async fn exec_runs_through_the_engine_and_keeps_the_argv() {
        let console = console();
        let out = console
            .execute_line("exec me -- printf '%s|' 'a b' c")
            .await;
        assert_eq!(out.lines, vec!["a b|c|".to_owned()]);
        let out = console.execute_line("exec me --sh 'echo x; exit 3'").await;
        assert_eq!(
            out.lines,
            vec!["x".to_owned(), "me#2 failed (exit 3)".to_owned()]
        );
        let out = console.execute_line("exec nobody -- true").await;
        assert_eq!(out.lines.len(), 1);
        assert!(
            out.lines[0].contains("no machine `nobody`"),
            "{:?}",
            out.lines
        );
        let jobs = console.execute_line("jobs").await.lines.join("\n");
        assert!(jobs.contains("me#1") && jobs.contains("me#2"), "{jobs}");
        console.engine().shutdown().await;
    }

    #[tokio::test]
    async fn background_jobs_end_with_a_notification_and_their_output() {
        let console = console();
        let mut events = console.engine().subscribe().unwrap();
        let out = console
            .execute_line("exec me --bg --sh 'echo one; echo two'")
            .await;
        assert!(
            out.lines[0].starts_with("me#1 runs in the background"),
            "{:?}",
            out.lines
        );
        let mut shown = Vec::new();
        while let Some(event) = events.recv().await {
            shown.extend(console.observe(&event));
            if matches!(event, Event::JobFinished { .. }) {
                break;
            }
        }
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(shown[0].starts_with("[me#1 passed (exit 0, "), "{shown:?}");
        assert_eq!(&shown[1..], ["  one", "  two"]);
        assert!(lock(&console.completion).jobs.is_empty());
        console.engine().shutdown().await;
    }

    #[tokio::test]
    async fn wait_kill_and_interrupt() {
        let pool = local_pool();
        // No fast path: the local transport's long-lived shell is not a process-group
        // leader, so a kill of a job in it cannot reach its group (over SSH it is).
        let config = crate::engine::EngineConfig {
            fast_path: false,
            ..crate::engine::EngineConfig::default()
        };
        let engine = EngineHandle::spawn(pool.clone(), config);
        let console = Arc::new(Console::new(engine, pool, None, None));
        let mut events = console.engine().subscribe().unwrap();
        let out = console.execute_line("exec me --bg -- sleep 30").await;
        assert!(out.lines[0].starts_with("me#1"), "{:?}", out.lines);
        let out = console.execute_line("wait me#1 0.2").await;
        assert!(out.lines[0].contains("still runs"), "{:?}", out.lines);
        let out = console.execute_line("kill me#1 KILL").await;
        assert_eq!(
            out.lines,
            vec!["sent KILL to me#1's process group".to_owned()]
        );
        let out = console.execute_line("wait me#1 60").await;
        assert_eq!(
            out.lines.last().map(String::as_str),
            Some("me#1 killed (signal KILL)")
        );
        // A foreground job is interrupted from another task.
        let running = Arc::clone(&console);
        let fg = tokio::spawn(async move { running.execute_line("exec me -- sleep 30").await });
        loop {
            match events.recv().await {
                Some(Event::JobStarted { job, .. }) if job.id == 2 => break,
                Some(_) => {}
                None => panic!("engine stopped"),
            }
        }
        let mut interrupted = Vec::new();
        while interrupted.is_empty() {
            interrupted = console.interrupt().await;
            tokio::task::yield_now().await;
        }
        assert!(
            interrupted[0].contains("sent TERM to me#2"),
            "{interrupted:?}"
        );
        let out = fg.await.unwrap();
        assert!(
            out.lines
                .last()
                .is_some_and(|l| l.starts_with("me#2 killed")),
            "{:?}",
            out.lines
        );
        console.engine().shutdown().await;
    }

    #[tokio::test]
    async fn driver_commands_say_when_no_driver_is_attached() {
        let console = console();
        for line in [
            "run", "walks", "replay 1", "step", "shrink 1", "rerun 2", "vpp x y", "undo",
        ] {
            let out = console.execute_line(line).await;
            assert!(
                out.lines[0].contains("not available in this session"),
                "{line}: {:?}",
                out.lines
            );
        }
        let out = console.execute_line("match").await;
        assert!(out.lines[0].contains("no recipe"), "{:?}", out.lines);
        assert!(console.execute_line("quit").await.quit);
        assert_eq!(
            console.execute_line("hots").await.lines,
            vec!["unknown command `hots` (did you mean `hosts`?)".to_owned()]
        );
        let hosts = console.execute_line("hosts").await.lines.join("\n");
        assert!(hosts.contains("me2") && hosts.contains("idle"), "{hosts}");
        console.engine().shutdown().await;
    }

    #[tokio::test]
    async fn match_plan_and_roles_come_from_the_session_recipe() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recipe");
        let pool = Pool::load(&fixtures.join("pool.toml")).unwrap();
        let engine = EngineHandle::spawn(pool.clone(), crate::engine::EngineConfig::default());
        let console = Console::new(engine, pool, Some(fixtures.join("walks.toml")), None);
        assert_eq!(console.resolve_host("dut"), "h1");
        assert_eq!(console.resolve_host("h2"), "h2");
        assert_eq!(lock(&console.completion).roles, ["dut"]);
        let matched = console.execute_line("match").await.lines.join("\n");
        assert!(matched.contains("dut   h1"), "{matched}");
        let plan = console.execute_line("plan").await.lines.join("\n");
        assert!(plan.contains("param `peer` is mandatory"), "{plan}");
        let plan = console
            .execute_line("plan full -p peer=198.18.0.9 --limit 1")
            .await
            .lines;
        assert!(
            plan.iter().any(|l| l.starts_with("strategy full: ")),
            "{plan:?}"
        );
        assert!(
            plan.last().is_some_and(|l| l.contains("more walks")),
            "{plan:?}"
        );
        let other = fixtures.join("no-match.toml");
        let missed = console
            .execute_line(&format!("match --recipe '{}'", other.display()))
            .await
            .lines
            .join("\n");
        assert!(missed.contains("no testbed matches"), "{missed}");
        console.engine().shutdown().await;
    }

    struct Recorder(Mutex<Vec<String>>);

    impl RunDriver for Recorder {
        fn run(&self, args: Vec<String>) -> DriverFuture<'_> {
            lock(&self.0).push(format!("run {}", args.join(" ")));
            Box::pin(async { Ok(vec!["started".to_owned()]) })
        }
        fn walks(&self) -> DriverFuture<'_> {
            Box::pin(async { Err("no run yet".to_owned()) })
        }
        fn replay(&self, walk: WalkId, step: bool) -> DriverFuture<'_> {
            lock(&self.0).push(format!("replay {walk} {step}"));
            Box::pin(async { Ok(vec![]) })
        }
        fn decide(&self, decision: StepDecision) -> Result<Vec<String>, String> {
            lock(&self.0).push(format!("{decision:?}"));
            Ok(vec![])
        }
        fn shrink(&self, walk: WalkId) -> DriverFuture<'_> {
            lock(&self.0).push(format!("shrink {walk}"));
            Box::pin(async { Ok(vec![]) })
        }
        fn rerun(&self, walk: WalkId) -> DriverFuture<'_> {
            lock(&self.0).push(format!("rerun {walk}"));
            Box::pin(async { Ok(vec![]) })
        }
        fn vpp(&self, args: Vec<String>) -> DriverFuture<'_> {
            lock(&self.0).push(format!("vpp {}", args.join(" ")));
            Box::pin(async { Ok(vec![]) })
        }
        fn undo(&self) -> DriverFuture<'_> {
            lock(&self.0).push("undo".to_owned());
            Box::pin(async { Ok(vec![]) })
        }
        fn vpp_messages(&self) -> Vec<String> {
            vec!["show_version".to_owned()]
        }
    }

    #[tokio::test]
    async fn driver_commands_reach_the_driver() {
        let pool = local_pool();
        let engine = EngineHandle::spawn(pool.clone(), crate::engine::EngineConfig::default());
        let driver = Arc::new(Recorder(Mutex::new(Vec::new())));
        let console = Console::new(
            engine,
            pool,
            None,
            Some(driver.clone() as Arc<dyn RunDriver>),
        );
        assert_eq!(
            console.execute_line("run -p a=1").await.lines,
            vec!["started".to_owned()]
        );
        assert_eq!(
            console.execute_line("walks").await.lines,
            vec!["error: no run yet".to_owned()]
        );
        for line in [
            "replay 3 --step",
            "skip",
            "break mtu",
            "shrink 4",
            "rerun 5",
            "vpp h1 show_version",
            "undo",
        ] {
            let _ = console.execute_line(line).await;
        }
        assert_eq!(
            *lock(&driver.0),
            [
                "run -p a=1",
                "replay 3 true",
                "Skip",
                "Breakpoint(\"mtu\")",
                "shrink 4",
                "rerun 5",
                "vpp h1 show_version",
                "undo"
            ]
        );
        assert_eq!(lock(&console.completion).vpp_messages, ["show_version"]);
        console.engine().shutdown().await;
    }

    #[test]
    fn run_events_become_notifications_and_walk_ids() {
        let pool = local_pool();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let engine = EngineHandle::spawn(pool.clone(), crate::engine::EngineConfig::default());
        let console = Console::new(engine, pool, None, None);
        let failed = Event::Run(RunEvent::WalkFinished {
            walk_id: 12,
            testbed: 0,
            outcome: Outcome::Fail,
            duration_ms: 5,
            failed_action: Some("mtu".into()),
            values: String::new(),
        });
        assert_eq!(
            console.observe(&failed),
            vec!["walk 12 FAILED at mtu (testbed 0)".to_owned()]
        );
        let passed = Event::Run(RunEvent::WalkFinished {
            walk_id: 3,
            testbed: 0,
            outcome: Outcome::Pass,
            duration_ms: 5,
            failed_action: None,
            values: String::new(),
        });
        assert!(console.observe(&passed).is_empty());
        assert_eq!(
            lock(&console.completion)
                .walks
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [3, 12]
        );
        let finished = Event::Run(RunEvent::Finished {
            passed: 1,
            failed: 1,
            errors: 0,
            cancelled: 0,
            skipped: 0,
            elapsed_ms: 1500,
            stopped: None,
        });
        assert_eq!(
            console.observe(&finished),
            vec![
                "run finished: 1 passed, 1 failed, 0 errors, 0 skipped, 0 cancelled in 1.5 s"
                    .to_owned()
            ]
        );
        let host_failed = Event::HostFailed {
            host: "me".into(),
            error: "refused".into(),
            hint: "is it up?".into(),
        };
        assert_eq!(
            console.observe(&host_failed),
            vec!["host me failed: refused (hint: is it up?)".to_owned()]
        );
        let ending = Ending::Exited(ExitOutcome {
            code: None,
            signal: Some("TERM".into()),
        });
        assert_eq!(ending_text(&ending), "signal TERM");
    }
}
