//! Running one step: an action of a walk on a testbed, judged against its expectations.
//!
//! Invariants: every value substituted into a shell command is shell-quoted (templates go
//! through [`crate::recipe::template::render_shell`]); expressions get values as data
//! ([`super::expr`]); a device or sysctl change records its undo (fsynced when the run has a
//! directory) before it runs, and only devices the testbed maps (or that the run created)
//! are changed; a step never panics: anything that goes wrong becomes an `Error` outcome with
//! a one-line reason in its excerpt.

use super::expr::{self, Vars};
use super::prepare::Prepared;
use crate::devices::apply::HostChanger;
use crate::devices::ops::{DeviceOp as Op, Guard, UndoLog};
use crate::engine::{Ending, EngineHandle, JobSnapshot, JobSpec};
use crate::recipe::template::render_shell;
use crate::recipe::{Action, ActionKind, DeviceOp};
use crate::walk::trace::{bounded_excerpt, unix_millis_now};
use crate::walk::{Outcome, WalkId};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes of output kept in a step's excerpt.
pub const EXCERPT_BYTES: usize = 2048;

/// One walk's values on one testbed: what placeholders see.
#[derive(Debug, Clone)]
pub struct WalkCtx<'a> {
    pub prepared: &'a Prepared,
    pub testbed: usize,
    pub walk_id: WalkId,
    /// The option value per walk-order position (`None`: the action was dropped, shrink).
    pub values: &'a [Option<String>],
}

/// Placeholder values for the action at `position` of the walk.
struct StepVars<'a> {
    ctx: &'a WalkCtx<'a>,
    position: usize,
    json: Option<serde_json::Value>,
}

impl Vars for StepVars<'_> {
    fn placeholder(&self, name: &str) -> Option<String> {
        let ctx = self.ctx;
        let order = &ctx.prepared.recipe.walk.order;
        match name {
            "value" => ctx.values.get(self.position).cloned().flatten(),
            "walk_id" => Some(ctx.walk_id.to_string()),
            _ => {
                if let Some(param) = name.strip_prefix("params.") {
                    return ctx.prepared.params.get(param).map(ToString::to_string);
                }
                let parts: Vec<&str> = name.split('.').collect();
                if let [role, iface, attr] = parts.as_slice() {
                    return ctx.prepared.iface_attr(ctx.testbed, role, iface, attr);
                }
                let at = order.iter().position(|a| a == name)?;
                ctx.values.get(at).cloned().flatten()
            }
        }
    }

    fn json(&self) -> Option<&serde_json::Value> {
        self.json.as_ref()
    }
}

/// What a step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub outcome: Outcome,
    pub exit_status: Option<i32>,
    pub command: Option<String>,
    /// Output excerpt, or the reason of a skip, cancel or error.
    pub excerpt: String,
    /// Full output, relative to the run directory.
    pub output_file: Option<String>,
    pub started_at: u64,
    pub duration_ms: u64,
}

