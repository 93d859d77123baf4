//! `labdeck match`: find testbeds for a recipe's roles in a pool, without connecting.
//!
//! Prints the first testbed (or every one with `--all`, or K machine-disjoint ones with
//! `--disjoint K`) as a table of role, machine, address, interface role, interface and
//! network. Invariants: exit 0 when what was asked for was found; 1 when nothing (or fewer
//! than K) matches, after printing the mapper's explanation; 2 for usage and config errors
//! (pool, recipe, `-p` overrides). No machine is contacted.

use super::table;
use crate::mapper::{Mapper, Testbed};
use crate::pool::{Pool, TransportSpec};
use crate::recipe::{Recipe, RecipeError, adapt, params};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The recipe and its `-p` overrides, shared by `match` and `plan`.
#[derive(Debug, Clone, Args)]
pub struct RecipeArgs {
    /// The recipe file (TOML).
    #[arg(long, short = 'r', value_name = "FILE")]
    pub recipe: PathBuf,
    /// Override a recipe param (repeatable); checked against the param's type.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

impl RecipeArgs {
    /// Loads the recipe and splits the overrides; errors are reported here (exit 2).
    pub fn load(&self) -> Result<(Recipe, Vec<(String, String)>), i32> {
        let recipe = Recipe::load(&self.recipe).map_err(|e| {
            super::report(e);
            2
        })?;
        let overrides = self
            .params
            .iter()
            .map(|arg| params::parse_override(arg))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                super::report(RecipeError::from(e));
                2
            })?;
        Ok((recipe, overrides))
    }
}

#[derive(Debug, Args)]
pub struct MatchArgs {
    /// The pool file (TOML); its machines are not contacted.
    #[arg(long, short = 'P', env = "LABDECK_POOL", value_name = "FILE")]
    pub pool: PathBuf,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Print every testbed (each symmetry class once), up to --limit.
    #[arg(long, conflicts_with = "disjoint")]
    pub all: bool,
    /// Find K testbeds that share no machine.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub disjoint: Option<u64>,
    /// Most testbeds printed with --all (0: no limit).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

pub fn run(args: MatchArgs) -> i32 {
    let pool = match Pool::load(&args.pool) {
        Ok(pool) => pool,
        Err(e) => {
            super::report(e);
            return 2;
        }
    };
    let (recipe, overrides) = match args.recipe.load() {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    // Matching needs no param values, but bad overrides are still usage errors.
    if let Err(e) = params::check_overrides(&recipe.params, &overrides) {
        super::report(RecipeError::from(e));
        return 2;
    }
    let query = MatchQuery {
        all: args.all,
        disjoint: args
            .disjoint
            .map(|k| usize::try_from(k).unwrap_or(usize::MAX)),
        limit: args.limit,
    };
    match match_report(&pool, &recipe, &query) {
        Ok((out, code)) => {
            print!("{out}");
            code
        }
        Err(e) => {
            eprintln!("labdeck match: {e}");
            2
        }
    }
}

/// What `match` looks for: the first testbed, every one (`all`, up to `limit`, 0: no
/// limit) or `disjoint` machine-disjoint ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchQuery {
    pub all: bool,
    pub disjoint: Option<usize>,
    pub limit: usize,
}

/// The `match` report for a loaded pool and recipe, and its exit code (0 found, 1 not);
/// an error when the mapper refuses the inputs. Shared by the CLI and the console.
pub fn match_report(
    pool: &Pool,
    recipe: &Recipe,
    query: &MatchQuery,
) -> Result<(String, i32), crate::mapper::MapperError> {
    let mapper = Mapper::new(adapt::pool_view(pool), adapt::requirements(recipe))?;
    let mut out = format!(
        "recipe \"{}\" ({} roles) on pool {} ({} machines)\n",
        recipe.name,
        recipe.hosts.len(),
        pool.path.display(),
        pool.machines.len()
    );
    let code = if let Some(k) = query.disjoint {
        let found = mapper.disjoint(k);
        let count = found.testbeds.len();
        for (i, testbed) in found.testbeds.iter().enumerate() {
            let _ = write!(
                out,
                "\ntestbed {}\n{}",
                i + 1,
                render_testbed(pool, testbed)
            );
        }
        if found.is_complete() {
            let _ = writeln!(out, "\n{count} disjoint testbeds found");
            0
        } else {
            let why = if found.exhaustive {
                "the pool cannot hold more"
            } else {
                "search budget exhausted"
            };
            let _ = writeln!(
                out,
                "\nfound {count} of {k} requested disjoint testbeds; {why}"
            );
            if count == 0 {
                let _ = write!(out, "{}", mapper.explain());
            }
            1
        }
    } else if query.all {
        let limit = if query.limit == 0 {
            usize::MAX
        } else {
            query.limit
        };
        let mut count = 0usize;
        let mut matches = mapper.all_matches();
        for testbed in matches.by_ref().take(limit) {
            count += 1;
            let _ = write!(out, "\ntestbed {count}\n{}", render_testbed(pool, &testbed));
        }
        if count == 0 {
            let _ = write!(out, "\n{}", mapper.explain());
            1
        } else {
            let more = if matches.next().is_some() {
                " (more exist; raise --limit)".to_owned()
            } else {
                String::new()
            };
            let _ = writeln!(out, "\n{count} testbeds{more}");
            0
        }
    } else {
        match mapper.first_match() {
            Some(testbed) => {
                let _ = write!(out, "\n{}", render_testbed(pool, &testbed));
                0
            }
            None => {
                let _ = write!(out, "\n{}", mapper.explain());
                1
            }
        }
    };
    Ok((out, code))
}

/// One testbed as a table: a row per interface role (or per host role without any).
pub fn render_testbed(pool: &Pool, testbed: &Testbed) -> String {
    let mut rows = Vec::new();
    for (role, machine) in &testbed.hosts {
        let m = pool.machine(machine);
        let address = match m.map(|m| &m.transport) {
            Some(TransportSpec::Ssh(ssh)) => ssh.display_address(),
            Some(TransportSpec::Local) => "local".to_owned(),
            None => "-".to_owned(),
        };
        let mut ifaces = testbed
            .interfaces
            .iter()
            .filter(|((owner, _), _)| owner == role)
            .peekable();
        if ifaces.peek().is_none() {
            rows.push(vec![
                role.clone(),
                machine.clone(),
                address.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for ((_, iface_role), device) in ifaces {
            let network = m
                .and_then(|m| m.interfaces.iter().find(|i| &i.name == device))
                .and_then(|i| i.network.clone());
            let label = testbed
                .networks
                .iter()
                .find(|(_, net)| Some(*net) == network.as_ref())
                .map(|(label, net)| format!("{label} -> {net}"))
                .unwrap_or_else(|| network.unwrap_or_else(|| "-".into()));
            rows.push(vec![
                role.clone(),
                machine.clone(),
                address.clone(),
                iface_role.clone(),
                device.clone(),
                label,
            ]);
        }
    }
    table(
        &[
            "ROLE",
            "MACHINE",
            "ADDRESS",
            "IFACE",
            "INTERFACE",
            "NETWORK",
        ],
        rows,
    )
}
