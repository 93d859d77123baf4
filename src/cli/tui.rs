//! `labdeck tui`: the terminal UI on a pool (see [`crate::tui`]).
//!
//! Invariant: while the UI runs, tracing goes to its Log pane only ([`main`] installs the
//! ring layer as the global subscriber before anything logs).

use super::PoolArgs;
use crate::tui::keymap::Keymap;
use crate::tui::log::LogInbox;
use crate::tui::theme::Theme;
use crate::tui::{App, Wiring};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct TuiArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The recipe this session works with (shown in the header).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// A built-in theme (dark, light, high-contrast) or a TOML file overriding roles.
    #[arg(long, default_value = "dark", value_name = "NAME|PATH")]
    pub theme: String,
    /// A TOML file rebinding keys (see themes/keymap.toml).
    #[arg(long, value_name = "FILE")]
    pub keymap: Option<PathBuf>,
    /// Override a recipe param (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Where runs started from the UI go.
    #[arg(long, value_name = "DIR", default_value = "labdeck-runs")]
    pub runs_dir: PathBuf,
    /// Open a recorded run read-only: its trace is shown in the Walks pane.
    #[arg(long, value_name = "TRACE")]
    pub trace: Option<PathBuf>,
    /// The session's name for the header (set by `labdeck open`).
    #[arg(skip)]
    pub session_name: Option<String>,
}

/// The binary's entry for `labdeck tui`: tracing into the Log pane, a runtime, the UI.
pub fn main(args: TuiArgs) -> std::process::ExitCode {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let inbox = LogInbox::default();
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(inbox.layer())
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labdeck: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run_with_log(args, Some(inbox)));
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `labdeck tui` from the command dispatcher (tracing goes wherever it was set up).
pub async fn run(args: TuiArgs) -> i32 {
    run_with_log(args, None).await
}

async fn run_with_log(args: TuiArgs, log: Option<LogInbox>) -> i32 {
    let theme = match Theme::load(&args.theme) {
        Ok(theme) => theme,
        Err(e) => {
            eprintln!("labdeck tui: {e}");
            return 2;
        }
    };
    let keymap = match &args.keymap {
        Some(path) => match Keymap::load(path) {
            Ok(map) => map,
            Err(e) => {
                eprintln!("labdeck tui: {e}");
                return 2;
            }
        },
        None => Keymap::default(),
    };
    let pool = match args.pool.load() {
        Ok(pool) => pool,
        Err(e) => {
            super::report(e);
            return 2;
        }
    };
    let mut overrides = Vec::new();
    for p in &args.params {
        match crate::recipe::params::parse_override(p) {
            Ok(o) => overrides.push(o),
            Err(e) => {
                eprintln!("labdeck tui: {e}");
                return 2;
            }
        }
    }
    let recorded = match &args.trace {
        None => Vec::new(),
        Some(trace) => match crate::run::recorded::trace_events(trace) {
            Ok(events) => events,
            Err(e) => {
                eprintln!("labdeck tui: cannot read {}: {e}", trace.display());
                return 2;
            }
        },
    };
    let mut config = args.pool.engine_config(&pool);
    config.fast_path = true;
    let machines = pool.machines.iter().map(|m| m.name.clone()).collect();
    let engine = crate::engine::EngineHandle::spawn(pool.clone(), config);
    let pool_name = args
        .pool
        .pool
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let recipe = args.recipe.as_ref().map(|r| {
        r.file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut app = App::new(&pool_name, machines, recipe);
    if let Some(session) = &args.session_name {
        app.session = Some(session.clone());
    }
    // A recorded run is shown read-only: its events go through the same reducer.
    for event in &recorded {
        app.apply(&crate::engine::Event::Run(event.clone()));
    }
    // The `:` line, D and R run the shared command language against the session driver.
    let driver = std::sync::Arc::new(crate::run::driver::SessionDriver::new(
        engine.clone(),
        pool.clone(),
        args.recipe.clone(),
        overrides,
        args.runs_dir.clone(),
    ));
    let console = std::sync::Arc::new(crate::console::Console::new(
        engine.clone(),
        pool,
        args.recipe.clone(),
        Some(driver.clone() as std::sync::Arc<dyn crate::console::RunDriver>),
    ));
    let (commands, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (answer_tx, answers) = tokio::sync::mpsc::unbounded_channel();
    if let Ok(mut events) = engine.subscribe() {
        let console = console.clone();
        let notes = answer_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                for line in console.observe(&event) {
                    let _ = notes.send(line);
                }
            }
        });
    }
    tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            let console = console.clone();
            let answer_tx = answer_tx.clone();
            // Each line runs on its own task: a long `exec` never blocks the next command.
            tokio::spawn(async move {
                let output = console.execute_line(&line).await;
                for out in output.lines {
                    let _ = answer_tx.send(out);
                }
            });
        }
    });
    let wiring = Wiring {
        commands: Some(commands),
        answers: Some(answers),
        step: None,
        log,
    };
    let result = crate::tui::run(engine.clone(), app, theme, keymap, wiring).await;
    // Quitting during a run stops it: the steps in flight finish, every change is undone and
    // the trace gets its footer before the connections close.
    driver.stop_and_wait("the UI quit").await;
    engine.shutdown().await;
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("labdeck tui: {e}");
            1
        }
    }
}
