//! The engine: the one task that owns labdeck's mutable state.
//!
//! Views and front ends (CLI, later the TUI and REPL) hold an [`EngineHandle`], send
//! [`Command`]s and listen to [`Event`]s. Invariants: only the engine task touches host and
//! job state; the engine never awaits the network itself (connects and jobs run in their own
//! tasks and report back through an internal channel); every subscriber sees every event
//! emitted after it subscribed, in emission order; a job's output events all precede its
//! `JobFinished`; job ids are unique per host and start at 1; on shutdown every job still
//! running (background or not) is killed by process group before connections close.

pub mod job;

use crate::pool::Pool;
use crate::transport::{Connection, OutputSink, Stream, TransportError, Trust};
pub use job::{Ending, JobSpec, JobState};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

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
    /// Closes every connection, then stops the engine.
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
    JobStarted {
        job: JobRef,
        command: String,
        background: bool,
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
}

/// Refusals by the engine itself.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    #[error("no machine `{name}` in the pool")]
    #[diagnostic(help("{hint}"))]
    UnknownHost { name: String, hint: String },
    #[error("invalid job: {0}")]
    InvalidJob(String),
    #[error("no job {0}")]
    #[diagnostic(help("job ids are HOST#N, as `labdeck` prints them"))]
    UnknownJob(JobRef),
    #[error("job {0} has already ended")]
    JobEnded(JobRef),
    #[error("the engine has stopped")]
    Stopped,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub trust: Trust,
    pub connect_timeout: Duration,
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
        let engine = Engine {
            hosts: pool
                .machines
                .iter()
                .map(|m| (m.name.clone(), HostState::default()))
                .collect(),
            pool,
            config,
            jobs: BTreeMap::new(),
            subscribers: Vec::new(),
            internal_tx,
        };
        tokio::spawn(engine.run(command_rx, internal_rx));
        EngineHandle { commands }
    }

    pub fn send(&self, command: Command) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::Stopped)
    }

    /// A new event stream; it sees every event after this call.
    pub fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.send(Command::Subscribe(tx))?;
        Ok(rx)
    }

    /// Queues a command line on a host; the job id comes back at once.
    pub async fn exec(&self, spec: JobSpec) -> Result<JobRef, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Exec { spec, reply })?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Sends `signal` to a job's process group.
    pub async fn kill(&self, job: JobRef, signal: &str) -> Result<(), EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Kill {
            job,
            signal: signal.to_owned(),
            reply,
        })?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Closes all connections and waits for the engine to stop.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.send(Command::Shutdown { done }).is_ok() {
            let _ = rx.await;
        }
    }
}

#[derive(Default)]
struct HostState {
    link: Link,
    next_job: u64,
    /// Jobs waiting for the connection.
    pending: Vec<JobRef>,
}

/// The engine's record of one job.
struct JobRecord {
    spec: JobSpec,
    wrapped: String,
    state: JobState,
    pgid: Option<u32>,
    connection: Option<Connection>,
    /// A kill was asked for; the signal waits here until the group id is known.
    kill: Option<String>,
}

#[derive(Default)]
enum Link {
    #[default]
    Idle,
    Connecting,
    Up {
        connection: Connection,
        latency: Duration,
    },
}

enum Internal {
    Connected {
        host: String,
        result: Result<(Connection, Duration), TransportError>,
    },
    Emit(Event),
    JobPgid {
        job: JobRef,
        pgid: u32,
    },
    JobDone {
        job: JobRef,
        ending: Ending,
        timed_out: bool,
        duration: Duration,
        stdout: Option<Vec<u8>>,
        connection_alive: bool,
    },
}

/// Most stdout kept for parsing a `json` job.
const JSON_LIMIT: usize = 16 << 20;

struct Engine {
    pool: Pool,
    config: EngineConfig,
    hosts: BTreeMap<String, HostState>,
    jobs: BTreeMap<JobRef, JobRecord>,
    subscribers: Vec<mpsc::UnboundedSender<Event>>,
    internal_tx: mpsc::UnboundedSender<Internal>,
}

