//! SSH through russh. This is the only module that names russh types.
//!
//! [`SshConnection`] is a cheap cloneable handle to one authenticated connection (russh runs
//! the connection's own task), reached directly or through a chain of jump hosts
//! (`proxy_jump`: each hop is a `direct-tcpip` channel of the previous one, and every jump
//! connection is held as long as the target's). Before connecting, a target may be resolved
//! through OpenSSH's own `ssh -G` ([`config`]); authentication ([`auth`]) tries an identity
//! file, then ssh-agent, then a password from an environment variable.
//!
//! Invariants: every hop's host key is checked against the known_hosts files for that hop's
//! own host and port before authenticating, and an unknown or changed key is refused unless
//! the caller asked to record unknown keys; the connect timeout covers the whole chain
//! (passphrase prompts happen before it starts); secrets never appear in a `Debug` or
//! `Display` of a target or an error, nor in logs; every exec channel is read until russh
//! reports it closed, so no output after the exit status is lost.

mod auth;
pub mod config;
pub mod known_hosts;
mod prompt;

use crate::pool::SshSpec;
use crate::transport::{ExitOutcome, OutputSink, Stream};
use known_hosts::HostKeyStatus;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest jump chain labdeck follows.
const MAX_HOPS: usize = 8;

/// Where the passphrase of an encrypted identity file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassphraseSource {
    /// Ask on the terminal (echo off) — only when stdin is a terminal; otherwise as `Batch`.
    #[default]
    Interactive,
    /// Never ask: an encrypted key gives [`SshError::IdentityEncrypted`].
    Batch,
}

/// How to consult OpenSSH's client configuration (`ssh -G`) for a target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshConfigLookup {
    /// `ssh -F FILE`; `None` reads `~/.ssh/config` as `ssh` does.
    pub file: Option<PathBuf>,
    /// Explicit port and user, passed as `-p`/`-l` so that they win over the config.
    pub port: Option<u16>,
    pub user: Option<String>,
}

/// Everything needed to open and trust one SSH connection.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Identity file; `None` tries `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`, then ssh-agent.
    pub identity: Option<PathBuf>,
    /// known_hosts files, labdeck's own first.
    pub known_hosts: Vec<PathBuf>,
    /// Where to record an unknown host key; `None` refuses unknown keys.
    pub accept_new_into: Option<PathBuf>,
    /// Covers the whole chain: every hop's connect, key exchange and authentication.
    pub connect_timeout: Duration,
    /// Whether an encrypted identity's passphrase may be asked for.
    pub passphrase: PassphraseSource,
    /// Name of the environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// Resolve host, port, user, identity and jumps through `ssh -G` first.
    pub ssh_config: Option<SshConfigLookup>,
    /// Connect through this host (which may have its own jump: a chain).
    pub proxy_jump: Option<Box<SshTarget>>,
}

