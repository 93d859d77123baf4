//! The engine's VPP part: the [`ClientCache`] owned by the engine, reached through each pool
//! machine's cached connection, and the [`EngineHandle`] methods that call VPP.
//!
//! Invariants (on top of the cache's own):
//! - The engine task never awaits VPP: every call, dump, CLI command, restart and disconnect
//!   runs in a spawned task that answers through the engine's internal channel, so its reply is
//!   sent after every cache event it caused has been published as [`Event::Vpp`].
//! - Cache events reach the engine through the same internal channel, synchronously where
//!   they happen: subscribers see them in the order the cache changed.
//! - A VPP operation on a machine without a live connection waits for the engine to connect
//!   it (the same connection jobs use; a `direct-streamlocal` channel per client, no new SSH
//!   session); a failed connect fails the waiting operations.
//! - A machine's socket, restart command and definitions come from the pool machine
//!   (`vpp_api_sockets`, `vpp_restart_command`) and the engine's [`VppSettings`].
//! - Disconnecting a machine (or shutting down) disconnects its VPP clients first
//!   (`sockclnt_delete`) and only then closes the SSH connection.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::cache::CacheKey;
use super::{Command, DisconnectTarget, Engine, EngineHandle, Event, Internal};
use crate::pool::Machine;
use crate::transport::Connection;
use crate::vpp::event::VppClientEvent;
use crate::vpp::{
    ApiDefinitions, CacheError, CacheEvent, ClientCache, ClientConfig, ClientKey, CrcCollections,
    CrcReport, DEFAULT_RESTART_COMMAND, DefsLoader, RestartError, RestartPlan, load_api_tree,
    restart_vpp,
};
pub use crate::vpp::{ClientInfo, RestartReport};

/// Where the engine's VPP clients get their API definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionsSource {
    /// `.api.json` files in this local directory and its subdirectories (parsed once, shared
    /// by every machine).
    Dir(PathBuf),
    /// The `.api.json` files installed on each machine, in this remote directory (usually
    /// `/usr/share/vpp/api`), copied over the machine's connection once per client key.
    Host(String),
    /// Fetched from each VPP with `get_api_json` (VPP >= 24.02) through a bootstrap client on
    /// the built-in memclnt definitions, once per client key.
    ApiJson,
}

/// The engine's VPP settings (see [`EngineHandle::vpp_configure`]).
#[derive(Debug, Clone)]
pub struct VppSettings {
    pub definitions: DefinitionsSource,
    /// Client name, request and disconnect timeouts.
    pub client: ClientConfig,
    /// Liveness `control_ping` of every connected client (`None`: never).
    pub ping_every: Option<Duration>,
    /// How long a restart waits for the API after the restart command.
    pub restart_deadline: Duration,
    /// How long the restart command may run.
    pub restart_command_timeout: Duration,
    /// Pause between two readiness polls after a restart.
    pub restart_poll_interval: Duration,
}

impl Default for VppSettings {
    fn default() -> Self {
        Self {
            definitions: DefinitionsSource::Dir(PathBuf::from("/usr/share/vpp/api")),
            client: ClientConfig::default(),
            ping_every: Some(Duration::from_secs(2)),
            restart_deadline: Duration::from_secs(60),
            restart_command_timeout: Duration::from_secs(300),
            restart_poll_interval: Duration::from_millis(100),
        }
    }
}

/// Why a VPP operation through the engine failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VppEngineError {
    #[error("no machine `{name}` in the pool")]
    UnknownHost { name: String, hint: String },
    #[error("machine `{host}` has no vpp_api_sockets")]
    NoSocket { host: String },
    #[error("cannot reach machine `{host}`: {error}")]
    Machine {
        host: String,
        error: String,
        hint: String,
    },
    #[error("no VPP client `{0}`")]
    UnknownKey(String),
    #[error(transparent)]
    Vpp(Box<CacheError>),
    #[error(transparent)]
    Restart(Box<RestartError>),
    #[error("cannot get the VPP API definitions of `{host}`: {cause}")]
    Definitions { host: String, cause: String },
    #[error("the engine has stopped")]
    Stopped,
}

impl From<CacheError> for VppEngineError {
    fn from(error: CacheError) -> Self {
        Self::Vpp(Box::new(error))
    }
}

