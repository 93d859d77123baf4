//! `labdeck replay` and `labdeck shrink`: one recorded walk again, on the same testbed or
//! another, optionally step by step; and the smallest walk that still fails the same way.
//!
//! Invariants: the recipe text and params come from the trace (what ran is what replays,
//! even if the recipe file changed since); in step mode every step is printed with its
//! rendered command BEFORE it runs and runs only after a decision read from stdin; every
//! attempt undoes its changes before the next one; exit 0 when the replay reproduced the
//! recorded outcome (or shrink found a minimal walk), 1 when it did not, 2 for usage errors.

use super::PoolArgs;
use super::run::{engine_config, finish_reports, step_timeout};
use crate::engine::{EngineHandle, Event};
use crate::run::exec::{self, RunControl, RunSettings, StepGate, files};
use crate::run::prepare::{Prepared, TestbedChoice};
use crate::run::recorded::{Recorded, load_recorded};
use crate::run::results::RunResults;
use crate::run::{RunEvent, RunMode, StepControl, StepDecision};
use crate::walk::trace::unix_millis_now;
use crate::walk::{Outcome, WalkId};
use clap::Args;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The trace of the run (trace.jsonl in its run directory).
    pub trace: PathBuf,
    /// The walk to replay.
    #[arg(long, value_name = "ID")]
    pub walk: WalkId,
    /// Show each step before it runs and ask: [n]ext, [s]kip, [r]etry, [b] ACTION
    /// (breakpoint), [c]ontinue, [a]bort.
    #[arg(long)]
    pub step: bool,
    /// Breakpoint on an action (repeatable); with --step, `c` runs to the next one.
    #[arg(long = "break", value_name = "ACTION")]
    pub breakpoints: Vec<String>,
    /// Replay on the trace's testbed K instead of the one the walk ran on.
    #[arg(long, value_name = "K", conflicts_with = "any_testbed")]
    pub testbed: Option<usize>,
    /// Replay on the first testbed the pool offers now.
    #[arg(long)]
    pub any_testbed: bool,
    /// The replay's run directory (default: `replays/<time>-walk<ID>` beside the trace).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub step_timeout: f64,
}

#[derive(Debug, Args)]
pub struct ShrinkArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The trace of the run.
    pub trace: PathBuf,
    /// The failed walk to minimise.
    #[arg(long, value_name = "ID")]
    pub walk: WalkId,
    /// Where attempts and the minimal recipe go (default: `shrinks/<time>-walk<ID>` beside
    /// the trace).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Most attempts before giving up with the smallest walk found so far.
    #[arg(long, default_value_t = 200)]
    pub max_attempts: usize,
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub step_timeout: f64,
}

/// Prepares the recorded run's recipe and params against the pool (errors: exit 2).
fn prepare_recorded(
    pool: &PoolArgs,
    trace: &Path,
    recorded: &Recorded,
    choice: &TestbedChoice,
) -> Result<Prepared, i32> {
    let loaded = pool.load().map_err(|e| {
        super::report(e);
        2
    })?;
    let pool_text = std::fs::read_to_string(&pool.pool).unwrap_or_default();
    Prepared::from_trace_header(trace, &recorded.header, loaded, &pool_text, choice).map_err(|e| {
        super::report(e);
        2
    })
}

fn choice_for(
    recorded: &Recorded,
    testbed: Option<usize>,
    any: bool,
) -> Result<TestbedChoice, String> {
    if any {
        return Ok(TestbedChoice {
            count: Some(1),
            exact: None,
        });
    }
    let k = testbed.unwrap_or(recorded.testbed);
    let map = recorded.header.testbeds.get(k).cloned().ok_or_else(|| {
        format!(
            "the trace has {} testbed(s); there is no testbed {k}",
            recorded.header.testbeds.len()
        )
    })?;
    Ok(TestbedChoice {
        count: None,
        exact: Some(vec![map]),
    })
}

fn default_dir(trace: &Path, kind: &str, walk: WalkId) -> PathBuf {
    let base = trace.parent().unwrap_or(Path::new(".")).join(kind);
    base.join(format!(
        "{}-walk{walk}",
        exec::utc_stamp(unix_millis_now() / 1000)
    ))
}

