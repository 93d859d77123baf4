//! A cache of connected VPP API clients, with CSIT's `PapiSocketExecutor` semantics.
//!
//! Clients are keyed by [`ClientKey`] (machine host, port, remote socket path). A client is
//! reached through a [`Connection`] the caller already holds: over SSH, a `direct-streamlocal`
//! channel on that same connection (never a new SSH session per client); locally, a
//! `UnixStream`.
//!
//! Invariants:
//! - A client enters the cache only after a successful handshake (CSIT cached it before
//!   connecting, so a failed connect left a dead entry). At most one client per key: connects
//!   are serialized, and a second `connect` of a live key reuses it (counted).
//! - `disconnect` removes the entry first, then sends `sockclnt_delete` with the client's short
//!   disconnect timeout and closes the stream; the parsed definitions and the transport are kept
//!   for the key's next connect (definitions are loaded once per key).
//! - A client whose stream ends (EOF, read error) leaves the cache at once and a
//!   [`CacheEvent::Dead`] is sent; a call that fails because its client died reconnects once and
//!   is sent again (as CSIT does: a request that reached VPP before the death may run twice).
//! - Every state change is sent as a [`CacheEvent`] to the subscriber, if any; sending never
//!   blocks. No mutex is held across an await except the connect lock.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex as StdMutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use super::client::{ClientConfig, ClientError, Events, Message, VppClient};
use super::crc::{CrcCollections, CrcReport, crcs_from_message_table};
use super::defs::{ApiDefinitions, DefinitionsBuilder, DefsError};
use crate::pool::{Machine, TransportSpec};
use crate::transport::{Connection, TransportError};

/// Identifies one VPP API client: where the machine is, and which socket on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ClientKey {
    /// The machine's SSH host (`localhost` for a local machine).
    pub host: String,
    /// The machine's SSH port (0 for a local machine).
    pub port: u16,
    /// The remote socket path, e.g. `/run/vpp/api.sock`.
    pub socket: String,
}

impl ClientKey {
    /// The key of `socket` on a pool machine.
    pub fn for_machine(machine: &Machine, socket: &str) -> Self {
        let (host, port) = match &machine.transport {
            TransportSpec::Local => ("localhost".to_string(), 0),
            TransportSpec::Ssh(spec) => (spec.host.clone(), spec.port),
        };
        Self {
            host,
            port,
            socket: socket.into(),
        }
    }

    /// Parses `HOST:PORT:SOCKET` (the [`Display`](std::fmt::Display) form).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let host = parts.next()?.to_string();
        let port = parts.next()?.parse().ok()?;
        let socket = parts.next()?.to_string();
        (!host.is_empty() && socket.starts_with('/')).then_some(Self { host, port, socket })
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.host, self.port, self.socket)
    }
}

/// A state change of the cache (or of a VPP restart, see [`super::restart`]).
#[derive(Debug, Clone)]
pub enum CacheEvent {
    /// A new client completed its handshake and entered the cache.
    Connected {
        key: ClientKey,
        client_index: u32,
        /// Stream open + handshake.
        took: Duration,
    },
    /// `connect` returned the cached client.
    Reused { key: ClientKey, reuses: u64 },
    /// A connect failed; nothing was cached.
    ConnectFailed { key: ClientKey, error: String },
    /// A client was disconnected on purpose; `delete_error` when `sockclnt_delete` failed.
    Disconnected {
        key: ClientKey,
        delete_error: Option<String>,
    },
    /// A client's stream ended without a disconnect (VPP died, the tunnel dropped).
    Dead { key: ClientKey, cause: String },
    /// A call found its client dead and reconnects once.
    Reconnecting { key: ClientKey, cause: String },
    /// A message VPP sent without a context (an event) on a cached client.
    VppEvent { key: ClientKey, message: Message },
    /// A restart of the VPP on `host:port` began; `keys` were connected and are disconnected.
    RestartStarted {
        host: String,
        port: u16,
        keys: Vec<ClientKey>,
    },
    /// The restart command finished successfully.
    RestartCommandDone {
        host: String,
        port: u16,
        took: Duration,
    },
    /// The API did not answer yet.
    RestartWaiting {
        key: ClientKey,
        attempt: u32,
        elapsed: Duration,
        last_error: String,
    },
    /// The API answers `control_ping` again.
    RestartReady { key: ClientKey, elapsed: Duration },
}

