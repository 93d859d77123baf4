//! Helpers shared by the `ssh_*` lab tests: a lab that is always taken down, pool files
//! written by the test, and `labdeck` runs with a controlled environment (no inherited
//! ssh-agent, an empty HOME, so that only what the test sets up can authenticate).
//! Needs root, `ip`, `sshd` and the OpenSSH client tools; a test fails, never skips,
//! without them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const LABDECK: &str = env!("CARGO_BIN_EXE_labdeck");

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `labdeck` command with a clean environment: empty HOME, no SSH_AUTH_SOCK, no stdin.
pub fn labdeck_cmd(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(LABDECK);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("HOME", home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

pub fn run(mut cmd: Command) -> Output {
    cmd.output().expect("labdeck runs")
}

/// Output of a successful run; panics with stdout and stderr otherwise.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A lab that is always taken down, even when the test fails, plus an empty HOME.
pub struct Lab {
    pub dir: PathBuf,
    pub home: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Lab {
    pub fn up(hosts: usize, topology: &str) -> Lab {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("lab");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).expect("mkdir home");
        let out = Command::new(LABDECK)
            .args([
                "lab",
                "up",
                "--hosts",
                &hosts.to_string(),
                "--topology",
                topology,
                "--dir",
            ])
            .arg(&dir)
            .output()
            .expect("labdeck runs");
        assert!(
            out.status.success(),
            "lab up failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        Lab {
            dir,
            home,
            _tmp: tmp,
        }
    }

    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.join("lab.json")).expect("lab.json");
        serde_json::from_str(&text).expect("lab.json parses")
    }

    /// The loopback port of host `name`.
    pub fn port(&self, name: &str) -> u16 {
        self.host(name)["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("port")
    }

    pub fn host(&self, name: &str) -> serde_json::Value {
        self.state()["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .find(|h| h["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    pub fn netns(&self, name: &str) -> String {
        self.host(name)["netns"].as_str().expect("netns").to_owned()
    }

    /// The hwaddrs of host `name`'s test links.
    pub fn hwaddrs(&self, name: &str) -> Vec<String> {
        self.host(name)["interfaces"]
            .as_array()
            .expect("interfaces")
            .iter()
            .map(|i| i["hwaddr"].as_str().expect("hwaddr").to_owned())
            .collect()
    }

    pub fn key(&self) -> String {
        self.dir.join("id_ed25519").display().to_string()
    }

    pub fn known_hosts(&self) -> String {
        self.dir.join("known_hosts").display().to_string()
    }

    /// Writes `body` as a pool file (in a fresh directory) and returns its path.
    pub fn pool(&self, name: &str, body: &str) -> String {
        let path = self.dir.parent().expect("parent").join(name);
        std::fs::write(&path, body).expect("write pool");
        path.display().to_string()
    }

    /// `labdeck exec --pool POOL MACHINE -- ARGV…` with the clean environment.
    pub fn exec(&self, pool: &str, machine: &str, argv: &[&str]) -> Command {
        let mut args = vec!["exec", "--pool", pool, machine, "--"];
        args.extend_from_slice(argv);
        labdeck_cmd(&self.home, &args)
    }

    /// The server-side connection log of host `name`.
    pub fn connections(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join("hosts").join(name).join("connections.log"))
            .unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(LABDECK)
            .args(["lab", "down", "--dir"])
            .arg(&self.dir)
            .output();
    }
}
