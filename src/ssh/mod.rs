//! SSH through russh. This is the only module that names russh types.
//!
//! [`SshConnection`] is a cheap cloneable handle to one authenticated connection (russh runs
//! the connection's own task). Invariants: the server's host key is checked against the
//! known_hosts files before authentication and an unknown or changed key is refused unless
//! the caller asked to record unknown keys; every exec channel is read until russh reports
//! it closed, so no output after the exit status is lost.

pub mod known_hosts;

use crate::transport::{ExitOutcome, OutputSink, Stream};
use known_hosts::HostKeyStatus;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything needed to open and trust one SSH connection.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Identity file; `None` tries `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`.
    pub identity: Option<PathBuf>,
    /// known_hosts files, labdeck's own first.
    pub known_hosts: Vec<PathBuf>,
    /// Where to record an unknown host key; `None` refuses unknown keys.
    pub accept_new_into: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// Why an SSH connection or command failed: a one-line cause and a hint.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SshError {
    #[error("connection to {addr} refused")]
    Refused { addr: String },
    #[error("no answer from {addr} within {secs:.1} s")]
    Timeout { addr: String, secs: f64 },
    #[error("cannot reach {addr}: {cause}")]
    Network { addr: String, cause: String },
    #[error("host key of {host_port} is unknown ({fingerprint})")]
    UnknownHostKey {
        host_port: String,
        fingerprint: String,
        record_file: Option<PathBuf>,
    },
    #[error("host key of {host_port} has CHANGED: it differs from {}:{line}", file.display())]
    ChangedHostKey {
        host_port: String,
        file: PathBuf,
        line: usize,
    },
    #[error("host key of {host_port} is revoked in {}:{line}", file.display())]
    RevokedHostKey {
        host_port: String,
        file: PathBuf,
        line: usize,
    },
    #[error("{user}@{host_port} refused our key{}", identity.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    AuthRejected {
        user: String,
        host_port: String,
        identity: Option<PathBuf>,
    },
    #[error("cannot load identity {}: {cause}", path.display())]
    Identity { path: PathBuf, cause: String },
    #[error("identity {} is encrypted", path.display())]
    IdentityEncrypted { path: PathBuf },
    #[error("no identity file found (tried ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")]
    NoIdentity,
    #[error("SSH session with {addr} failed: {cause}")]
    Session { addr: String, cause: String },
}

impl SshError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            SshError::Refused { .. } => {
                "is sshd running and listening on that port? (for a lab: `labdeck lab status`)"
                    .into()
            }
            SshError::Timeout { .. } | SshError::Network { .. } => {
                "check the machine's address and port in the pool, and that it is up".into()
            }
            SshError::UnknownHostKey { record_file, .. } => format!(
                "if you trust it, rerun with --accept-new-hostkeys or set accept_new_hostkeys = true in the pool; it will be recorded in {}",
                record_file
                    .as_ref()
                    .map_or("labdeck's known_hosts".into(), |p| p.display().to_string())
            ),
            SshError::ChangedHostKey { file, line, .. } => format!(
                "someone may be intercepting the connection; if the host was really re-keyed, delete line {line} of {} and connect again",
                file.display()
            ),
            SshError::RevokedHostKey { .. } => {
                "this key is marked @revoked; labdeck never connects with it".into()
            }
            SshError::AuthRejected { .. } => {
                "check `user` and `identity` for this machine in the pool, and the host's authorized_keys".into()
            }
            SshError::Identity { .. } | SshError::NoIdentity => {
                "set `identity = \"PATH\"` for the machine or in [defaults] of the pool".into()
            }
            SshError::IdentityEncrypted { .. } => {
                "use an unencrypted key or an agent; batch mode cannot ask for a passphrase".into()
            }
            SshError::Session { .. } => "the connection was lost; labdeck reconnects on the next command".into(),
        }
    }
}

/// A connected, authenticated SSH session. Clones share the connection.
#[derive(Clone)]
pub struct SshConnection {
    handle: Arc<Handle<TrustingHandler>>,
    addr: String,
}