fn settings(mode: RunMode, walk: WalkId, run_dir: &Path, timeout: f64) -> RunSettings {
    RunSettings {
        walk_ids: Some(vec![walk]),
        ..RunSettings::new(mode, Some(run_dir.to_owned()), step_timeout(timeout))
    }
}

fn label(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Pass) => "pass",
        Some(Outcome::Fail) => "fail",
        Some(Outcome::Error) => "error",
        Some(Outcome::Skip) => "skip",
        Some(Outcome::Cancel) => "cancel",
        None => "-",
    }
}

pub async fn replay(args: ReplayArgs) -> i32 {
    let recorded = match load_recorded(&args.trace, args.walk) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("labdeck: {e}");
            return 2;
        }
    };
    let choice = match choice_for(&recorded, args.testbed, args.any_testbed) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("labdeck: {e}");
            return 2;
        }
    };
    let prepared = match prepare_recorded(&args.pool, &args.trace, &recorded, &choice) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if args.walk >= prepared.plan.space_size() {
        eprintln!("labdeck: walk {} is outside the recorded plan", args.walk);
        return 2;
    }
    for name in &args.breakpoints {
        if prepared.recipe.action(name).is_none() {
            eprintln!("labdeck: --break {name}: the recipe has no such action");
            return 2;
        }
    }
    let run_dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| default_dir(&args.trace, "replays", args.walk));
    if let Err(e) = std::fs::create_dir_all(run_dir.join(files::OUTPUT_DIR)) {
        eprintln!("labdeck: cannot create {}: {e}", run_dir.display());
        return 2;
    }
    let mut settings = settings(RunMode::Replay, args.walk, &run_dir, args.step_timeout);
    for (position, action) in prepared.recipe.walk.order.iter().enumerate() {
        if let Some(outcome) = recorded.steps.get(action) {
            settings.recorded.insert((args.walk, position), *outcome);
        }
    }
    let control_pair = args.step.then(StepControl::new);
    let (control_tx, gate) = match control_pair {
        Some((tx, rx)) => (Some(tx), Some(StepGate::new(rx, args.breakpoints.clone()))),
        None => (None, None),
    };
    settings.gate = gate;
    let engine = EngineHandle::spawn(
        prepared.pool.clone(),
        engine_config(&args.pool, &prepared, &run_dir),
    );
    let Ok(events) = engine.subscribe() else {
        return 1;
    };
    let steps = prepared.recipe.walk.order.len();
    let printer = tokio::spawn(print_replay(events, control_tx, steps));
    let result = exec::execute(&engine, Arc::new(prepared), settings, RunControl::default()).await;
    engine.shutdown().await;
    let results = printer.await.unwrap_or_default();
    if let Err(e) = result {
        eprintln!("labdeck: the replay failed: {e}");
        return 1;
    }
    let _ = finish_reports(&results, &run_dir, None, None);
    let now = results.walks.first().and_then(|w| w.outcome);
    let same = now == recorded.outcome;
    println!(
        "walk {}: {} (recorded {}) — {}",
        args.walk,
        label(now),
        label(recorded.outcome),
        if same { "reproduced" } else { "NOT reproduced" }
    );
    println!("replay directory: {}", run_dir.display());
    if same { 0 } else { 1 }
}