/// Why a cache operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The socket could not be reached (no socket, SSH failure).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The handshake failed.
    #[error("cannot connect to VPP at {key}: {source}")]
    Connect { key: String, source: ClientError },
    /// A request failed.
    #[error("VPP at {key}: {source}")]
    Call { key: String, source: ClientError },
    /// The API definitions could not be loaded.
    #[error("cannot load VPP API definitions for {key}: {cause}")]
    Definitions { key: String, cause: String },
    /// A call on a key that was never connected (so no transport is known for it).
    #[error("no VPP client was ever connected for {key}")]
    NotConnected { key: String },
    /// The VPP's API matches no expected CRC collection.
    #[error("VPP at {key}: {report}")]
    CrcMismatch { key: String, report: CrcReport },
}

impl CacheError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            CacheError::Transport(e) => e.hint(),
            CacheError::Connect { .. } => "is it VPP listening on that socket? a stale socket file of a stopped VPP refuses connections; restart VPP".into(),
            CacheError::Call { source: ClientError::NotCallable { .. }, .. } => {
                "the definitions (--api-dir) do not match this VPP build: use the .api.json files installed with it".into()
            }
            CacheError::Call { source: ClientError::Timeout { .. }, .. } => {
                "VPP sends no error reply for a malformed request or an unknown message; check the arguments, or whether VPP is stuck".into()
            }
            CacheError::Call { .. } => "check the message arguments; `labdeck vpp ... ping` shows whether VPP answers".into(),
            CacheError::Definitions { .. } => {
                "point --api-dir at VPP's .api.json files (usually /usr/share/vpp/api)".into()
            }
            CacheError::NotConnected { .. } => "connect the client first".into(),
            CacheError::CrcMismatch { .. } => {
                "the VPP build differs from every expected collection: update the CRC file or use a matching VPP".into()
            }
        }
    }

    /// True when the error means the client's stream ended.
    fn is_dead_client(&self) -> bool {
        matches!(
            self,
            CacheError::Call {
                source: ClientError::Closed | ClientError::Transport(_),
                ..
            }
        )
    }
}

/// Per-key counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyStats {
    /// Successful handshakes.
    pub connects: u64,
    /// `connect` calls answered from the cache.
    pub reuses: u64,
    /// Disconnects on purpose.
    pub disconnects: u64,
    /// Clients found dead.
    pub deaths: u64,
    /// Calls retried after their client died.
    pub reconnects: u64,
    /// Calls made through the cache.
    pub calls: u64,
}

/// One row of [`ClientCache::clients`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientInfo {
    /// `HOST:PORT:SOCKET`.
    pub key: String,
    /// The handle VPP gave this client.
    pub client_index: u32,
    /// Whether its stream is still open.
    pub alive: bool,
    /// Milliseconds since its handshake.
    pub connected_ms: u128,
    /// The key's counters.
    pub stats: KeyStats,
}

/// Loads the definitions for a key (called once per key; the result is kept).
pub type DefsLoader =
    Arc<dyn Fn(&ClientKey) -> Result<Arc<ApiDefinitions>, String> + Send + Sync + 'static>;

