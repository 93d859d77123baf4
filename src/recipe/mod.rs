//! Recipes: what a test needs (host and interface roles), what it takes (typed params) and
//! what it does (setup steps, actions, the walk order), loaded from a TOML file.
//!
//! [`Recipe::load`] parses with serde (`deny_unknown_fields`, spans kept) and validates the
//! whole shape before anything runs. Invariants of a loaded [`Recipe`]:
//! - names of params, roles, interface roles (per role) and actions are unique identifiers
//!   (letters, digits, `_`, `-`), and no role or action is called `params`, `value` or
//!   `walk_id` (they would clash with placeholders);
//! - every param default has the param's type; every regex (property matchers,
//!   `stdout_regex`) compiles;
//! - every template (setup steps, shell commands, sysctl keys, VPP call arguments, skip/cancel
//!   expressions) references only declared params, roles and interface roles, and `{value}`
//!   only where an action has options;
//! - every action's fields fit its kind; range options have `step > 0` and `from <= to`;
//!   `{ param = "x" }` options name a declared param;
//! - the walk order is non-empty, names declared actions, each once; the strategy parses;
//! - every error is a [`ConfigError`] naming `file:line:column` (unknown keys suggest the
//!   nearest valid key), except `-p` override errors ([`ParamError`]), which name the param.

pub mod adapt;
pub mod params;
pub mod template;

use crate::diag::{self, ConfigError, nearest};
use crate::mapper::{Matcher, PropertyReq};
use crate::walk::{ActionDimension, Strategy};
use indexmap::IndexMap;
use params::{ParamError, ParamSpec, ParamType, Params, Value};
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use template::Scope;
use toml::Spanned;

/// Most options one action may have after resolving ranges and params.
pub const MAX_OPTIONS: u64 = 1_000_000;

/// Errors loading a recipe or resolving its params.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RecipeError {
    #[error("cannot read recipe file {path}: {source}")]
    #[diagnostic(help("pass an existing recipe file with --recipe"))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] Box<ConfigError>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Param(#[from] ParamError),
    /// An action's resolved options are unusable (empty, or too many).
    #[error("action `{action}`: {message}")]
    Options { action: String, message: String },
}

/// A loaded, validated recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub params: Vec<ParamSpec>,
    pub hosts: Vec<HostRole>,
    /// Setup commands per role, in file order.
    pub setup: Vec<(String, Vec<String>)>,
    pub actions: Vec<Action>,
    pub walk: WalkSpec,
}

/// A host role and its requirements.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRole {
    pub name: String,
    pub properties: Vec<PropertyReq>,
    pub interfaces: Vec<IfaceRole>,
}

/// An interface role of a host role.
#[derive(Debug, Clone, PartialEq)]
pub struct IfaceRole {
    pub name: String,
    /// Recipe network label.
    pub network: String,
    pub driver: Option<Matcher>,
    pub properties: Vec<PropertyReq>,
}

/// One action of the recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub name: String,
    pub kind: ActionKind,
    pub options: OptionSource,
    /// Runs once per parameterization of the walk prefix, as a barrier.
    pub serial: bool,
    pub expect: Expect,
    pub skip_if: Option<String>,
    pub cancel_if: Option<String>,
}

/// What an action does.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// A shell command template run on every machine of `roles`.
    Shell { command: String, roles: Vec<String> },
    /// Sleep for the option's seconds.
    Sleep,
    /// Set sysctl `key` (a template) to the option on every machine of `roles`.
    Sysctl { key: String, roles: Vec<String> },
    /// A device operation on one interface role.
    Device {
        role: String,
        iface: String,
        op: DeviceOp,
    },
    /// A VPP binary-API call with argument templates.
    VppCall {
        role: String,
        message: String,
        args: IndexMap<String, String>,
    },
    /// Restart VPP on the role's machine (disconnects every API client first).
    VppRestart { role: String },
}

/// Device operations: `up`/`down` take no value; `mtu` and `addr` take the option;
/// `veth` creates the veth pair `{value}`/`{value}p` on the role's machine; `bridge` creates
/// the bridge `{value}` and enslaves the interface to it. Created devices are removed and
/// enslaved interfaces released by the undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceOp {
    Up,
    Down,
    Mtu,
    Addr,
    Veth,
    Bridge,
}

/// Where an action's options come from.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionSource {
    /// No options: the action runs once per walk (one option, shown as `-`).
    None,
    List(Vec<String>),
    Range {
        from: i64,
        to: i64,
        step: i64,
    },
    /// A param: each item of a list param, or the single value of any other.
    Param(String),
}

/// What makes an action pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    pub exit: Option<i32>,
    /// The action passes when it fails (expect-fail).
    pub fail: bool,
    pub stdout_regex: Option<String>,
    /// A JSON predicate on stdout (shape only: not empty).
    pub json: Option<String>,
}

/// The walk order and the default strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkSpec {
    pub order: Vec<String>,
    pub strategy: Strategy,
    /// Walks at once per testbed; more than 1 declares the walks independent of each other.
    pub parallel: usize,
}

/// Most walks at once per testbed.
pub const MAX_PARALLEL: i64 = 64;

/// One action of the walk order with its resolved option values.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionSet {
    pub action: String,
    pub values: Vec<String>,
    pub serial: bool,
}

