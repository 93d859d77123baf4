//! VPP actions of a walk and the console's `vpp` command, through the engine's VPP client
//! cache: an API call judged against the action's expectations, and a VPP restart (every
//! client of the machine disconnected first, reconnected after).
//!
//! Invariants: a reply passes when its `retval` is 0 or absent (inverted by
//! `expect.fail`) and the `expect.json` predicate, if any, holds over the reply; an engine or
//! connection error is an `Error` outcome with the error's hint, never a panic.

use super::action::{StepResult, error, fail, pass};
use super::expr::{self, Vars};
use crate::engine::{DisconnectTarget, EngineHandle};
use crate::recipe::Expect;
use crate::walk::trace::bounded_excerpt;

struct ReplyVars<'a>(&'a serde_json::Value);

impl Vars for ReplyVars<'_> {
    fn placeholder(&self, _: &str) -> Option<String> {
        None
    }
    fn json(&self) -> Option<&serde_json::Value> {
        Some(self.0)
    }
}

/// Judges a VPP reply against an action's expectations.
pub fn judge_reply(reply: &serde_json::Value, expect: &Expect) -> StepResult {
    let text = bounded_excerpt(&reply.to_string(), super::action::EXCERPT_BYTES);
    let retval = reply.get("retval").and_then(serde_json::Value::as_i64);
    let ok = retval.is_none_or(|r| r == 0);
    let want = match expect.exit {
        Some(code) => retval.unwrap_or(0) == i64::from(code),
        None => ok != expect.fail,
    };
    if !want {
        return fail(format!("retval {}: {text}", retval.unwrap_or(0)));
    }
    if let Some(predicate) = &expect.json {
        match expr::eval_bool(predicate, &ReplyVars(reply)) {
            Ok(true) => {}
            Ok(false) => return fail(format!("`{predicate}` is false: {text}")),
            Err(e) => return error(format!("cannot evaluate `{predicate}`: {e}")),
        }
    }
    pass(text)
}

/// Calls `message` on `machine`'s VPP.
pub async fn call(
    engine: &EngineHandle,
    machine: &str,
    message: &str,
    args: serde_json::Value,
    expect: &Expect,
) -> StepResult {
    match engine.vpp_call(machine, message, args).await {
        Ok(reply) => judge_reply(&reply, expect),
        Err(e) => error(format!("{e} ({})", e.hint())),
    }
}

/// Restarts `machine`'s VPP.
pub async fn restart(engine: &EngineHandle, machine: &str) -> StepResult {
    match engine.vpp_restart(machine).await {
        Ok(report) => pass(format!(
            "restarted in {} ms, API ready after {} ms, {} client(s) reconnected",
            report.command_ms,
            report.ready_ms,
            report.reconnected.len()
        )),
        Err(e) => error(format!("{e} ({})", e.hint())),
    }
}

/// The console's `vpp …`: `clients`, `disconnect [--all|KEY|HOST]`, `HOST call MSG [JSON]`,
/// `HOST dump MSG [JSON]`, `HOST cli COMMAND...`, `HOST restart`, and `HOST MSG [JSON]` (a
/// call).
pub async fn console(engine: &EngineHandle, args: Vec<String>) -> Result<Vec<String>, String> {
    let fmt = |e: crate::engine::vpp::VppEngineError| format!("{e} ({})", e.hint());
    let json_arg = |text: Option<&&str>| -> Result<serde_json::Value, String> {
        match text {
            None => Ok(serde_json::json!({})),
            Some(t) => serde_json::from_str(t).map_err(|e| format!("bad JSON arguments: {e}")),
        }
    };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["clients"] => {
            let clients = engine.vpp_clients().await.map_err(fmt)?;
            if clients.is_empty() {
                return Ok(vec!["no VPP clients".into()]);
            }
            Ok(clients
                .iter()
                .map(|c| {
                    format!(
                        "{}  index {}  {}  reused {}  calls {}",
                        c.key,
                        c.client_index,
                        if c.alive { "alive" } else { "dead" },
                        c.stats.reuses,
                        c.stats.calls
                    )
                })
                .collect())
        }
        ["disconnect"] | ["disconnect", "--all"] | ["disconnect", "all"] => {
            let n = engine.vpp_disconnect(DisconnectTarget::All).await.map_err(fmt)?;
            Ok(vec![format!("{n} VPP client(s) disconnected")])
        }
        ["disconnect", target] => {
            let target = if target.contains(':') {
                DisconnectTarget::Key((*target).to_owned())
            } else {
                DisconnectTarget::Host((*target).to_owned())
            };
            let n = engine.vpp_disconnect(target).await.map_err(fmt)?;
            Ok(vec![format!("{n} VPP client(s) disconnected")])
        }
        [host, "restart"] => {
            let r = restart(engine, host).await;
            Ok(vec![format!("{}: {}", host, r.excerpt)])
        }
        [host, "cli", rest @ ..] if !rest.is_empty() => {
            let out = engine.vpp_cli(host, &rest.join(" ")).await.map_err(fmt)?;
            Ok(out.lines().map(str::to_owned).collect())
        }
        [host, "dump", message, rest @ ..] if rest.len() <= 1 => {
            let args = json_arg(rest.first())?;
            let items = engine.vpp_dump(host, message, args).await.map_err(fmt)?;
            let mut lines: Vec<String> = items.iter().map(|i| i.to_string()).collect();
            lines.push(format!("{} item(s)", items.len()));
            Ok(lines)
        }
        [host, "call", message, rest @ ..] | [host, message, rest @ ..]
            if !message.is_empty() && rest.len() <= 1 =>
        {
            let args = json_arg(rest.first())?;
            let reply = engine.vpp_call(host, message, args).await.map_err(fmt)?;
            Ok(vec![reply.to_string()])
        }
        _ => Err(
            "vpp: clients | disconnect [--all|KEY|HOST] | HOST call MSG [JSON] | HOST dump MSG [JSON] | HOST cli CMD | HOST restart"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_judged_by_retval_and_predicate() {
        let ok = serde_json::json!({"retval": 0, "sw_if_index": 3});
        let bad = serde_json::json!({"retval": -1});
        let none = Expect::default();
        assert_eq!(judge_reply(&ok, &none).outcome, crate::walk::Outcome::Pass);
        assert_eq!(judge_reply(&bad, &none).outcome, crate::walk::Outcome::Fail);
        let expect_fail = Expect {
            fail: true,
            ..Expect::default()
        };
        assert_eq!(
            judge_reply(&bad, &expect_fail).outcome,
            crate::walk::Outcome::Pass
        );
        let predicate = Expect {
            json: Some(".sw_if_index > 2".into()),
            ..Expect::default()
        };
        assert_eq!(
            judge_reply(&ok, &predicate).outcome,
            crate::walk::Outcome::Pass
        );
        let predicate = Expect {
            json: Some(".sw_if_index > 5".into()),
            ..Expect::default()
        };
        assert_eq!(
            judge_reply(&ok, &predicate).outcome,
            crate::walk::Outcome::Fail
        );
    }
}
