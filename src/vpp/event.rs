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
