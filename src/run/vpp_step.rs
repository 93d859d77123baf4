//! VPP actions of a walk: an API call judged against the action's expectations, and a VPP
//! restart (every client of the machine disconnected first, reconnected after).

use super::action::{StepResult, error};
use crate::engine::EngineHandle;
use crate::recipe::Expect;

/// Calls `message` on `machine`'s VPP.
pub async fn call(
    _engine: &EngineHandle,
    _machine: &str,
    message: &str,
    _args: serde_json::Value,
    _expect: &Expect,
) -> StepResult {
    error(format!(
        "VPP call `{message}`: the engine has no VPP client cache yet"
    ))
}

/// Restarts `machine`'s VPP.
pub async fn restart(_engine: &EngineHandle, machine: &str) -> StepResult {
    error(format!(
        "VPP restart on {machine}: the engine has no VPP client cache yet"
    ))
}

/// The console's `vpp …` command.
pub async fn console(_engine: &EngineHandle, _args: Vec<String>) -> Result<Vec<String>, String> {
    Err("vpp: the engine has no VPP client cache yet".into())
}