impl Recipe {
    /// Reads and validates a recipe file.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read {
            path: path.to_owned(),
            source,
        })?;
        Recipe::parse(path, &text)
    }

    /// Parses recipe text; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Recipe, RecipeError> {
        let file: RecipeFile =
            toml::from_str(text).map_err(|e| Box::new(diag::from_toml_error(path, text, &e)))?;
        let cx = Cx { path, text };
        let name = file.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(cx.err(file.name.span(), "the recipe name is empty", None));
        }
        let params = build_params(&cx, &file.params)?;
        let hosts = build_hosts(&cx, &file.hosts)?;
        let param_names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        let roles: IndexMap<&str, Vec<&str>> = hosts
            .iter()
            .map(|h| {
                (
                    h.name.as_str(),
                    h.interfaces.iter().map(|i| i.name.as_str()).collect(),
                )
            })
            .collect();
        let setup_scope = Scope {
            params: param_names.clone(),
            roles: roles.clone(),
            ..Scope::default()
        };
        let mut setup = Vec::new();
        for (role, steps) in &file.setup {
            if !roles.contains_key(role.as_str()) {
                let names: Vec<&str> = roles.keys().copied().collect();
                return Err(cx.err(
                    steps.span(),
                    format!("setup names undeclared role `{role}`"),
                    Some(suggest(role, &names, "declared roles")),
                ));
            }
            for step in steps.get_ref() {
                cx.template(step, &setup_scope)?;
            }
            setup.push((
                role.clone(),
                steps
                    .get_ref()
                    .iter()
                    .map(|s| s.get_ref().clone())
                    .collect(),
            ));
        }
        let action_names: Vec<&str> = file
            .actions
            .iter()
            .map(|a| a.get_ref().name.get_ref().as_str())
            .collect();
        let mut actions: Vec<Action> = Vec::new();
        for spanned in &file.actions {
            let action = build_action(&cx, spanned, &params, &roles, &action_names)?;
            if actions.iter().any(|a| a.name == action.name) {
                let n = &spanned.get_ref().name;
                return Err(cx.err(
                    n.span(),
                    format!("action `{}` is declared more than once", action.name),
                    Some("give every action its own name".into()),
                ));
            }
            actions.push(action);
        }
        let walk = build_walk(&cx, file.walk.as_ref(), &actions)?;
        Ok(Recipe {
            path: path.to_owned(),
            name,
            description: file.description,
            params,
            hosts,
            setup,
            actions,
            walk,
        })
    }

    /// The action called `name`.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// Resolves the params: `-p NAME=VALUE` overrides, then defaults; mandatory params must
    /// be given.
    pub fn resolve_params(&self, overrides: &[(String, String)]) -> Result<Params, ParamError> {
        params::resolve(&self.params, overrides)
    }

    /// The option values of every action of the walk order, ranges expanded and `param`
    /// options resolved against `params`.
    pub fn option_sets(&self, params: &Params) -> Result<Vec<OptionSet>, RecipeError> {
        let mut sets = Vec::with_capacity(self.walk.order.len());
        for name in &self.walk.order {
            let Some(action) = self.action(name) else {
                continue; // Impossible after validation.
            };
            let bad = |message: String| RecipeError::Options {
                action: name.clone(),
                message,
            };
            let values = match &action.options {
                OptionSource::None => vec!["-".to_owned()],
                OptionSource::List(values) => values.clone(),
                OptionSource::Range { from, to, step } => {
                    let count = range_len(*from, *to, *step);
                    if count > MAX_OPTIONS {
                        return Err(bad(format!(
                            "the range has {count} options; at most {MAX_OPTIONS} are allowed"
                        )));
                    }
                    (0..count)
                        .map(|i| {
                            (i128::from(*from) + i128::from(*step) * i128::from(i)).to_string()
                        })
                        .collect()
                }
                OptionSource::Param(param) => match params.get(param) {
                    Some(Value::List(items)) => items.iter().map(Value::to_string).collect(),
                    Some(value) => vec![value.to_string()],
                    None => return Err(bad(format!("param `{param}` has no value"))),
                },
            };
            if values.is_empty() {
                return Err(bad("has no options (its list param is empty)".into()));
            }
            sets.push(OptionSet {
                action: name.clone(),
                values,
                serial: action.serial,
            });
        }
        Ok(sets)
    }

    /// The walk order as plan dimensions.
    pub fn dimensions(sets: &[OptionSet]) -> Vec<ActionDimension> {
        sets.iter()
            .map(|s| ActionDimension {
                name: s.action.clone(),
                option_count: s.values.len(),
                serial: s.serial,
            })
            .collect()
    }
}

/// Number of values `from, from+step, …, <= to` (0 when `from > to`).
fn range_len(from: i64, to: i64, step: i64) -> u64 {
    if from > to || step <= 0 {
        return 0;
    }
    let span = (i128::from(to) - i128::from(from)) / i128::from(step) + 1;
    u64::try_from(span).unwrap_or(u64::MAX)
}

/// Location context: builds located errors.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn err(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> RecipeError {
        RecipeError::Config(Box::new(ConfigError::at(
            self.path, self.text, span, message, help,
        )))
    }

    /// Validates a template written as a TOML string; errors point inside the string when
    /// it is written without escapes.
    fn template(&self, t: &Spanned<String>, scope: &Scope<'_>) -> Result<(), RecipeError> {
        template::validate(t.get_ref(), scope)
            .map(|_| ())
            .map_err(|e| {
                let span = t.span();
                let raw = self.text.get(span.clone()).unwrap_or("");
                let inner = &raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
                let located = if raw.len() >= 2 && *inner == t.get_ref().as_str() {
                    span.start + 1 + e.range.start..span.start + 1 + e.range.end
                } else {
                    span
                };
                self.err(located, e.message, e.help)
            })
    }
}

fn suggest(word: &str, candidates: &[&str], what: &str) -> String {
    if candidates.is_empty() {
        return format!("there are no {what}");
    }
    let list = candidates.join(", ");
    match nearest(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? {what}: {list}"),
        None => format!("{what}: {list}"),
    }
}