impl SshTarget {
    /// The target for a pool machine's SSH settings, with its jump chain.
    pub fn from_pool(
        spec: &SshSpec,
        known_hosts: Vec<PathBuf>,
        accept_new_into: Option<PathBuf>,
        connect_timeout: Duration,
    ) -> SshTarget {
        SshTarget {
            host: spec.host.clone(),
            port: spec.port,
            user: spec.user.clone(),
            identity: spec.identity.clone(),
            proxy_jump: spec.proxy_jump.as_ref().map(|j| {
                Box::new(SshTarget::from_pool(
                    &j.ssh,
                    known_hosts.clone(),
                    accept_new_into.clone(),
                    connect_timeout,
                ))
            }),
            known_hosts,
            accept_new_into,
            connect_timeout,
            passphrase: PassphraseSource::default(),
            password_env: spec.password_env.clone(),
            ssh_config: spec.ssh_config.as_ref().map(|c| SshConfigLookup {
                file: c.file.clone(),
                port: c.port,
                user: c.user.clone(),
            }),
        }
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
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
    #[error("jump host {jump} cannot open a connection to {target}: {cause}")]
    Jump {
        jump: String,
        target: String,
        cause: String,
    },
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
    #[error("{user}@{host_port} refused us; tried: {tried}")]
    AuthRejected {
        user: String,
        host_port: String,
        /// The methods offered, e.g. "key /root/.ssh/id_ed25519, 2 keys from ssh-agent".
        tried: String,
    },
    #[error("cannot load identity {}: {cause}", path.display())]
    Identity { path: PathBuf, cause: String },
    #[error("identity {} is encrypted", path.display())]
    IdentityEncrypted { path: PathBuf },
    #[error("no passphrase for identity {}: {cause}", path.display())]
    Passphrase { path: PathBuf, cause: String },
    #[error("the password variable ${var} is not set")]
    PasswordUnset { var: String },
    #[error(
        "no identity file found (tried ~/.ssh/id_ed25519, id_ecdsa, id_rsa) and no ssh-agent key"
    )]
    NoIdentity,
    #[error("cannot use the OpenSSH config for {host}: {cause}")]
    SshConfig { host: String, cause: String },
    #[error("SSH session with {addr} failed: {cause}")]
    Session { addr: String, cause: String },
    #[error("no VPP API socket at {path} on {addr}")]
    NoSocket { path: String, addr: String },
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
                "check the machine's address and port in the pool, and that it is up (for a lab: `labdeck lab status`)".into()
            }
            SshError::Jump { jump, target, .. } => format!(
                "check that {jump} can reach {target} (the address as seen from the jump host) and that its sshd allows TCP forwarding"
            ),
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
                "check `user`, `identity` and `password_env` for this machine in the pool, the keys in your ssh-agent, and the host's authorized_keys".into()
            }
            SshError::Identity { .. } | SshError::NoIdentity => {
                "set `identity = \"PATH\"` for the machine or in [defaults] of the pool, or add a key to ssh-agent (ssh-add)".into()
            }
            SshError::IdentityEncrypted { .. } => {
                "add the key to ssh-agent (ssh-add), or run labdeck from a terminal to type its passphrase; batch mode cannot ask for a passphrase".into()
            }
            SshError::Passphrase { .. } => {
                "add the key to ssh-agent (ssh-add) to type its passphrase once, or use an unencrypted key".into()
            }
            SshError::PasswordUnset { var } => format!(
                "export {var} with the password before running labdeck; the pool names only the variable"
            ),
            SshError::SshConfig { host, .. } => format!(
                "`ssh -G {host}` shows what OpenSSH makes of your config; fix it, or turn ssh_config off for this machine"
            ),
            SshError::Session { .. } => "the connection was lost; labdeck reconnects on the next command".into(),
            SshError::NoSocket { .. } => {
                "is VPP running there? check `vpp_api_sockets` in the pool against VPP's `socksvr { socket-name }`, and that sshd allows stream forwarding (AllowStreamLocalForwarding)".into()
            }
        }
    }
}

/// A connected, authenticated SSH session. Clones share the connection.
#[derive(Clone)]
pub struct SshConnection {
    handle: Arc<Handle<TrustingHandler>>,
    /// The jump connections the target is reached through, outermost first. Held so that
    /// they live exactly as long as the target connection.
    jumps: Arc<Vec<Handle<TrustingHandler>>>,
    addr: String,
}