impl From<RestartError> for VppEngineError {
    fn from(error: RestartError) -> Self {
        Self::Restart(Box::new(error))
    }
}

impl VppEngineError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            VppEngineError::UnknownHost { hint, .. } | VppEngineError::Machine { hint, .. } => {
                hint.clone()
            }
            VppEngineError::NoSocket { .. } => {
                "add `vpp_api_sockets = [\"/run/vpp/api.sock\"]` to the machine in the pool".into()
            }
            VppEngineError::UnknownKey(_) => "`labdeck vpp clients` lists the client keys".into(),
            VppEngineError::Vpp(e) => e.hint(),
            VppEngineError::Restart(e) => e.hint(),
            VppEngineError::Definitions { .. } => {
                "VPP installs its .api.json files in /usr/share/vpp/api; or use local ones (--api-dir)"
                    .into()
            }
            VppEngineError::Stopped => "the engine stopped; start again".into(),
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, VppEngineError>>;

/// VPP requests to the engine (one [`Command::Vpp`] variant carries them all).
#[derive(Debug)]
pub enum VppCommand {
    /// Replaces the settings; a new client cache is made when none is connected.
    Configure(VppSettings),
    Call {
        host: String,
        message: String,
        args: Value,
        reply: Reply<Value>,
    },
    Dump {
        host: String,
        message: String,
        args: Value,
        reply: Reply<Vec<Value>>,
    },
    Cli {
        host: String,
        command: String,
        reply: Reply<String>,
    },
    Restart {
        host: String,
        reply: Reply<RestartReport>,
    },
    Disconnect {
        target: DisconnectTarget,
        reply: Reply<usize>,
    },
    Clients {
        reply: Reply<Vec<ClientInfo>>,
    },
    CheckCrcs {
        host: String,
        expected: CrcCollections,
        reply: Reply<CrcReport>,
    },
}

/// What VPP tasks report back to the engine.
pub(super) enum VppInternal {
    /// A cache change, in the order it happened.
    Cache(CacheEvent),
    /// Answers a request (after the events it caused).
    Reply(Box<dyn FnOnce() + Send>),
    /// A liveness ping ended.
    Ping {
        key: ClientKey,
        result: Result<Duration, String>,
    },
}

/// Starts an operation once the machine has a connection (or fails it).
type Start = Box<dyn FnOnce(Result<Connection, VppEngineError>) + Send>;

/// The engine's VPP state.
pub(super) struct EngineVpp {
    cache: ClientCache,
    /// Caches replaced by a `Configure` (an operation in flight may still connect through
    /// one): their clients are disconnected with the machine's, too.
    retired: Vec<ClientCache>,
    settings: VppSettings,
    /// Operations waiting for their machine's connection.
    waiting: BTreeMap<CacheKey, Vec<Start>>,
    pings_in_flight: BTreeSet<ClientKey>,
    next_ping: Instant,
    internal: mpsc::UnboundedSender<Internal>,
}

/// A loader that parses `dir` once and shares the result (every machine uses it).
fn dir_loader(dir: PathBuf) -> DefsLoader {
    let parsed: StdMutex<Option<Arc<ApiDefinitions>>> = StdMutex::new(None);
    Arc::new(move |_key: &ClientKey| {
        let mut slot = parsed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(defs) = slot.as_ref() {
            return Ok(Arc::clone(defs));
        }
        let defs = Arc::new(load_api_tree(&dir).map_err(|e| e.to_string())?);
        *slot = Some(Arc::clone(&defs));
        Ok(defs)
    })
}

fn make_cache(settings: &VppSettings, internal: &mpsc::UnboundedSender<Internal>) -> ClientCache {
    let loader: DefsLoader = match &settings.definitions {
        DefinitionsSource::Dir(dir) => dir_loader(dir.clone()),
        // Fetched by the operation before it connects (see `prepare`).
        DefinitionsSource::Host(_) | DefinitionsSource::ApiJson => {
            Arc::new(move |key: &ClientKey| Err(format!("definitions of {key} were not fetched")))
        }
    };
    let cache = ClientCache::new(settings.client.clone(), loader);
    let sink = internal.clone();
    cache.subscribe_with(Arc::new(move |event| {
        let _ = sink.send(Internal::Vpp(VppInternal::Cache(event)));
    }));
    cache
}

