//! VPP client events as views show them: a flat, comparable record per change of the
//! client cache (connects, reuses, disconnects, deaths, pings, restarts), published by the
//! engine as [`crate::engine::Event::Vpp`].
//!
//! Invariant: `key` is the cache key's display form (`HOST:PORT:SOCKET`), or `HOST:PORT`
//! for restart events that concern a whole machine.

use std::time::Duration;

/// What happened to a client (or to the VPP behind it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VppClientEventKind {
    Connected,
    Reused,
    ConnectFailed,
    Disconnected,
    Dead,
    Reconnecting,
    /// A liveness ping answered (`latency` set) or failed (`detail` says why).
    Ping,
    RestartStarted,
    RestartWaiting,
    RestartReady,
    /// VPP sent an event message (`detail` names it).
    Event,
}

/// One change of the VPP client cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VppClientEvent {
    pub key: String,
    pub kind: VppClientEventKind,
    /// Human-readable detail (an error, a message name, a restart phase).
    pub detail: String,
    /// The key's reuse count after this event, when known.
    pub reuses: Option<u64>,
    /// Handshake time, ping round trip or restart wait, when it applies.
    pub latency: Option<Duration>,
}

impl VppClientEvent {
    fn new(key: String, kind: VppClientEventKind) -> Self {
        Self {
            key,
            kind,
            detail: String::new(),
            reuses: None,
            latency: None,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    fn latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    /// A liveness ping of `key`: its round trip, or why it failed.
    pub fn ping(key: &super::cache::ClientKey, result: Result<Duration, String>) -> Self {
        let event = Self::new(key.to_string(), VppClientEventKind::Ping);
        match result {
            Ok(rtt) => event.latency(rtt),
            Err(error) => event.detail(error),
        }
    }
}

impl From<&super::cache::CacheEvent> for VppClientEvent {
    fn from(event: &super::cache::CacheEvent) -> Self {
        use super::cache::CacheEvent as C;
        use VppClientEventKind as K;
        let machine = |host: &str, port: &u16| format!("{host}:{port}");
        match event {
            C::Connected {
                key,
                client_index,
                took,
            } => Self::new(key.to_string(), K::Connected)
                .detail(format!("client_index {client_index:#x}"))
                .latency(*took),
            C::Reused { key, reuses } => {
                let mut out = Self::new(key.to_string(), K::Reused);
                out.reuses = Some(*reuses);
                out
            }
            C::ConnectFailed { key, error } => {
                Self::new(key.to_string(), K::ConnectFailed).detail(error.clone())
            }
            C::Disconnected { key, delete_error } => Self::new(key.to_string(), K::Disconnected)
                .detail(match delete_error {
                    Some(e) => format!("sockclnt_delete failed: {e}"),
                    None => String::new(),
                }),
            C::Dead { key, cause } => Self::new(key.to_string(), K::Dead).detail(cause.clone()),
            C::Reconnecting { key, cause } => {
                Self::new(key.to_string(), K::Reconnecting).detail(cause.clone())
            }
            C::VppEvent { key, message } => {
                Self::new(key.to_string(), K::Event).detail(message.name.clone())
            }
            C::RestartStarted { host, port, keys } => {
                Self::new(machine(host, port), K::RestartStarted).detail(format!(
                    "{} client(s) disconnected: {}",
                    keys.len(),
                    keys.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            C::RestartCommandDone { host, port, took } => {
                Self::new(machine(host, port), K::RestartWaiting)
                    .detail("restart command done")
                    .latency(*took)
            }
            C::RestartWaiting {
                key,
                attempt,
                elapsed,
                last_error,
            } => Self::new(key.to_string(), K::RestartWaiting)
                .detail(format!("attempt {attempt}: {last_error}"))
                .latency(*elapsed),
            C::RestartReady { key, elapsed } => {
                Self::new(key.to_string(), K::RestartReady).latency(*elapsed)
            }
        }
    }
}