impl std::fmt::Debug for SshConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConnection")
            .field("addr", &self.addr)
            .field("jumps", &self.jumps.len())
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
    /// Opens, trusts and authenticates a connection, through its jump chain if it has one.
    pub async fn connect(target: &SshTarget) -> Result<SshConnection, SshError> {
        let chain = resolve_chain(target, true).await?;
        // Identities first: a passphrase prompt must not eat into the connect timeout.
        let mut hops = Vec::with_capacity(chain.len());
        for hop in chain {
            let identity = auth::load_identity(&hop).await;
            hops.push((hop, identity));
        }
        let config = Arc::new(client::Config {
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            inactivity_timeout: None,
            nodelay: true,
            ..Default::default()
        });
        let current = Mutex::new(target.addr());
        let opened = tokio::time::timeout(
            target.connect_timeout,
            open_chain(hops, config, &auth::Environment::process(), &current),
        )
        .await
        .map_err(|_| SshError::Timeout {
            addr: current.lock().map(|a| a.clone()).unwrap_or_default(),
            secs: target.connect_timeout.as_secs_f64(),
        })??;
        let (handle, jumps, addr) = opened;
        Ok(SshConnection {
            handle: Arc::new(handle),
            jumps: Arc::new(jumps),
            addr,
        })
    }

    /// Opens a session channel. sshd frees a session slot only once it has processed the
    /// close of an earlier channel, so under heavy churn a refusal (`MaxSessions`) is
    /// transient: retry with a short doubling pause, a bounded number of times.
    async fn open_session(&self) -> Result<russh::Channel<client::Msg>, russh::Error> {
        let mut pause = Duration::from_millis(1);
        for _ in 0..12 {
            match self.handle.channel_open_session().await {
                Err(russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::ConnectFailed))
                    if !self.handle.is_closed() =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                other => return other,
            }
        }
        self.handle.channel_open_session().await
    }

    /// Runs `command` in a new session channel, streaming its output into `sink`.
    /// Returns when the channel closes.
    pub async fn exec(&self, command: &str, sink: &OutputSink) -> Result<ExitOutcome, SshError> {
        let session_err = |e: russh::Error| SshError::Session {
            addr: self.addr.clone(),
            cause: e.to_string(),
        };
        let mut channel = self.open_session().await.map_err(session_err)?;
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

    /// Opens a `direct-streamlocal` channel to the unix socket `path` on the host (what
    /// `ssh -L local:remote_socket` does) on this connection, as a byte stream. sshd answers a
    /// missing or refusing socket with `ConnectFailed`: that is [`SshError::NoSocket`].
    pub async fn open_streamlocal(
        &self,
        path: &str,
    ) -> Result<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + use<>, SshError>
    {
        match self.handle.channel_open_direct_streamlocal(path).await {
            Ok(channel) => Ok(channel.into_stream()),
            Err(russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::ConnectFailed))
                if !self.handle.is_closed() =>
            {
                Err(SshError::NoSocket {
                    path: path.into(),
                    addr: self.addr.clone(),
                })
            }
            Err(e) => Err(SshError::Session {
                addr: self.addr.clone(),
                cause: format!("cannot open a stream to {path}: {e}"),
            }),
        }
    }

    /// True once the connection's task (or that of a jump it goes through) has ended.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed() || self.jumps.iter().any(|j| j.is_closed())
    }

    /// Says goodbye to the server, then to each jump host, innermost first.
    pub async fn disconnect(&self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "labdeck disconnect", "en")
            .await;
        for jump in self.jumps.iter().rev() {
            let _ = jump
                .disconnect(Disconnect::ByApplication, "labdeck disconnect", "en")
                .await;
        }
    }
}

type ChainFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<SshTarget>, SshError>> + Send + 'a>>;