/// Loads every `*.api.json` directly in `dir` and in its immediate subdirectories (VPP installs
/// them as `/usr/share/vpp/api/{core,plugins}/`).
pub fn load_api_tree(dir: &Path) -> Result<ApiDefinitions, DefsError> {
    let mut builder = DefinitionsBuilder::new();
    let mut found = false;
    let mut dirs = vec![dir.to_path_buf()];
    let entries = std::fs::read_dir(dir).map_err(|source| DefsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut subdirs: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    dirs.extend(subdirs);
    for d in dirs {
        match builder.add_dir(&d) {
            Ok(_) => found = true,
            Err(DefsError::NoFiles(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if !found {
        return Err(DefsError::NoFiles(dir.to_path_buf()));
    }
    builder.build()
}

struct Entry {
    client: Arc<VppClient>,
    generation: u64,
    connected_at: Instant,
}

#[derive(Default)]
struct State {
    clients: BTreeMap<ClientKey, Entry>,
    defs: HashMap<ClientKey, Arc<ApiDefinitions>>,
    transports: HashMap<ClientKey, Connection>,
    stats: BTreeMap<ClientKey, KeyStats>,
    next_generation: u64,
    definition_loads: u64,
}

struct Inner {
    config: ClientConfig,
    loader: DefsLoader,
    state: StdMutex<State>,
    connect_lock: tokio::sync::Mutex<()>,
    events: StdMutex<Option<EventSink>>,
}

/// Where a cache's events go: called synchronously, in emission order, never blocking.
pub type EventSink = Arc<dyn Fn(CacheEvent) + Send + Sync + 'static>;

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: CacheEvent) {
        tracing::debug!(?event, "vpp cache");
        let sender = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(sender) = sender {
            sender(event);
        }
    }
}

/// The client cache. Clones share it.
#[derive(Clone)]
pub struct ClientCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("clients", &self.inner.state().clients.len())
            .finish()
    }
}

impl ClientCache {
    /// A cache whose clients load their definitions through `loader` (once per key).
    pub fn new(config: ClientConfig, loader: DefsLoader) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                loader,
                state: StdMutex::new(State::default()),
                connect_lock: tokio::sync::Mutex::new(()),
                events: StdMutex::new(None),
            }),
        }
    }

    /// A cache whose clients all use `defs`.
    pub fn with_definitions(config: ClientConfig, defs: Arc<ApiDefinitions>) -> Self {
        Self::new(config, Arc::new(move |_| Ok(Arc::clone(&defs))))
    }

    /// Events from now on go to the returned receiver (replacing an earlier subscriber).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<CacheEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        // A subscriber that went away simply stops getting events.
        self.subscribe_with(Arc::new(move |event| {
            let _ = sender.send(event);
        }));
        receiver
    }

    /// Events from now on are passed to `sink` (replacing an earlier subscriber); it is called
    /// synchronously where the event happens, so its order is the order of the changes.
    pub fn subscribe_with(&self, sink: EventSink) {
        *self
            .inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sink);
    }

    /// Makes `transport` the one used to (re)connect `key` from now on, without connecting
    /// (the machine's connection was replaced by a new one).
    pub fn remember_transport(&self, key: &ClientKey, transport: &Connection) {
        self.inner
            .state()
            .transports
            .insert(key.clone(), transport.clone());
    }

    /// Whether definitions are already loaded for `key`.
    pub fn has_definitions(&self, key: &ClientKey) -> bool {
        self.inner.state().defs.contains_key(key)
    }

    /// Uses `defs` for `key` from now on (e.g. definitions copied from the machine); counted
    /// as a definition load.
    pub fn set_definitions(&self, key: &ClientKey, defs: Arc<ApiDefinitions>) {
        let mut state = self.inner.state();
        state.definition_loads += 1;
        state.defs.insert(key.clone(), defs);
    }

    pub(crate) fn emit(&self, event: CacheEvent) {
        self.inner.emit(event);
    }

    /// The cached connected client for `key`, or a new one connected through `transport`.
    pub async fn connect(
        &self,
        key: &ClientKey,
        transport: &Connection,
    ) -> Result<Arc<VppClient>, CacheError> {
        let _serial = self.inner.connect_lock.lock().await;
        self.connect_locked(key, transport).await
    }

    async fn connect_locked(
        &self,
        key: &ClientKey,
        transport: &Connection,
    ) -> Result<Arc<VppClient>, CacheError> {
        let (cached, defs) = {
            let mut state = self.inner.state();
            let mut dead = None;
            match state.clients.get(key) {
                Some(entry) if entry.client.is_alive() => {
                    let client = Arc::clone(&entry.client);
                    let stats = state.stats.entry(key.clone()).or_default();
                    stats.reuses += 1;
                    let reuses = stats.reuses;
                    drop(state);
                    self.inner.emit(CacheEvent::Reused {
                        key: key.clone(),
                        reuses,
                    });
                    return Ok(client);
                }
                Some(_) => dead = state.clients.remove(key),
                None => {}
            }
            if dead.is_some() {
                state.stats.entry(key.clone()).or_default().deaths += 1;
            }
            let defs = state.defs.get(key).cloned();
            (dead, defs)
        };
        if cached.is_some() {
            self.inner.emit(CacheEvent::Dead {
                key: key.clone(),
                cause: "connection closed".into(),
            });
        }
        let defs = match defs {
            Some(defs) => defs,
            None => {
                let defs = (self.inner.loader)(key).map_err(|cause| CacheError::Definitions {
                    key: key.to_string(),
                    cause,
                })?;
                let mut state = self.inner.state();
                state.definition_loads += 1;
                state.defs.insert(key.clone(), Arc::clone(&defs));
                defs
            }
        };
        let started = Instant::now();
        let connected = async {
            let stream = transport.open_streamlocal(&key.socket).await?;
            VppClient::connect(stream, defs, self.inner.config.clone())
                .await
                .map_err(|source| CacheError::Connect {
                    key: key.to_string(),
                    source,
                })
        }
        .await;
        let (client, events) = match connected {
            Ok(pair) => pair,
            Err(error) => {
                self.inner.emit(CacheEvent::ConnectFailed {
                    key: key.clone(),
                    error: error.to_string(),
                });
                return Err(error);
            }
        };
        let client = Arc::new(client);
        let generation = {
            let mut state = self.inner.state();
            state.next_generation += 1;
            let generation = state.next_generation;
            state.clients.insert(
                key.clone(),
                Entry {
                    client: Arc::clone(&client),
                    generation,
                    connected_at: Instant::now(),
                },
            );
            state.transports.insert(key.clone(), transport.clone());
            state.stats.entry(key.clone()).or_default().connects += 1;
            generation
        };
        self.inner.emit(CacheEvent::Connected {
            key: key.clone(),
            client_index: client.client_index(),
            took: started.elapsed(),
        });
        tokio::spawn(watch(
            Arc::downgrade(&self.inner),
            key.clone(),
            generation,
            events,
        ));
        Ok(client)
    }

    /// The cached client for `key`, if connected.
    pub fn client(&self, key: &ClientKey) -> Option<Arc<VppClient>> {
        self.inner
            .state()
            .clients
            .get(key)
            .map(|e| Arc::clone(&e.client))
    }

    /// Keys with a cached client.
    pub fn keys(&self) -> Vec<ClientKey> {
        self.inner.state().clients.keys().cloned().collect()
    }

    /// Counters of `key`.
    pub fn stats(&self, key: &ClientKey) -> KeyStats {
        self.inner
            .state()
            .stats
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    /// How many times definitions were loaded (once per key, kept across disconnects).
    pub fn definition_loads(&self) -> u64 {
        self.inner.state().definition_loads
    }

    /// The cache table.
    pub fn clients(&self) -> Vec<ClientInfo> {
        let state = self.inner.state();
        state
            .clients
            .iter()
            .map(|(key, entry)| ClientInfo {
                key: key.to_string(),
                client_index: entry.client.client_index(),
                alive: entry.client.is_alive(),
                connected_ms: entry.connected_at.elapsed().as_millis(),
                stats: state.stats.get(key).copied().unwrap_or_default(),
            })
            .collect()
    }

    /// Runs `op` on the key's client (connecting it again through its remembered transport if
    /// needed); when the client turns out dead, reconnects once and runs `op` again.
    pub async fn with_client<T, F, Fut>(&self, key: &ClientKey, op: F) -> Result<T, CacheError>
    where
        F: Fn(Arc<VppClient>) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let transport = self
            .inner
            .state()
            .transports
            .get(key)
            .cloned()
            .ok_or_else(|| CacheError::NotConnected {
                key: key.to_string(),
            })?;
        self.inner
            .state()
            .stats
            .entry(key.clone())
            .or_default()
            .calls += 1;
        let as_call = |source| CacheError::Call {
            key: key.to_string(),
            source,
        };
        let client = self.connect(key, &transport).await?;
        let first = op(Arc::clone(&client)).await.map_err(as_call);
        match first {
            Err(error) if error.is_dead_client() => {
                self.forget_dead(key, &client, &error.to_string());
                self.inner.emit(CacheEvent::Reconnecting {
                    key: key.clone(),
                    cause: error.to_string(),
                });
                self.inner
                    .state()
                    .stats
                    .entry(key.clone())
                    .or_default()
                    .reconnects += 1;
                let client = self.connect(key, &transport).await?;
                op(client).await.map_err(as_call)
            }
            other => other,
        }
    }

    /// Removes `client` from the cache if it is still the entry of `key`.
    fn forget_dead(&self, key: &ClientKey, client: &Arc<VppClient>, cause: &str) {
        let removed = {
            let mut state = self.inner.state();
            let same = state
                .clients
                .get(key)
                .is_some_and(|e| Arc::ptr_eq(&e.client, client));
            if same {
                state.clients.remove(key);
                state.stats.entry(key.clone()).or_default().deaths += 1;
            }
            same
        };
        if removed {
            self.inner.emit(CacheEvent::Dead {
                key: key.clone(),
                cause: cause.into(),
            });
        }
    }

    /// A request and its reply (see [`VppClient::call`]).
    pub async fn call(
        &self,
        key: &ClientKey,
        name: &str,
        args: &Value,
    ) -> Result<Message, CacheError> {
        self.with_client(key, |c| async move { c.call(name, args).await })
            .await
    }

    /// An old-style dump (see [`VppClient::dump`]).
    pub async fn dump(
        &self,
        key: &ClientKey,
        name: &str,
        args: &Value,
    ) -> Result<Vec<Message>, CacheError> {
        self.with_client(key, |c| async move { c.dump(name, args).await })
            .await
    }

    /// Liveness: one `control_ping`, returning its round trip.
    pub async fn ping(&self, key: &ClientKey) -> Result<Duration, CacheError> {
        self.with_client(key, |c| async move {
            let started = Instant::now();
            c.ping().await?;
            Ok(started.elapsed())
        })
        .await
    }

    /// Checks the connected VPP's message table against expected CRC collections.
    pub fn check_crcs(
        &self,
        key: &ClientKey,
        expected: &CrcCollections,
    ) -> Result<CrcReport, CacheError> {
        let client = self.client(key).ok_or_else(|| CacheError::NotConnected {
            key: key.to_string(),
        })?;
        let found = crcs_from_message_table(client.message_table().keys());
        let report = expected.check(&found);
        if report.passed() {
            Ok(report)
        } else {
            Err(CacheError::CrcMismatch {
                key: key.to_string(),
                report,
            })
        }
    }

    /// Disconnects `key`'s client (`sockclnt_delete`, short timeout); keeps its definitions.
    /// Returns false when no client was cached for it.
    pub async fn disconnect(&self, key: &ClientKey) -> bool {
        let _serial = self.inner.connect_lock.lock().await;
        self.disconnect_locked(key).await
    }

    async fn disconnect_locked(&self, key: &ClientKey) -> bool {
        let entry = self.inner.state().clients.remove(key);
        let Some(entry) = entry else {
            return false;
        };
        let delete_error = entry.client.close().await.err().map(|e| e.to_string());
        self.inner
            .state()
            .stats
            .entry(key.clone())
            .or_default()
            .disconnects += 1;
        self.inner.emit(CacheEvent::Disconnected {
            key: key.clone(),
            delete_error,
        });
        true
    }

    /// Disconnects every client of the machine at `host:port`; returns their keys.
    pub async fn disconnect_host(&self, host: &str, port: u16) -> Vec<ClientKey> {
        let _serial = self.inner.connect_lock.lock().await;
        let keys: Vec<ClientKey> = self
            .keys()
            .into_iter()
            .filter(|k| k.host == host && k.port == port)
            .collect();
        for key in &keys {
            self.disconnect_locked(key).await;
        }
        keys
    }

    /// Disconnects every client; returns their keys.
    pub async fn disconnect_all(&self) -> Vec<ClientKey> {
        let _serial = self.inner.connect_lock.lock().await;
        let keys = self.keys();
        for key in &keys {
            self.disconnect_locked(key).await;
        }
        keys
    }
}

/// Forwards a client's VPP events; when they end while the client is still the cached one,
/// the client died: it leaves the cache.
async fn watch(inner: Weak<Inner>, key: ClientKey, generation: u64, mut events: Events) {
    while let Some(message) = events.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        inner.emit(CacheEvent::VppEvent {
            key: key.clone(),
            message,
        });
    }
    let Some(inner) = inner.upgrade() else { return };
    let removed = {
        let mut state = inner.state();
        let current = state
            .clients
            .get(&key)
            .is_some_and(|e| e.generation == generation);
        if current {
            state.clients.remove(&key);
            state.stats.entry(key.clone()).or_default().deaths += 1;
        }
        current
    };
    if removed {
        inner.emit(CacheEvent::Dead {
            key,
            cause: "VPP closed the connection".into(),
        });
    }
}
