//! The engine: the one task that owns labdeck's mutable state.
//!
//! Views and front ends (CLI, later the TUI and REPL) hold an [`EngineHandle`], send
//! [`Command`]s and listen to [`Event`]s. The engine keeps the connection cache
//! ([`cache`]), the machines of the pool and every job.
//!
//! Invariants: only the engine task touches this state; the engine never awaits the
//! network itself (connects, shells, jobs and kills run in their own tasks and report back
//! through an internal channel); every subscriber sees every event emitted after it
//! subscribed, in emission order; a job's output events all precede its `JobFinished`; job
//! ids are unique per host and start at 1; a job's output is kept as a bounded tail in
//! memory (and in full in files when an output directory is set); on shutdown and on
//! disconnect every job still running on the affected connections is killed by process
//! group before they close.

pub mod cache;
pub mod job;
pub mod runner;
pub mod view;
pub mod vpp;

use crate::pool::Pool;
use crate::transport::shell::FastShell;
use crate::transport::{Connection, Stream, TransportError, Trust};
use cache::{CacheEntry, CacheKey, CacheView, Pooled};
pub use job::{Ending, JobSpec, JobState};
use runner::{Executor, OutputFiles, Report, signal_group};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
pub use view::{DevicesView, HostView, HostViewState, apply_devices_event, apply_host_event};

/// Bytes of each output stream kept in memory per job.
pub const TAIL_BYTES: usize = 64 * 1024;

/// A job's identity: its host and its per-host id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobRef {
    pub host: String,
    pub id: u64,
}

impl std::fmt::Display for JobRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.host, self.id)
    }
}

/// What to disconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectTarget {
    /// A cache key as displayed (`user@host:port` or `local`).
    Key(String),
    /// Every connection of a pool machine.
    Host(String),
    All,
}

/// Requests to the engine.
#[derive(Debug)]
pub enum Command {
    /// Adds a listener; it receives every event emitted from now on.
    Subscribe(mpsc::UnboundedSender<Event>),
    Connect {
        host: String,
    },
    ConnectAll,
    Exec {
        spec: JobSpec,
        reply: oneshot::Sender<Result<JobRef, EngineError>>,
    },
    /// Signals a job's whole process group.
    Kill {
        job: JobRef,
        signal: String,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// Answers when the job has ended (the caller bounds the wait).
    Wait {
        job: JobRef,
        reply: oneshot::Sender<Result<JobSnapshot, EngineError>>,
    },
    /// Kills the jobs on the matching connections, closes them, and answers how many
    /// connections were closed.
    Disconnect {
        target: DisconnectTarget,
        reply: oneshot::Sender<Result<usize, EngineError>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
    /// Discovers a machine's devices now; the result arrives as [`Event::Devices`].
    RefreshDevices {
        host: String,
    },
    /// Rediscovers a machine's devices every `every` (`None` stops watching).
    WatchDevices {
        host: String,
        every: Option<Duration>,
    },
    /// Broadcasts a run event (from a walk executor) to every subscriber, in order with the
    /// engine's own events.
    Publish(crate::run::RunEvent),
    /// VPP API calls, restarts and client cache operations (see [`vpp`]).
    Vpp(vpp::VppCommand),
    /// Kills running jobs, closes every connection, then stops the engine.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Everything that happens, in order. Views render these and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    HostConnecting {
        host: String,
    },
    HostConnected {
        host: String,
        latency: Duration,
    },
    HostFailed {
        host: String,
        error: String,
        hint: String,
    },
    HostDisconnected {
        host: String,
    },
    /// An automatic reconnect is scheduled.
    HostReconnecting {
        host: String,
        attempt: u32,
        delay: Duration,
    },
    /// A cache entry changed (connections, channels, reuse).
    Cache(CacheView),
    JobStarted {
        job: JobRef,
        command: String,
        background: bool,
        /// Where the full output goes, when the engine writes files.
        files: Option<OutputFiles>,
    },
    JobOutput {
        job: JobRef,
        stream: Stream,
        data: Arc<[u8]>,
    },
    JobFinished {
        job: JobRef,
        state: JobState,
        ending: Ending,
        duration: Duration,
        /// For `json` jobs: stdout parsed as JSON, or why it could not be.
        json: Option<Result<serde_json::Value, String>>,
    },
    /// A device discovery finished (`at_ms`: unix milliseconds, for rates).
    Devices {
        host: String,
        at_ms: u64,
        devices: Result<Vec<crate::devices::Device>, String>,
    },
    /// A walk run, replay or shrink reported something (see [`crate::run::RunEvent`]).
    Run(crate::run::RunEvent),
    /// The VPP API client cache changed (see [`crate::vpp::event::VppClientEvent`]).
    Vpp(crate::vpp::event::VppClientEvent),
}

/// Refusals by the engine itself.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    #[error("no machine `{name}` in the pool")]
    #[diagnostic(help("{hint}"))]
    UnknownHost { name: String, hint: String },
    #[error("no cached connection `{0}`")]
    #[diagnostic(help("`labdeck hosts` lists the cache keys"))]
    UnknownKey(String),
    #[error("invalid job: {0}")]
    InvalidJob(String),
    #[error("no job {0}")]
    #[diagnostic(help("job ids are HOST#N, as labdeck prints them"))]
    UnknownJob(JobRef),
    #[error("job {0} has already ended")]
    JobEnded(JobRef),
    #[error("job {job} still runs after {secs:.1} s")]
    WaitTimedOut { job: JobRef, secs: f64 },
    #[error("the engine has stopped")]
    Stopped,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub trust: Trust,
    pub connect_timeout: Duration,
    /// Run short foreground jobs in a long-lived shell per connection.
    pub fast_path: bool,
    /// Write every job's full output to `<dir>/<host>-<id>.{stdout,stderr}`.
    pub output_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            trust: Trust::default(),
            connect_timeout: Duration::from_secs(10),
            fast_path: true,
            output_dir: None,
        }
    }
}