impl EngineVpp {
    pub(super) fn new(internal: &mpsc::UnboundedSender<Internal>) -> Self {
        let settings = VppSettings::default();
        Self {
            cache: make_cache(&settings, internal),
            retired: Vec::new(),
            settings,
            waiting: BTreeMap::new(),
            pings_in_flight: BTreeSet::new(),
            next_ping: Instant::now(),
            internal: internal.clone(),
        }
    }

    /// Sends `reply` its answer through the engine, after the events before it.
    fn answer<T: Send + 'static>(
        internal: &mpsc::UnboundedSender<Internal>,
        reply: Reply<T>,
        result: Result<T, VppEngineError>,
    ) {
        let _ = internal.send(Internal::Vpp(VppInternal::Reply(Box::new(move || {
            let _ = reply.send(result);
        }))));
    }
}

/// Makes the cache ready to use `key` through `connection`: remembers the transport, and
/// copies the definitions from the machine when they come from there.
async fn prepare(
    cache: &ClientCache,
    key: &ClientKey,
    host: &str,
    connection: &Connection,
    source: &DefinitionsSource,
    config: &ClientConfig,
) -> Result<(), VppEngineError> {
    cache.remember_transport(key, connection);
    if cache.has_definitions(key) {
        return Ok(());
    }
    let fetched = match source {
        DefinitionsSource::Dir(_) => return Ok(()),
        DefinitionsSource::Host(dir) => crate::vpp::remote::copy_definitions(connection, dir).await,
        DefinitionsSource::ApiJson => {
            crate::vpp::remote::fetch_api_json(connection, &key.socket, config.clone()).await
        }
    };
    let defs = fetched.map_err(|e| VppEngineError::Definitions {
        host: host.to_string(),
        cause: e.to_string(),
    })?;
    cache.set_definitions(key, Arc::new(defs));
    Ok(())
}

/// The first API socket of a machine, as a client key.
fn machine_key(machine: &Machine) -> Result<ClientKey, VppEngineError> {
    let socket = machine
        .vpp
        .api_sockets
        .first()
        .ok_or_else(|| VppEngineError::NoSocket {
            host: machine.name.clone(),
        })?;
    Ok(ClientKey::for_machine(machine, socket))
}

impl Engine {
    pub(super) fn on_vpp_command(&mut self, command: VppCommand) {
        match command {
            VppCommand::Configure(settings) => {
                if self.vpp.cache.keys().is_empty() {
                    let fresh = make_cache(&settings, &self.internal_tx);
                    let old = std::mem::replace(&mut self.vpp.cache, fresh);
                    self.vpp.retired.retain(|c| !c.keys().is_empty());
                    self.vpp.retired.push(old);
                }
                self.vpp.settings = settings;
                self.vpp.next_ping = Instant::now();
            }
            VppCommand::Clients { reply } => {
                let _ = reply.send(Ok(self.vpp.cache.clients()));
            }
            VppCommand::Call {
                host,
                message,
                args,
                reply,
            } => self.vpp_operation(&host, reply, move |cache, key| async move {
                Ok(cache.call(&key, &message, &args).await?.value)
            }),
            VppCommand::Dump {
                host,
                message,
                args,
                reply,
            } => self.vpp_operation(&host, reply, move |cache, key| async move {
                let details = cache.dump(&key, &message, &args).await?;
                Ok(details.into_iter().map(|d| d.value).collect())
            }),
            VppCommand::Cli {
                host,
                command,
                reply,
            } => self.vpp_operation(&host, reply, move |cache, key| async move {
                let reply = cache
                    .call(&key, "cli_inband", &json!({ "cmd": command }))
                    .await?;
                Ok(reply
                    .value
                    .get("reply")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string())
            }),
            VppCommand::CheckCrcs {
                host,
                expected,
                reply,
            } => self.vpp_operation(&host, reply, move |cache, key| async move {
                cache.ping(&key).await?;
                Ok(cache.check_crcs(&key, &expected)?)
            }),
            VppCommand::Restart { host, reply } => self.vpp_restart(&host, reply),
            VppCommand::Disconnect { target, reply } => self.vpp_disconnect(target, reply),
        }
    }

