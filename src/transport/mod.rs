//! Transports: how labdeck runs a command on a machine, over SSH or locally.
//!
//! [`Connection`] hides which one it is; both give the same semantics: output streamed as
//! [`OutputChunk`]s in order per stream, then an [`ExitOutcome`]. Invariants: a local
//! command runs in its own process group (so a kill reaches its children), and a sink never
//! blocks the reader (it is unbounded; the engine keeps bounded tails).

pub mod shell;

use crate::pool::{Machine, TransportSpec};
use crate::ssh::{SshConnection, SshError, SshTarget};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A piece of a command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: Stream,
    pub data: Vec<u8>,
}

/// How a command ended: an exit code, or the signal that killed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitOutcome {
    pub code: Option<u32>,
    pub signal: Option<String>,
}

impl ExitOutcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The exit code a shell would report (128 + n for a signal; 255 if unknown).
    pub fn shell_code(&self) -> i32 {
        match (self.code, &self.signal) {
            (Some(c), _) => i32::try_from(c).unwrap_or(255),
            (None, Some(sig)) => 128 + signal_number(sig).unwrap_or(127),
            (None, None) => 255,
        }
    }
}

fn signal_number(name: &str) -> Option<i32> {
    let n = name.trim_start_matches("SIG").to_ascii_uppercase();
    Some(match n.as_str() {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return None,
    })
}

/// Where a running command's output goes.
#[derive(Debug, Clone)]
pub struct OutputSink(mpsc::UnboundedSender<OutputChunk>);

impl OutputSink {
    pub fn new() -> (OutputSink, mpsc::UnboundedReceiver<OutputChunk>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (OutputSink(tx), rx)
    }

    /// Hands a chunk on; a sink whose reader is gone drops it.
    pub fn send(&self, stream: Stream, data: &[u8]) {
        if !data.is_empty() {
            let _ = self.0.send(OutputChunk {
                stream,
                data: data.to_vec(),
            });
        }
    }
}

/// A byte stream to a unix socket on a machine (see [`Connection::open_streamlocal`]).
pub type UnixByteStream = Box<dyn ByteStream>;

/// Anything readable and writable as bytes, movable between tasks.
pub trait ByteStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> ByteStream for T {}

/// Trust settings that apply to every SSH connection of a pool.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// labdeck's own known_hosts file; also where accepted keys are recorded.
    pub labdeck_known_hosts: Option<PathBuf>,
    /// Also consult `~/.ssh/known_hosts`.
    pub user_known_hosts: bool,
    pub accept_new_hostkeys: bool,
}

/// Why a transport failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error("cannot run local command: {0}")]
    Local(String),
    #[error("no VPP API socket at {path} on localhost: {cause}")]
    NoLocalSocket { path: String, cause: String },
}

impl TransportError {
    pub fn hint(&self) -> String {
        match self {
            TransportError::Ssh(e) => e.hint(),
            TransportError::Local(_) => {
                "check that /bin/sh exists and the working directory is readable".into()
            }
            TransportError::NoLocalSocket { .. } => {
                "is VPP running here? check `vpp_api_sockets` in the pool against VPP's `socksvr { socket-name }`".into()
            }
        }
    }
}

/// An open way to run commands on one machine. Clones share the connection.
#[derive(Debug, Clone)]
pub enum Connection {
    Local,
    Ssh(SshConnection),
}

impl Connection {
    /// Connects to `machine` with `trust`; SSH connects within `timeout`.
    pub async fn open(
        machine: &Machine,
        trust: &Trust,
        timeout: Duration,
    ) -> Result<Connection, TransportError> {
        match &machine.transport {
            TransportSpec::Local => Ok(Connection::Local),
            TransportSpec::Ssh(spec) => {
                let mut known_hosts: Vec<PathBuf> =
                    trust.labdeck_known_hosts.iter().cloned().collect();
                if trust.user_known_hosts
                    && let Some(home) = std::env::var_os("HOME")
                {
                    known_hosts.push(PathBuf::from(home).join(".ssh/known_hosts"));
                }
                let accept_new_into = trust
                    .accept_new_hostkeys
                    .then(|| known_hosts.first().cloned())
                    .flatten();
                let target = SshTarget::from_pool(spec, known_hosts, accept_new_into, timeout);
                Ok(Connection::Ssh(SshConnection::connect(&target).await?))
            }
        }
    }

    /// Runs a shell command line, streaming output into `sink`, until it ends.
    pub async fn exec(
        &self,
        command: &str,
        sink: &OutputSink,
    ) -> Result<ExitOutcome, TransportError> {
        match self {
            Connection::Ssh(ssh) => Ok(ssh.exec(command, sink).await?),
            Connection::Local => exec_local(command, sink).await,
        }
    }

