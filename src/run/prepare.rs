//! Preparing a run: recipe + params + pool → testbeds, option sets and the walk plan, plus
//! how every placeholder of a testbed resolves.
//!
//! Invariants: a [`Prepared`] run is fully validated before anything connects (mapper found
//! the testbeds, params resolved, the plan built); the recipe text kept is exactly the text
//! parsed (the trace stores it, so replays run what ran); interface addresses come from the
//! pool (`ip4`/`ip6` properties, prefix length dropped) or, when the pool has none, from the
//! devices discovered on the host at run start.

use crate::mapper::{Mapper, Testbed};
use crate::pool::Pool;
use crate::recipe::params::{Params, Value};
use crate::recipe::{OptionSet, Recipe, RecipeError, adapt};
use crate::walk::{Plan, PlanError, Strategy, WalkId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a run cannot start (all are usage or config errors: exit 2).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PrepareError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(#[from] RecipeError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}")]
    #[diagnostic(help(
        "`labdeck match --pool P --recipe R` explains which roles cannot be matched"
    ))]
    NoTestbed(String),
    #[error("the mapper failed: {0}")]
    Mapper(String),
    #[error("{0}")]
    Usage(String),
}

/// Everything a run needs, resolved and validated.
#[derive(Debug)]
pub struct Prepared {
    pub recipe: Recipe,
    pub recipe_text: String,
    pub params: Params,
    pub option_sets: Vec<OptionSet>,
    pub plan: Plan,
    pub pool: Pool,
    pub pool_digest: String,
    pub testbeds: Vec<Testbed>,
    /// Interface addresses per testbed machine and interface (`ip4`, `ip6`, `mac`) found on
    /// the hosts at run start; the pool's own values win.
    pub discovered: BTreeMap<(String, String), BTreeMap<&'static str, String>>,
}

/// How to choose testbeds.
#[derive(Debug, Clone, Default)]
pub struct TestbedChoice {
    /// How many disjoint testbeds to use (`None`: as many as the pool allows, up to 64).
    pub count: Option<usize>,
    /// Use exactly these role → machine maps (replays), in this order.
    pub exact: Option<Vec<BTreeMap<String, String>>>,
}

impl Prepared {
    /// Resolves `recipe_text` (read from `recipe_path`) against `pool`.
    pub fn new(
        recipe_path: &Path,
        recipe_text: String,
        overrides: &[(String, String)],
        strategy: Option<Strategy>,
        pool: Pool,
        pool_text: &str,
        choice: &TestbedChoice,
    ) -> Result<Prepared, PrepareError> {
        let recipe = Recipe::parse(recipe_path, &recipe_text)?;
        let params = recipe
            .resolve_params(overrides)
            .map_err(RecipeError::from)?;
        let option_sets = recipe.option_sets(&params)?;
        let plan = Plan::new(
            Recipe::dimensions(&option_sets),
            strategy.unwrap_or(recipe.walk.strategy),
        )?;
        let mapper = Mapper::new(adapt::pool_view(&pool), adapt::requirements(&recipe))
            .map_err(|e| PrepareError::Mapper(e.to_string()))?;
        let testbeds = match &choice.exact {
            Some(wanted) => {
                let mut found = Vec::new();
                for hosts in wanted {
                    let testbed = mapper
                        .all_matches()
                        .take(100_000)
                        .find(|t| &t.hosts == hosts)
                        .ok_or_else(|| {
                            PrepareError::NoTestbed(format!(
                                "no testbed of the pool maps the roles as recorded ({})",
                                describe_hosts(hosts)
                            ))
                        })?;
                    found.push(testbed);
                }
                found
            }
            None => {
                let want = choice.count.unwrap_or(64).max(1);
                let found = mapper.disjoint(want).testbeds;
                if found.is_empty() {
                    return Err(PrepareError::NoTestbed(format!(
                        "no testbed in the pool fits recipe `{}`:\n{}",
                        recipe.name,
                        mapper.explain()
                    )));
                }
                if choice.count.is_some_and(|k| found.len() < k) {
                    return Err(PrepareError::NoTestbed(format!(
                        "only {} machine-disjoint testbeds fit recipe `{}`, {want} were asked for",
                        found.len(),
                        recipe.name
                    )));
                }
                found
            }
        };
        Ok(Prepared {
            recipe,
            recipe_text,
            params,
            option_sets,
            plan,
            pool,
            pool_digest: crate::walk::trace::sha256_hex(pool_text.as_bytes()),
            testbeds,
            discovered: BTreeMap::new(),
        })
    }