    pub(super) fn on_vpp_internal(&mut self, message: VppInternal) {
        match message {
            VppInternal::Cache(event) => self.emit(Event::Vpp(VppClientEvent::from(&event))),
            VppInternal::Reply(answer) => answer(),
            VppInternal::Ping { key, result } => {
                self.vpp.pings_in_flight.remove(&key);
                self.emit(Event::Vpp(VppClientEvent::ping(&key, result)));
            }
        }
    }

    fn vpp_machine(&self, host: &str) -> Result<Machine, VppEngineError> {
        self.pool
            .machine(host)
            .cloned()
            .ok_or_else(|| VppEngineError::UnknownHost {
                name: host.to_string(),
                hint: match crate::diag::nearest(host, self.pool.machine_names()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!(
                        "machines in the pool: {}",
                        self.pool.machine_names().collect::<Vec<_>>().join(", ")
                    ),
                },
            })
    }

    /// Runs `op` on `host`'s client once the machine has a connection; answers `reply`.
    fn vpp_operation<T, F, Fut>(&mut self, host: &str, reply: Reply<T>, op: F)
    where
        T: Send + 'static,
        F: FnOnce(ClientCache, ClientKey) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, VppEngineError>> + Send + 'static,
    {
        let found = self
            .vpp_machine(host)
            .and_then(|m| machine_key(&m).map(|k| (m, k)));
        let (machine, key) = match found {
            Ok(pair) => pair,
            Err(error) => {
                let _ = reply.send(Err(error));
                return;
            }
        };
        let cache = self.vpp.cache.clone();
        let internal = self.internal_tx.clone();
        let source = self.vpp.settings.definitions.clone();
        let client_config = self.vpp.settings.client.clone();
        let name = machine.name.clone();
        let start: Start = Box::new(move |connection| {
            tokio::spawn(async move {
                let result = async {
                    let connection = connection?;
                    prepare(&cache, &key, &name, &connection, &source, &client_config).await?;
                    op(cache, key).await
                }
                .await;
                EngineVpp::answer(&internal, reply, result);
            });
        });
        self.vpp_when_connected(&machine, start);
    }

    /// Calls `start` with a live connection of the machine, connecting it first if needed.
    fn vpp_when_connected(&mut self, machine: &Machine, start: Start) {
        let key = CacheKey::of(machine);
        let Some(entry) = self.cache.get(&key) else {
            start(Err(VppEngineError::Machine {
                host: machine.name.clone(),
                error: "not in the engine's cache".into(),
                hint: String::new(),
            }));
            return;
        };
        if let Some(live) = entry.connections.iter().find(|p| p.connection.is_alive()) {
            start(Ok(live.connection.clone()));
            return;
        }
        let connecting = entry.connecting;
        self.vpp.waiting.entry(key.clone()).or_default().push(start);
        if !connecting {
            self.start_connect(&key);
        }
    }

    /// After a connect attempt of `key` ended: starts or fails the operations waiting for it.
    pub(super) fn vpp_connection_changed(&mut self, key: &CacheKey) {
        let Some(entry) = self.cache.get(key) else {
            return;
        };
        let outcome = match entry.connections.iter().find(|p| p.connection.is_alive()) {
            Some(live) => Ok(live.connection.clone()),
            None if entry.connecting => return,
            None => {
                let (error, hint) = entry
                    .last_error
                    .clone()
                    .unwrap_or_else(|| ("not connected".into(), String::new()));
                Err((error, hint))
            }
        };
        let host = self.machines_of(key).join(",");
        for start in self.vpp.waiting.remove(key).unwrap_or_default() {
            start(match &outcome {
                Ok(connection) => Ok(connection.clone()),
                Err((error, hint)) => Err(VppEngineError::Machine {
                    host: host.clone(),
                    error: error.clone(),
                    hint: hint.clone(),
                }),
            });
        }
    }

