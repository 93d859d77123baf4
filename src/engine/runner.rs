//! One job's task: runs the wrapped command on a channel or the fast-path shell, strips the
//! process-group marker, forwards output (and writes it to the job's files), enforces the
//! timeout by killing the group, and reports the ending to the engine.
//!
//! Invariants: all of a job's output events are sent before its `Done`; the fast-path
//! shell is handed back only if its command ended cleanly; a timeout kills the whole group
//! with SIGKILL, and a group id that arrives after the deadline is killed at once.

use super::job::{self, Ending, JobSpec};
use super::{Event, JobRef};
use crate::transport::shell::FastShell;
use crate::transport::{Connection, OutputSink, Stream};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Most stdout kept for parsing a `json` job.
const JSON_LIMIT: usize = 16 << 20;

/// Where the job runs.
pub enum Executor {
    /// A new session channel on the connection.
    Channel,
    /// The connection's long-lived shell.
    Shell(FastShell),
}

/// What the job task tells the engine.
pub enum Report {
    Output(Event),
    Pgid {
        job: JobRef,
        pgid: u32,
    },
    Done {
        job: JobRef,
        ending: Ending,
        timed_out: bool,
        duration: Duration,
        stdout: Option<Vec<u8>>,
        shell: Option<FastShell>,
    },
}

/// Files that receive a job's full output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFiles {
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// Sends `signal` to process group `pgid` through a fresh channel of `connection`.
pub async fn signal_group(connection: &Connection, pgid: u32, signal: &str) {
    let (sink, _discard) = OutputSink::new();
    if let Err(e) = connection
        .exec(&job::kill_command(pgid, signal), &sink)
        .await
    {
        tracing::warn!(pgid, signal, error = %e, "could not signal a job's process group");
    }
}

struct FileWriters {
    out: Option<tokio::io::BufWriter<tokio::fs::File>>,
    err: Option<tokio::io::BufWriter<tokio::fs::File>>,
}

impl FileWriters {
    async fn open(files: Option<&OutputFiles>) -> FileWriters {
        let open = |p: PathBuf| async move {
            match tokio::fs::File::create(&p).await {
                Ok(f) => Some(tokio::io::BufWriter::new(f)),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "cannot write job output file");
                    None
                }
            }
        };
        match files {
            Some(f) => FileWriters {
                out: open(f.stdout.clone()).await,
                err: open(f.stderr.clone()).await,
            },
            None => FileWriters {
                out: None,
                err: None,
            },
        }
    }

    async fn write(&mut self, stream: Stream, data: &[u8]) {
        let slot = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        if let Some(w) = slot
            && w.write_all(data).await.is_err()
        {
            *slot = None;
        }
    }

    async fn finish(&mut self) {
        for w in [&mut self.out, &mut self.err].into_iter().flatten() {
            let _ = w.flush().await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn run_job(
    job: JobRef,
    spec: JobSpec,
    wrapped: String,
    connection: Connection,
    executor: Executor,
    files: Option<OutputFiles>,
    tx: mpsc::UnboundedSender<Report>,
) {
    let started = Instant::now();
    let (sink, mut chunks) = OutputSink::new();
    let runner = {
        let connection = connection.clone();
        tokio::spawn(async move {
            match executor {
                Executor::Channel => (connection.exec(&wrapped, &sink).await, None),
                Executor::Shell(mut shell) => {
                    let result = shell.run(&wrapped, &sink).await;
                    let keep = result.is_ok();
                    (result, keep.then_some(shell))
                }
            }
        })
    };
    let mut writers = FileWriters::open(files.as_ref()).await;
    let mut marker = job::MarkerParser::default();
    let mut pgid = None;
    let mut timed_out = false;
    let mut stdout = (spec.json || spec.capture).then(Vec::new);
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
                            let _ = tx.send(Report::Pgid { job: job.clone(), pgid: p });
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
                    writers.write(chunk.stream, &data).await;
                    let _ = tx.send(Report::Output(Event::JobOutput {
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
    writers.finish().await;
    let (ending, shell) = match runner.await {
        Ok((Ok(outcome), shell)) => (Ending::Exited(outcome), shell),
        Ok((Err(e), _)) => (
            Ending::TransportError {
                error: e.to_string(),
                hint: e.hint(),
            },
            None,
        ),
        Err(e) => (
            Ending::TransportError {
                error: format!("the job's task failed: {e}"),
                hint: "this is a labdeck bug; please report it".into(),
            },
            None,
        ),
    };
    let _ = tx.send(Report::Done {
        job,
        ending,
        timed_out,
        duration: started.elapsed(),
        stdout,
        shell,
    });
}
