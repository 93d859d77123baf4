//! Restarting VPP on a machine without leaking API clients.
//!
//! Order (CSIT's, with the client cache): disconnect every cached client of the machine first
//! (`sockclnt_delete`, so VPP never sees a client vanish), run the restart command over the
//! machine's own connection, then poll until the API answers `control_ping` or the deadline
//! passes, and finally leave connected exactly the clients that had been connected.
//!
//! Invariants: no client of the machine is connected while the command runs; every poll
//! attempt that connected is either kept (a key that had been connected) or disconnected
//! again (a probe); progress is reported as [`CacheEvent`]s on the cache's channel.

use std::time::{Duration, Instant};

use super::cache::{CacheError, CacheEvent, ClientCache, ClientKey};
use crate::transport::{Connection, OutputSink, TransportError};

/// The command used when the pool names none.
pub const DEFAULT_RESTART_COMMAND: &str = "systemctl restart vpp";

/// What to restart and how long to wait.
#[derive(Debug, Clone)]
pub struct RestartPlan {
    /// The machine's key host and port (as in [`ClientKey`]).
    pub host: String,
    pub port: u16,
    /// Shell command line that restarts VPP.
    pub command: String,
    /// Sockets to wait for when no client of the machine was connected (the first is polled).
    pub sockets: Vec<String>,
    /// How long the command may run.
    pub command_timeout: Duration,
    /// How long to wait for the API after the command ended.
    pub ready_deadline: Duration,
    /// Pause between two polls.
    pub poll_interval: Duration,
}

/// What a restart did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestartReport {
    /// Keys disconnected before the command (and connected again after it).
    pub reconnected: Vec<String>,
    /// Milliseconds the command took.
    pub command_ms: u128,
    /// Milliseconds from the command's end until the API answered.
    pub ready_ms: u128,
    /// Polls that failed before it answered.
    pub failed_polls: u32,
}

/// Why a restart failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RestartError {
    /// The command could not be run.
    #[error("cannot run the VPP restart command: {0}")]
    Transport(#[from] TransportError),
    /// The command failed.
    #[error("VPP restart command `{command}` failed (exit {code}): {output}")]
    Command {
        command: String,
        code: i32,
        output: String,
    },
    /// The command ran longer than allowed.
    #[error("VPP restart command `{command}` still running after {timeout:?}")]
    CommandTimeout { command: String, timeout: Duration },
    /// The API did not answer in time.
    #[error(
        "VPP API at {key} did not answer control_ping within {deadline:?} after the restart: {last_error}"
    )]
    NotReady {
        key: ClientKey,
        deadline: Duration,
        last_error: String,
    },
    /// Nothing to wait for: no client was connected and the machine lists no socket.
    #[error("no VPP API socket is known for {host}:{port}")]
    NoSocket { host: String, port: u16 },
}

impl RestartError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            RestartError::Transport(e) => e.hint(),
            RestartError::Command { .. } | RestartError::CommandTimeout { .. } => {
                "check `vpp_restart_command` in the pool (default `systemctl restart vpp`); it must return once VPP was started".into()
            }
            RestartError::NotReady { .. } => {
                "VPP may have failed to start: check its log (journalctl -u vpp) and `vpp_api_sockets`".into()
            }
            RestartError::NoSocket { .. } => "add `vpp_api_sockets` to the machine in the pool".into(),
        }
    }
}

/// Restarts VPP on one machine (see the module docs).
pub async fn restart_vpp(
    cache: &ClientCache,
    transport: &Connection,
    plan: &RestartPlan,
) -> Result<RestartReport, RestartError> {
    let connected = cache.disconnect_host(&plan.host, plan.port).await;
    cache.emit(CacheEvent::RestartStarted {
        host: plan.host.clone(),
        port: plan.port,
        keys: connected.clone(),
    });

    let started = Instant::now();
    let (sink, mut output) = OutputSink::new();
    let outcome = tokio::time::timeout(plan.command_timeout, transport.exec(&plan.command, &sink))
        .await
        .map_err(|_| RestartError::CommandTimeout {
            command: plan.command.clone(),
            timeout: plan.command_timeout,
        })??;
    drop(sink);
    let mut text = Vec::new();
    while let Ok(chunk) = output.try_recv() {
        text.extend_from_slice(&chunk.data);
    }
    if !outcome.success() {
        let text = String::from_utf8_lossy(&text);
        let tail: String = text
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(RestartError::Command {
            command: plan.command.clone(),
            code: outcome.shell_code(),
            output: tail.trim().to_string(),
        });
    }
    let command_took = started.elapsed();
    cache.emit(CacheEvent::RestartCommandDone {
        host: plan.host.clone(),
        port: plan.port,
        took: command_took,
    });

    let (keys, probe_only) = if connected.is_empty() {
        let socket = plan.sockets.first().ok_or_else(|| RestartError::NoSocket {
            host: plan.host.clone(),
            port: plan.port,
        })?;
        let key = ClientKey {
            host: plan.host.clone(),
            port: plan.port,
            socket: socket.clone(),
        };
        (vec![key], true)
    } else {
        (connected.clone(), false)
    };

    let waiting_since = Instant::now();
    let mut failed_polls = 0;
    for key in &keys {
        failed_polls += wait_ready(cache, transport, key, plan, waiting_since).await?;
        if probe_only {
            cache.disconnect(key).await;
        }
    }
    Ok(RestartReport {
        reconnected: connected.iter().map(ToString::to_string).collect(),
        command_ms: command_took.as_millis(),
        ready_ms: waiting_since.elapsed().as_millis(),
        failed_polls,
    })
}

/// Connects `key` and pings it until it answers; returns the number of failed polls.
async fn wait_ready(
    cache: &ClientCache,
    transport: &Connection,
    key: &ClientKey,
    plan: &RestartPlan,
    since: Instant,
) -> Result<u32, RestartError> {
    let mut attempt = 0;
    loop {
        let result: Result<Duration, CacheError> = async {
            cache.connect(key, transport).await?;
            cache.ping(key).await
        }
        .await;
        let error = match result {
            Ok(_) => {
                cache.emit(CacheEvent::RestartReady {
                    key: key.clone(),
                    elapsed: since.elapsed(),
                });
                return Ok(attempt);
            }
            Err(error) => error,
        };
        attempt += 1;
        // A client that connected but did not answer must not stay cached.
        cache.disconnect(key).await;
        cache.emit(CacheEvent::RestartWaiting {
            key: key.clone(),
            attempt,
            elapsed: since.elapsed(),
            last_error: error.to_string(),
        });
        if since.elapsed() + plan.poll_interval > plan.ready_deadline {
            return Err(RestartError::NotReady {
                key: key.clone(),
                deadline: plan.ready_deadline,
                last_error: error.to_string(),
            });
        }
        tokio::time::sleep(plan.poll_interval).await;
    }
}
