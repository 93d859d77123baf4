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
    /// VPP `.api.json` definitions whose message names `vpp` completes.
    #[arg(long, value_name = "DIR")]
    pub vpp_api_dir: Option<PathBuf>,
}

/// The message names of the VPP definitions in `dir` (and its subdirectories), sorted.
pub fn vpp_message_names(dir: &std::path::Path) -> Result<Vec<String>, String> {
    let defs = crate::vpp::cache::load_api_tree(dir).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = defs.message_names().map(str::to_owned).collect();
    names.sort();
    Ok(names)
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
    let vpp_messages = match &args.vpp_api_dir {
        None => Vec::new(),
        Some(dir) => match vpp_message_names(dir) {
            Ok(names) => names,
            Err(e) => {
                eprintln!("labdeck repl: --vpp-api-dir {}: {e}", dir.display());
                return 2;
            }
        },
    };
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
    let driver = Arc::new(crate::run::driver::SessionDriver::new(
        engine.clone(),
        pool.clone(),
        args.recipe.clone(),
        Vec::new(),
        PathBuf::from("labdeck-runs"),
    ));
    let console = Arc::new(Console::new(
        engine,
        pool,
        args.recipe.clone(),
        Some(driver.clone() as Arc<dyn crate::console::RunDriver>),
    ));
    if !vpp_messages.is_empty() {
        console.set_vpp_messages(vpp_messages);
    }
    let options = crate::repl::ReplOptions {
        history: args.history.or_else(crate::repl::default_history),
        driver: Some(driver),
    };
    crate::repl::run(console, events, options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpp_message_names_come_from_the_definitions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vpp-api");
        let names = vpp_message_names(&dir).unwrap();
        assert!(names.iter().any(|n| n == "show_version"), "{names:?}");
        assert!(names.windows(2).all(|w| w[0] <= w[1]));
        let data = crate::console::CompletionData {
            hosts: vec!["h1".into()],
            vpp_messages: names,
            ..Default::default()
        };
        let (_, found) = crate::console::complete::complete("vpp h1 show_ver", 15, &data);
        assert!(found.iter().any(|n| n == "show_version"), "{found:?}");
        assert!(vpp_message_names(&dir.join("missing")).is_err());
    }
}