const RESERVED: [&str; 3] = ["params", "value", "walk_id"];

fn check_name(cx: &Cx<'_>, what: &str, name: &str, span: Range<usize>) -> Result<(), RecipeError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(cx.err(
            span,
            format!("invalid {what} name `{name}`"),
            Some("use letters, digits, `_` and `-`".into()),
        ));
    }
    if RESERVED.contains(&name) {
        return Err(cx.err(
            span,
            format!("`{name}` cannot be a {what} name"),
            Some("params, value and walk_id are reserved for placeholders".into()),
        ));
    }
    Ok(())
}

fn build_params(
    cx: &Cx<'_>,
    files: &IndexMap<String, Spanned<ParamFile>>,
) -> Result<Vec<ParamSpec>, RecipeError> {
    let mut specs = Vec::with_capacity(files.len());
    for (name, spanned) in files {
        let span = spanned.span();
        let p = spanned.get_ref();
        check_name(cx, "param", name, span.clone())?;
        let scalar = |t: ParamKind| match t {
            ParamKind::Int => Some(ParamType::Int),
            ParamKind::Float => Some(ParamType::Float),
            ParamKind::Bool => Some(ParamType::Bool),
            ParamKind::String => Some(ParamType::String),
            ParamKind::Ip => Some(ParamType::Ip),
            ParamKind::List | ParamKind::Choice => None,
        };
        let kind = *p.r#type.get_ref();
        if let Some(items) = &p.items
            && kind != ParamKind::List
        {
            return Err(cx.err(
                items.span(),
                format!("`items` applies only to list params, and `{name}` is not a list"),
                None,
            ));
        }
        if let Some(choices) = &p.choices
            && kind != ParamKind::Choice
        {
            return Err(cx.err(
                choices.span(),
                format!("`choices` applies only to choice params, and `{name}` is not a choice"),
                Some("write type = \"choice\"".into()),
            ));
        }
        let ty = match kind {
            ParamKind::List => {
                let items = match &p.items {
                    None => None,
                    Some(items) => match scalar(*items.get_ref()) {
                        Some(t) => Some(Box::new(t)),
                        None => {
                            return Err(cx.err(
                                items.span(),
                                "list items must be int, float, bool, string or ip",
                                None,
                            ));
                        }
                    },
                };
                ParamType::List { items }
            }
            ParamKind::Choice => {
                let Some(choices) = &p.choices else {
                    return Err(cx.err(
                        p.r#type.span(),
                        format!("choice param `{name}` has no `choices`"),
                        Some("add choices = [\"a\", \"b\"]".into()),
                    ));
                };
                let mut texts: Vec<String> = Vec::new();
                for choice in choices.get_ref() {
                    let Some(text) = params::scalar_text(choice.get_ref()) else {
                        return Err(cx.err(choice.span(), "a choice must be a scalar", None));
                    };
                    if texts.contains(&text) {
                        return Err(cx.err(
                            choice.span(),
                            format!("choice `{text}` appears twice"),
                            None,
                        ));
                    }
                    texts.push(text);
                }
                if texts.is_empty() {
                    return Err(cx.err(
                        choices.span(),
                        format!("choice param `{name}` has no choices"),
                        None,
                    ));
                }
                ParamType::Choice { choices: texts }
            }
            other => scalar(other).unwrap_or(ParamType::String),
        };
        let mandatory = p.mandatory.as_ref().is_some_and(|m| *m.get_ref());
        let default = match (&p.default, mandatory) {
            (Some(_), true) => {
                let span = p.mandatory.as_ref().map_or(span.clone(), Spanned::span);
                return Err(cx.err(
                    span,
                    format!("param `{name}` is mandatory and has a default"),
                    Some("remove `default`, or `mandatory = true`".into()),
                ));
            }
            (None, false) => {
                return Err(cx.err(
                    span,
                    format!("param `{name}` has neither a default nor mandatory = true"),
                    Some("add default = VALUE, or mandatory = true".into()),
                ));
            }
            (None, true) => None,
            (Some(d), false) => Some(params::from_toml(&ty, d.get_ref()).map_err(|reason| {
                cx.err(
                    d.span(),
                    format!("default of param `{name}` ({ty}): {reason}"),
                    None,
                )
            })?),
        };
        specs.push(ParamSpec {
            name: name.clone(),
            ty,
            default,
            description: p.description.clone(),
        });
    }
    Ok(specs)
}

fn build_hosts(
    cx: &Cx<'_>,
    files: &IndexMap<String, Spanned<HostFile>>,
) -> Result<Vec<HostRole>, RecipeError> {
    let mut hosts = Vec::with_capacity(files.len());
    for (name, spanned) in files {
        check_name(cx, "role", name, spanned.span())?;
        let h = spanned.get_ref();
        let mut interfaces = Vec::new();
        for (iname, ispanned) in &h.interfaces {
            check_name(cx, "interface role", iname, ispanned.span())?;
            let i = ispanned.get_ref();
            let network = i.network.get_ref().trim().to_owned();
            if network.is_empty() {
                return Err(cx.err(i.network.span(), "the network label is empty", None));
            }
            let driver = match &i.driver {
                Some(d) => Some(matcher(cx, d, &format!("driver of {name}.{iname}"))?),
                None => None,
            };
            interfaces.push(IfaceRole {
                name: iname.clone(),
                network,
                driver,
                properties: properties(cx, &i.properties, &format!("{name}.{iname}"))?,
            });
        }
        hosts.push(HostRole {
            name: name.clone(),
            properties: properties(cx, &h.properties, name)?,
            interfaces,
        });
    }
    Ok(hosts)
}