/// A job as the engine knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSnapshot {
    pub job: JobRef,
    pub spec: JobSpec,
    pub state: JobState,
    pub pgid: Option<u32>,
    pub stdout_tail: Vec<u8>,
    pub stderr_tail: Vec<u8>,
    pub files: Option<OutputFiles>,
    pub exit: Option<Ending>,
}

/// The engine's state at one moment, for tables and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub cache: Vec<CacheView>,
    pub jobs: Vec<JobSnapshot>,
}

/// A cheap, cloneable way to talk to the engine.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl EngineHandle {
    /// Starts the engine task for `pool`.
    pub fn spawn(pool: Pool, config: EngineConfig) -> EngineHandle {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let machines = pool
            .machines
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    MachineState {
                        key: CacheKey::of(m),
                        next_job: 0,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();
        let mut cache = BTreeMap::new();
        for state in machines.values() {
            cache
                .entry(state.key.clone())
                .or_insert_with(CacheEntry::default);
        }
        let vpp = vpp::EngineVpp::new(&internal_tx);
        let engine = Engine {
            pool,
            config,
            machines,
            cache,
            jobs: BTreeMap::new(),
            discoveries: BTreeMap::new(),
            device_watch: BTreeMap::new(),
            subscribers: Vec::new(),
            internal_tx,
            report_tx,
            next_connection: 0,
            vpp,
        };
        tokio::spawn(engine.run(command_rx, internal_rx, report_rx));
        EngineHandle { commands }
    }

    pub fn send(&self, command: Command) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::Stopped)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply))?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// A new event stream; it sees every event after this call.
    pub fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.send(Command::Subscribe(tx))?;
        Ok(rx)
    }

    /// Queues a job on a host; the job id comes back at once.
    pub async fn exec(&self, spec: JobSpec) -> Result<JobRef, EngineError> {
        self.ask(|reply| Command::Exec { spec, reply }).await?
    }

    /// Sends `signal` to a job's process group.
    pub async fn kill(&self, job: JobRef, signal: &str) -> Result<(), EngineError> {
        let signal = signal.to_owned();
        self.ask(|reply| Command::Kill { job, signal, reply })
            .await?
    }

    /// Waits up to `timeout` for a job to end (LNST's `wait`); the job keeps running if
    /// it does not.
    pub async fn wait(&self, job: JobRef, timeout: Duration) -> Result<JobSnapshot, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Wait {
            job: job.clone(),
            reply,
        })?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(answer) => answer.map_err(|_| EngineError::Stopped)?,
            Err(_) => Err(EngineError::WaitTimedOut {
                job,
                secs: timeout.as_secs_f64(),
            }),
        }
    }

    pub async fn disconnect(&self, target: DisconnectTarget) -> Result<usize, EngineError> {
        self.ask(|reply| Command::Disconnect { target, reply })
            .await?
    }

    /// Broadcasts a run event to every subscriber.
    pub fn publish(&self, event: crate::run::RunEvent) -> Result<(), EngineError> {
        self.send(Command::Publish(event))
    }

    pub async fn snapshot(&self) -> Result<Snapshot, EngineError> {
        self.ask(|reply| Command::Snapshot { reply }).await
    }

    /// Kills running jobs, closes all connections and waits for the engine to stop.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.send(Command::Shutdown { done }).is_ok() {
            let _ = rx.await;
        }
    }
}

struct MachineState {
    key: CacheKey,
    next_job: u64,
}

/// The engine's record of one job.
struct JobRecord {
    spec: JobSpec,
    wrapped: String,
    state: JobState,
    key: CacheKey,
    pgid: Option<u32>,
    /// The pooled connection it runs on, while it runs.
    connection: Option<(u64, Connection)>,
    /// Whether it holds a channel of its own (not the shell's).
    owns_channel: bool,
    /// A kill was asked for; the signal waits here until the group id is known.
    kill: Option<String>,
    stdout_tail: VecDeque<u8>,
    stderr_tail: VecDeque<u8>,
    files: Option<OutputFiles>,
    exit: Option<Ending>,
    waiters: Vec<oneshot::Sender<Result<JobSnapshot, EngineError>>>,
}

impl JobRecord {
    fn snapshot(&self, job: &JobRef) -> JobSnapshot {
        JobSnapshot {
            job: job.clone(),
            spec: self.spec.clone(),
            state: self.state,
            pgid: self.pgid,
            stdout_tail: self.stdout_tail.iter().copied().collect(),
            stderr_tail: self.stderr_tail.iter().copied().collect(),
            files: self.files.clone(),
            exit: self.exit.clone(),
        }
    }
}

enum Internal {
    Connected {
        key: CacheKey,
        result: Result<(Connection, Duration), TransportError>,
    },
    ShellOpened {
        key: CacheKey,
        connection_id: u64,
        result: Result<FastShell, TransportError>,
    },
    Vpp(vpp::VppInternal),
}

