//! The connection cache's data: keys, pooled connections and their channel accounting.
//!
//! Owned by the engine task alone (no locks). Invariants: a key is (host, port, user) for
//! SSH and `local` for the local transport, so machines that share an address share
//! connections; a pooled connection never carries more than [`CHANNELS_PER_CONNECTION`]
//! channels counted by the engine (jobs, kills and the fast-path shell); a key never has
//! more than [`MAX_CONNECTIONS_PER_KEY`] connections.

use crate::pool::{Machine, TransportSpec};
use crate::transport::Connection;
use crate::transport::shell::FastShell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Stock sshd allows 10 sessions per connection (`MaxSessions`); keep two spare for kills.
pub const CHANNELS_PER_CONNECTION: usize = 8;
/// More concurrent channels than this many connections can carry wait in the queue.
pub const MAX_CONNECTIONS_PER_KEY: usize = 4;
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// What the cache is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CacheKey {
    Local,
    Ssh {
        host: String,
        port: u16,
        user: String,
    },
}

impl CacheKey {
    pub fn of(machine: &Machine) -> CacheKey {
        match &machine.transport {
            TransportSpec::Local => CacheKey::Local,
            TransportSpec::Ssh(s) => CacheKey::Ssh {
                host: s.host.clone(),
                port: s.port,
                user: s.user.clone(),
            },
        }
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheKey::Local => f.write_str("local"),
            CacheKey::Ssh { host, port, user } => write!(f, "{user}@{host}:{port}"),
        }
    }
}

/// One open connection of a key.
pub struct Pooled {
    pub id: u64,
    pub connection: Connection,
    pub latency: Duration,
    /// Channels the engine has open on it (jobs, kills, the fast-path shell).
    pub channels: usize,
    /// Jobs started on it so far.
    pub jobs_started: u64,
}

/// Everything the engine knows about one key.
#[derive(Default)]
pub struct CacheEntry {
    pub connections: Vec<Pooled>,
    pub connecting: bool,
    /// Jobs waiting for a connection or a free channel, oldest first.
    pub pending: VecDeque<super::JobRef>,
    /// Jobs that ran on an already open connection instead of a new one.
    pub reuse_count: u64,
    /// Connections opened over the key's life.
    pub connects: u64,
    /// Failed connects in a row (drives the backoff).
    pub failures: u32,
    /// Reconnect by itself (it was up, and nobody disconnected it).
    pub auto_reconnect: bool,
    pub retry_at: Option<Instant>,
    pub last_error: Option<(String, String)>,
    /// The idle fast-path shell and the connection it lives on; `None` while a job uses it.
    pub shell: Option<(u64, FastShell)>,
    /// The shell is lent to a running job (it comes back, or is replaced, at its end).
    pub shell_busy: bool,
    pub shell_opening: bool,
    /// The fast path failed on this key; use a channel per command from now on.
    pub shell_unavailable: bool,
}

impl CacheEntry {
    /// The delay before the next automatic reconnect.
    pub fn backoff(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(16));
        BACKOFF_FIRST.saturating_mul(factor).min(BACKOFF_MAX)
    }

    /// A live connection with a free channel, least loaded first.
    pub fn free_connection(&mut self) -> Option<&mut Pooled> {
        self.connections
            .iter_mut()
            .filter(|p| p.connection.is_alive() && p.channels < CHANNELS_PER_CONNECTION)
            .min_by_key(|p| p.channels)
    }

    pub fn connection(&mut self, id: u64) -> Option<&mut Pooled> {
        self.connections.iter_mut().find(|p| p.id == id)
    }

    pub fn channels_in_use(&self) -> usize {
        self.connections.iter().map(|p| p.channels).sum()
    }

    /// Should another connection be opened for the waiting jobs?
    pub fn wants_connection(&self) -> bool {
        !self.connecting
            && !self.pending.is_empty()
            && self.connections.len() < MAX_CONNECTIONS_PER_KEY
            && self
                .connections
                .iter()
                .all(|p| !p.connection.is_alive() || p.channels >= CHANNELS_PER_CONNECTION)
    }
}

/// A snapshot of one cache entry, for tables and the TUI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CacheView {
    pub key: String,
    pub state: &'static str,
    pub connections: usize,
    pub channels_in_use: usize,
    pub reuse_count: u64,
    pub connects: u64,
    pub fast_path: bool,
    pub machines: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut e = CacheEntry::default();
        assert_eq!(e.backoff(), Duration::from_millis(200));
        e.failures = 3;
        assert_eq!(e.backoff(), Duration::from_millis(1600));
        e.failures = 40;
        assert_eq!(e.backoff(), BACKOFF_MAX);
    }

    #[test]
    fn keys_display_like_ssh() {
        let k = CacheKey::Ssh {
            host: "10.0.0.1".into(),
            port: 22,
            user: "root".into(),
        };
        assert_eq!(k.to_string(), "root@10.0.0.1:22");
        assert_eq!(CacheKey::Local.to_string(), "local");
    }
}
