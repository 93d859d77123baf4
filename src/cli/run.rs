//! `labdeck run`: executes a recipe's walks over the pool's testbeds and writes the run
//! directory (trace, output files, summary, JSON, JUnit, undo logs of kept testbeds).
//!
//! Invariants: exit 0 when every walk passed (cancel and skip are not failures), 1 when a
//! walk failed or errored (or an undo failed), 2 for usage and config errors (nothing
//! connects before the recipe, params, pool and testbeds are valid), 130 when interrupted
//! without failures. Ctrl-C and SIGTERM stop the run gracefully: the steps in flight
//! finish, every change is undone and the trace gets its footer; a second signal exits at
//! once (the undo logs in the run directory restore the lab with `labdeck undo RUN_DIR`).

use super::PoolArgs;
use super::match_cmd::RecipeArgs;
use crate::engine::{EngineConfig, EngineHandle, Event};
use crate::run::RunEvent;
use crate::run::exec::{self, RunControl, RunSettings, files};
use crate::run::prepare::{Prepared, TestbedChoice};
use crate::run::results::RunResults;
use crate::run::{RunMode, RunView};
use crate::walk::trace::unix_millis_now;
use crate::walk::{Outcome, Strategy, WalkId};
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Walk strategy instead of the recipe's: full, pairwise, t=N, random:N:SEED.
    #[arg(long, value_name = "STRATEGY")]
    pub strategy: Option<Strategy>,
    /// Number of machine-disjoint testbeds to spread the walks over (default: all the pool
    /// allows, up to 64).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub testbeds: Option<u64>,
    /// The run directory (default: a new `<runs-dir>/<UTC time>-<recipe>`).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Where new run directories go.
    #[arg(long, value_name = "DIR", default_value = "labdeck-runs")]
    pub runs_dir: PathBuf,
    /// Stop after N failed walks (the steps in flight finish, then undo).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_failures: Option<u64>,
    /// Leave a failed testbed as it is; `labdeck undo RUN_DIR` restores it later.
    #[arg(long)]
    pub keep_on_failure: bool,
    /// Run only the failed walks of an earlier trace (failures first, then errors).
    #[arg(long, value_name = "TRACE")]
    pub rerun_failed: Option<PathBuf>,
    /// Walks at once per testbed (default: the recipe's `walk.parallel`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub parallel: Option<u64>,
    /// Seconds before a step's command is killed (it then errors).
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub step_timeout: f64,
    /// Also write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print TAP instead of the summary.
    #[arg(long)]
    pub tap: bool,
    /// VPP API definitions (`.api.json`) in this local directory, for VPP actions (default:
    /// copied from each machine's /usr/share/vpp/api).
    #[arg(long, value_name = "DIR")]
    pub vpp_api_dir: Option<PathBuf>,
}

/// Loads pool and recipe and prepares the run; errors are reported (exit 2).
pub(crate) fn prepare(
    pool: &PoolArgs,
    recipe: &RecipeArgs,
    strategy: Option<Strategy>,
    choice: &TestbedChoice,
    recipe_text: Option<String>,
) -> Result<Prepared, i32> {
    let loaded = pool.load().map_err(|e| {
        super::report(e);
        2
    })?;
    let pool_text = std::fs::read_to_string(&pool.pool).unwrap_or_default();
    let text = match recipe_text {
        Some(t) => t,
        None => std::fs::read_to_string(&recipe.recipe).map_err(|source| {
            super::report(crate::recipe::RecipeError::Read {
                path: recipe.recipe.clone(),
                source,
            });
            2
        })?,
    };
    let overrides = recipe
        .params
        .iter()
        .map(|arg| crate::recipe::params::parse_override(arg))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            super::report(crate::recipe::RecipeError::from(e));
            2
        })?;
    Prepared::new(
        &recipe.recipe,
        text,
        &overrides,
        strategy,
        loaded,
        &pool_text,
        choice,
    )
    .map_err(|e| {
        super::report(e);
        2
    })
}

/// The engine settings of a run: the fast-path shell and output files in the run dir.
pub(crate) fn engine_config(pool: &PoolArgs, prepared: &Prepared, run_dir: &Path) -> EngineConfig {
    EngineConfig {
        fast_path: true,
        output_dir: Some(run_dir.join(files::OUTPUT_DIR)),
        ..pool.engine_config(&prepared.pool)
    }
}

/// A `--step-timeout` in seconds, bounded to 0.1 s – 7 days.
pub(crate) fn step_timeout(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.clamp(0.1, 7.0 * 86_400.0))
}