impl StepResult {
    fn quick(outcome: Outcome, reason: impl Into<String>, started: Instant, at: u64) -> Self {
        StepResult {
            outcome,
            exit_status: None,
            command: None,
            excerpt: reason.into(),
            output_file: None,
            started_at: at,
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// The changes a testbed's run made and may still make: the undo log and what each machine
/// may change. Owned by the testbed's task (behind a mutex for parallel walks).
#[derive(Debug, Default)]
pub struct TestbedChanges {
    pub undo: UndoLog,
    pub guards: BTreeMap<String, Guard>,
}

impl TestbedChanges {
    /// Changes of testbed `testbed`, logged to `log_file` when given.
    pub fn new(
        prepared: &Prepared,
        testbed: usize,
        log_file: Option<&Path>,
    ) -> std::io::Result<TestbedChanges> {
        let undo = match log_file {
            Some(file) => UndoLog::with_file(file)?,
            None => UndoLog::default(),
        };
        let guards = prepared
            .machines(testbed)
            .into_iter()
            .map(|m| {
                let mapped: BTreeSet<String> = prepared
                    .mapped_interfaces(testbed, &m)
                    .into_iter()
                    .collect();
                (
                    m,
                    Guard {
                        mapped: Some(mapped),
                        created: BTreeSet::new(),
                    },
                )
            })
            .collect();
        Ok(TestbedChanges { undo, guards })
    }
}

/// How steps run.
#[derive(Debug, Clone)]
pub struct StepSettings {
    /// A shell step is killed (and errors) after this long.
    pub timeout: Duration,
    /// The run directory (output file references are relative to it).
    pub run_dir: Option<PathBuf>,
}

/// Evaluates every action's `skip_if` before a walk starts: `Some((position, reason))` when
/// the walk is meaningless and must be skipped (an expression that cannot be evaluated
/// gives `Error` instead).
pub fn skip_check(ctx: &WalkCtx<'_>) -> Option<(usize, Outcome, String)> {
    for position in 0..ctx.prepared.recipe.walk.order.len() {
        if ctx.values.get(position).is_none_or(Option::is_none) {
            continue;
        }
        let Some(text) = action_at(ctx, position).and_then(|a| a.skip_if.as_ref()) else {
            continue;
        };
        let vars = StepVars {
            ctx,
            position,
            json: None,
        };
        match expr::eval_bool(text, &vars) {
            Ok(true) => {
                return Some((position, Outcome::Skip, format!("skip_if `{text}` is true")));
            }
            Ok(false) => {}
            Err(e) => {
                return Some((
                    position,
                    Outcome::Error,
                    format!("cannot evaluate `{text}`: {e}"),
                ));
            }
        }
    }
    None
}

/// Evaluates the `cancel_if` of the action at `position` just before it runs:
/// `Some(outcome)` when the step must not run.
pub fn pre_check(ctx: &WalkCtx<'_>, position: usize) -> Option<(Outcome, String)> {
    let text = action_at(ctx, position)?.cancel_if.as_ref()?;
    let vars = StepVars {
        ctx,
        position,
        json: None,
    };
    match expr::eval_bool(text, &vars) {
        Ok(true) => Some((Outcome::Cancel, format!("cancel_if `{text}` is true"))),
        Ok(false) => None,
        Err(e) => Some((Outcome::Error, format!("cannot evaluate `{text}`: {e}"))),
    }
}

fn action_at<'a>(ctx: &'a WalkCtx<'_>, position: usize) -> Option<&'a Action> {
    let name = ctx.prepared.recipe.walk.order.get(position)?;
    ctx.prepared.recipe.action(name)
}

/// The command a step will run, rendered (for step mode, before it runs).
pub fn render_command(ctx: &WalkCtx<'_>, position: usize) -> Result<Option<String>, String> {
    let Some(action) = action_at(ctx, position) else {
        return Err(format!("no action at position {position}"));
    };
    let vars = StepVars {
        ctx,
        position,
        json: None,
    };
    let lookup = |name: &str| vars.placeholder(name);
    let value = || vars.placeholder("value").unwrap_or_default();
    Ok(match &action.kind {
        ActionKind::Shell { command, roles } => {
            let rendered = render_shell(command, lookup)?;
            Some(if roles.len() == 1 {
                rendered
            } else {
                format!("[{}] {rendered}", roles.join(","))
            })
        }
        ActionKind::Sleep => Some(format!("sleep {}", value())),
        ActionKind::Sysctl { key, .. } => Some(format!(
            "sysctl -w {}={}",
            render_raw(key, &lookup)?,
            value()
        )),
        ActionKind::Device { role, iface, op } => {
            let dev = ctx
                .prepared
                .iface_attr(ctx.testbed, role, iface, "name")
                .unwrap_or_default();
            Some(match op {
                DeviceOp::Up => format!("ip link set {dev} up"),
                DeviceOp::Down => format!("ip link set {dev} down"),
                DeviceOp::Mtu => format!("ip link set {dev} mtu {}", value()),
                DeviceOp::Addr => format!("ip addr add {} dev {dev}", value()),
                DeviceOp::Veth => {
                    format!("ip link add {} type veth peer name {}p", value(), value())
                }
                DeviceOp::Bridge => format!(
                    "ip link add {} type bridge; ip link set dev {dev} master {}",
                    value(),
                    value()
                ),
            })
        }
        ActionKind::VppCall { message, args, .. } => {
            let json = vpp_args(args, &lookup)?;
            Some(format!("vpp {message} {json}"))
        }
        ActionKind::VppRestart { role } => Some(format!("vpp restart ({role})")),
    })
}

/// Renders a template with values as written (for keys and API arguments, never for a
/// shell line).
fn render_raw(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    for piece in crate::recipe::template::parse(template).map_err(|e| e.message)? {
        match piece {
            crate::recipe::template::Piece::Literal(text) => out.push_str(&text),
            crate::recipe::template::Piece::Hole { text, .. } => {
                let name = text.trim();
                out.push_str(&lookup(name).ok_or_else(|| format!("no value for `{{{name}}}`"))?);
            }
        }
    }
    Ok(out)
}

fn vpp_args(
    args: &indexmap::IndexMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<serde_json::Value, String> {
    let mut map = serde_json::Map::new();
    for (name, template) in args {
        let text = render_raw(template, lookup)?;
        let value = match expr::Val::typed(&text) {
            expr::Val::Int(i) => serde_json::json!(i),
            expr::Val::Float(x) => serde_json::json!(x),
            expr::Val::Bool(b) => serde_json::json!(b),
            _ => serde_json::Value::String(text),
        };
        map.insert(name.clone(), value);
    }
    Ok(serde_json::Value::Object(map))
}

/// Runs the action at `position` of the walk (pre-checks are the caller's); `rendered` is
/// [`render_command`]'s answer for it, rendered once by the caller for its announcement.
pub async fn run_step(
    engine: &EngineHandle,
    ctx: &WalkCtx<'_>,
    position: usize,
    rendered: Result<Option<String>, String>,
    changes: &tokio::sync::Mutex<TestbedChanges>,
    settings: &StepSettings,
) -> StepResult {
    let started = Instant::now();
    let at = unix_millis_now();
    let Some(action) = action_at(ctx, position) else {
        return StepResult::quick(Outcome::Error, "no such action", started, at);
    };
    let command = match rendered {
        Ok(c) => c,
        Err(e) => {
            return StepResult::quick(Outcome::Error, format!("cannot render: {e}"), started, at);
        }
    };
    let vars = StepVars {
        ctx,
        position,
        json: None,
    };
    let value = vars.placeholder("value").unwrap_or_default();
    let mut result = match &action.kind {
        ActionKind::Shell {
            command: template,
            roles,
        } => shell_step(engine, ctx, action, template, roles, settings, &vars).await,
        ActionKind::Sleep => match value.trim().parse::<f64>() {
            Ok(0.0) => pass(""),
            Ok(secs) if secs.is_finite() && (0.0..=86_400.0).contains(&secs) => {
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                pass("")
            }
            _ => error(format!("sleep needs seconds, got `{value}`")),
        },
        ActionKind::Sysctl { key, roles } => {
            let lookup = |name: &str| vars.placeholder(name);
            match render_raw(key, &lookup) {
                Err(e) => error(e),
                Ok(key) => {
                    let mut last = pass("");
                    for role in roles {
                        let Some(machine) = ctx.prepared.machine(ctx.testbed, role) else {
                            last = error(format!("role `{role}` is not mapped"));
                            break;
                        };
                        let op = Op::Sysctl {
                            key: key.clone(),
                            value: value.clone(),
                        };
                        last = change(engine, machine, &op, changes).await;
                        if last.outcome != Outcome::Pass {
                            break;
                        }
                    }
                    last
                }
            }
        }
        ActionKind::Device { role, iface, op } => {
            let dev = ctx
                .prepared
                .iface_attr(ctx.testbed, role, iface, "name")
                .unwrap_or_default();
            let Some(machine) = ctx.prepared.machine(ctx.testbed, role) else {
                return StepResult::quick(Outcome::Error, "role not mapped", started, at);
            };
            let ops = match op {
                DeviceOp::Up => Ok(vec![Op::Up { dev }]),
                DeviceOp::Down => Ok(vec![Op::Down { dev }]),
                DeviceOp::Mtu => value
                    .trim()
                    .parse::<u32>()
                    .map(|mtu| vec![Op::Mtu { dev, mtu }])
                    .map_err(|_| format!("mtu needs a number, got `{value}`")),
                DeviceOp::Addr => Ok(vec![Op::AddrAdd {
                    dev,
                    addr: value.clone(),
                }]),
                DeviceOp::Veth => Ok(vec![Op::CreateVeth {
                    name: value.clone(),
                    peer: format!("{value}p"),
                }]),
                DeviceOp::Bridge => Ok(vec![
                    Op::CreateBridge {
                        name: value.clone(),
                    },
                    Op::Enslave {
                        dev,
                        master: value.clone(),
                    },
                ]),
            };
            match ops {
                Ok(ops) => {
                    let mut r = pass("");
                    for op in &ops {
                        r = change(engine, machine, op, changes).await;
                        if r.outcome != Outcome::Pass {
                            break;
                        }
                    }
                    if action.expect.fail {
                        r.outcome = match r.outcome {
                            Outcome::Pass => Outcome::Fail,
                            Outcome::Fail => Outcome::Pass,
                            other => other,
                        };
                    }
                    r
                }
                Err(e) => error(e),
            }
        }
        ActionKind::VppCall {
            role,
            message,
            args,
        } => {
            let lookup = |name: &str| vars.placeholder(name);
            match (
                ctx.prepared.machine(ctx.testbed, role),
                vpp_args(args, &lookup),
            ) {
                (None, _) => error(format!("role `{role}` is not mapped")),
                (_, Err(e)) => error(e),
                (Some(machine), Ok(json)) => {
                    super::vpp_step::call(engine, machine, message, json, &action.expect).await
                }
            }
        }
        ActionKind::VppRestart { role } => match ctx.prepared.machine(ctx.testbed, role) {
            None => error(format!("role `{role}` is not mapped")),
            Some(machine) => super::vpp_step::restart(engine, machine).await,
        },
    };
    result.command = command;
    result.started_at = at;
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

pub(super) fn pass(excerpt: impl Into<String>) -> StepResult {
    StepResult {
        outcome: Outcome::Pass,
        exit_status: None,
        command: None,
        excerpt: excerpt.into(),
        output_file: None,
        started_at: 0,
        duration_ms: 0,
    }
}

pub(super) fn error(reason: impl Into<String>) -> StepResult {
    StepResult {
        outcome: Outcome::Error,
        ..pass(reason)
    }
}

pub(super) fn fail(reason: impl Into<String>) -> StepResult {
    StepResult {
        outcome: Outcome::Fail,
        ..pass(reason)
    }
}

async fn change(
    engine: &EngineHandle,
    machine: &str,
    op: &Op,
    changes: &tokio::sync::Mutex<TestbedChanges>,
) -> StepResult {
    let mut changes = changes.lock().await;
    let changes = &mut *changes;
    let guard = changes
        .guards
        .entry(machine.to_owned())
        .or_default()
        .clone();
    let mut changer = HostChanger {
        engine,
        host: machine.to_owned(),
        guard,
    };
    let result = changer.apply(op, &mut changes.undo).await;
    changes.guards.insert(machine.to_owned(), changer.guard);
    match result {
        Ok(()) => pass(""),
        // A refused or failing change is the recipe's failure, not the lab's.
        Err(crate::devices::apply::ChangeError::Refused(e)) => fail(e.to_string()),
        Err(crate::devices::apply::ChangeError::Command { cause, .. }) => fail(cause),
        Err(e) => error(e.to_string()),
    }
}

async fn shell_step(
    engine: &EngineHandle,
    ctx: &WalkCtx<'_>,
    action: &Action,
    template: &str,
    roles: &[String],
    settings: &StepSettings,
    vars: &StepVars<'_>,
) -> StepResult {
    let lookup = |name: &str| vars.placeholder(name);
    let command = match render_shell(template, lookup) {
        Ok(c) => c,
        Err(e) => return error(format!("cannot render: {e}")),
    };
    let needs_stdout = action.expect.stdout_regex.is_some() || action.expect.json.is_some();
    let mut jobs = Vec::new();
    for role in roles {
        let Some(machine) = ctx.prepared.machine(ctx.testbed, role) else {
            return error(format!("role `{role}` is not mapped"));
        };
        let spec = JobSpec {
            host: machine.to_owned(),
            command: command.clone(),
            timeout: Some(settings.timeout),
            json: false,
            capture: needs_stdout,
            desc: Some(format!("{} walk {}", action.name, ctx.walk_id)),
            ..JobSpec::default()
        };
        match engine.exec(spec).await {
            Ok(job) => jobs.push(job),
            Err(e) => return error(e.to_string()),
        }
    }
    let mut worst = pass("");
    let mut excerpt = String::new();
    for job in jobs {
        let snapshot = match engine
            .wait(job, settings.timeout + Duration::from_secs(30))
            .await
        {
            Ok(s) => s,
            Err(e) => return error(e.to_string()),
        };
        let judged = judge_shell(action, &snapshot, settings.run_dir.as_deref());
        if !excerpt.is_empty() {
            excerpt.push('\n');
        }
        excerpt.push_str(&judged.excerpt);
        if rank(judged.outcome) > rank(worst.outcome) || worst.output_file.is_none() {
            let keep_outcome = rank(judged.outcome) > rank(worst.outcome);
            if keep_outcome {
                worst.outcome = judged.outcome;
                worst.exit_status = judged.exit_status;
            }
            if worst.output_file.is_none() || keep_outcome {
                worst.output_file = judged.output_file;
            }
            if worst.exit_status.is_none() {
                worst.exit_status = judged.exit_status;
            }
        }
    }
    worst.excerpt = bounded_excerpt(&excerpt, EXCERPT_BYTES);
    worst
}

fn rank(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Pass => 0,
        Outcome::Skip => 1,
        Outcome::Cancel => 2,
        Outcome::Fail => 3,
        Outcome::Error => 4,
    }
}

/// Judges a finished shell job against the action's expectations.
fn judge_shell(action: &Action, job: &JobSnapshot, run_dir: Option<&Path>) -> StepResult {
    let stdout = String::from_utf8_lossy(&job.stdout_tail);
    let stderr = String::from_utf8_lossy(&job.stderr_tail);
    let mut excerpt = stdout.trim_end().to_owned();
    if !stderr.trim().is_empty() {
        if !excerpt.is_empty() {
            excerpt.push('\n');
        }
        excerpt.push_str(stderr.trim_end());
    }
    let output_file = job.files.as_ref().and_then(|files| {
        let dir = run_dir?;
        files
            .stdout
            .strip_prefix(dir)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    });
    let base = StepResult {
        output_file,
        ..pass(bounded_excerpt(&excerpt, EXCERPT_BYTES))
    };
    if job.state == crate::engine::JobState::TimedOut {
        return StepResult {
            outcome: Outcome::Error,
            excerpt: format!("timed out; {}", base.excerpt),
            ..base
        };
    }
    let code = match &job.exit {
        Some(Ending::Exited(outcome)) => outcome.shell_code(),
        Some(Ending::TransportError { error, hint }) => {
            return StepResult {
                outcome: Outcome::Error,
                excerpt: format!("{error} ({hint})"),
                ..base
            };
        }
        None => {
            return StepResult {
                outcome: Outcome::Error,
                excerpt: "the job did not end".into(),
                ..base
            };
        }
    };
    let base = StepResult {
        exit_status: Some(code),
        ..base
    };
    let exit_ok = match action.expect.exit {
        Some(want) => code == want,
        None if action.expect.fail => code != 0,
        None => code == 0,
    };
    if !exit_ok {
        let want = match action.expect.exit {
            Some(w) => format!("exit {w}"),
            None if action.expect.fail => "a non-zero exit".into(),
            None => "exit 0".into(),
        };
        return StepResult {
            outcome: Outcome::Fail,
            excerpt: format!("exit {code}, expected {want}\n{}", base.excerpt),
            ..base
        };
    }
    if let Some(pattern) = &action.expect.stdout_regex {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(&stdout) => {}
            Ok(_) => {
                return StepResult {
                    outcome: Outcome::Fail,
                    excerpt: format!("stdout does not match /{pattern}/\n{}", base.excerpt),
                    ..base
                };
            }
            Err(e) => {
                return StepResult {
                    outcome: Outcome::Error,
                    excerpt: e.to_string(),
                    ..base
                };
            }
        }
    }
    if let Some(predicate) = &action.expect.json {
        let json: serde_json::Value = match serde_json::from_str(stdout.trim()) {
            Ok(j) => j,
            Err(e) => {
                return StepResult {
                    outcome: Outcome::Fail,
                    excerpt: format!("stdout is not JSON ({e})\n{}", base.excerpt),
                    ..base
                };
            }
        };
        struct JsonVars(serde_json::Value);
        impl Vars for JsonVars {
            fn placeholder(&self, _: &str) -> Option<String> {
                None
            }
            fn json(&self) -> Option<&serde_json::Value> {
                Some(&self.0)
            }
        }
        match expr::eval_bool(predicate, &JsonVars(json)) {
            Ok(true) => {}
            Ok(false) => {
                return StepResult {
                    outcome: Outcome::Fail,
                    excerpt: format!("`{predicate}` is false\n{}", base.excerpt),
                    ..base
                };
            }
            Err(e) => {
                return StepResult {
                    outcome: Outcome::Error,
                    excerpt: format!("cannot evaluate `{predicate}`: {e}"),
                    ..base
                };
            }
        }
    }
    base
}