fn properties(
    cx: &Cx<'_>,
    files: &IndexMap<String, Spanned<toml::Value>>,
    owner: &str,
) -> Result<Vec<PropertyReq>, RecipeError> {
    files
        .iter()
        .map(|(key, value)| {
            Ok(PropertyReq {
                key: key.clone(),
                matcher: matcher(cx, value, &format!("property `{key}` of {owner}"))?,
            })
        })
        .collect()
}

const MATCHER_KEYS: [&str; 5] = ["equals", "regex", "not", "present", "absent"];

/// `"x"` / `1` / `true` (equality), `{ regex = "…" }`, `{ not = … }`, `{ present = bool }`,
/// `{ absent = bool }`, `{ equals = … }`.
fn matcher(cx: &Cx<'_>, value: &Spanned<toml::Value>, what: &str) -> Result<Matcher, RecipeError> {
    fn convert(v: &toml::Value, what: &str) -> Result<Matcher, (String, Option<String>)> {
        if let Some(text) = params::scalar_text(v) {
            return Ok(Matcher::Equals(text));
        }
        let help = || {
            Some(
                "write a value (equality), { regex = \"…\" }, { not = … }, { present = true } \
                 or { absent = true }"
                    .to_owned(),
            )
        };
        let toml::Value::Table(table) = v else {
            return Err((
                format!("{what}: a {} is not a requirement", v.type_str()),
                help(),
            ));
        };
        let mut entries = table.iter();
        let (Some((key, inner)), None) = (entries.next(), entries.next()) else {
            return Err((
                format!("{what}: a requirement table needs exactly one key"),
                help(),
            ));
        };
        let flag = |inner: &toml::Value| match inner {
            toml::Value::Boolean(b) => Ok(*b),
            _ => Err((format!("{what}: `{key}` takes true or false"), None)),
        };
        match key.as_str() {
            "equals" => match params::scalar_text(inner) {
                Some(text) => Ok(Matcher::Equals(text)),
                None => Err((format!("{what}: `equals` takes a value"), None)),
            },
            "regex" => {
                let toml::Value::String(pattern) = inner else {
                    return Err((format!("{what}: `regex` takes a string"), None));
                };
                regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    (
                        format!("{what}: invalid regex: {}", first_line(&e.to_string())),
                        None,
                    )
                })?;
                Ok(Matcher::Regex(pattern.clone()))
            }
            "not" => Ok(convert(inner, what)?.negate()),
            "present" => Ok(if flag(inner)? {
                Matcher::Present
            } else {
                Matcher::Absent
            }),
            "absent" => Ok(if flag(inner)? {
                Matcher::Absent
            } else {
                Matcher::Present
            }),
            other => Err((
                format!("{what}: unknown requirement `{other}`"),
                Some(suggest(other, &MATCHER_KEYS, "requirements")),
            )),
        }
    }
    convert(value.get_ref(), what).map_err(|(message, help)| cx.err(value.span(), message, help))
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .unwrap_or("")
        .to_owned()
}