/// Prints the replay; in step mode, prompts on every pending step and sends the decision.
async fn print_replay(
    mut events: tokio::sync::mpsc::UnboundedReceiver<Event>,
    control: Option<StepControl>,
    steps: usize,
) -> RunResults {
    let mut results = RunResults::default();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    if control.is_some() {
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut line = String::new();
            loop {
                line.clear();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line_tx.send(line.trim().to_owned()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    while let Some(event) = events.recv().await {
        results.apply(&event, unix_millis_now());
        let Event::Run(run) = &event else { continue };
        match run {
            RunEvent::StepPending {
                index,
                action,
                option,
                command,
                recorded,
                breakpoint,
                waits,
                ..
            } => {
                let mark = if *breakpoint { " (breakpoint)" } else { "" };
                println!(
                    "next: [{}/{steps}] {action}={option}{mark}  recorded: {}",
                    index + 1,
                    label(*recorded)
                );
                if let Some(command) = command {
                    println!("  $ {command}");
                }
                let Some(control) = control.as_ref().filter(|_| *waits) else {
                    continue;
                };
                loop {
                    print!("[n]ext [s]kip [r]etry [b ACTION] [c]ontinue [a]bort> ");
                    let _ = std::io::stdout().flush();
                    let Some(line) = line_rx.recv().await else {
                        control.decide(StepDecision::Abort);
                        break;
                    };
                    match StepDecision::parse(&line) {
                        Some(d) => {
                            control.decide(d);
                            break;
                        }
                        None => println!("? `{line}`: n, s, r, b ACTION, c or a"),
                    }
                }
            }
            RunEvent::StepFinished {
                index,
                action,
                outcome,
                exit_status,
                excerpt,
                recorded,
                ..
            } => {
                let compare = match recorded {
                    Some(r) if Some(*r) == Some(*outcome) => {
                        format!("same as recorded ({})", label(Some(*r)))
                    }
                    Some(r) => format!("DIFFERS from recorded {}", label(Some(*r))),
                    None => "not recorded".into(),
                };
                let exit = exit_status
                    .map(|c| format!(" exit {c}"))
                    .unwrap_or_default();
                println!(
                    "  [{}/{steps}] {action}: {}{exit} — {compare}",
                    index + 1,
                    label(Some(*outcome))
                );
                for line in excerpt.lines().take(5) {
                    println!("    | {line}");
                }
            }
            RunEvent::Undone {
                host,
                description,
                error,
            } => match error {
                None => println!("  undo {host}: {description}"),
                Some(e) => println!("  UNDO FAILED {host}: {description}: {e}"),
            },
            _ => {}
        }
    }
    results
}

pub async fn shrink(args: ShrinkArgs) -> i32 {
    let recorded = match load_recorded(&args.trace, args.walk) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("labdeck: {e}");
            return 2;
        }
    };
    if !matches!(recorded.outcome, Some(Outcome::Fail | Outcome::Error)) {
        eprintln!(
            "labdeck: walk {} did not fail (recorded {}); shrink needs a failed walk",
            args.walk,
            label(recorded.outcome)
        );
        return 2;
    }
    let choice = match choice_for(&recorded, None, false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("labdeck: {e}");
            return 2;
        }
    };
    let prepared = match prepare_recorded(&args.pool, &args.trace, &recorded, &choice) {
        Ok(p) => Arc::new(p),
        Err(code) => return code,
    };
    let Ok(original) = prepared.plan.walk(args.walk) else {
        eprintln!("labdeck: walk {} is outside the recorded plan", args.walk);
        return 2;
    };
    let order = prepared.recipe.walk.order.clone();
    let Some(fail_at) = recorded
        .failed_action
        .as_ref()
        .and_then(|a| order.iter().position(|o| o == a))
    else {
        eprintln!(
            "labdeck: the trace does not say which action of walk {} failed",
            args.walk
        );
        return 2;
    };
    let base = args
        .run_dir
        .clone()
        .unwrap_or_else(|| default_dir(&args.trace, "shrinks", args.walk));
    if let Err(e) = std::fs::create_dir_all(base.join(files::OUTPUT_DIR)) {
        eprintln!("labdeck: cannot create {}: {e}", base.display());
        return 2;
    }
    let engine = EngineHandle::spawn(
        prepared.pool.clone(),
        engine_config(&args.pool, &prepared, &base),
    );
    let mut shrinker = Shrinker {
        engine: engine.clone(),
        prepared: prepared.clone(),
        walk: args.walk,
        base: base.clone(),
        timeout: args.step_timeout,
        want: (recorded.outcome, recorded.failed_action.clone()),
        attempts: 0,
        max_attempts: args.max_attempts,
        cache: HashMap::new(),
    };
    // Actions after the failing one never ran: drop them without trying.
    let mut shape: Vec<Option<usize>> = original
        .iter()
        .enumerate()
        .map(|(p, &o)| (p <= fail_at).then_some(o))
        .collect();
    println!(
        "shrinking walk {} (failed at {}), {} actions before it",
        args.walk, order[fail_at], fail_at
    );
    match shrinker.reproduces(&shape).await {
        Ok(true) => {}
        Ok(false) => {
            engine.shutdown().await;
            eprintln!(
                "labdeck: walk {} does not fail the same way any more; nothing to shrink",
                args.walk
            );
            return 1;
        }
        Err(e) => {
            engine.shutdown().await;
            eprintln!("labdeck: {e}");
            return 1;
        }
    }
    // 1. Drop actions (ddmin over the positions before the failing one).
    let mut kept: Vec<usize> = (0..fail_at).collect();
    let mut granularity = 2usize;
    while kept.len() >= 2 && shrinker.attempts < shrinker.max_attempts {
        let chunk = kept.len().div_ceil(granularity);
        let mut reduced = false;
        for start in (0..kept.len()).step_by(chunk) {
            let complement: Vec<usize> = kept
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < start || *i >= start + chunk)
                .map(|(_, p)| *p)
                .collect();
            let candidate = shape_with(&original, &complement, fail_at);
            if matches!(shrinker.reproduces(&candidate).await, Ok(true)) {
                kept = complement;
                granularity = (granularity - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if granularity >= kept.len() {
                break;
            }
            granularity = (granularity * 2).min(kept.len());
        }
    }
    if kept.len() == 1 {
        let candidate = shape_with(&original, &[], fail_at);
        if matches!(shrinker.reproduces(&candidate).await, Ok(true)) {
            kept.clear();
        }
    }
    shape = shape_with(&original, &kept, fail_at);
    // 2. Move each value toward the first option.
    let positions: Vec<usize> = kept.iter().copied().chain([fail_at]).collect();
    for p in positions {
        let Some(current) = shape[p] else { continue };
        for o in 0..current {
            if shrinker.attempts >= shrinker.max_attempts {
                break;
            }
            let mut candidate = shape.clone();
            candidate[p] = Some(o);
            if matches!(shrinker.reproduces(&candidate).await, Ok(true)) {
                shape = candidate;
                break;
            }
        }
    }
    engine.shutdown().await;
    let minimal: Vec<(String, String)> = shape
        .iter()
        .enumerate()
        .filter_map(|(p, o)| {
            let o = (*o)?;
            Some((
                order[p].clone(),
                prepared.option_sets[p].values.get(o)?.clone(),
            ))
        })
        .collect();
    let snippet = match minimal_recipe(&prepared, &minimal) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("labdeck: cannot write the minimal recipe: {e}");
            return 1;
        }
    };
    let file = base.join("minimal.toml");
    if let Err(e) = std::fs::write(&file, &snippet) {
        eprintln!("labdeck: cannot write {}: {e}", file.display());
    }
    println!(
        "minimal failing walk after {} attempts: {}",
        shrinker.attempts,
        minimal
            .iter()
            .map(|(a, v)| format!("{a}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "reproduce it on its own with: labdeck run --pool {} --recipe {}",
        args.pool.pool.display(),
        file.display()
    );
    println!("--- {} ---\n{snippet}", file.display());
    0
}

fn shape_with(original: &[usize], kept: &[usize], fail_at: usize) -> Vec<Option<usize>> {
    original
        .iter()
        .enumerate()
        .map(|(p, &o)| (p == fail_at || kept.contains(&p)).then_some(o))
        .collect()
}

struct Shrinker {
    engine: EngineHandle,
    prepared: Arc<Prepared>,
    walk: WalkId,
    base: PathBuf,
    timeout: f64,
    want: (Option<Outcome>, Option<String>),
    attempts: usize,
    max_attempts: usize,
    cache: HashMap<Vec<Option<usize>>, bool>,
}

impl Shrinker {
    /// Runs the walk shaped as `shape` (setup, steps, undo) and tells whether it fails the
    /// same way as recorded.
    async fn reproduces(&mut self, shape: &[Option<usize>]) -> Result<bool, String> {
        if let Some(known) = self.cache.get(shape) {
            return Ok(*known);
        }
        self.attempts += 1;
        let dir = self.base.join(format!("attempt-{}", self.attempts));
        std::fs::create_dir_all(dir.join(files::OUTPUT_DIR)).map_err(|e| e.to_string())?;
        let mut settings = settings(RunMode::Shrink, self.walk, &dir, self.timeout);
        settings.shape = Some(shape.to_vec());
        let mut events = self.engine.subscribe().map_err(|e| e.to_string())?;
        let summary = exec::execute(
            &self.engine,
            self.prepared.clone(),
            settings,
            RunControl::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut got = (None, None);
        while let Ok(event) = events.try_recv() {
            if let Event::Run(RunEvent::WalkFinished {
                outcome,
                failed_action,
                ..
            }) = event
            {
                got = (Some(outcome), failed_action);
            }
        }
        let reproduced = got == self.want;
        let _ = summary;
        let order = &self.prepared.recipe.walk.order;
        let options: Vec<String> = shape
            .iter()
            .enumerate()
            .filter_map(|(p, o)| {
                o.and_then(|o| {
                    self.prepared.option_sets[p]
                        .values
                        .get(o)
                        .map(|v| format!("{}={v}", order[p]))
                })
            })
            .collect();
        println!(
            "attempt {}: {} — {}",
            self.attempts,
            options.join(" "),
            if reproduced {
                "fails the same way"
            } else {
                "does not reproduce"
            }
        );
        let _ = self.engine.publish(RunEvent::ShrinkAttempt {
            options,
            actions: Vec::new(),
            reproduced,
        });
        self.cache.insert(shape.to_vec(), reproduced);
        Ok(reproduced)
    }
}

/// The recipe reduced to the minimal walk: only its actions, each with its one value, the
/// params fixed to the values of the run.
fn minimal_recipe(prepared: &Prepared, minimal: &[(String, String)]) -> Result<String, String> {
    let mut doc: toml::Table = toml::from_str(&prepared.recipe_text).map_err(|e| e.to_string())?;
    if let Some(toml::Value::Table(params)) = doc.get_mut("params") {
        for (name, spec) in params.iter_mut() {
            let (Some(value), toml::Value::Table(spec)) = (prepared.params.get(name), spec) else {
                continue;
            };
            spec.remove("mandatory");
            let v = match value {
                crate::recipe::params::Value::Int(i) => toml::Value::Integer(*i),
                crate::recipe::params::Value::Float(x) => toml::Value::Float(*x),
                crate::recipe::params::Value::Bool(b) => toml::Value::Boolean(*b),
                crate::recipe::params::Value::List(items) => toml::Value::Array(
                    items
                        .iter()
                        .map(|i| match i {
                            crate::recipe::params::Value::Int(n) => toml::Value::Integer(*n),
                            other => toml::Value::String(other.to_string()),
                        })
                        .collect(),
                ),
                other => toml::Value::String(other.to_string()),
            };
            spec.insert("default".into(), v);
        }
    }
    if let Some(toml::Value::Array(actions)) = doc.get_mut("actions") {
        actions.retain(|a| {
            a.get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| minimal.iter().any(|(m, _)| m == n))
        });
        for action in actions.iter_mut() {
            let Some(table) = action.as_table_mut() else {
                continue;
            };
            let name = table
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_owned();
            let Some((_, value)) = minimal.iter().find(|(m, _)| *m == name) else {
                continue;
            };
            if table.contains_key("options") {
                let v = match value.parse::<i64>() {
                    Ok(i) => toml::Value::Integer(i),
                    Err(_) => toml::Value::String(value.clone()),
                };
                table.insert("options".into(), toml::Value::Array(vec![v]));
            }
            // Expressions may name dropped actions; the minimal walk has no choices left.
            table.remove("skip_if");
            table.remove("cancel_if");
        }
    }
    let mut walk = toml::Table::new();
    walk.insert(
        "order".into(),
        toml::Value::Array(
            minimal
                .iter()
                .map(|(a, _)| toml::Value::String(a.clone()))
                .collect(),
        ),
    );
    walk.insert("strategy".into(), toml::Value::String("full".into()));
    doc.insert("walk".into(), toml::Value::Table(walk));
    if let Some(toml::Value::String(name)) = doc.get_mut("name") {
        name.push_str("-minimal");
    }
    let text = toml::to_string(&doc).map_err(|e| e.to_string())?;
    // The snippet must load on its own.
    crate::recipe::Recipe::parse(Path::new("minimal.toml"), &text).map_err(|e| e.to_string())?;
    Ok(text)
}
