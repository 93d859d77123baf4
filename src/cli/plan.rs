//! `labdeck plan`: the walks a recipe's walk order yields under a strategy.
//!
//! Resolves the params (`-p` overrides, defaults, mandatory ones), expands every action's
//! options (lists, ranges, `param` options), builds a [`Plan`] and prints the walk-space
//! size, the strategy with its walk count, the coverage check for covering strategies and
//! the first walks as `walk_id: action=value, …`. Invariants: exit 0 on success; 1 when a
//! covering plan fails its coverage check; 2 for usage, config and param errors. Walks are
//! generated lazily, so `--limit` bounds the work for huge spaces.

use super::match_cmd::RecipeArgs;
use crate::recipe::Recipe;
use crate::walk::{Plan, Strategy};
use clap::Args;
use std::fmt::Write as _;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// full | pairwise | t=N | random:N:SEED (default: the recipe's [walk] strategy).
    #[arg(long, value_name = "STRATEGY")]
    pub strategy: Option<Strategy>,
    /// Most walks printed (0: all).
    #[arg(long, default_value_t = 20)]
    pub limit: u64,
}

pub fn run(args: PlanArgs) -> i32 {
    let (recipe, overrides) = match args.recipe.load() {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    match plan_report(&recipe, &overrides, args.strategy, args.limit) {
        Ok((out, code)) => {
            print!("{out}");
            code
        }
        Err(PlanReportError::Params(e)) => {
            super::report(crate::recipe::RecipeError::from(e));
            2
        }
        Err(PlanReportError::Options(e)) => {
            super::report(e);
            2
        }
        Err(PlanReportError::Plan(e)) => {
            eprintln!("labdeck plan: {e}");
            2
        }
    }
}

/// Why a plan could not be shown (all usage or config errors, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanReportError {
    #[error(transparent)]
    Params(#[from] crate::recipe::params::ParamError),
    #[error(transparent)]
    Options(#[from] crate::recipe::RecipeError),
    #[error(transparent)]
    Plan(#[from] crate::walk::PlanError),
}

/// The `plan` report of a loaded recipe with its `-p` overrides under `strategy` (default:
/// the recipe's), showing at most `limit` walks (0: all), and its exit code (1 when a
/// covering plan fails its coverage check). Shared by the CLI and the console.
pub fn plan_report(
    recipe: &Recipe,
    overrides: &[(String, String)],
    strategy: Option<Strategy>,
    limit: u64,
) -> Result<(String, i32), PlanReportError> {
    let params = recipe.resolve_params(overrides)?;
    let sets = recipe.option_sets(&params)?;
    let strategy = strategy.unwrap_or(recipe.walk.strategy);
    let plan = Plan::new(Recipe::dimensions(&sets), strategy)?;
    let mut out = String::new();
    let order: Vec<String> = sets
        .iter()
        .map(|s| {
            let serial = if s.serial { ", serial" } else { "" };
            format!("{} ({}{serial})", s.action, s.values.len())
        })
        .collect();
    let _ = writeln!(
        out,
        "recipe \"{}\": walk order {} = {} walks in the full product",
        recipe.name,
        order.join(" x "),
        plan.space_size()
    );
    if !params.values.is_empty() {
        let shown: Vec<String> = params
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "params: {}", shown.join(", "));
    }
    let _ = writeln!(out, "strategy {strategy}: {} walks", plan.walk_count());
    let mut code = 0;
    if let Some(strength) = strategy.strength() {
        match plan.coverage_check(strength) {
            Ok(()) => {
                let _ = writeln!(
                    out,
                    "coverage: ok, every {strength}-tuple of options of any {strength} actions is in some walk"
                );
            }
            Err(e) => {
                let _ = writeln!(out, "coverage: FAILED: {e}");
                code = 1;
            }
        }
    }
    let limit = if limit == 0 { u64::MAX } else { limit };
    let mut shown = 0u64;
    for walk in plan
        .walks()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
    {
        let parts: Vec<String> = sets
            .iter()
            .zip(&walk.options)
            .map(|(set, &option)| {
                let value = set.values.get(option).map_or("?", String::as_str);
                format!("{}={value}", set.action)
            })
            .collect();
        let _ = writeln!(out, "{}: {}", walk.id, parts.join(", "));
        shown += 1;
    }
    if shown < plan.walk_count() {
        let _ = writeln!(
            out,
            "... {} more walks (--limit 0 prints all)",
            plan.walk_count() - shown
        );
    }
    Ok((out, code))
}