/// Failed walk ids of a trace: failures first, then errors, each in the order they ended.
pub fn failed_walks(trace: &Path) -> Result<(crate::walk::Header, Vec<WalkId>), String> {
    let contents = crate::walk::read_trace(trace).map_err(|e| e.to_string())?;
    let mut fails = Vec::new();
    let mut errors = Vec::new();
    for record in &contents.records {
        let crate::walk::TraceRecord::WalkEnd(end) = record else {
            continue;
        };
        let list = match end.outcome {
            Outcome::Fail => &mut fails,
            Outcome::Error => &mut errors,
            _ => continue,
        };
        if !list.contains(&end.walk_id) {
            list.push(end.walk_id);
        }
    }
    for id in errors {
        if !fails.contains(&id) {
            fails.push(id);
        }
    }
    Ok((contents.header, fails))
}

pub async fn run(args: RunArgs) -> i32 {
    let choice = TestbedChoice {
        count: args.testbeds.map(|k| k as usize),
        exact: None,
    };
    let prepared = match prepare(&args.pool, &args.recipe, args.strategy, &choice, None) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (mode, walk_ids) = match &args.rerun_failed {
        None => (RunMode::Run, None),
        Some(trace) => match failed_walks(trace) {
            Err(e) => {
                eprintln!("labdeck: cannot read trace {}: {e}", trace.display());
                return 2;
            }
            Ok((header, ids)) => {
                if header.recipe_digest
                    != crate::walk::trace::sha256_hex(prepared.recipe_text.as_bytes())
                {
                    eprintln!(
                        "labdeck: {} was recorded with another version of the recipe; walk ids would name other walks\n  hint: rerun with the recipe text the trace holds (`labdeck replay` uses it)",
                        trace.display()
                    );
                    return 2;
                }
                if let Some(bad) = ids.iter().find(|id| **id >= prepared.plan.space_size()) {
                    eprintln!("labdeck: walk {bad} of the trace is outside this plan");
                    return 2;
                }
                if ids.is_empty() {
                    println!("no failed walks in {}", trace.display());
                    return 0;
                }
                (RunMode::Rerun, Some(ids))
            }
        },
    };
    let run_dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| exec::new_run_dir(&args.runs_dir, &prepared.recipe.name));
    if let Err(e) = std::fs::create_dir_all(run_dir.join(files::OUTPUT_DIR)) {
        eprintln!(
            "labdeck: cannot create run directory {}: {e}",
            run_dir.display()
        );
        return 2;
    }
    if run_dir.join(files::TRACE).exists() {
        eprintln!(
            "labdeck: {} already holds a run; pick another --run-dir",
            run_dir.display()
        );
        return 2;
    }
    if let Err(e) = crate::logging::set_run_log(&run_dir) {
        tracing::warn!(error = %e, "no log file in the run directory");
    }
    tracing::info!(run_dir = %run_dir.display(), recipe = %prepared.recipe.name, "run starts");
    let parallel = args
        .parallel
        .map(|p| p as usize)
        .unwrap_or(prepared.recipe.walk.parallel);
    let settings = RunSettings {
        walk_ids,
        max_failures: args.max_failures,
        keep_on_failure: args.keep_on_failure,
        parallel,
        ..RunSettings::new(mode, Some(run_dir.clone()), step_timeout(args.step_timeout))
    };
    let config = engine_config(&args.pool, &prepared, &run_dir);
    let engine = EngineHandle::spawn(prepared.pool.clone(), config);
    let Ok(events) = engine.subscribe() else {
        return 1;
    };
    let definitions = match &args.vpp_api_dir {
        Some(dir) => crate::engine::vpp::DefinitionsSource::Dir(dir.clone()),
        None => crate::engine::vpp::DefinitionsSource::Host("/usr/share/vpp/api".into()),
    };
    if engine
        .vpp_configure(crate::engine::vpp::VppSettings {
            definitions,
            ..Default::default()
        })
        .is_err()
    {
        return 1;
    }
    let control = RunControl::default();
    let signals = tokio::spawn(watch_signals(
        engine.clone(),
        control.clone(),
        run_dir.clone(),
    ));
    let printer = tokio::spawn(print_progress(events, !args.tap));
    let outcome = exec::execute(&engine, Arc::new(prepared), settings, control).await;
    engine.shutdown().await;
    signals.abort();
    let results = printer.await.unwrap_or_default();
    let summary = match outcome {
        Ok(s) => s,
        Err(e) => {
            eprintln!("labdeck: the run failed: {e}");
            return 1;
        }
    };
    let code = finish_reports(
        &results,
        &run_dir,
        args.junit.as_deref(),
        args.json.as_deref(),
    );
    if args.tap {
        print!("{}", results.tap());
    } else {
        print!("{}", results.summary_text());
    }
    for (testbed, log) in &summary.kept_undo {
        println!(
            "testbed {testbed} kept as it failed; restore it with: labdeck undo --pool {} {}",
            args.pool.pool.display(),
            log.parent().unwrap_or(log).display()
        );
    }
    println!("run directory: {}", run_dir.display());
    println!("{} passed, {} failed", results.passed(), results.failed());
    if code != 0 {
        return code;
    }
    if !results.overall_pass() {
        1
    } else if summary
        .stopped
        .as_deref()
        .is_some_and(|s| s.starts_with("interrupted"))
    {
        130
    } else {
        0
    }
}