fn build_action(
    cx: &Cx<'_>,
    spanned: &Spanned<ActionFile>,
    params: &[ParamSpec],
    roles: &IndexMap<&str, Vec<&str>>,
    action_names: &[&str],
) -> Result<Action, RecipeError> {
    let a = spanned.get_ref();
    let name = a.name.get_ref().clone();
    check_name(cx, "action", &name, a.name.span())?;
    let kind = *a.kind.get_ref();
    let options = build_options(cx, a, params, &name)?;
    check_option_values(cx, a, &options)?;
    let has_value = !matches!(options, OptionSource::None);
    let param_names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    let scope = Scope {
        params: param_names.clone(),
        roles: roles.clone(),
        value: has_value,
        walk_id: true,
        actions: Vec::new(),
    };
    // Fields that belong to other kinds are errors, named with the kind.
    let allowed: &[&str] = match kind {
        ActionKindFile::Shell => &["command", "roles"],
        ActionKindFile::Sleep => &[],
        ActionKindFile::Sysctl => &["key", "roles"],
        ActionKindFile::Device => &["iface", "op"],
        ActionKindFile::VppCall => &["role", "message", "args"],
        ActionKindFile::VppRestart => &["role"],
    };
    let present: [(&str, Option<Range<usize>>); 7] = [
        ("command", a.command.as_ref().map(Spanned::span)),
        ("roles", a.roles.as_ref().map(Spanned::span)),
        ("key", a.key.as_ref().map(Spanned::span)),
        ("iface", a.iface.as_ref().map(Spanned::span)),
        ("op", a.op.as_ref().map(Spanned::span)),
        ("role", a.role.as_ref().map(Spanned::span)),
        ("message", a.message.as_ref().map(Spanned::span)),
    ];
    let kind_name = kind.name();
    for (field, span) in present {
        if let Some(span) = span
            && !allowed.contains(&field)
        {
            return Err(cx.err(
                span,
                format!("`{field}` does not apply to an action of kind {kind_name}"),
                Some(if allowed.is_empty() {
                    format!("kind {kind_name} takes no kind-specific fields")
                } else {
                    format!("kind {kind_name} takes: {}", allowed.join(", "))
                }),
            ));
        }
    }
    if let Some(args) = &a.args
        && kind != ActionKindFile::VppCall
    {
        return Err(cx.err(
            args.span(),
            format!("`args` does not apply to an action of kind {kind_name}"),
            None,
        ));
    }
    let missing = |field: &str, example: &str| {
        cx.err(
            a.kind.span(),
            format!("action `{name}` of kind {kind_name} needs `{field}`"),
            Some(format!("add {field} = {example}")),
        )
    };
    let role_list = |list: &Spanned<Vec<Spanned<String>>>| -> Result<Vec<String>, RecipeError> {
        if list.get_ref().is_empty() {
            return Err(cx.err(
                list.span(),
                "`roles` is empty",
                Some("name at least one role".into()),
            ));
        }
        list.get_ref()
            .iter()
            .map(|r| {
                role_exists(cx, roles, r)?;
                Ok(r.get_ref().clone())
            })
            .collect()
    };
    let kind = match kind {
        ActionKindFile::Shell => {
            let command = a
                .command
                .as_ref()
                .ok_or_else(|| missing("command", "\"…\""))?;
            cx.template(command, &scope)?;
            let roles = a
                .roles
                .as_ref()
                .ok_or_else(|| missing("roles", "[\"ROLE\"]"))?;
            ActionKind::Shell {
                command: command.get_ref().clone(),
                roles: role_list(roles)?,
            }
        }
        ActionKindFile::Sleep => ActionKind::Sleep,
        ActionKindFile::Sysctl => {
            let key = a
                .key
                .as_ref()
                .ok_or_else(|| missing("key", "\"net.ipv4.ip_forward\""))?;
            cx.template(key, &scope)?;
            let roles = a
                .roles
                .as_ref()
                .ok_or_else(|| missing("roles", "[\"ROLE\"]"))?;
            ActionKind::Sysctl {
                key: key.get_ref().clone(),
                roles: role_list(roles)?,
            }
        }
        ActionKindFile::Device => {
            let iface = a
                .iface
                .as_ref()
                .ok_or_else(|| missing("iface", "\"ROLE.IFACE\""))?;
            let op = a.op.as_ref().ok_or_else(|| missing("op", "\"up\""))?;
            let Some((role, iname)) = iface.get_ref().split_once('.') else {
                return Err(cx.err(
                    iface.span(),
                    format!("`{}` is not ROLE.IFACE", iface.get_ref()),
                    Some("e.g. iface = \"dut.eth0\"".into()),
                ));
            };
            let Some(ifaces) = roles.get(role) else {
                let names: Vec<&str> = roles.keys().copied().collect();
                return Err(cx.err(
                    iface.span(),
                    format!("unknown role `{role}`"),
                    Some(suggest(role, &names, "declared roles")),
                ));
            };
            if !ifaces.contains(&iname) {
                return Err(cx.err(
                    iface.span(),
                    format!("role `{role}` has no interface role `{iname}`"),
                    Some(suggest(iname, ifaces, "its interface roles")),
                ));
            }
            let op = *op.get_ref();
            if matches!(
                op,
                DeviceOp::Mtu | DeviceOp::Addr | DeviceOp::Veth | DeviceOp::Bridge
            ) && !has_value
            {
                let op_name = match op {
                    DeviceOp::Mtu => "mtu",
                    DeviceOp::Addr => "addr",
                    DeviceOp::Veth => "veth",
                    _ => "bridge",
                };
                return Err(cx.err(
                    a.op.as_ref().map_or(spanned.span(), Spanned::span),
                    format!(
                        "device op {op_name} of action `{name}` needs options (the values to set)"
                    ),
                    Some("add options = [...], a range or { param = \"NAME\" }".into()),
                ));
            }
            ActionKind::Device {
                role: role.to_owned(),
                iface: iname.to_owned(),
                op,
            }
        }
        ActionKindFile::VppCall => {
            let role = a.role.as_ref().ok_or_else(|| missing("role", "\"ROLE\""))?;
            role_exists(cx, roles, role)?;
            let message = a
                .message
                .as_ref()
                .ok_or_else(|| missing("message", "\"show_version\""))?;
            let valid = !message.get_ref().is_empty()
                && message
                    .get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(cx.err(
                    message.span(),
                    format!("`{}` is not a VPP message name", message.get_ref()),
                    Some("VPP message names are snake_case, e.g. sw_interface_set_mtu".into()),
                ));
            }
            let mut args = IndexMap::new();
            for (k, v) in a
                .args
                .as_ref()
                .map(|s| s.get_ref().iter())
                .into_iter()
                .flatten()
            {
                cx.template(v, &scope)?;
                args.insert(k.clone(), v.get_ref().clone());
            }
            ActionKind::VppCall {
                role: role.get_ref().clone(),
                message: message.get_ref().clone(),
                args,
            }
        }
        ActionKindFile::VppRestart => {
            let role = a.role.as_ref().ok_or_else(|| missing("role", "\"ROLE\""))?;
            role_exists(cx, roles, role)?;
            ActionKind::VppRestart {
                role: role.get_ref().clone(),
            }
        }
    };
    let expect = match &a.expect {
        None => Expect::default(),
        Some(e) => {
            if let Some(re) = &e.stdout_regex {
                regex::Regex::new(re.get_ref()).map_err(|err| {
                    cx.err(
                        re.span(),
                        format!("invalid stdout_regex: {}", first_line(&err.to_string())),
                        None,
                    )
                })?;
            }
            if let Some(json) = &e.json
                && json.get_ref().trim().is_empty()
            {
                return Err(cx.err(json.span(), "the json predicate is empty", None));
            }
            Expect {
                exit: e.exit,
                fail: e.fail.unwrap_or(false),
                stdout_regex: e.stdout_regex.as_ref().map(|r| r.get_ref().clone()),
                json: e.json.as_ref().map(|j| j.get_ref().clone()),
            }
        }
    };
    let expr_scope = Scope {
        actions: action_names.to_vec(),
        ..scope
    };
    for expr in [&a.skip_if, &a.cancel_if].into_iter().flatten() {
        check_expression(cx, expr, &expr_scope)?;
    }
    Ok(Action {
        name,
        kind,
        options,
        serial: a.serial.unwrap_or(false),
        expect,
        skip_if: a.skip_if.as_ref().map(|s| s.get_ref().clone()),
        cancel_if: a.cancel_if.as_ref().map(|s| s.get_ref().clone()),
    })
}

