//! The engine: the one task that owns labdeck's mutable state.
//!
//! Views and front ends (CLI, later the TUI and REPL) hold an [`EngineHandle`], send
//! [`Command`]s and listen to [`Event`]s. Invariants: only the engine task touches host and
//! job state; the engine never awaits the network itself (connects and jobs run in their own
//! tasks and report back through an internal channel); every subscriber sees every event
//! emitted after it subscribed, in emission order; a job's output events all precede its
//! `JobFinished`; job ids are unique per host and start at 1.

use crate::pool::Pool;
use crate::transport::{Connection, ExitOutcome, OutputSink, Stream, TransportError, Trust};
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

/// What to run.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub host: String,
    /// A shell command line; callers quote values with [`crate::quote`].
    pub command: String,
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
        request: ExecRequest,
        reply: oneshot::Sender<Result<JobRef, EngineError>>,
    },
    /// Closes every connection, then stops the engine.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobResult {
    Exited(ExitOutcome),
    Error { error: String, hint: String },
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
    },
    JobOutput {
        job: JobRef,
        stream: Stream,
        data: Arc<[u8]>,
    },
    JobFinished {
        job: JobRef,
        result: JobResult,
        duration: Duration,
    },
}

/// Refusals by the engine itself.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    #[error("no machine `{name}` in the pool")]
    #[diagnostic(help("{hint}"))]
    UnknownHost { name: String, hint: String },
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
    pub async fn exec(&self, request: ExecRequest) -> Result<JobRef, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Exec { request, reply })?;
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
    pending: Vec<(JobRef, String)>,
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
    JobDone {
        job: JobRef,
        result: JobResult,
        duration: Duration,
        connection_alive: bool,
    },
}

struct Engine {
    pool: Pool,
    config: EngineConfig,
    hosts: BTreeMap<String, HostState>,
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
            Command::Exec { request, reply } => {
                let result = self.exec(request);
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

    fn exec(&mut self, request: ExecRequest) -> Result<JobRef, EngineError> {
        let Some(state) = self.hosts.get_mut(&request.host) else {
            let hint = match crate::diag::nearest(&request.host, self.pool.machine_names()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!(
                    "machines in the pool: {}",
                    self.pool.machine_names().collect::<Vec<_>>().join(", ")
                ),
            };
            return Err(EngineError::UnknownHost {
                name: request.host,
                hint,
            });
        };
        state.next_job += 1;
        let job = JobRef {
            host: request.host.clone(),
            id: state.next_job,
        };
        match &state.link {
            Link::Up { connection, .. } if connection.is_alive() => {
                let connection = connection.clone();
                self.start_job(job.clone(), request.command, connection);
            }
            _ => {
                state.pending.push((job.clone(), request.command));
                self.connect(&request.host);
            }
        }
        Ok(job)
    }

    fn start_job(&mut self, job: JobRef, command: String, connection: Connection) {
        self.emit(Event::JobStarted {
            job: job.clone(),
            command: command.clone(),
        });
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let (sink, mut chunks) = OutputSink::new();
            let run = async {
                let result = connection.exec(&command, &sink).await;
                drop(sink);
                result
            };
            let forward = async {
                while let Some(chunk) = chunks.recv().await {
                    let _ = tx.send(Internal::Emit(Event::JobOutput {
                        job: job.clone(),
                        stream: chunk.stream,
                        data: chunk.data.into(),
                    }));
                }
            };
            let (result, ()) = tokio::join!(run, forward);
            let result = match result {
                Ok(outcome) => JobResult::Exited(outcome),
                Err(e) => JobResult::Error {
                    error: e.to_string(),
                    hint: e.hint(),
                },
            };
            let _ = tx.send(Internal::JobDone {
                job,
                result,
                duration: started.elapsed(),
                connection_alive: connection.is_alive(),
            });
        });
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
                        for (job, command) in pending {
                            self.start_job(job, command, connection.clone());
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
                        for (job, _) in pending {
                            self.emit(Event::JobFinished {
                                job,
                                result: JobResult::Error {
                                    error: error.clone(),
                                    hint: hint.clone(),
                                },
                                duration: Duration::ZERO,
                            });
                        }
                    }
                }
            }
            Internal::JobDone {
                job,
                result,
                duration,
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
                self.emit(Event::JobFinished {
                    job,
                    result,
                    duration,
                });
            }
        }
    }

    async fn close_all(&mut self) {
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
            .exec(ExecRequest {
                host: "here".into(),
                command: "echo one; echo two >&2; exit 4".into(),
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
        let Some(Event::JobFinished { result, .. }) = events.last() else {
            panic!("finished last")
        };
        assert_eq!(
            result,
            &JobResult::Exited(ExitOutcome {
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
            .exec(ExecRequest {
                host: "here".into(),
                command: "true".into(),
            })
            .await;
        let a2 = engine
            .exec(ExecRequest {
                host: "here".into(),
                command: "true".into(),
            })
            .await;
        let b1 = engine
            .exec(ExecRequest {
                host: "there".into(),
                command: "true".into(),
            })
            .await;
        assert_eq!(a1.expect("a1").id, 1);
        assert_eq!(a2.expect("a2").id, 2);
        assert_eq!(b1.expect("b1").id, 1);
        let err = engine
            .exec(ExecRequest {
                host: "heer".into(),
                command: "true".into(),
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
