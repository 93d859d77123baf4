//! User authentication: an identity file (asking for its passphrase when allowed), then the
//! keys of a running ssh-agent, then a password read from the environment variable the pool
//! names.
//!
//! Invariants: secrets (passphrases, passwords, decrypted keys) are never put in an error,
//! a log line or a trace; passphrases and passwords live in zeroed-on-drop memory while we
//! hold them; a passphrase is asked for only when the target allows it and stdin is a
//! terminal, one prompt at a time, and each encrypted key is asked for at most once per
//! process (its decrypted form is kept in memory, as ssh-agent would); identity files are
//! loaded before the connection starts, so a prompt never eats into the connect timeout.

use super::{PassphraseSource, SshError, SshTarget, TrustingHandler, classify, host_port, prompt};
use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use zeroize::Zeroizing;

/// How many times a wrong passphrase may be typed.
const PASSPHRASE_ATTEMPTS: usize = 3;

/// Decrypted keys, by file, so that a passphrase is asked once per process. The mutex is
/// also held while prompting, so prompts never interleave.
static DECRYPTED: LazyLock<Mutex<HashMap<PathBuf, Arc<PrivateKey>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// An identity file and what came of loading it.
pub(super) struct Identity {
    pub path: PathBuf,
    pub key: Result<Arc<PrivateKey>, SshError>,
}

/// The identity to offer: the target's file, or else the first of `~/.ssh/id_ed25519`,
/// `id_ecdsa`, `id_rsa` that exists. `None` when there is no file to try.
pub(super) async fn load_identity(target: &SshTarget) -> Option<Identity> {
    let path = match &target.identity {
        Some(p) => p.clone(),
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from)?;
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|n| home.join(".ssh").join(n))
                .find(|p| p.exists())?
        }
    };
    let source = target.passphrase;
    let p = path.clone();
    let key = tokio::task::spawn_blocking(move || load_key(&p, source))
        .await
        .unwrap_or_else(|e| {
            Err(SshError::Identity {
                path: path.clone(),
                cause: format!("the loader failed: {e}"),
            })
        });
    Some(Identity { path, key })
}

/// Loads a private key, asking for its passphrase if it is encrypted and `source` allows.
fn load_key(path: &Path, source: PassphraseSource) -> Result<Arc<PrivateKey>, SshError> {
    match russh::keys::load_secret_key(path, None) {
        Ok(key) => Ok(Arc::new(key)),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let mut cache = DECRYPTED.lock().map_err(|_| SshError::Identity {
                path: path.to_owned(),
                cause: "the key cache is unusable after a crash in another thread".into(),
            })?;
            if let Some(key) = cache.get(path) {
                return Ok(key.clone());
            }
            if source == PassphraseSource::Batch || !prompt::stdin_is_tty() {
                return Err(SshError::IdentityEncrypted {
                    path: path.to_owned(),
                });
            }
            let key = Arc::new(ask_and_decrypt(path)?);
            cache.insert(path.to_owned(), key.clone());
            Ok(key)
        }
        Err(e) => Err(SshError::Identity {
            cause: e.to_string(),
            path: path.to_owned(),
        }),
    }
}

fn ask_and_decrypt(path: &Path) -> Result<PrivateKey, SshError> {
    let fail = |cause: String| SshError::Passphrase {
        path: path.to_owned(),
        cause,
    };
    let mut prompt_text = format!("Enter passphrase for key '{}': ", path.display());
    for _ in 0..PASSPHRASE_ATTEMPTS {
        let answer = prompt::ask_hidden(&prompt_text)
            .map_err(|e| fail(format!("cannot ask on the terminal: {e}")))?
            .ok_or_else(|| fail("cancelled".into()))?;
        match russh::keys::load_secret_key(path, Some(answer.as_str())) {
            Ok(key) => return Ok(key),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "passphrase did not decrypt the key");
                prompt_text = format!(
                    "Wrong passphrase. Enter passphrase for key '{}': ",
                    path.display()
                );
            }
        }
    }
    Err(fail(format!(
        "wrong passphrase ({PASSPHRASE_ATTEMPTS} attempts)"
    )))
}

/// Looks up the value of a password variable by name.
pub(super) type PasswordLookup = dyn Fn(&str) -> Option<Zeroizing<String>> + Send + Sync;