struct Engine {
    pool: Pool,
    config: EngineConfig,
    machines: BTreeMap<String, MachineState>,
    cache: BTreeMap<CacheKey, CacheEntry>,
    jobs: BTreeMap<JobRef, JobRecord>,
    /// Device discoveries in flight, by job.
    discoveries: BTreeMap<JobRef, String>,
    /// Machines whose devices are rediscovered periodically: (period, next due).
    device_watch: BTreeMap<String, (Duration, Instant)>,
    subscribers: Vec<mpsc::UnboundedSender<Event>>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    report_tx: mpsc::UnboundedSender<Report>,
    next_connection: u64,
    vpp: vpp::EngineVpp,
}

impl Engine {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        mut reports: mpsc::UnboundedReceiver<Report>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown { done }) => {
                        self.close(|_| true).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.close(|_| true).await;
                        return;
                    }
                },
                Some(message) = internal.recv() => self.on_internal(message),
                Some(report) = reports.recv() => self.on_report(report),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    fn emit(&mut self, event: Event) {
        self.subscribers.retain(|s| s.send(event.clone()).is_ok());
    }

    fn machines_of(&self, key: &CacheKey) -> Vec<String> {
        self.machines
            .iter()
            .filter(|(_, m)| &m.key == key)
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn emit_for_machines(&mut self, key: &CacheKey, make: impl Fn(String) -> Event) {
        for host in self.machines_of(key) {
            self.emit(make(host));
        }
    }

    fn cache_view(&self, key: &CacheKey) -> Option<CacheView> {
        let entry = self.cache.get(key)?;
        let live = entry
            .connections
            .iter()
            .filter(|p| p.connection.is_alive())
            .count();
        let state = if live > 0 {
            "up"
        } else if entry.connecting {
            "connecting"
        } else if entry.retry_at.is_some() {
            "reconnecting"
        } else if entry.last_error.is_some() {
            "failed"
        } else {
            "idle"
        };
        Some(CacheView {
            key: key.to_string(),
            state,
            connections: live,
            channels_in_use: entry.channels_in_use(),
            reuse_count: entry.reuse_count,
            connects: entry.connects,
            fast_path: entry.shell.is_some(),
            machines: self.machines_of(key),
        })
    }

    fn emit_cache(&mut self, key: &CacheKey) {
        if let Some(view) = self.cache_view(key) {
            self.emit(Event::Cache(view));
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Subscribe(tx) => self.subscribers.push(tx),
            Command::Publish(event) => self.emit(Event::Run(event)),
            Command::Connect { host } => self.connect_machine(&host),
            Command::ConnectAll => {
                let names: Vec<String> = self.machines.keys().cloned().collect();
                for name in names {
                    self.connect_machine(&name);
                }
            }
            Command::Exec { spec, reply } => {
                let result = self.exec(spec);
                let _ = reply.send(result);
            }
            Command::Kill { job, signal, reply } => {
                let result = self.kill(&job, &signal);
                let _ = reply.send(result);
            }
            Command::Wait { job, reply } => match self.jobs.get_mut(&job) {
                None => {
                    let _ = reply.send(Err(EngineError::UnknownJob(job)));
                }
                Some(record) if record.state.is_final() => {
                    let _ = reply.send(Ok(record.snapshot(&job)));
                }
                Some(record) => record.waiters.push(reply),
            },
            Command::Disconnect { target, reply } => {
                let result = self.disconnect(target);
                let _ = reply.send(result);
            }
            Command::Snapshot { reply } => {
                let keys: Vec<CacheKey> = self.cache.keys().cloned().collect();
                let snapshot = Snapshot {
                    cache: keys.iter().filter_map(|k| self.cache_view(k)).collect(),
                    jobs: self.jobs.iter().map(|(j, r)| r.snapshot(j)).collect(),
                };
                let _ = reply.send(snapshot);
            }
            Command::RefreshDevices { host } => self.refresh_devices(&host),
            Command::WatchDevices { host, every } => match every {
                Some(period) if self.machines.contains_key(&host) => {
                    let period = period.max(Duration::from_millis(200));
                    self.device_watch
                        .insert(host.clone(), (period, Instant::now() + period));
                    self.refresh_devices(&host);
                }
                _ => {
                    self.device_watch.remove(&host);
                }
            },
            Command::Vpp(command) => self.on_vpp_command(command),
            Command::Shutdown { .. } => {}
        }
    }

    /// Starts a device discovery on `host`, unless one is already running there.
    fn refresh_devices(&mut self, host: &str) {
        if self.discoveries.values().any(|h| h == host) {
            return;
        }
        let spec = JobSpec {
            host: host.to_owned(),
            command: crate::devices::DISCOVERY_SCRIPT.to_owned(),
            desc: Some("discover devices".into()),
            capture: true,
            ..JobSpec::default()
        };
        match self.exec(spec) {
            Ok(job) => {
                self.discoveries.insert(job, host.to_owned());
            }
            Err(e) => self.emit(Event::Devices {
                host: host.to_owned(),
                at_ms: crate::walk::trace::unix_millis_now(),
                devices: Err(e.to_string()),
            }),
        }
    }

    /// Makes sure a machine has a connection (`hosts` and `connect`).
    fn connect_machine(&mut self, name: &str) {
        let Some(key) = self.machines.get(name).map(|m| m.key.clone()) else {
            return;
        };
        let Some(entry) = self.cache.get_mut(&key) else {
            return;
        };
        if let Some(p) = entry.connections.iter().find(|p| p.connection.is_alive()) {
            let latency = p.latency;
            self.emit(Event::HostConnected {
                host: name.to_owned(),
                latency,
            });
        } else if !entry.connecting {
            self.start_connect(&key);
        }
    }

    fn start_connect(&mut self, key: &CacheKey) {
        let Some(entry) = self.cache.get_mut(key) else {
            return;
        };
        entry.connecting = true;
        entry.retry_at = None;
        let Some(machine) = self
            .machines
            .iter()
            .find(|(_, m)| &m.key == key)
            .and_then(|(name, _)| self.pool.machine(name))
            .cloned()
        else {
            return;
        };
        let trust = self.config.trust.clone();
        let timeout = self.config.connect_timeout;
        let tx = self.internal_tx.clone();
        let task_key = key.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = Connection::open(&machine, &trust, timeout)
                .await
                .map(|c| (c, started.elapsed()));
            let _ = tx.send(Internal::Connected {
                key: task_key,
                result,
            });
        });
        self.emit_for_machines(key, |host| Event::HostConnecting { host });
        self.emit_cache(key);
    }

    /// Opens the key's fast-path shell on connection `id` (its channel counts at once).
    fn open_shell(&mut self, key: &CacheKey, id: u64, connection: Connection) {
        let Some(entry) = self.cache.get_mut(key) else {
            return;
        };
        entry.shell_opening = true;
        if let Some(p) = entry.connection(id) {
            p.channels += 1;
        }
        let tx = self.internal_tx.clone();
        let task_key = key.clone();
        tokio::spawn(async move {
            let result = connection.open_fast_shell().await;
            let _ = tx.send(Internal::ShellOpened {
                key: task_key,
                connection_id: id,
                result,
            });
        });
    }

    fn exec(&mut self, spec: JobSpec) -> Result<JobRef, EngineError> {
        let Some(machine) = self.machines.get_mut(&spec.host) else {
            let hint = match crate::diag::nearest(&spec.host, self.pool.machine_names()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!(
                    "machines in the pool: {}",
                    self.pool.machine_names().collect::<Vec<_>>().join(", ")
                ),
            };
            return Err(EngineError::UnknownHost {
                name: spec.host,
                hint,
            });
        };
        let wrapped = job::wrap(&spec).map_err(EngineError::InvalidJob)?;
        machine.next_job += 1;
        let job = JobRef {
            host: spec.host.clone(),
            id: machine.next_job,
        };
        let key = machine.key.clone();
        let files = self.config.output_dir.as_ref().map(|dir| OutputFiles {
            stdout: dir.join(format!("{}-{}.stdout", job.host, job.id)),
            stderr: dir.join(format!("{}-{}.stderr", job.host, job.id)),
        });
        self.jobs.insert(
            job.clone(),
            JobRecord {
                spec,
                wrapped,
                state: JobState::Starting,
                key: key.clone(),
                pgid: None,
                connection: None,
                owns_channel: false,
                kill: None,
                stdout_tail: VecDeque::new(),
                stderr_tail: VecDeque::new(),
                files,
                exit: None,
                waiters: Vec::new(),
            },
        );
        if let Some(entry) = self.cache.get_mut(&key) {
            entry.pending.push_back(job.clone());
        }
        self.dispatch(&key);
        Ok(job)
    }

    /// Starts every waiting job of `key` that has somewhere to run; opens a connection
    /// when the waiting jobs need one.
    fn dispatch(&mut self, key: &CacheKey) {
        loop {
            let Some(entry) = self.cache.get_mut(key) else {
                return;
            };
            let Some(job) = entry.pending.front().cloned() else {
                break;
            };
            let Some(record) = self.jobs.get(&job) else {
                entry.pending.pop_front();
                continue;
            };
            let foreground = !record.spec.background;
            let reused = |p: &Pooled| p.jobs_started > 0 || p.channels > 0;
            // The fast path: an idle long-lived shell, for foreground jobs.
            if foreground && let Some((conn_id, shell)) = entry.shell.take() {
                let Some(pooled) = entry.connection(conn_id) else {
                    continue;
                };
                pooled.jobs_started += 1;
                let connection = pooled.connection.clone();
                entry.shell_busy = true;
                entry.reuse_count += 1;
                entry.pending.pop_front();
                self.start_job(job, conn_id, connection, Executor::Shell(shell), false);
                continue;
            }
            let Some(pooled) = entry.free_connection() else {
                break;
            };
            let was_used = reused(pooled);
            pooled.channels += 1;
            pooled.jobs_started += 1;
            let (conn_id, connection) = (pooled.id, pooled.connection.clone());
            if was_used {
                entry.reuse_count += 1;
            }
            entry.pending.pop_front();
            self.start_job(job, conn_id, connection, Executor::Channel, true);
        }
        let wants = self
            .cache
            .get(key)
            .is_some_and(CacheEntry::wants_connection);
        if wants {
            self.start_connect(key);
        }
        self.emit_cache(key);
    }

    fn start_job(
        &mut self,
        job: JobRef,
        conn_id: u64,
        connection: Connection,
        executor: Executor,
        owns_channel: bool,
    ) {
        let Some(record) = self.jobs.get_mut(&job) else {
            return;
        };
        record.state = JobState::Running;
        record.connection = Some((conn_id, connection.clone()));
        record.owns_channel = owns_channel;
        let spec = record.spec.clone();
        let wrapped = record.wrapped.clone();
        let files = record.files.clone();
        self.emit(Event::JobStarted {
            job: job.clone(),
            command: spec.command.clone(),
            background: spec.background,
            files: files.clone(),
        });
        let tx = self.report_tx.clone();
        tokio::spawn(runner::run_job(
            job, spec, wrapped, connection, executor, files, tx,
        ));
    }

    fn kill(&mut self, job: &JobRef, signal: &str) -> Result<(), EngineError> {
        let signal = job::normalize_signal(signal).map_err(EngineError::InvalidJob)?;
        let record = self
            .jobs
            .get_mut(job)
            .ok_or_else(|| EngineError::UnknownJob(job.clone()))?;
        if record.state.is_final() {
            return Err(EngineError::JobEnded(job.clone()));
        }
        record.kill = Some(signal.clone());
        match (record.pgid, record.connection.clone()) {
            (Some(pgid), Some((_, connection))) => {
                tokio::spawn(async move { signal_group(&connection, pgid, &signal).await });
            }
            (_, None) => {
                // Still waiting for a connection: it never starts.
                let key = record.key.clone();
                if let Some(entry) = self.cache.get_mut(&key) {
                    entry.pending.retain(|j| j != job);
                }
                let ending = Ending::TransportError {
                    error: "killed before it started".into(),
                    hint: String::new(),
                };
                self.finish_job(job.clone(), ending, false, Duration::ZERO, None);
            }
            (None, Some(_)) => {} // sent when the group id arrives
        }
        Ok(())
    }

    fn disconnect(&mut self, target: DisconnectTarget) -> Result<usize, EngineError> {
        let keys: Vec<CacheKey> = match &target {
            DisconnectTarget::All => self.cache.keys().cloned().collect(),
            DisconnectTarget::Key(text) => {
                let key = self
                    .cache
                    .keys()
                    .find(|k| &k.to_string() == text)
                    .cloned()
                    .ok_or_else(|| EngineError::UnknownKey(text.clone()))?;
                vec![key]
            }
            DisconnectTarget::Host(name) => {
                let machine = self
                    .machines
                    .get(name)
                    .ok_or_else(|| EngineError::UnknownHost {
                        name: name.clone(),
                        hint: format!(
                            "machines in the pool: {}",
                            self.pool.machine_names().collect::<Vec<_>>().join(", ")
                        ),
                    })?;
                vec![machine.key.clone()]
            }
        };
        let mut closed = 0;
        for key in keys {
            let Some(entry) = self.cache.get_mut(&key) else {
                continue;
            };
            entry.auto_reconnect = false;
            entry.retry_at = None;
            entry.shell = None;
            let connections: Vec<Pooled> = std::mem::take(&mut entry.connections);
            if connections.is_empty() {
                continue;
            }
            closed += connections.len();
            let kills: Vec<(Connection, u32)> = self
                .jobs
                .values()
                .filter(|r| r.key == key && !r.state.is_final())
                .filter_map(|r| Some((r.connection.as_ref()?.1.clone(), r.pgid?)))
                .collect();
            let vpp_first = self.vpp_disconnect_clients_of(&key);
            tokio::spawn(async move {
                vpp_first.await;
                for (connection, pgid) in kills {
                    signal_group(&connection, pgid, "KILL").await;
                }
                for p in connections {
                    p.connection.close().await;
                }
            });
            self.emit_for_machines(&key, |host| Event::HostDisconnected { host });
            self.emit_cache(&key);
        }
        Ok(closed)
    }

    fn on_internal(&mut self, message: Internal) {
        match message {
            Internal::Connected { key, result } => {
                let Some(entry) = self.cache.get_mut(&key) else {
                    return;
                };
                entry.connecting = false;
                match result {
                    Ok((connection, latency)) => {
                        self.next_connection += 1;
                        let id = self.next_connection;
                        let first = entry.connections.is_empty();
                        entry.connections.push(Pooled {
                            id,
                            connection: connection.clone(),
                            latency,
                            channels: 0,
                            jobs_started: 0,
                        });
                        entry.connects += 1;
                        entry.failures = 0;
                        entry.last_error = None;
                        entry.auto_reconnect = true;
                        let open_shell = self.config.fast_path
                            && entry.shell.is_none()
                            && !entry.shell_busy
                            && !entry.shell_opening
                            && !entry.shell_unavailable;
                        if open_shell {
                            self.open_shell(&key, id, connection);
                        }
                        if first {
                            self.emit_for_machines(&key, |host| Event::HostConnected {
                                host,
                                latency,
                            });
                        }
                        self.dispatch(&key);
                    }
                    Err(e) => {
                        entry.failures += 1;
                        let (error, hint) = (e.to_string(), e.hint());
                        entry.last_error = Some((error.clone(), hint.clone()));
                        let pending: Vec<JobRef> = if entry.connections.is_empty() {
                            entry.pending.drain(..).collect()
                        } else {
                            Vec::new()
                        };
                        let retry = entry.auto_reconnect.then(|| entry.backoff());
                        if let Some(delay) = retry {
                            entry.retry_at = Some(Instant::now() + delay);
                        }
                        let attempt = entry.failures;
                        self.emit_for_machines(&key, |host| Event::HostFailed {
                            host,
                            error: error.clone(),
                            hint: hint.clone(),
                        });
                        if let Some(delay) = retry {
                            self.emit_for_machines(&key, |host| Event::HostReconnecting {
                                host,
                                attempt,
                                delay,
                            });
                        }
                        for job in pending {
                            let ending = Ending::TransportError {
                                error: error.clone(),
                                hint: hint.clone(),
                            };
                            self.finish_job(job, ending, false, Duration::ZERO, None);
                        }
                        self.emit_cache(&key);
                    }
                }
                self.vpp_connection_changed(&key);
            }
            Internal::ShellOpened {
                key,
                connection_id,
                result,
            } => {
                let Some(entry) = self.cache.get_mut(&key) else {
                    return;
                };
                entry.shell_opening = false;
                match result {
                    Ok(shell) if entry.connection(connection_id).is_some() => {
                        entry.shell = Some((connection_id, shell));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::info!(%key, error = %e, "fast path unavailable; using a channel per command");
                        entry.shell_unavailable = true;
                        if let Some(p) = entry.connection(connection_id) {
                            p.channels = p.channels.saturating_sub(1);
                        }
                    }
                }
                self.dispatch(&key);
            }
            Internal::Vpp(message) => self.on_vpp_internal(message),
        }
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Output(event) => {
                if let Event::JobOutput { job, stream, data } = &event
                    && let Some(record) = self.jobs.get_mut(job)
                {
                    let tail = match stream {
                        Stream::Stdout => &mut record.stdout_tail,
                        Stream::Stderr => &mut record.stderr_tail,
                    };
                    tail.extend(data.iter().copied());
                    let excess = tail.len().saturating_sub(TAIL_BYTES);
                    tail.drain(..excess);
                }
                self.emit(event);
            }
            Report::Pgid { job, pgid } => {
                if let Some(record) = self.jobs.get_mut(&job) {
                    record.pgid = Some(pgid);
                    if let (Some(signal), Some((_, connection))) =
                        (record.kill.clone(), record.connection.clone())
                    {
                        tokio::spawn(async move { signal_group(&connection, pgid, &signal).await });
                    }
                }
            }
            Report::Done {
                job,
                ending,
                timed_out,
                duration,
                stdout,
                shell,
            } => {
                let key = self.jobs.get(&job).map(|r| r.key.clone());
                let held = self
                    .jobs
                    .get(&job)
                    .and_then(|r| Some((r.connection.as_ref()?.0, r.owns_channel)));
                let mut reopen_shell = None;
                if let (Some(key), Some((conn_id, owns_channel))) = (&key, held)
                    && let Some(entry) = self.cache.get_mut(key)
                {
                    let present = entry.connection(conn_id).is_some();
                    if !owns_channel {
                        entry.shell_busy = false;
                    }
                    match shell {
                        Some(shell) if present => entry.shell = Some((conn_id, shell)),
                        // The shell was in use and did not come back (killed with its job,
                        // or lost): its channel is gone; open a new one if the link lives.
                        None if !owns_channel => {
                            let usable = !entry.shell_unavailable;
                            if let Some(p) = entry.connection(conn_id) {
                                p.channels = p.channels.saturating_sub(1);
                                if p.connection.is_alive() && usable {
                                    reopen_shell = Some((conn_id, p.connection.clone()));
                                }
                            }
                        }
                        _ => {}
                    }
                    if owns_channel && let Some(p) = entry.connection(conn_id) {
                        p.channels = p.channels.saturating_sub(1);
                    }
                }
                if let (Some(key), Some((conn_id, connection))) = (&key, reopen_shell) {
                    self.open_shell(key, conn_id, connection);
                }
                self.finish_job(job, ending, timed_out, duration, stdout);
                if let Some(key) = key {
                    self.check_connections(&key);
                    self.dispatch(&key);
                }
            }
        }
    }

    fn finish_job(
        &mut self,
        job: JobRef,
        ending: Ending,
        timed_out: bool,
        duration: Duration,
        stdout: Option<Vec<u8>>,
    ) {
        let Some(record) = self.jobs.get_mut(&job) else {
            return;
        };
        let mut state = job::judge(&record.spec, &ending, timed_out, record.kill.is_some());
        let wants_json = record.spec.json;
        let discovered = self.discoveries.remove(&job).map(|host| {
            let devices = match (&ending, &stdout) {
                (Ending::Exited(o), Some(out)) if o.success() => {
                    crate::devices::parse_discovery(&String::from_utf8_lossy(out))
                        .map_err(|e| e.to_string())
                }
                (Ending::TransportError { error, .. }, _) => Err(error.clone()),
                (Ending::Exited(o), _) => Err(format!("discovery exited with {:?}", o.code)),
            };
            Event::Devices {
                host,
                at_ms: crate::walk::trace::unix_millis_now(),
                devices,
            }
        });
        let Some(record) = self.jobs.get_mut(&job) else {
            return;
        };
        let json = stdout.filter(|_| wants_json).map(|bytes| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| format!("stdout is not JSON: {e}"))
        });
        if state == JobState::Passed && matches!(json, Some(Err(_))) {
            state = JobState::Failed;
        }
        record.state = state;
        record.connection = None;
        record.exit = Some(ending.clone());
        let snapshot = record.snapshot(&job);
        for waiter in record.waiters.drain(..) {
            let _ = waiter.send(Ok(snapshot.clone()));
        }
        self.emit(Event::JobFinished {
            job,
            state,
            ending,
            duration,
            json,
        });
        if let Some(event) = discovered {
            self.emit(event);
        }
    }

    /// Drops dead connections of `key`; schedules a reconnect when none is left.
    fn check_connections(&mut self, key: &CacheKey) {
        let Some(entry) = self.cache.get_mut(key) else {
            return;
        };
        let before = entry.connections.len();
        entry.connections.retain(|p| p.connection.is_alive());
        if entry.connections.len() == before {
            return;
        }
        if let Some((id, _)) = &entry.shell
            && !entry.connections.iter().any(|p| p.id == *id)
        {
            entry.shell = None;
        }
        if entry.connections.is_empty() {
            let retry = entry.auto_reconnect.then(|| entry.backoff());
            entry.retry_at = retry.map(|d| Instant::now() + d);
            let attempt = entry.failures + 1;
            self.emit_for_machines(key, |host| Event::HostDisconnected { host });
            if let Some(delay) = retry {
                self.emit_for_machines(key, |host| Event::HostReconnecting {
                    host,
                    attempt,
                    delay,
                });
            }
        }
        self.emit_cache(key);
    }

    fn on_tick(&mut self) {
        self.vpp_tick();
        let keys: Vec<CacheKey> = self.cache.keys().cloned().collect();
        let now = Instant::now();
        let due: Vec<String> = self
            .device_watch
            .iter_mut()
            .filter(|(_, (_, next))| *next <= now)
            .map(|(host, (period, next))| {
                *next = now + *period;
                host.clone()
            })
            .collect();
        for host in due {
            self.refresh_devices(&host);
        }
        for key in keys {
            self.check_connections(&key);
            let due = self.cache.get(&key).is_some_and(|e| {
                !e.connecting && e.connections.is_empty() && e.retry_at.is_some_and(|t| t <= now)
            });
            if due {
                self.start_connect(&key);
            }
        }
    }

    /// Kills running jobs on the matching keys, then closes their connections.
    async fn close(&mut self, matches: impl Fn(&CacheKey) -> bool) {
        self.vpp_close(&matches).await;
        let kills: Vec<_> = self
            .jobs
            .values()
            .filter(|r| matches(&r.key) && !r.state.is_final())
            .filter_map(|r| Some((r.connection.as_ref()?.1.clone(), r.pgid?)))
            .map(|(connection, pgid)| {
                tokio::spawn(async move { signal_group(&connection, pgid, "KILL").await })
            })
            .collect();
        if !kills.is_empty() {
            tracing::info!(jobs = kills.len(), "killing running jobs before exit");
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                for k in kills {
                    let _ = k.await;
                }
            })
            .await;
        }
        let keys: Vec<CacheKey> = self.cache.keys().filter(|k| matches(k)).cloned().collect();
        for key in keys {
            let Some(entry) = self.cache.get_mut(&key) else {
                continue;
            };
            entry.shell = None;
            entry.auto_reconnect = false;
            let connections = std::mem::take(&mut entry.connections);
            if connections.is_empty() {
                continue;
            }
            for p in connections {
                p.connection.close().await;
            }
            self.emit_for_machines(&key, |host| Event::HostDisconnected { host });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    fn local_pool() -> Pool {
        Pool::parse(
            Path::new("pool.toml"),
            "[machines.here]\ntransport = \"local\"\n[machines.there]\ntransport = \"local\"\n",
        )
        .expect("pool")
    }

    fn engine() -> EngineHandle {
        EngineHandle::spawn(local_pool(), EngineConfig::default())
    }

    async fn until_finished(rx: &mut mpsc::UnboundedReceiver<Event>, job: &JobRef) -> Vec<Event> {
        let mut seen = Vec::new();
        while let Some(e) = rx.recv().await {
            let done = matches!(&e, Event::JobFinished { job: j, .. } if j == job);
            seen.push(e);
            if done {
                break;
            }
        }
        seen
    }

    #[tokio::test]
    async fn exec_connects_streams_and_finishes_in_order() {
        let engine = engine();
        let mut rx = engine.subscribe().expect("subscribe");
        let job = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "echo one; echo two >&2; exit 4".into(),
                ..JobSpec::default()
            })
            .await
            .expect("exec");
        assert_eq!(
            job,
            JobRef {
                host: "here".into(),
                id: 1
            }
        );
        let events = until_finished(&mut rx, &job).await;
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Cache(v) if v.key == "local"))
        );
        let events: Vec<Event> = events
            .into_iter()
            .filter(|e| match e {
                Event::Cache(_) => false,
                Event::HostConnecting { host } | Event::HostConnected { host, .. } => {
                    host == "here"
                }
                _ => true,
            })
            .collect();
        assert!(matches!(events[0], Event::HostConnecting { .. }));
        assert!(matches!(events[1], Event::HostConnected { .. }));
        assert!(
            matches!(&events[2], Event::JobStarted { command, .. } if command.starts_with("echo one"))
        );
        let mut stdout = Vec::new();
        for e in &events {
            if let Event::JobOutput {
                stream: Stream::Stdout,
                data,
                ..
            } = e
            {
                stdout.extend_from_slice(data);
            }
        }
        assert_eq!(stdout, b"one\n");
        let Some(Event::JobFinished { state, ending, .. }) = events.last() else {
            panic!("finished last")
        };
        assert_eq!(*state, JobState::Failed);
        assert_eq!(
            ending,
            &Ending::Exited(crate::transport::ExitOutcome {
                code: Some(4),
                signal: None
            })
        );
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn job_ids_are_per_host_and_unknown_hosts_are_refused() {
        let engine = engine();
        let a1 = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "true".into(),
                ..JobSpec::default()
            })
            .await;
        let a2 = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "true".into(),
                ..JobSpec::default()
            })
            .await;
        let b1 = engine
            .exec(JobSpec {
                host: "there".into(),
                command: "true".into(),
                ..JobSpec::default()
            })
            .await;
        assert_eq!(a1.expect("a1").id, 1);
        assert_eq!(a2.expect("a2").id, 2);
        assert_eq!(b1.expect("b1").id, 1);
        let err = engine
            .exec(JobSpec {
                host: "heer".into(),
                command: "true".into(),
                ..JobSpec::default()
            })
            .await
            .expect_err("unknown host");
        assert_eq!(err.to_string(), "no machine `heer` in the pool");
        let EngineError::UnknownHost { hint, .. } = err else {
            panic!("unknown host")
        };
        assert_eq!(hint, "did you mean `here`?");
        engine.shutdown().await;
    }

    #[test]
    fn host_view_reducer_tracks_state() {
        let mut views = HashMap::new();
        apply_host_event(&mut views, &Event::HostConnecting { host: "a".into() });
        assert_eq!(views["a"].state, HostViewState::Connecting);
        apply_host_event(
            &mut views,
            &Event::HostFailed {
                host: "a".into(),
                error: "refused".into(),
                hint: "h".into(),
            },
        );
        assert_eq!(views["a"].state, HostViewState::Failed);
        assert_eq!(views["a"].error.as_deref(), Some("refused"));
        apply_host_event(
            &mut views,
            &Event::HostConnected {
                host: "a".into(),
                latency: Duration::from_millis(3),
            },
        );
        assert_eq!(views["a"].state, HostViewState::Up);
        assert_eq!(views["a"].error, None);
    }
}