impl Engine {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown { done }) => {
                        self.close_all().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.close_all().await;
                        return;
                    }
                },
                Some(message) = internal.recv() => self.on_internal(message),
            }
        }
    }

    fn emit(&mut self, event: Event) {
        self.subscribers.retain(|s| s.send(event.clone()).is_ok());
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Subscribe(tx) => self.subscribers.push(tx),
            Command::Connect { host } => self.connect(&host),
            Command::ConnectAll => {
                let names: Vec<String> = self.hosts.keys().cloned().collect();
                for name in names {
                    self.connect(&name);
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
            Command::Shutdown { .. } => {}
        }
    }

    fn connect(&mut self, name: &str) {
        let Some(state) = self.hosts.get_mut(name) else {
            return;
        };
        match &state.link {
            Link::Connecting => {}
            Link::Up {
                connection,
                latency,
            } if connection.is_alive() => {
                let latency = *latency;
                self.emit(Event::HostConnected {
                    host: name.to_owned(),
                    latency,
                });
            }
            _ => {
                state.link = Link::Connecting;
                let Some(machine) = self.pool.machine(name).cloned() else {
                    return;
                };
                let trust = self.config.trust.clone();
                let timeout = self.config.connect_timeout;
                let tx = self.internal_tx.clone();
                let host = name.to_owned();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let result = Connection::open(&machine, &trust, timeout)
                        .await
                        .map(|c| (c, started.elapsed()));
                    let _ = tx.send(Internal::Connected { host, result });
                });
                self.emit(Event::HostConnecting {
                    host: name.to_owned(),
                });
            }
        }
    }

    fn exec(&mut self, spec: JobSpec) -> Result<JobRef, EngineError> {
        if !self.hosts.contains_key(&spec.host) {
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
        }
        let wrapped = job::wrap(&spec).map_err(EngineError::InvalidJob)?;
        let Some(state) = self.hosts.get_mut(&spec.host) else {
            return Err(EngineError::Stopped);
        };
        state.next_job += 1;
        let job = JobRef {
            host: spec.host.clone(),
            id: state.next_job,
        };
        let live = match &state.link {
            Link::Up { connection, .. } if connection.is_alive() => Some(connection.clone()),
            _ => None,
        };
        if live.is_none() {
            state.pending.push(job.clone());
        }
        self.jobs.insert(
            job.clone(),
            JobRecord {
                spec,
                wrapped,
                state: JobState::Starting,
                pgid: None,
                connection: None,
                kill: None,
            },
        );
        match live {
            Some(connection) => self.start_job(job.clone(), connection),
            None => self.connect(&job.host),
        }
        Ok(job)
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
        if let (Some(pgid), Some(connection)) = (record.pgid, record.connection.clone()) {
            tokio::spawn(async move { signal_group(&connection, pgid, &signal).await });
        }
        Ok(())
    }

    fn start_job(&mut self, job: JobRef, connection: Connection) {
        let Some(record) = self.jobs.get_mut(&job) else {
            return;
        };
        record.state = JobState::Running;
        record.connection = Some(connection.clone());
        let spec = record.spec.clone();
        let wrapped = record.wrapped.clone();
        self.emit(Event::JobStarted {
            job: job.clone(),
            command: spec.command.clone(),
            background: spec.background,
        });
        let tx = self.internal_tx.clone();
        tokio::spawn(run_job(job, spec, wrapped, connection, tx));
    }

    fn on_internal(&mut self, message: Internal) {
        match message {
            Internal::Emit(event) => self.emit(event),
            Internal::Connected { host, result } => {
                let Some(state) = self.hosts.get_mut(&host) else {
                    return;
                };
                let pending = std::mem::take(&mut state.pending);
                match result {
                    Ok((connection, latency)) => {
                        state.link = Link::Up {
                            connection: connection.clone(),
                            latency,
                        };
                        self.emit(Event::HostConnected {
                            host: host.clone(),
                            latency,
                        });
                        for job in pending {
                            self.start_job(job, connection.clone());
                        }
                    }
                    Err(e) => {
                        state.link = Link::Idle;
                        let (error, hint) = (e.to_string(), e.hint());
                        self.emit(Event::HostFailed {
                            host: host.clone(),
                            error: error.clone(),
                            hint: hint.clone(),
                        });
                        for job in pending {
                            let ending = Ending::TransportError {
                                error: error.clone(),
                                hint: hint.clone(),
                            };
                            self.finish_job(job, ending, false, Duration::ZERO, None);
                        }
                    }
                }
            }
            Internal::JobPgid { job, pgid } => {
                if let Some(record) = self.jobs.get_mut(&job) {
                    record.pgid = Some(pgid);
                    if let (Some(signal), Some(connection)) =
                        (record.kill.clone(), record.connection.clone())
                    {
                        tokio::spawn(async move { signal_group(&connection, pgid, &signal).await });
                    }
                }
            }
            Internal::JobDone {
                job,
                ending,
                timed_out,
                duration,
                stdout,
                connection_alive,
            } => {
                if !connection_alive
                    && let Some(state) = self.hosts.get_mut(&job.host)
                    && matches!(state.link, Link::Up { .. })
                {
                    state.link = Link::Idle;
                    let host = job.host.clone();
                    self.emit(Event::HostDisconnected { host });
                }
                self.finish_job(job, ending, timed_out, duration, stdout);
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
        let json = stdout.map(|bytes| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| format!("stdout is not JSON: {e}"))
        });
        if state == JobState::Passed && matches!(json, Some(Err(_))) {
            state = JobState::Failed;
        }
        record.state = state;
        record.connection = None;
        self.emit(Event::JobFinished {
            job,
            state,
            ending,
            duration,
            json,
        });
    }

    async fn close_all(&mut self) {
        let kills: Vec<_> = self
            .jobs
            .values()
            .filter(|r| !r.state.is_final())
            .filter_map(|r| Some((r.connection.clone()?, r.pgid?)))
            .map(|(connection, pgid)| async move {
                signal_group(&connection, pgid, "KILL").await;
            })
            .collect();
        if !kills.is_empty() {
            tracing::info!(jobs = kills.len(), "killing running jobs before exit");
            let _ = tokio::time::timeout(Duration::from_secs(5), futures_join_all(kills)).await;
        }
        let mut closing = Vec::new();
        for (name, state) in &mut self.hosts {
            if let Link::Up { connection, .. } = std::mem::take(&mut state.link) {
                closing.push((name.clone(), connection));
            }
        }
        for (host, connection) in closing {
            connection.close().await;
            self.emit(Event::HostDisconnected { host });
        }
    }
}