impl std::fmt::Debug for SshConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConnection")
            .field("addr", &self.addr)
            .finish()
    }
}

/// russh handler that checks the host key and remembers why it refused one.
struct TrustingHandler {
    target: SshTarget,
    refusal: Arc<Mutex<Option<SshError>>>,
}

impl client::Handler for TrustingHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let t = &self.target;
        let host_port = host_port(&t.host, t.port);
        let PublicKeyOrCertificate::PublicKey { key, .. } = presented else {
            if let Ok(mut slot) = self.refusal.lock() {
                *slot = Some(SshError::Session {
                    addr: host_port,
                    cause:
                        "the server offered a host certificate; labdeck trusts plain host keys only"
                            .into(),
                });
            }
            return Ok(false);
        };
        let status = known_hosts::check(&t.known_hosts, &t.host, t.port, key);
        let refusal = match status {
            HostKeyStatus::Known => None,
            HostKeyStatus::Unknown => match &t.accept_new_into {
                Some(file) => match known_hosts::record(file, &t.host, t.port, key) {
                    Ok(()) => {
                        tracing::info!(%host_port, file = %file.display(), "recorded new host key");
                        None
                    }
                    Err(e) => Some(SshError::Session {
                        addr: host_port.clone(),
                        cause: format!("cannot record host key in {}: {e}", file.display()),
                    }),
                },
                None => Some(SshError::UnknownHostKey {
                    host_port,
                    fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
                    record_file: t.known_hosts.first().cloned(),
                }),
            },
            HostKeyStatus::Changed { file, line } => Some(SshError::ChangedHostKey {
                host_port,
                file,
                line,
            }),
            HostKeyStatus::Revoked { file, line } => Some(SshError::RevokedHostKey {
                host_port,
                file,
                line,
            }),
        };
        let trusted = refusal.is_none();
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = refusal;
        }
        Ok(trusted)
    }
}

fn host_port(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

impl SshConnection {
    /// Opens, trusts and authenticates a connection.
    pub async fn connect(target: &SshTarget) -> Result<SshConnection, SshError> {
        let addr = format!("{}:{}", target.host, target.port);
        let key = load_identity(target.identity.as_deref())?;
        let config = Arc::new(client::Config {
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            inactivity_timeout: None,
            nodelay: true,
            ..Default::default()
        });
        let refusal = Arc::new(Mutex::new(None));
        let handler = TrustingHandler {
            target: target.clone(),
            refusal: refusal.clone(),
        };
        let deadline = Instant::now() + target.connect_timeout;
        let timeout_err = || SshError::Timeout {
            addr: addr.clone(),
            secs: target.connect_timeout.as_secs_f64(),
        };
        let connected = tokio::time::timeout(
            target.connect_timeout,
            client::connect(config, (target.host.as_str(), target.port), handler),
        )
        .await
        .map_err(|_| timeout_err())?;
        let mut handle = match connected {
            Ok(h) => h,
            Err(e) => {
                if let Some(why) = refusal.lock().ok().and_then(|mut s| s.take()) {
                    return Err(why);
                }
                return Err(classify(&addr, e));
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let auth = async {
            let hash = handle.best_supported_rsa_hash().await?.flatten();
            handle
                .authenticate_publickey(
                    target.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key.key), hash),
                )
                .await
        };
        let result = tokio::time::timeout(remaining, auth)
            .await
            .map_err(|_| timeout_err())?
            .map_err(|e| classify(&addr, e))?;
        if !result.success() {
            return Err(SshError::AuthRejected {
                user: target.user.clone(),
                host_port: host_port(&target.host, target.port),
                identity: Some(key.path),
            });
        }
        Ok(SshConnection {
            handle: Arc::new(handle),
            addr,
        })
    }

    /// Runs `command` in a new session channel, streaming its output into `sink`.
    /// Returns when the channel closes.
    pub async fn exec(&self, command: &str, sink: &OutputSink) -> Result<ExitOutcome, SshError> {
        let session_err = |e: russh::Error| SshError::Session {
            addr: self.addr.clone(),
            cause: e.to_string(),
        };
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(session_err)?;
        channel.exec(true, command).await.map_err(session_err)?;
        let mut outcome = ExitOutcome::default();
        let mut closed_cleanly = false;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => sink.send(Stream::Stdout, &data),
                ChannelMsg::ExtendedData { data, ext: 1 } => sink.send(Stream::Stderr, &data),
                ChannelMsg::ExitStatus { exit_status } => outcome.code = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    outcome.signal = Some(format!("{signal_name:?}"))
                }
                ChannelMsg::Close => closed_cleanly = true,
                _ => {}
            }
        }
        if outcome.code.is_none() && outcome.signal.is_none() && !closed_cleanly {
            return Err(SshError::Session {
                addr: self.addr.clone(),
                cause: "connection lost before the command finished".into(),
            });
        }
        Ok(outcome)
    }

    /// True once the connection's task has ended.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Says goodbye to the server.
    pub async fn disconnect(&self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "labdeck disconnect", "en")
            .await;
    }
}