fn role_exists(
    cx: &Cx<'_>,
    roles: &IndexMap<&str, Vec<&str>>,
    role: &Spanned<String>,
) -> Result<(), RecipeError> {
    if roles.contains_key(role.get_ref().as_str()) {
        return Ok(());
    }
    let names: Vec<&str> = roles.keys().copied().collect();
    Err(cx.err(
        role.span(),
        format!("unknown role `{}`", role.get_ref()),
        Some(suggest(role.get_ref(), &names, "declared roles")),
    ))
}

/// Expressions: not empty, balanced parentheses and quotes, valid placeholders.
fn check_expression(
    cx: &Cx<'_>,
    expr: &Spanned<String>,
    scope: &Scope<'_>,
) -> Result<(), RecipeError> {
    let text = expr.get_ref();
    if text.trim().is_empty() {
        return Err(cx.err(expr.span(), "the expression is empty", None));
    }
    let mut depth: i64 = 0;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    if depth != 0 || quote.is_some() {
        return Err(cx.err(
            expr.span(),
            "unbalanced parentheses or quotes in the expression",
            None,
        ));
    }
    cx.template(expr, scope)
}

fn build_options(
    cx: &Cx<'_>,
    a: &ActionFile,
    params: &[ParamSpec],
    action: &str,
) -> Result<OptionSource, RecipeError> {
    let Some(options) = &a.options else {
        return Ok(OptionSource::None);
    };
    let span = options.span();
    let help = || {
        Some(
            "options are a list [..], a range { from = 1, to = 4, step = 1 } or { param = \"NAME\" }"
                .to_owned(),
        )
    };
    let source = match options.get_ref() {
        toml::Value::Array(values) => {
            if values.is_empty() {
                return Err(cx.err(
                    span,
                    format!("action `{action}` has an empty option list"),
                    help(),
                ));
            }
            let mut texts = Vec::with_capacity(values.len());
            for v in values {
                let Some(text) = params::scalar_text(v) else {
                    return Err(cx.err(
                        span,
                        format!("option lists hold values, not a {}", v.type_str()),
                        None,
                    ));
                };
                texts.push(text);
            }
            OptionSource::List(texts)
        }
        toml::Value::Table(table) => {
            if let Some(param) = table.get("param") {
                if table.len() != 1 {
                    return Err(cx.err(span, "`param` options take no other keys", help()));
                }
                let toml::Value::String(param) = param else {
                    return Err(cx.err(span, "`param` takes a param name", None));
                };
                if !params.iter().any(|p| &p.name == param) {
                    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                    return Err(cx.err(
                        span,
                        format!("options name undeclared param `{param}`"),
                        Some(suggest(param, &names, "declared params")),
                    ));
                }
                OptionSource::Param(param.clone())
            } else {
                for key in table.keys() {
                    if !["from", "to", "step"].contains(&key.as_str()) {
                        return Err(cx.err(
                            span,
                            format!("unknown key `{key}` in options"),
                            Some(suggest(key, &["from", "to", "step", "param"], "valid keys")),
                        ));
                    }
                }
                let int = |key: &str, default: Option<i64>| match (table.get(key), default) {
                    (Some(toml::Value::Integer(i)), _) => Ok(*i),
                    (None, Some(d)) => Ok(d),
                    (None, None) => {
                        Err(cx.err(span.clone(), format!("the range needs `{key}`"), help()))
                    }
                    (Some(_), _) => Err(cx.err(
                        span.clone(),
                        format!("range `{key}` must be an integer"),
                        None,
                    )),
                };
                let (from, to, step) =
                    (int("from", None)?, int("to", None)?, int("step", Some(1))?);
                if step <= 0 {
                    return Err(cx.err(
                        span,
                        format!("range step must be positive, got {step}"),
                        None,
                    ));
                }
                if from > to {
                    return Err(cx.err(
                        span,
                        format!("empty range: from {from} is above to {to}"),
                        None,
                    ));
                }
                OptionSource::Range { from, to, step }
            }
        }
        other => {
            return Err(cx.err(
                span,
                format!("options cannot be a {}", other.type_str()),
                help(),
            ));
        }
    };
    Ok(source)
}

/// Kind-specific checks of literal options: `sleep` takes seconds (numbers >= 0), a device
/// `mtu` takes integers from 68 to 65535. Options from params are checked when resolved.
fn check_option_values(
    cx: &Cx<'_>,
    a: &ActionFile,
    options: &OptionSource,
) -> Result<(), RecipeError> {
    let Some(span) = a.options.as_ref().map(Spanned::span) else {
        return Ok(());
    };
    let mtu =
        a.op.as_ref()
            .is_some_and(|op| *op.get_ref() == DeviceOp::Mtu)
            && *a.kind.get_ref() == ActionKindFile::Device;
    let sleep = *a.kind.get_ref() == ActionKindFile::Sleep;
    let bad = |value: &str| -> Option<String> {
        if sleep
            && !value
                .parse::<f64>()
                .is_ok_and(|x| x.is_finite() && x >= 0.0)
        {
            return Some(format!(
                "sleep option `{value}` is not a number of seconds >= 0"
            ));
        }
        if mtu
            && !value
                .parse::<u32>()
                .is_ok_and(|m| (68..=65535).contains(&m))
        {
            return Some(format!(
                "mtu option `{value}` is not an integer from 68 to 65535"
            ));
        }
        None
    };
    let first_bad = match options {
        OptionSource::List(values) => values.iter().find_map(|v| bad(v)),
        OptionSource::Range { from, to, step } => {
            // The last value the range reaches (not `to` itself, when the step skips it).
            let last = i128::from(*from)
                + (i128::from(*to) - i128::from(*from)) / i128::from(*step) * i128::from(*step);
            bad(&from.to_string()).or_else(|| bad(&last.to_string()))
        }
        OptionSource::None | OptionSource::Param(_) => None,
    };
    match first_bad {
        Some(message) => Err(cx.err(span, message, None)),
        None => Ok(()),
    }
}