/// Sends `signal` to process group `pgid` through a fresh channel of `connection`.
async fn signal_group(connection: &Connection, pgid: u32, signal: &str) {
    let (sink, _discard) = OutputSink::new();
    if let Err(e) = connection
        .exec(&job::kill_command(pgid, signal), &sink)
        .await
    {
        tracing::warn!(pgid, signal, error = %e, "could not signal a job's process group");
    }
}

async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(futures: Vec<F>) {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

/// One job's task: runs the wrapped command, strips the group-id marker, forwards output,
/// enforces the timeout by killing the group, and reports the ending to the engine.
async fn run_job(
    job: JobRef,
    spec: JobSpec,
    wrapped: String,
    connection: Connection,
    tx: mpsc::UnboundedSender<Internal>,
) {
    let started = Instant::now();
    let (sink, mut chunks) = OutputSink::new();
    let runner = {
        let connection = connection.clone();
        tokio::spawn(async move { connection.exec(&wrapped, &sink).await })
    };
    let mut marker = job::MarkerParser::default();
    let mut pgid = None;
    let mut timed_out = false;
    let mut stdout = spec.json.then(Vec::new);
    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let timer = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timer);
    loop {
        tokio::select! {
            chunk = chunks.recv() => {
                let Some(chunk) = chunk else { break };
                let data = match chunk.stream {
                    Stream::Stdout => {
                        let (found, rest) = marker.feed(&chunk.data);
                        if let Some(p) = found {
                            pgid = Some(p);
                            let _ = tx.send(Internal::JobPgid { job: job.clone(), pgid: p });
                            if timed_out {
                                signal_group(&connection, p, "KILL").await;
                            }
                        }
                        if let Some(buf) = stdout.as_mut()
                            && buf.len() + rest.len() <= JSON_LIMIT
                        {
                            buf.extend_from_slice(&rest);
                        }
                        rest
                    }
                    Stream::Stderr => chunk.data,
                };
                if !data.is_empty() {
                    let _ = tx.send(Internal::Emit(Event::JobOutput {
                        job: job.clone(),
                        stream: chunk.stream,
                        data: data.into(),
                    }));
                }
            }
            () = &mut timer, if !timed_out => {
                timed_out = true;
                if let Some(p) = pgid {
                    let connection = connection.clone();
                    tokio::spawn(async move { signal_group(&connection, p, "KILL").await });
                }
            }
        }
    }
    let ending = match runner.await {
        Ok(Ok(outcome)) => Ending::Exited(outcome),
        Ok(Err(e)) => Ending::TransportError {
            error: e.to_string(),
            hint: e.hint(),
        },
        Err(e) => Ending::TransportError {
            error: format!("the job's task failed: {e}"),
            hint: "this is a labdeck bug; please report it".into(),
        },
    };
    let _ = tx.send(Internal::JobDone {
        job,
        ending,
        timed_out,
        duration: started.elapsed(),
        stdout,
        connection_alive: connection.is_alive(),
    });
}

