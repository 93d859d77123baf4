//! Shared helpers for the lab integration tests: the `labdeck` binary, and a lab that is
//! always taken down, even when a test fails.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub const LABDECK: &str = env!("CARGO_BIN_EXE_labdeck");

pub fn labdeck(args: &[&str]) -> Output {
    Command::new(LABDECK)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("labdeck runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A lab that is always taken down, even when the test fails.
pub struct Lab {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Lab {
    pub fn up(hosts: usize, topology: &str) -> Lab {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("lab");
        let out = labdeck(&[
            "lab",
            "up",
            "--hosts",
            &hosts.to_string(),
            "--topology",
            topology,
            "--dir",
            dir.to_str().expect("utf-8 path"),
        ]);
        assert!(
            out.status.success(),
            "lab up failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        Lab { dir, _tmp: tmp }
    }

    pub fn pool(&self) -> String {
        self.dir.join("pool.toml").display().to_string()
    }

    pub fn dir(&self) -> &str {
        self.dir.to_str().expect("utf-8 path")
    }

    pub fn exec(&self, host: &str, argv: &[&str]) -> Output {
        let pool = self.pool();
        let mut args = vec!["exec", "--pool", &pool, host, "--"];
        args.extend_from_slice(argv);
        labdeck(&args)
    }

    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.join("lab.json")).expect("lab.json");
        serde_json::from_str(&text).expect("lab.json parses")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = labdeck(&["lab", "down", "--dir", self.dir()]);
    }
}

pub fn netns_list() -> String {
    text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip")
            .stdout,
    )
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = text(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// Command lines of the processes inside a namespace.
pub fn namespace_processes(netns: &str) -> Vec<String> {
    let pids = text(
        &Command::new("ip")
            .args(["netns", "pids", netns])
            .output()
            .expect("ip")
            .stdout,
    );
    pids.split_whitespace()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| text(&c).replace('\0', " ").trim().to_owned())
        .collect()
}

pub fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..400 {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    false
}