fn build_walk(
    cx: &Cx<'_>,
    walk: Option<&Spanned<WalkFile>>,
    actions: &[Action],
) -> Result<WalkSpec, RecipeError> {
    let names: Vec<&str> = actions.iter().map(|a| a.name.as_str()).collect();
    let Some(walk) = walk else {
        // Without [walk], every action in file order, full product.
        return Ok(WalkSpec {
            order: names.iter().map(|n| (*n).to_owned()).collect(),
            strategy: Strategy::Full,
            parallel: 1,
        });
    };
    let w = walk.get_ref();
    let order: Vec<String> = match &w.order {
        None => names.iter().map(|n| (*n).to_owned()).collect(),
        Some(order) => {
            let mut seen: Vec<String> = Vec::new();
            for item in order.get_ref() {
                let n = item.get_ref();
                if !names.contains(&n.as_str()) {
                    return Err(cx.err(
                        item.span(),
                        format!("walk order names undeclared action `{n}`"),
                        Some(suggest(n, &names, "declared actions")),
                    ));
                }
                if seen.contains(n) {
                    return Err(cx.err(
                        item.span(),
                        format!("action `{n}` appears twice in the walk order"),
                        None,
                    ));
                }
                seen.push(n.clone());
            }
            if seen.is_empty() {
                return Err(cx.err(
                    order.span(),
                    "the walk order is empty",
                    Some("name at least one action".into()),
                ));
            }
            seen
        }
    };
    if order.is_empty() {
        return Err(cx.err(
            walk.span(),
            "the walk has no actions",
            Some("declare [[actions]]".into()),
        ));
    }
    let strategy = match &w.strategy {
        None => Strategy::Full,
        Some(s) => s
            .get_ref()
            .parse::<Strategy>()
            .map_err(|e| cx.err(s.span(), e.to_string(), None))?,
    };
    let parallel = match &w.parallel {
        None => 1,
        Some(p) if (1..=MAX_PARALLEL).contains(p.get_ref()) => *p.get_ref() as usize,
        Some(p) => {
            return Err(cx.err(
                p.span(),
                format!("parallel must be between 1 and {MAX_PARALLEL}"),
                Some("parallel = N runs up to N independent walks at once per testbed".into()),
            ));
        }
    };
    Ok(WalkSpec {
        order,
        strategy,
        parallel,
    })
}