    /// Opens a long-lived shell for the fast path (see [`shell`]).
    pub async fn open_fast_shell(&self) -> Result<shell::FastShell, TransportError> {
        let (stdin, output) = match self {
            Connection::Ssh(ssh) => {
                let ch = ssh.open_shell().await?;
                (ch.stdin, ch.output)
            }
            Connection::Local => spawn_local_shell()?,
        };
        shell::FastShell::new(stdin, output).probe().await
    }

    /// Opens a byte stream to the unix socket `path` on the machine: a `direct-streamlocal`
    /// channel on the SSH connection (no new session), or a local `UnixStream`.
    pub async fn open_streamlocal(&self, path: &str) -> Result<UnixByteStream, TransportError> {
        match self {
            Connection::Ssh(ssh) => Ok(Box::new(ssh.open_streamlocal(path).await?)),
            Connection::Local => match tokio::net::UnixStream::connect(path).await {
                Ok(stream) => Ok(Box::new(stream)),
                Err(e) => Err(TransportError::NoLocalSocket {
                    path: path.into(),
                    cause: e.to_string(),
                }),
            },
        }
    }

    /// False once an SSH connection has dropped.
    pub fn is_alive(&self) -> bool {
        match self {
            Connection::Local => true,
            Connection::Ssh(ssh) => !ssh.is_closed(),
        }
    }

    pub async fn close(&self) {
        if let Connection::Ssh(ssh) = self {
            ssh.disconnect().await;
        }
    }
}

async fn exec_local(command: &str, sink: &OutputSink) -> Result<ExitOutcome, TransportError> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TransportError::Local(e.to_string()))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (_, _, status) = tokio::join!(
        pump(stdout, Stream::Stdout, sink),
        pump(stderr, Stream::Stderr, sink),
        child.wait()
    );
    let status = status.map_err(|e| TransportError::Local(e.to_string()))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(ExitOutcome {
        code: status.code().and_then(|c| u32::try_from(c).ok()),
        signal: status.signal().map(signal_name),
    })
}

/// A local `/bin/sh` reading commands from stdin, drained by its own tasks.
#[allow(clippy::type_complexity)]
pub fn spawn_local_shell() -> Result<
    (
        mpsc::UnboundedSender<Vec<u8>>,
        mpsc::UnboundedReceiver<OutputChunk>,
    ),
    TransportError,
> {
    // Its own process group, as a login shell over SSH has: a job's group kill (`kill --
    // -PGID` with the shell's pid) then reaches the shell and its subshells.
    let mut child = tokio::process::Command::new("/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TransportError::Local(e.to_string()))?;
    let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let (sink, out_rx) = OutputSink::new();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        if let Some(mut stdin) = stdin {
            while let Some(bytes) = in_rx.recv().await {
                if stdin.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        }
        let _ = child.kill().await;
    });
    let err_sink = sink.clone();
    tokio::spawn(async move { pump(stdout, Stream::Stdout, &sink).await });
    tokio::spawn(async move { pump(stderr, Stream::Stderr, &err_sink).await });
    Ok((in_tx, out_rx))
}

/// Copies a pipe into the sink until EOF or a read error.
async fn pump<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>, stream: Stream, sink: &OutputSink) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        sink.send(stream, &buf[..n]);
    }
}

fn signal_name(n: i32) -> String {
    match n {
        1 => "HUP".into(),
        2 => "INT".into(),
        9 => "KILL".into(),
        15 => "TERM".into(),
        other => format!("SIG{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run_local(cmd: &str) -> (ExitOutcome, String, String) {
        let (sink, mut rx) = OutputSink::new();
        let outcome = Connection::Local.exec(cmd, &sink).await.expect("runs");
        drop(sink);
        let (mut out, mut err) = (String::new(), String::new());
        while let Some(c) = rx.recv().await {
            let s = String::from_utf8_lossy(&c.data).into_owned();
            match c.stream {
                Stream::Stdout => out.push_str(&s),
                Stream::Stderr => err.push_str(&s),
            }
        }
        (outcome, out, err)
    }

    #[tokio::test]
    async fn local_exec_streams_both_outputs_and_exit_code() {
        let (o, out, err) = run_local("echo out; echo err >&2; exit 3").await;
        assert_eq!(o.code, Some(3));
        assert_eq!(o.shell_code(), 3);
        assert_eq!(out, "out\n");
        assert_eq!(err, "err\n");
    }

    #[tokio::test]
    async fn local_exec_reports_signals() {
        let (o, _, _) = run_local("kill -TERM $$").await;
        assert_eq!(o.code, None);
        assert_eq!(o.signal.as_deref(), Some("TERM"));
        assert_eq!(o.shell_code(), 143);
    }
}
