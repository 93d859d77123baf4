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
    let mut config = args.pool.engine_config(&pool);
    config.fast_path = true;
    let machines = pool.machines.iter().map(|m| m.name.clone()).collect();
    let engine = crate::engine::EngineHandle::spawn(pool, config);
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
    let app = App::new(&pool_name, machines, recipe);
    // The command language arrives with the REPL; until it is wired, the sink answers
    // every line so the user sees it was not run.
    let (commands, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (answer_tx, answers) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            let _ = answer_tx.send(format!("not run (no command language wired yet): {line}"));
        }
    });
    let wiring = Wiring {
        commands: Some(commands),
        answers: Some(answers),
        step: None,
        log,
    };
    let result = crate::tui::run(engine.clone(), app, theme, keymap, wiring).await;
    engine.shutdown().await;
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("labdeck tui: {e}");
            1
        }
    }
}