/// Writes summary, JSON and JUnit into the run directory (and the extra paths); 1 when a
/// file could not be written.
pub(crate) fn finish_reports(
    results: &RunResults,
    run_dir: &Path,
    junit: Option<&Path>,
    json: Option<&Path>,
) -> i32 {
    let mut code = 0;
    let mut write = |path: &Path, text: &str| {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("labdeck: cannot write {}: {e}", path.display());
            code = 1;
        }
    };
    let json_text = serde_json::to_string_pretty(&results.json()).unwrap_or_default();
    let junit_text = results.junit().unwrap_or_default();
    write(&run_dir.join(files::SUMMARY), &results.summary_file());
    write(&run_dir.join(files::JSON), &json_text);
    write(&run_dir.join(files::JUNIT), &junit_text);
    if let Some(p) = junit {
        write(p, &junit_text);
    }
    if let Some(p) = json {
        write(p, &json_text);
    }
    code
}

/// Ctrl-C / SIGTERM: the first stops the run gracefully, the second exits at once.
async fn watch_signals(engine: EngineHandle, control: RunControl, run_dir: PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let mut seen = 0;
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        seen += 1;
        if seen == 1 {
            let reason = format!("interrupted by {name}");
            let _ = engine.publish(RunEvent::Stopping {
                reason: reason.clone(),
            });
            control.stop(reason);
            eprintln!(
                "labdeck: {name}: finishing the steps in flight, then undoing (again to exit now)"
            );
        } else {
            eprintln!(
                "labdeck: {name} again: exiting now; restore the lab with `labdeck undo --pool POOL {}`",
                run_dir.display()
            );
            std::process::exit(130);
        }
    }
}

/// Prints progress (a bar on a terminal, plain lines otherwise) and builds the results.
async fn print_progress(
    mut events: tokio::sync::mpsc::UnboundedReceiver<Event>,
    lines: bool,
) -> RunResults {
    let mut results = RunResults::default();
    let mut view = RunView::default();
    let bar = if lines && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} walks {msg} (eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    while let Some(event) = events.recv().await {
        let now = unix_millis_now();
        results.apply(&event, now);
        let Event::Run(run) = &event else { continue };
        view.apply(run, now);
        let line = match run {
            RunEvent::Started {
                walks,
                testbeds,
                recipe,
                ..
            } => {
                if let Some(bar) = &bar {
                    bar.set_length(*walks);
                }
                Some(format!(
                    "running {recipe}: {walks} walks on {} testbed(s)",
                    testbeds.len()
                ))
            }
            RunEvent::WalkFinished {
                walk_id,
                testbed,
                outcome,
                failed_action,
                ..
            } => {
                if let Some(bar) = &bar {
                    bar.inc(1);
                    bar.set_message(format!("{} failed", view.failed + view.errors));
                }
                matches!(outcome, Outcome::Fail | Outcome::Error).then(|| {
                    format!(
                        "{} walk {walk_id} on testbed {testbed} at {}",
                        if *outcome == Outcome::Fail {
                            "FAIL"
                        } else {
                            "ERROR"
                        },
                        failed_action.as_deref().unwrap_or("?")
                    )
                })
            }
            RunEvent::Setup {
                outcome,
                host,
                command,
                message,
                ..
            } if *outcome != Outcome::Pass => {
                Some(format!("SETUP FAILED on {host}: `{command}`: {message}"))
            }
            RunEvent::Stopping { reason } => Some(format!("stopping: {reason}")),
            RunEvent::Undone {
                host,
                description,
                error: Some(e),
            } => Some(format!("UNDO FAILED on {host}: {description}: {e}")),
            RunEvent::Finished { .. } => {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                None
            }
            _ => None,
        };
        if let (Some(line), true) = (line, lines) {
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }
    results
}