struct LoadedKey {
    key: russh::keys::PrivateKey,
    path: PathBuf,
}

fn load_identity(identity: Option<&std::path::Path>) -> Result<LoadedKey, SshError> {
    let candidates: Vec<PathBuf> = match identity {
        Some(p) => vec![p.to_owned()],
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .filter_map(|n| home.as_ref().map(|h| h.join(".ssh").join(n)))
                .filter(|p| p.exists())
                .collect()
        }
    };
    let path = candidates.into_iter().next().ok_or(SshError::NoIdentity)?;
    match russh::keys::load_secret_key(&path, None) {
        Ok(key) => Ok(LoadedKey { key, path }),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(SshError::IdentityEncrypted { path }),
        Err(e) => Err(SshError::Identity {
            cause: e.to_string(),
            path,
        }),
    }
}

fn classify(addr: &str, e: russh::Error) -> SshError {
    match e {
        russh::Error::IO(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            SshError::Refused { addr: addr.into() }
        }
        russh::Error::IO(io) => SshError::Network {
            addr: addr.into(),
            cause: io.to_string(),
        },
        other => SshError::Session {
            addr: addr.into(),
            cause: other.to_string(),
        },
    }
}

/// The two ends of a long-lived remote shell: bytes written to `stdin` are fed to the
/// shell; its stdout and stderr arrive on `output`, which closes when the shell ends.
pub struct ShellChannel {
    pub stdin: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    pub output: tokio::sync::mpsc::UnboundedReceiver<crate::transport::OutputChunk>,
}

impl SshConnection {
    /// Starts `/bin/sh` reading commands from its stdin in a new channel. The channel is
    /// drained by its own task, so a slow reader of `output` never stalls the connection.
    pub async fn open_shell(&self) -> Result<ShellChannel, SshError> {
        let session_err = |e: russh::Error| SshError::Session {
            addr: self.addr.clone(),
            cause: e.to_string(),
        };
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(session_err)?;
        channel
            .exec(true, "exec /bin/sh")
            .await
            .map_err(session_err)?;
        let (mut reader, writer) = channel.split();
        let (out_tx, output) = tokio::sync::mpsc::unbounded_channel();
        let (stdin, mut in_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(msg) = reader.wait().await {
                let chunk = match msg {
                    ChannelMsg::Data { data } => (Stream::Stdout, data.to_vec()),
                    ChannelMsg::ExtendedData { data, ext: 1 } => (Stream::Stderr, data.to_vec()),
                    _ => continue,
                };
                let _ = out_tx.send(crate::transport::OutputChunk {
                    stream: chunk.0,
                    data: chunk.1,
                });
            }
        });
        tokio::spawn(async move {
            while let Some(bytes) = in_rx.recv().await {
                if writer.data_bytes(bytes).await.is_err() {
                    break;
                }
            }
            let _ = writer.eof().await;
        });
        Ok(ShellChannel { stdin, output })
    }
}