#[cfg(test)]
mod job_tests {
    use super::*;
    use std::path::Path;

    fn engine() -> EngineHandle {
        let pool = Pool::parse(
            Path::new("p.toml"),
            "[machines.here]\ntransport = \"local\"\n",
        )
        .expect("pool");
        EngineHandle::spawn(pool, EngineConfig::default())
    }

    async fn finish(
        rx: &mut mpsc::UnboundedReceiver<Event>,
        job: &JobRef,
    ) -> (JobState, Vec<u8>, Option<Result<serde_json::Value, String>>) {
        let mut out = Vec::new();
        while let Some(e) = rx.recv().await {
            match e {
                Event::JobOutput {
                    job: j,
                    stream: Stream::Stdout,
                    data,
                } if &j == job => out.extend_from_slice(&data),
                Event::JobFinished {
                    job: j,
                    state,
                    json,
                    ..
                } if &j == job => return (state, out, json),
                _ => {}
            }
        }
        panic!("engine stopped before {job} finished")
    }

    #[tokio::test]
    async fn timeout_kills_the_group_and_marker_never_leaks() {
        let engine = engine();
        let mut rx = engine.subscribe().expect("subscribe");
        let job = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "echo started; sleep 30 & sleep 30; wait".into(),
                timeout: Some(Duration::from_millis(300)),
                ..JobSpec::default()
            })
            .await
            .expect("exec");
        let (state, out, _) = finish(&mut rx, &job).await;
        assert_eq!(state, JobState::TimedOut);
        assert_eq!(out, b"started\n");
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn kill_expect_fail_json_cwd_env() {
        let engine = engine();
        let mut rx = engine.subscribe().expect("subscribe");
        let bg = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "sleep 30".into(),
                background: true,
                ..JobSpec::default()
            })
            .await
            .expect("exec");
        // Wait until it runs, then kill it.
        loop {
            if let Some(Event::JobStarted {
                job, background, ..
            }) = rx.recv().await
                && job == bg
            {
                assert!(background);
                break;
            }
        }
        engine.kill(bg.clone(), "TERM").await.expect("kill");
        assert_eq!(finish(&mut rx, &bg).await.0, JobState::Killed);
        assert!(matches!(
            engine.kill(bg.clone(), "TERM").await,
            Err(EngineError::JobEnded(_))
        ));

        let inverted = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "exit 3".into(),
                expect_fail: true,
                ..JobSpec::default()
            })
            .await
            .expect("exec");
        assert_eq!(finish(&mut rx, &inverted).await.0, JobState::Passed);

        let json = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "printf '{\"dir\":\"%s\",\"v\":\"%s\"}' \"$PWD\" \"$V\"".into(),
                json: true,
                cwd: Some("/tmp".into()),
                env: vec![("V".into(), "a b;c".into())],
                ..JobSpec::default()
            })
            .await
            .expect("exec");
        let (state, _, parsed) = finish(&mut rx, &json).await;
        assert_eq!(state, JobState::Passed);
        assert_eq!(
            parsed,
            Some(Ok(serde_json::json!({"dir": "/tmp", "v": "a b;c"})))
        );

        let not_json = engine
            .exec(JobSpec {
                host: "here".into(),
                command: "echo nope".into(),
                json: true,
                ..JobSpec::default()
            })
            .await
            .expect("exec");
        let (state, _, parsed) = finish(&mut rx, &not_json).await;
        assert_eq!(state, JobState::Failed);
        assert!(matches!(parsed, Some(Err(_))));
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn devices_are_discovered_on_demand_and_periodically() {
        let engine = engine();
        let mut rx = engine.subscribe().expect("subscribe");
        engine
            .send(Command::WatchDevices {
                host: "here".into(),
                every: Some(Duration::from_millis(200)),
            })
            .expect("watch");
        let mut seen = Vec::new();
        while seen.len() < 3 {
            if let Some(Event::Devices {
                host,
                at_ms,
                devices,
            }) = rx.recv().await
            {
                assert_eq!(host, "here");
                let devices = devices.expect("discovered");
                assert!(
                    devices
                        .iter()
                        .any(|d| d.name == "lo" && d.kind == "loopback")
                );
                seen.push(at_ms);
            }
        }
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        engine
            .send(Command::WatchDevices {
                host: "here".into(),
                every: None,
            })
            .expect("unwatch");
        engine
            .send(Command::RefreshDevices {
                host: "nowhere".into(),
            })
            .expect("send");
        loop {
            if let Some(Event::Devices { host, devices, .. }) = rx.recv().await
                && host == "nowhere"
            {
                assert!(
                    devices
                        .expect_err("unknown host")
                        .contains("no machine `nowhere`")
                );
                break;
            }
        }
        engine.shutdown().await;
    }
}
