//! Authentication on a real lab: keys from a real `ssh-agent` when the pool names no
//! identity (or the identity cannot be used), and encrypted identity files in batch mode
//! (no terminal: refused with a clear error, never a hang). Needs root and the OpenSSH
//! client tools (`ssh-agent`, `ssh-add`, `ssh-keygen`).

mod ssh_common;

use ssh_common::{Lab, ok, run, text};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A real ssh-agent on its own socket, killed when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) starts");
        let agent = Agent { child, socket };
        // The socket appears once the agent listens.
        for _ in 0..400 {
            if agent.socket.exists() {
                return agent;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("ssh-agent never created {}", agent.socket.display());
    }

    fn add(&self, key: &str) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add runs");
        assert!(out.status.success(), "ssh-add: {}", text(&out.stderr));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pool_with_identity(lab: &Lab, name: &str, identity: Option<&str>) -> String {
    let identity = identity
        .map(|p| format!("identity = \"{p}\"\n"))
        .unwrap_or_default();
    lab.pool(
        name,
        &format!(
            "known_hosts = \"{}\"\n\n[machines.h1]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"root\"\n{identity}",
            lab.known_hosts(),
            lab.port("h1"),
        ),
    )
}

#[test]
fn ssh_agent_keys_log_in_when_the_pool_names_no_identity() {
    let lab = Lab::up(1, "line");
    let pool = pool_with_identity(&lab, "agent.toml", None);

    // No identity in the pool, an empty HOME and no agent: nothing to log in with.
    let out = run(lab.exec(&pool, "h1", &["true"]));
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(err.contains("no identity file found"), "{err}");
    assert!(err.contains("ssh-add"), "{err}");

    // An agent holding a key the host does not know: refused, and the agent is named.
    let agent_dir = tempfile::tempdir().expect("tempdir");
    let agent = Agent::start(agent_dir.path());
    let stranger = agent_dir.path().join("id_stranger");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    agent.add(&stranger.display().to_string());
    let mut cmd = lab.exec(&pool, "h1", &["true"]);
    cmd.env("SSH_AUTH_SOCK", &agent.socket);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(err.contains("1 key from ssh-agent"), "{err}");

    // The agent gets the lab's key: the same pool now logs in.
    agent.add(&lab.key());
    let mut cmd = lab.exec(&pool, "h1", &["echo", "agent-ok"]);
    cmd.env("SSH_AUTH_SOCK", &agent.socket);
    assert_eq!(ok(run(cmd)), "agent-ok\n");
}

#[test]
fn encrypted_identity_in_batch_mode_is_refused_then_the_agent_is_used() {
    let lab = Lab::up(1, "line");
    let dir = tempfile::tempdir().expect("tempdir");
    let encrypted = dir.path().join("id_encrypted");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
        .arg(&encrypted)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    let encrypted = encrypted.display().to_string();
    let pool = pool_with_identity(&lab, "encrypted.toml", Some(&encrypted));

    // stdin is not a terminal: no prompt, a clear error naming the file.
    let out = run(lab.exec(&pool, "h1", &["true"]));
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("identity {encrypted} is encrypted")),
        "{err}"
    );
    assert!(
        err.contains("batch mode cannot ask for a passphrase"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");

    // With an agent that holds a usable key, the unusable file is skipped.
    let agent = Agent::start(dir.path());
    agent.add(&lab.key());
    let mut cmd = lab.exec(&pool, "h1", &["echo", "via-agent"]);
    cmd.env("SSH_AUTH_SOCK", &agent.socket);
    assert_eq!(ok(run(cmd)), "via-agent\n");
}