    /// The run a trace recorded: its recipe text, params and strategy, against `pool`.
    pub fn from_trace_header(
        trace: &Path,
        header: &crate::walk::Header,
        pool: Pool,
        pool_text: &str,
        choice: &TestbedChoice,
    ) -> Result<Prepared, PrepareError> {
        let overrides: Vec<(String, String)> = header
            .params
            .iter()
            .map(|(k, v)| (k.clone(), json_param_text(v)))
            .collect();
        let strategy = header.strategy.parse().ok();
        Prepared::new(
            &PathBuf::from(format!("{}#recipe", trace.display())),
            header.recipe_text.clone(),
            &overrides,
            strategy,
            pool,
            pool_text,
            choice,
        )
    }

    /// The header's role → machine maps.
    pub fn testbed_maps(&self) -> Vec<BTreeMap<String, String>> {
        self.testbeds.iter().map(|t| t.hosts.clone()).collect()
    }

    /// A testbed as `role=machine` pairs in recipe role order.
    pub fn testbed_pairs(&self, testbed: usize) -> Vec<(String, String)> {
        let Some(t) = self.testbeds.get(testbed) else {
            return Vec::new();
        };
        self.recipe
            .hosts
            .iter()
            .filter_map(|r| t.hosts.get(&r.name).map(|m| (r.name.clone(), m.clone())))
            .collect()
    }

    /// Params as JSON for the trace header.
    pub fn params_json(&self) -> BTreeMap<String, serde_json::Value> {
        self.params
            .values
            .iter()
            .map(|(k, v)| (k.clone(), param_json(v)))
            .collect()
    }

    /// The value of an interface attribute (`name`, `ip4`, `ip6`, `mac`) on a testbed.
    pub fn iface_attr(
        &self,
        testbed: usize,
        role: &str,
        iface: &str,
        attr: &str,
    ) -> Option<String> {
        let t = self.testbeds.get(testbed)?;
        let name = t.interfaces.get(&(role.to_owned(), iface.to_owned()))?;
        if attr == "name" {
            return Some(name.clone());
        }
        let machine_name = t.hosts.get(role)?;
        let machine = self
            .pool
            .machines
            .iter()
            .find(|m| &m.name == machine_name)?;
        let interface = machine.interfaces.iter().find(|i| &i.name == name)?;
        let from_pool = match attr {
            "mac" => interface.hwaddr.clone(),
            "ip4" | "ip6" => interface
                .properties
                .get(attr)
                .map(|a| a.split('/').next().unwrap_or(a).to_owned()),
            _ => None,
        };
        from_pool.or_else(|| {
            self.discovered
                .get(&(machine_name.clone(), name.clone()))
                .and_then(|attrs| attrs.get(attr).cloned())
        })
    }

    /// The machine a role maps to on a testbed.
    pub fn machine(&self, testbed: usize, role: &str) -> Option<&str> {
        self.testbeds
            .get(testbed)?
            .hosts
            .get(role)
            .map(String::as_str)
    }

    /// Interfaces a testbed maps on `machine` (the devices a run may change there).
    pub fn mapped_interfaces(&self, testbed: usize, machine: &str) -> Vec<String> {
        let Some(t) = self.testbeds.get(testbed) else {
            return Vec::new();
        };
        t.interfaces
            .iter()
            .filter(|((role, _), _)| t.hosts.get(role).is_some_and(|m| m == machine))
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// The distinct machines of a testbed, in recipe role order.
    pub fn machines(&self, testbed: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, machine) in self.testbed_pairs(testbed) {
            if !out.contains(&machine) {
                out.push(machine);
            }
        }
        out
    }

    /// The option values of a walk, one per action of the walk order.
    pub fn walk_values(&self, walk_id: WalkId) -> Result<Vec<String>, PlanError> {
        let options = self.plan.walk(walk_id)?;
        Ok(options
            .iter()
            .zip(&self.option_sets)
            .map(|(&o, set)| set.values.get(o).cloned().unwrap_or_default())
            .collect())
    }
}

/// A recorded param value as `-p` text (lists comma-separated).
fn json_param_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(json_param_text)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn describe_hosts(hosts: &BTreeMap<String, String>) -> String {
    hosts
        .iter()
        .map(|(r, m)| format!("{r}={m}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn param_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Int(i) => serde_json::json!(i),
        Value::Float(x) => serde_json::json!(x),
        Value::Bool(b) => serde_json::json!(b),
        Value::List(items) => serde_json::Value::Array(items.iter().map(param_json).collect()),
        other => serde_json::Value::String(other.to_string()),
    }
}

/// Shared, immutable run description.
pub type SharedPrepared = Arc<Prepared>;