// ---------------------------------------------------------------------------------------
// The file format (serde).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    name: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    params: IndexMap<String, Spanned<ParamFile>>,
    #[serde(default)]
    hosts: IndexMap<String, Spanned<HostFile>>,
    #[serde(default)]
    setup: IndexMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    actions: Vec<Spanned<ActionFile>>,
    walk: Option<Spanned<WalkFile>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ParamKind {
    Int,
    Float,
    Bool,
    String,
    Ip,
    List,
    Choice,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamFile {
    r#type: Spanned<ParamKind>,
    default: Option<Spanned<toml::Value>>,
    mandatory: Option<Spanned<bool>>,
    choices: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    items: Option<Spanned<ParamKind>>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    #[serde(default)]
    properties: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    interfaces: IndexMap<String, Spanned<IfaceFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IfaceFile {
    network: Spanned<String>,
    driver: Option<Spanned<toml::Value>>,
    #[serde(default)]
    properties: IndexMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActionKindFile {
    Shell,
    Sleep,
    Sysctl,
    Device,
    VppCall,
    VppRestart,
}

impl ActionKindFile {
    fn name(self) -> &'static str {
        match self {
            ActionKindFile::Shell => "shell",
            ActionKindFile::Sleep => "sleep",
            ActionKindFile::Sysctl => "sysctl",
            ActionKindFile::Device => "device",
            ActionKindFile::VppCall => "vpp_call",
            ActionKindFile::VppRestart => "vpp_restart",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionFile {
    name: Spanned<String>,
    kind: Spanned<ActionKindFile>,
    command: Option<Spanned<String>>,
    roles: Option<Spanned<Vec<Spanned<String>>>>,
    key: Option<Spanned<String>>,
    iface: Option<Spanned<String>>,
    op: Option<Spanned<DeviceOp>>,
    role: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    args: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    options: Option<Spanned<toml::Value>>,
    serial: Option<bool>,
    expect: Option<ExpectFile>,
    skip_if: Option<Spanned<String>>,
    cancel_if: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    exit: Option<i32>,
    fail: Option<bool>,
    stdout_regex: Option<Spanned<String>>,
    json: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WalkFile {
    order: Option<Spanned<Vec<Spanned<String>>>>,
    strategy: Option<Spanned<String>>,
    parallel: Option<Spanned<i64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPE: &str = r#"
name = "all-kinds"
description = "every action kind"
[params.rings]
type = "list"
items = "int"
default = [256, 512]
[params.mode]
type = "choice"
choices = ["fast", "slow"]
default = "fast"
[params.peer]
type = "ip"
mandatory = true

[hosts.dut]
properties = { arch = "x86_64" }
[hosts.dut.interfaces.eth0]
network = "net1"

[setup]
dut = ["ip link set {dut.eth0.name} up # {params.mode}"]

[[actions]]
name = "ring"
kind = "shell"
roles = ["dut"]
command = "ethtool -G {dut.eth0.name} rx {value} # walk {walk_id}"
options = { param = "rings" }
expect = { exit = 0, fail = false, stdout_regex = "ok", json = ".ok == true" }

[[actions]]
name = "fwd"
kind = "sysctl"
roles = ["dut"]
key = "net.ipv4.conf.{dut.eth0.name}.forwarding"
options = [0, 1]
serial = true

[[actions]]
name = "up"
kind = "device"
iface = "dut.eth0"
op = "up"

[[actions]]
name = "ver"
kind = "vpp_call"
role = "dut"
message = "sw_interface_set_mtu"
args = { mtu = "{value}", peer = "{params.peer}" }
options = { from = 1500, to = 9000, step = 2500 }
skip_if = "({fwd} == 0) && '{ring}' != ''"
cancel_if = "{ver} > 9000"

[[actions]]
name = "restart"
kind = "vpp_restart"
role = "dut"

[[actions]]
name = "nap"
kind = "sleep"
options = { param = "mode" }

[walk]
order = ["ring", "fwd", "ver", "nap"]
strategy = "pairwise"
"#;

    fn load() -> Recipe {
        Recipe::parse(Path::new("r.toml"), RECIPE).expect("valid recipe")
    }

    #[test]
    fn every_action_kind_loads() {
        let r = load();
        assert_eq!(r.name, "all-kinds");
        assert_eq!(r.walk.strategy, Strategy::Pairwise);
        assert_eq!(r.setup[0].0, "dut");
        let kinds: Vec<&ActionKind> = r.actions.iter().map(|a| &a.kind).collect();
        assert!(matches!(kinds[0], ActionKind::Shell { roles, .. } if roles == &["dut"]));
        assert!(matches!(kinds[1], ActionKind::Sysctl { .. }));
        assert_eq!(
            kinds[2],
            &ActionKind::Device {
                role: "dut".into(),
                iface: "eth0".into(),
                op: DeviceOp::Up
            }
        );
        assert!(matches!(kinds[3], ActionKind::VppCall { args, .. } if args.len() == 2));
        assert_eq!(kinds[4], &ActionKind::VppRestart { role: "dut".into() });
        assert_eq!(kinds[5], &ActionKind::Sleep);
        let ring = r.action("ring").expect("ring");
        assert_eq!(ring.expect.exit, Some(0));
        assert_eq!(ring.expect.json.as_deref(), Some(".ok == true"));
        assert!(r.action("fwd").is_some_and(|a| a.serial));
        assert_eq!(
            r.action("up").map(|a| &a.options),
            Some(&OptionSource::None)
        );
    }

    #[test]
    fn option_sets_expand_ranges_and_params() {
        let r = load();
        let params = r
            .resolve_params(&[("peer".into(), "198.18.0.2".into())])
            .expect("params");
        let sets = r.option_sets(&params).expect("sets");
        let values: Vec<(&str, Vec<&str>)> = sets
            .iter()
            .map(|s| {
                (
                    s.action.as_str(),
                    s.values.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            values,
            [
                ("ring", vec!["256", "512"]),
                ("fwd", vec!["0", "1"]),
                ("ver", vec!["1500", "4000", "6500", "9000"]),
                ("nap", vec!["fast"]),
            ]
        );
        let dims = Recipe::dimensions(&sets);
        assert!(dims[1].serial);
        assert_eq!(dims[2].option_count, 4);
        // An empty list param leaves an action without options.
        let params = r
            .resolve_params(&[("peer".into(), "::1".into()), ("rings".into(), "".into())])
            .expect("params");
        let err = r.option_sets(&params).expect_err("empty options");
        assert_eq!(
            err.to_string(),
            "action `ring`: has no options (its list param is empty)"
        );
    }

    #[test]
    fn ranges_are_bounded() {
        assert_eq!(range_len(1, 3, 1), 3);
        assert_eq!(range_len(1, 4, 2), 2);
        assert_eq!(range_len(5, 4, 1), 0);
        assert_eq!(range_len(i64::MIN, i64::MAX, 1), u64::MAX);
        let text = "name = \"r\"\n[[actions]]\nname = \"n\"\nkind = \"sleep\"\noptions = { from = 0, to = 10000000 }\n";
        let r = Recipe::parse(Path::new("r.toml"), text).expect("valid");
        let err = r.option_sets(&Params::default()).expect_err("too many");
        assert!(err.to_string().contains("at most 1000000"), "{err}");
    }

    #[test]
    fn template_errors_point_inside_the_string() {
        let text = "name = \"r\"\n[hosts.dut]\n[setup]\ndut = [\"echo {walk_id}\"]\n";
        let Err(RecipeError::Config(e)) = Recipe::parse(Path::new("r.toml"), text) else {
            panic!("config error")
        };
        assert_eq!(
            e.to_string(),
            "r.toml:4:14: `{walk_id}` is not available here"
        );
        // With escapes in the string, the whole string is pointed at.
        let text = "name = \"r\"\n[hosts.dut]\n[setup]\ndut = [\"echo \\t {walk_id}\"]\n";
        let Err(RecipeError::Config(e)) = Recipe::parse(Path::new("r.toml"), text) else {
            panic!("config error")
        };
        assert_eq!(
            e.to_string(),
            "r.toml:4:8: `{walk_id}` is not available here"
        );
    }

    #[test]
    fn without_walk_table_every_action_runs_in_file_order() {
        let text = "name = \"r\"\n[[actions]]\nname = \"b\"\nkind = \"sleep\"\n[[actions]]\nname = \"a\"\nkind = \"sleep\"\n";
        let r = Recipe::parse(Path::new("r.toml"), text).expect("valid");
        assert_eq!(r.walk.order, ["b", "a"]);
        assert_eq!(r.walk.strategy, Strategy::Full);
    }
}