/// Where authentication finds what the environment provides: the password variable's
/// value and the agent's socket. Production code reads the process environment
/// ([`Environment::process`]); tests inject their own.
pub(super) struct Environment {
    pub password: Box<PasswordLookup>,
    /// `SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
}

impl Environment {
    pub fn process() -> Environment {
        Environment {
            password: Box::new(|var| {
                std::env::var(var)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(Zeroizing::new)
            }),
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Logs in on `handle` as `target.user`, trying the identity, the agent, then the password.
pub(super) async fn authenticate(
    handle: &mut Handle<TrustingHandler>,
    target: &SshTarget,
    identity: Option<Identity>,
    env: &Environment,
) -> Result<(), SshError> {
    let addr = format!("{}:{}", target.host, target.port);
    let user = target.user.clone();
    let mut tried: Vec<String> = Vec::new();
    let mut file_error: Option<SshError> = None;
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| classify(&addr, e))?
        .flatten();

    if let Some(Identity { path, key }) = identity {
        match key {
            Ok(key) => {
                let result = handle
                    .authenticate_publickey(user.clone(), PrivateKeyWithHashAlg::new(key, rsa_hash))
                    .await
                    .map_err(|e| classify(&addr, e))?;
                if result.success() {
                    return Ok(());
                }
                tried.push(format!("key {}", path.display()));
            }
            Err(e) => {
                tracing::debug!(error = %e, "identity file unusable; trying other methods");
                file_error = Some(e);
            }
        }
    }

    let agent = match &env.agent_socket {
        Some(sock) => AgentClient::connect_uds(sock)
            .await
            .map_err(|e| e.to_string()),
        None => Err("SSH_AUTH_SOCK is not set".to_owned()),
    };
    match agent {
        Ok(mut agent) => match agent.request_identities().await {
            Ok(identities) => {
                let mut offered = 0;
                for identity in identities {
                    let AgentIdentity::PublicKey { key, .. } = identity else {
                        continue; // certificates are not used
                    };
                    let hash = key.algorithm().is_rsa().then_some(rsa_hash).flatten();
                    offered += 1;
                    match handle
                        .authenticate_publickey_with(user.clone(), key, hash, &mut agent)
                        .await
                    {
                        Ok(result) if result.success() => return Ok(()),
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "the agent could not sign"),
                    }
                    if handle.is_closed() {
                        break;
                    }
                }
                if offered > 0 {
                    tried.push(format!(
                        "{offered} key{} from ssh-agent",
                        if offered == 1 { "" } else { "s" }
                    ));
                }
            }
            Err(e) => tracing::debug!(error = %e, "ssh-agent did not list its keys"),
        },
        Err(e) => tracing::debug!(error = %e, "no ssh-agent"),
    }

    if let Some(var) = &target.password_env {
        match (env.password)(var) {
            Some(password) => {
                let result = handle
                    .authenticate_password(user.clone(), password.as_str())
                    .await
                    .map_err(|e| classify(&addr, e))?;
                if result.success() {
                    return Ok(());
                }
                tried.push(format!("the password in ${var}"));
            }
            _ if tried.is_empty() && file_error.is_none() => {
                return Err(SshError::PasswordUnset { var: var.clone() });
            }
            _ => tried.push(format!("no password (${var} is not set)")),
        }
    }

    match (file_error, tried.is_empty()) {
        // Nothing reached the server: the file's own problem is the useful error.
        (Some(e), true) => Err(e),
        (None, true) => Err(SshError::NoIdentity),
        (file_error, false) => {
            if let Some(e) = file_error {
                tried.insert(0, format!("{e} (skipped)"));
            }
            Err(SshError::AuthRejected {
                user,
                host_port: host_port(&target.host, target.port),
                tried: tried.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::PassphraseSource;
    use std::time::Duration;

    const RIGHT: &str = "right-pw-Tz93";
    const WRONG: &str = "wrong-pw-Qk17";

    /// An in-process russh server that accepts user `u` with password [`RIGHT`] only.
    struct PasswordServer;

    impl russh::server::Handler for PasswordServer {
        type Error = russh::Error;

        async fn auth_password(
            &mut self,
            user: &str,
            password: &str,
        ) -> Result<russh::server::Auth, Self::Error> {
            Ok(if user == "u" && password == RIGHT {
                russh::server::Auth::Accept
            } else {
                russh::server::Auth::reject()
            })
        }
    }

    /// Connects a client to a fresh [`PasswordServer`] and authenticates with `password`.
    async fn log_in(password: Option<&'static str>) -> (SshTarget, Result<(), SshError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = dir.path().join("host_key");
        keygen(&host_key, "");
        let key = russh::keys::load_secret_key(&host_key, None).expect("host key");
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!(
                "pw.test {}\n",
                key.public_key().to_openssh().expect("openssh encoding")
            ),
        )
        .expect("write");
        let server_config = Arc::new(russh::server::Config {
            keys: vec![key],
            auth_rejection_time: Duration::ZERO,
            ..Default::default()
        });
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            if let Ok(session) =
                russh::server::run_stream(server_config, server_io, PasswordServer).await
            {
                let _ = session.await;
            }
        });
        let target = SshTarget {
            host: "pw.test".into(),
            port: 22,
            user: "u".into(),
            identity: None,
            known_hosts: vec![known_hosts],
            accept_new_into: None,
            connect_timeout: Duration::from_secs(60),
            passphrase: PassphraseSource::Batch,
            password_env: Some("LABDECK_UNIT_PW".into()),
            ssh_config: None,
            proxy_jump: None,
        };
        let refusal = Arc::new(Mutex::new(None));
        let handler = TrustingHandler {
            target: target.clone(),
            refusal: refusal.clone(),
        };
        let mut handle = russh::client::connect_stream(
            Arc::new(russh::client::Config::default()),
            client_io,
            handler,
        )
        .await
        .expect("host key trusted, session up");
        let env = Environment {
            password: Box::new(move |var| {
                assert_eq!(var, "LABDECK_UNIT_PW");
                password.map(|p| Zeroizing::new(p.to_owned()))
            }),
            agent_socket: None,
        };
        let result = authenticate(&mut handle, &target, None, &env).await;
        (target, result)
    }

    #[tokio::test]
    async fn password_from_the_named_variable_logs_in() {
        let (_, result) = log_in(Some(RIGHT)).await;
        result.expect("the right password is accepted");
    }

    #[tokio::test]
    async fn a_rejected_password_never_shows_in_errors_or_targets() {
        let (target, result) = log_in(Some(WRONG)).await;
        let err = result.expect_err("the wrong password is refused");
        assert!(matches!(err, SshError::AuthRejected { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "u@pw.test refused us; tried: the password in $LABDECK_UNIT_PW"
        );
        for shown in [
            err.to_string(),
            format!("{err:?}"),
            err.hint(),
            format!("{target:?}"),
        ] {
            assert!(!shown.contains(WRONG), "password leaked into: {shown}");
            assert!(!shown.contains(RIGHT), "password leaked into: {shown}");
        }
    }

    #[tokio::test]
    async fn an_unset_password_variable_is_named() {
        let (_, result) = log_in(None).await;
        let err = result.expect_err("no password");
        assert_eq!(
            err.to_string(),
            "the password variable $LABDECK_UNIT_PW is not set"
        );
        assert!(
            err.hint().contains("export LABDECK_UNIT_PW"),
            "{}",
            err.hint()
        );
    }

    fn keygen(path: &Path, passphrase: &str) {
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(path)
            .status()
            .expect("ssh-keygen (openssh-client) runs");
        assert!(ok.success());
    }

    #[test]
    fn encrypted_key_in_batch_mode_is_refused_without_prompting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("id_enc");
        keygen(&key, "secret-passphrase-771");
        let err = load_key(&key, PassphraseSource::Batch).expect_err("encrypted");
        assert!(matches!(err, SshError::IdentityEncrypted { .. }), "{err:?}");
        assert!(err.hint().contains("batch mode"), "{}", err.hint());
        // Cargo runs tests without a terminal on stdin: Interactive behaves like Batch.
        if !prompt::stdin_is_tty() {
            let err = load_key(&key, PassphraseSource::Interactive).expect_err("encrypted");
            assert!(matches!(err, SshError::IdentityEncrypted { .. }), "{err:?}");
        }
        let plain = dir.path().join("id_plain");
        keygen(&plain, "");
        assert!(load_key(&plain, PassphraseSource::Batch).is_ok());
        let err =
            load_key(&dir.path().join("missing"), PassphraseSource::Batch).expect_err("missing");
        assert!(matches!(err, SshError::Identity { .. }), "{err:?}");
    }
}