    fn vpp_restart(&mut self, host: &str, reply: Reply<RestartReport>) {
        let machine = match self.vpp_machine(host) {
            Ok(m) => m,
            Err(error) => {
                let _ = reply.send(Err(error));
                return;
            }
        };
        let key = match machine_key(&machine) {
            Ok(k) => k,
            Err(error) => {
                let _ = reply.send(Err(error));
                return;
            }
        };
        let settings = &self.vpp.settings;
        let plan = RestartPlan {
            host: key.host.clone(),
            port: key.port,
            command: machine
                .vpp
                .restart_command
                .clone()
                .unwrap_or_else(|| DEFAULT_RESTART_COMMAND.into()),
            sockets: machine.vpp.api_sockets.clone(),
            command_timeout: settings.restart_command_timeout,
            ready_deadline: settings.restart_deadline,
            poll_interval: settings.restart_poll_interval,
        };
        let cache = self.vpp.cache.clone();
        let internal = self.internal_tx.clone();
        let source = settings.definitions.clone();
        let client_config = settings.client.clone();
        let name = machine.name.clone();
        let start: Start = Box::new(move |connection| {
            tokio::spawn(async move {
                let result = async {
                    let connection = connection?;
                    prepare(&cache, &key, &name, &connection, &source, &client_config).await?;
                    Ok(restart_vpp(&cache, &connection, &plan).await?)
                }
                .await;
                EngineVpp::answer(&internal, reply, result);
            });
        });
        self.vpp_when_connected(&machine, start);
    }

    fn vpp_disconnect(&mut self, target: DisconnectTarget, reply: Reply<usize>) {
        let cache = self.vpp.cache.clone();
        let internal = self.internal_tx.clone();
        match target {
            DisconnectTarget::All => {
                tokio::spawn(async move {
                    let count = cache.disconnect_all().await.len();
                    EngineVpp::answer(&internal, reply, Ok(count));
                });
            }
            DisconnectTarget::Host(name) => match self.vpp_machine(&name) {
                Ok(machine) => {
                    let key = ClientKey::for_machine(&machine, "/");
                    tokio::spawn(async move {
                        let count = cache.disconnect_host(&key.host, key.port).await.len();
                        EngineVpp::answer(&internal, reply, Ok(count));
                    });
                }
                Err(error) => {
                    let _ = reply.send(Err(error));
                }
            },
            DisconnectTarget::Key(text) => match ClientKey::parse(&text) {
                Some(key) => {
                    tokio::spawn(async move {
                        let count = usize::from(cache.disconnect(&key).await);
                        EngineVpp::answer(&internal, reply, Ok(count));
                    });
                }
                None => {
                    let _ = reply.send(Err(VppEngineError::UnknownKey(text)));
                }
            },
        }
    }

    /// The (host, port) pairs of the VPP clients that use connection key `key`.
    fn vpp_machines_of(&self, key: &CacheKey) -> Vec<(String, u16)> {
        let mut out: Vec<(String, u16)> = self
            .pool
            .machines
            .iter()
            .filter(|m| &CacheKey::of(m) == key)
            .map(|m| {
                let k = ClientKey::for_machine(m, "/");
                (k.host, k.port)
            })
            .collect();
        out.dedup();
        out
    }

    /// A future that disconnects the VPP clients reached through connection key `key` (run
    /// before that connection closes).
    pub(super) fn vpp_disconnect_clients_of(
        &mut self,
        key: &CacheKey,
    ) -> impl Future<Output = ()> + Send + use<> {
        let machines = self.vpp_machines_of(key);
        let mut caches = vec![self.vpp.cache.clone()];
        caches.extend(self.vpp.retired.iter().cloned());
        for start in self.vpp.waiting.remove(key).unwrap_or_default() {
            start(Err(VppEngineError::Machine {
                host: key.to_string(),
                error: "disconnected".into(),
                hint: String::new(),
            }));
        }
        async move {
            for cache in caches {
                for (host, port) in &machines {
                    cache.disconnect_host(host, *port).await;
                }
            }
        }
    }

