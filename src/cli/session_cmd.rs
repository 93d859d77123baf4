//! `labdeck open`, `labdeck runs` and `labdeck demo`: sessions, their recorded runs, and a
//! built-in session that runs anywhere.
//!
//! Invariants: a session's runs go to `<session>/runs/`; the demo needs no root, no SSH and
//! no lab (local transport) unless `--lab` is given, in which case the lab it brings up is
//! always taken down again; exit codes are those of the run (0, 1, 2).

use super::PoolArgs;
use super::match_cmd::RecipeArgs;
use super::run::RunArgs;
use crate::session::{Session, list_runs};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The session directory (holding session.toml).
    pub session: PathBuf,
    /// Run the session's recipe headless (like `labdeck run`) instead of opening the TUI.
    #[arg(long)]
    pub batch: bool,
    /// Also write JUnit XML here (batch).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// A session directory, or a directory of run directories.
    #[arg(default_value = "labdeck-runs")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run headless: progress lines, the summary, exit 1 (the demo's walks really fail).
    #[arg(long)]
    pub batch: bool,
    /// Bring a lab up (root) and run the same session over SSH on its hosts.
    #[arg(long)]
    pub lab: bool,
    /// Where the demo session goes (default: the state directory's `demo/`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The RunArgs of a session's batch run.
pub(crate) fn session_run_args(session: &Session, junit: Option<PathBuf>) -> Option<RunArgs> {
    let recipe = session.recipe.clone()?;
    Some(RunArgs {
        pool: PoolArgs {
            pool: session.pool.clone(),
            accept_new_hostkeys: false,
            connect_timeout: 10.0,
        },
        recipe: RecipeArgs {
            recipe,
            params: session
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        },
        strategy: None,
        testbeds: None,
        run_dir: None,
        runs_dir: session.runs_dir(),
        max_failures: None,
        keep_on_failure: false,
        rerun_failed: None,
        parallel: None,
        step_timeout: 600.0,
        junit,
        json: None,
        tap: false,
        vpp_api_dir: None,
    })
}

pub async fn open(args: OpenArgs) -> i32 {
    let session = match Session::load(&args.session) {
        Ok(s) => s,
        Err(e) => {
            super::report(e);
            return 2;
        }
    };
    if args.batch {
        let Some(run_args) = session_run_args(&session, args.junit) else {
            eprintln!("labdeck: session {} names no recipe to run", session.name);
            return 2;
        };
        return super::run::run(run_args).await;
    }
    super::tui_session(&session).await
}

pub fn runs(args: RunsArgs) -> i32 {
    let dir = if args.dir.join(crate::session::SESSION_FILE).exists() {
        args.dir.join("runs")
    } else {
        args.dir.clone()
    };
    let runs = match list_runs(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("labdeck: cannot list runs in {}: {e}", dir.display());
            return 2;
        }
    };
    if runs.is_empty() {
        println!("no runs in {}", dir.display());
        return 0;
    }
    let rows = runs
        .iter()
        .map(|r| {
            vec![
                crate::run::exec::utc_stamp(r.started_at / 1000),
                r.recipe.clone(),
                r.state.clone(),
                r.walks.to_string(),
                r.passed.to_string(),
                r.failed.to_string(),
                r.dir.display().to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        super::table(
            &[
                "started",
                "recipe",
                "state",
                "walks",
                "passed",
                "failed",
                "directory"
            ],
            rows
        )
    );
    0
}

/// Writes the demo session into `dir`; `pool` overrides the built-in local pool.
pub fn write_demo_session(dir: &Path, pool: Option<&Path>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("recipe.toml"),
        include_str!("../../assets/demo/recipe.toml"),
    )?;
    std::fs::write(
        dir.join("pool.toml"),
        include_str!("../../assets/demo/pool.toml"),
    )?;
    let pool = pool
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "pool.toml".into());
    std::fs::write(
        dir.join(crate::session::SESSION_FILE),
        format!(
            "# The labdeck demo session (written by `labdeck demo`).\nname = \"demo\"\npool = {pool:?}\nrecipe = \"recipe.toml\"\n\n[params]\noverhead = 28\n"
        ),
    )
}

fn default_demo_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("labdeck").join("demo")
}

pub async fn demo(args: DemoArgs) -> i32 {
    let dir = args.dir.clone().unwrap_or_else(default_demo_dir);
    let lab_dir = dir.join("lab");
    if args.lab {
        let up = super::lab::up_for_demo(&lab_dir);
        if up != 0 {
            return up;
        }
    }
    let pool = args.lab.then(|| lab_dir.join("pool.toml"));
    if let Err(e) = write_demo_session(&dir, pool.as_deref()) {
        eprintln!(
            "labdeck: cannot write the demo session into {}: {e}",
            dir.display()
        );
        return 2;
    }
    println!("demo session: {}", dir.display());
    let code = open(OpenArgs {
        session: dir.clone(),
        batch: args.batch,
        junit: None,
    })
    .await;
    if args.lab {
        super::lab::down_for_demo(&lab_dir);
    }
    code
}
