//! `labdeck repl`: the interactive console on a pool (and optionally a recipe).
//!
//! Starts an engine with the fast path (a long session pays for it), a [`Console`] over it
//! and the line editor ([`crate::repl`]). Invariants: exit 0 after `quit` or end of input,
//! 1 when the terminal fails, 2 for pool and recipe errors; running jobs are killed on exit.

use super::PoolArgs;
use crate::console::Console;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ReplArgs {
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The recipe whose roles, `match`, `plan` and runs the session uses.
    #[arg(long, short = 'r', value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// The history file (default: `history` in $XDG_STATE_HOME/labdeck or
    /// ~/.local/state/labdeck).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

pub async fn run(args: ReplArgs) -> i32 {
    let pool = match args.pool.load() {
        Ok(pool) => pool,
        Err(e) => {
            super::report(e);
            return 2;
        }
    };
    if let Some(path) = &args.recipe
        && let Err(e) = crate::recipe::Recipe::load(path)
    {
        super::report(e);
        return 2;
    }
    let config = crate::engine::EngineConfig {
        fast_path: true,
        ..args.pool.engine_config(&pool)
    };
    let engine = crate::engine::EngineHandle::spawn(pool.clone(), config);
    let Ok(events) = engine.subscribe() else {
        return 1;
    };
    println!(
        "labdeck repl on {} ({} machines); `help` lists the commands, Tab completes, Ctrl-D leaves",
        pool.path.display(),
        pool.machines.len()
    );
    // The walk executor's RunDriver is attached here once it exists (integration).
    let console = Arc::new(Console::new(engine, pool, args.recipe.clone(), None));
    let options = crate::repl::ReplOptions {
        history: args.history.or_else(crate::repl::default_history),
    };
    crate::repl::run(console, events, options).await
}