    /// On shutdown: disconnects the VPP clients of the matching connection keys (bounded).
    pub(super) fn vpp_close(
        &mut self,
        matches: &dyn Fn(&CacheKey) -> bool,
    ) -> impl Future<Output = ()> + Send + use<> {
        let keys: Vec<CacheKey> = self.cache.keys().filter(|k| matches(k)).cloned().collect();
        let closing: Vec<_> = keys
            .iter()
            .map(|key| self.vpp_disconnect_clients_of(key))
            .collect();
        async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                for close in closing {
                    close.await;
                }
            })
            .await;
        }
    }

    /// Liveness pings of the connected clients, when due.
    pub(super) fn vpp_tick(&mut self) {
        let Some(every) = self.vpp.settings.ping_every else {
            return;
        };
        let now = Instant::now();
        if now < self.vpp.next_ping {
            return;
        }
        self.vpp.next_ping = now + every;
        for key in self.vpp.cache.keys() {
            if self.vpp.pings_in_flight.contains(&key) {
                continue;
            }
            let Some(client) = self.vpp.cache.client(&key) else {
                continue;
            };
            self.vpp.pings_in_flight.insert(key.clone());
            let internal = self.vpp.internal.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let result = client
                    .ping()
                    .await
                    .map(|_| started.elapsed())
                    .map_err(|e| e.to_string());
                let _ = internal.send(Internal::Vpp(VppInternal::Ping { key, result }));
            });
        }
    }
}

impl EngineHandle {
    async fn ask_vpp<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> VppCommand,
    ) -> Result<T, VppEngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Vpp(make(reply)))
            .map_err(|_| VppEngineError::Stopped)?;
        rx.await.map_err(|_| VppEngineError::Stopped)?
    }

    /// Replaces the VPP settings (definitions, timeouts, liveness pings). The client settings
    /// apply to clients connected after the cache was last empty.
    pub fn vpp_configure(&self, settings: VppSettings) -> Result<(), VppEngineError> {
        self.send(Command::Vpp(VppCommand::Configure(settings)))
            .map_err(|_| VppEngineError::Stopped)
    }

    /// Sends `message` with `args` to the VPP of pool machine `host`; returns its reply's
    /// fields (`retval` included: a nonzero retval is not an error here).
    pub async fn vpp_call(
        &self,
        host: &str,
        message: &str,
        args: Value,
    ) -> Result<Value, VppEngineError> {
        let (host, message) = (host.to_string(), message.to_string());
        self.ask_vpp(|reply| VppCommand::Call {
            host,
            message,
            args,
            reply,
        })
        .await
    }

    /// An old-style dump on `host`: every details message.
    pub async fn vpp_dump(
        &self,
        host: &str,
        message: &str,
        args: Value,
    ) -> Result<Vec<Value>, VppEngineError> {
        let (host, message) = (host.to_string(), message.to_string());
        self.ask_vpp(|reply| VppCommand::Dump {
            host,
            message,
            args,
            reply,
        })
        .await
    }

    /// A VPP CLI command on `host` (`cli_inband`); returns its output.
    pub async fn vpp_cli(&self, host: &str, command: &str) -> Result<String, VppEngineError> {
        let (host, command) = (host.to_string(), command.to_string());
        self.ask_vpp(|reply| VppCommand::Cli {
            host,
            command,
            reply,
        })
        .await
    }

    /// Restarts VPP on `host` (disconnect its clients, run its restart command, wait for
    /// control_ping, reconnect the clients that were connected).
    pub async fn vpp_restart(&self, host: &str) -> Result<RestartReport, VppEngineError> {
        let host = host.to_string();
        self.ask_vpp(|reply| VppCommand::Restart { host, reply })
            .await
    }

    /// Disconnects VPP clients (`sockclnt_delete` each); returns how many. `Key` takes the
    /// client key as [`ClientInfo::key`] shows it; `Host` a pool machine.
    pub async fn vpp_disconnect(&self, target: DisconnectTarget) -> Result<usize, VppEngineError> {
        self.ask_vpp(|reply| VppCommand::Disconnect { target, reply })
            .await
    }

    /// Connects `host`'s client and checks its VPP's message CRCs against `expected`
    /// (CSIT's collections); a mismatch is a [`CacheError::CrcMismatch`] with the report.
    pub async fn vpp_check_crcs(
        &self,
        host: &str,
        expected: CrcCollections,
    ) -> Result<CrcReport, VppEngineError> {
        let host = host.to_string();
        self.ask_vpp(|reply| VppCommand::CheckCrcs {
            host,
            expected,
            reply,
        })
        .await
    }

    /// The connected VPP clients.
    pub async fn vpp_clients(&self) -> Result<Vec<ClientInfo>, VppEngineError> {
        self.ask_vpp(|reply| VppCommand::Clients { reply }).await
    }
}