/// Flattens `target` into the hops to connect, outermost first, the target last; each hop
/// resolved through `ssh -G` when it asks for that. Jumps named by the pool are followed
/// (the pool guarantees no loop); `ProxyJump` hops from the OpenSSH config are resolved
/// through the same config but their own `ProxyJump` is not followed (`follow_config_jumps`).
fn resolve_chain(target: &SshTarget, follow_config_jumps: bool) -> ChainFuture<'_> {
    Box::pin(async move {
        let mut hop = target.clone();
        hop.proxy_jump = None;
        hop.ssh_config = None;
        let mut config_jumps = Vec::new();
        if let Some(lookup) = &target.ssh_config {
            match config::ssh_client() {
                None => tracing::warn!(
                    host = %target.host,
                    "ssh_config is on but no OpenSSH `ssh` client is installed; using the pool's values"
                ),
                Some(ssh) => {
                    let r = config::resolve(
                        &ssh,
                        lookup.file.as_deref(),
                        lookup.port,
                        lookup.user.as_deref(),
                        &target.host,
                        target.connect_timeout,
                    )
                    .await?;
                    if hop.identity.is_none() {
                        let ctx = config::local_context(&target.host, &r);
                        hop.identity = config::first_existing_identity(&r, &ctx);
                    }
                    tracing::debug!(alias = %target.host, hostname = %r.hostname, port = r.port, user = %r.user, jumps = r.proxy_jump.len(), "resolved through ssh -G");
                    hop.host = r.hostname;
                    hop.port = r.port;
                    hop.user = r.user;
                    if follow_config_jumps {
                        config_jumps = r.proxy_jump;
                    }
                }
            }
        }
        let mut chain = Vec::new();
        if let Some(jump) = &target.proxy_jump {
            chain = resolve_chain(jump, true).await?;
        } else {
            for j in config_jumps {
                let jump = SshTarget {
                    host: j.host,
                    port: j.port.unwrap_or(22),
                    user: j.user.clone().unwrap_or_else(|| hop.user.clone()),
                    identity: None,
                    known_hosts: target.known_hosts.clone(),
                    accept_new_into: target.accept_new_into.clone(),
                    connect_timeout: target.connect_timeout,
                    passphrase: target.passphrase,
                    password_env: None,
                    ssh_config: Some(SshConfigLookup {
                        file: target.ssh_config.as_ref().and_then(|c| c.file.clone()),
                        port: j.port,
                        user: j.user,
                    }),
                    proxy_jump: None,
                };
                chain.extend(resolve_chain(&jump, false).await?);
            }
        }
        chain.push(hop);
        if chain.len() > MAX_HOPS {
            return Err(SshError::SshConfig {
                host: target.host.clone(),
                cause: format!("the jump chain is longer than {MAX_HOPS} hops"),
            });
        }
        Ok(chain)
    })
}

/// Connects, trusts and authenticates each hop through the previous one. Returns the
/// target's handle, the jump handles (outermost first) and the target's address. `current`
/// names the hop being worked on, for the timeout error.
async fn open_chain(
    hops: Vec<(SshTarget, Option<auth::Identity>)>,
    config: Arc<client::Config>,
    env: &auth::Environment,
    current: &Mutex<String>,
) -> Result<
    (
        Handle<TrustingHandler>,
        Vec<Handle<TrustingHandler>>,
        String,
    ),
    SshError,
> {
    let mut handles: Vec<Handle<TrustingHandler>> = Vec::with_capacity(hops.len());
    let mut previous: Option<String> = None;
    let mut addr = String::new();
    for (hop, identity) in hops {
        addr = hop.addr();
        if let Ok(mut c) = current.lock() {
            c.clone_from(&addr);
        }
        let refusal = Arc::new(Mutex::new(None));
        let handler = TrustingHandler {
            target: hop.clone(),
            refusal: refusal.clone(),
        };
        let connected = match (handles.last(), &previous) {
            (Some(jump), Some(jump_addr)) => {
                tracing::debug!(jump = %jump_addr, target = %addr, "opening a direct-tcpip channel");
                let channel = jump
                    .channel_open_direct_tcpip(
                        hop.host.clone(),
                        u32::from(hop.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| SshError::Jump {
                        jump: jump_addr.clone(),
                        target: addr.clone(),
                        cause: e.to_string(),
                    })?;
                client::connect_stream(config.clone(), channel.into_stream(), handler).await
            }
            _ => client::connect(config.clone(), (hop.host.as_str(), hop.port), handler).await,
        };
        let mut handle = match connected {
            Ok(h) => h,
            Err(e) => {
                if let Some(why) = refusal.lock().ok().and_then(|mut s| s.take()) {
                    return Err(why);
                }
                return Err(classify(&addr, e));
            }
        };
        auth::authenticate(&mut handle, &hop, identity, env).await?;
        handles.push(handle);
        previous = Some(addr.clone());
    }
    let target = handles.pop().ok_or_else(|| SshError::Session {
        addr: addr.clone(),
        cause: "nothing to connect to".into(),
    })?;
    Ok((target, handles, addr))
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
        let channel = self.open_session().await.map_err(session_err)?;
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