/// Per-host summary built from events, for tables (a pure reducer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostView {
    pub state: HostViewState,
    pub latency: Option<Duration>,
    pub error: Option<String>,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostViewState {
    #[default]
    Idle,
    Connecting,
    Up,
    Failed,
    Down,
}

impl HostViewState {
    pub fn label(self) -> &'static str {
        match self {
            HostViewState::Idle => "idle",
            HostViewState::Connecting => "connecting",
            HostViewState::Up => "up",
            HostViewState::Failed => "FAILED",
            HostViewState::Down => "down",
        }
    }
}

/// Applies one event to the per-host view.
pub fn apply_host_event(views: &mut HashMap<String, HostView>, event: &Event) {
    let (host, update): (&str, fn(&mut HostView, &Event)) = match event {
        Event::HostConnecting { host } => (host, |v, _| v.state = HostViewState::Connecting),
        Event::HostConnected { host, .. } => (host, |v, e| {
            if let Event::HostConnected { latency, .. } = e {
                *v = HostView {
                    state: HostViewState::Up,
                    latency: Some(*latency),
                    ..HostView::default()
                };
            }
        }),
        Event::HostFailed { host, .. } => (host, |v, e| {
            if let Event::HostFailed { error, hint, .. } = e {
                v.state = HostViewState::Failed;
                v.error = Some(error.clone());
                v.hint = Some(hint.clone());
            }
        }),
        Event::HostDisconnected { host } => (host, |v, _| v.state = HostViewState::Down),
        _ => return,
    };
    update(views.entry(host.to_owned()).or_default(), event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn local_pool() -> Pool {
        Pool::parse(
            Path::new("pool.toml"),
            "[machines.here]\ntransport = \"local\"\n[machines.there]\ntransport = \"local\"\n",
        )
        .expect("pool")
    }

    fn engine() -> EngineHandle {
        EngineHandle::spawn(
            local_pool(),
            EngineConfig {
                trust: Trust::default(),
                connect_timeout: Duration::from_secs(5),
            },
        )
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
        EngineHandle::spawn(
            pool,
            EngineConfig {
                trust: Trust::default(),
                connect_timeout: Duration::from_secs(5),
            },
        )
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
}
