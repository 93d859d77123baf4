//! The lab's listener daemon (`labdeck lab serve`). Each host has two listeners: one
//! loopback port in the root namespace (how labdeck reaches the host), and port 22 on every
//! address *inside* the host's namespace (so hosts reach each other over the test links, as
//! a jump host would). Each accepted connection becomes `ip netns exec <ns> sshd -i` with
//! the socket as stdin/stdout.
//!
//! Invariants: the daemon leads its own session, so `lab down` ends it (its threads, and
//! any `sshd -i` still attached) with one signal to its process group; a namespace listener
//! is bound by a thread that first joined the namespace (`setns` changes only the calling
//! thread's network namespace); ports are published atomically in `ports.json` only once
//! every listener of every host is bound; every accepted connection is appended to
//! `hosts/<h>/connections.log` (`<ms> <peer> <listener>`), which tests use to count
//! connections at the server side; every session sees the host's own `hosts/<h>/root`
//! as `/root` (bound in the private mount namespace that `ip netns exec` creates), never
//! the lab machine's real home.

use super::{LabError, LabState, SSHD, io_err, load_state, save_state};
use std::io::Write;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Starts the daemon for the lab in `dir` and returns each host's port, in host order.
pub fn start(dir: &Path, state: &mut LabState) -> Result<Vec<u16>, LabError> {
    let exe = std::env::current_exe()
        .map_err(|e| LabError::Io(format!("cannot find labdeck's own binary: {e}")))?;
    let log_path = dir.join("serve.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| io_err("cannot create", &log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| io_err("cannot open", &log_path, e))?;
    let ports_path = dir.join("ports.json");
    let _ = std::fs::remove_file(&ports_path);
    let mut command = Process::new(exe);
    command
        .args(["lab", "serve", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe and is the only call made between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| LabError::Io(format!("cannot start the lab listener: {e}")))?;
    state.serve_pid = Some(child.id());
    save_state(dir, state)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&ports_path)
            && let Ok(ports) = serde_json::from_str::<Vec<u16>>(&text)
        {
            return Ok(ports);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(LabError::Io(format!(
                "the lab listener exited ({status}): {}",
                log.trim()
            )));
        }
        if Instant::now() > deadline {
            return Err(LabError::ServeTimeout { log: log_path });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The daemon's main loop; returns only on a setup error.
pub fn run(dir: &Path) -> Result<(), LabError> {
    let dir = super::absolute_dir(dir)?;
    let state = load_state(&dir)?
        .ok_or_else(|| LabError::Io(format!("no lab.json in {}", dir.display())))?;
    // Children are never waited for: with SIGCHLD ignored the kernel reaps them.
    // SAFETY: setting a signal disposition to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    }
    let mut listeners = Vec::new();
    for host in &state.hosts {
        // A repaired lab keeps its ports (they are in the pool and known_hosts).
        let wanted = host.port.unwrap_or(0);
        let l = TcpListener::bind(("127.0.0.1", wanted))
            .map_err(|e| LabError::Io(format!("cannot bind loopback port {wanted}: {e}")))?;
        let port = l
            .local_addr()
            .map_err(|e| LabError::Io(e.to_string()))?
            .port();
        listeners.push((l, port));
    }
    // Port 22 inside each namespace, each bound by its own thread after setns.
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let mut threads = Vec::with_capacity(2 * state.hosts.len());
    for host in &state.hosts {
        let hdir = dir.join("hosts").join(&host.name);
        let netns = host.netns.clone();
        let bound_tx = bound_tx.clone();
        threads.push(std::thread::spawn(move || {
            match bind_in_namespace(&netns, 22) {
                Ok(listener) => {
                    let _ = bound_tx.send(Ok(()));
                    drop(bound_tx);
                    accept_loop(listener, &netns, &hdir, "netns");
                }
                Err(e) => {
                    let _ = bound_tx.send(Err(e));
                }
            }
        }));
    }
    drop(bound_tx);
    for _ in &state.hosts {
        match bound_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(LabError::Io(
                    "a namespace listener thread ended before binding".into(),
                ));
            }
        }
    }
    let ports: Vec<u16> = listeners.iter().map(|(_, p)| *p).collect();
    let tmp = dir.join(".ports.json.tmp");
    let text = serde_json::to_string(&ports).map_err(|e| LabError::Io(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(|e| io_err("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, dir.join("ports.json"))
        .map_err(|e| io_err("cannot write", &dir.join("ports.json"), e))?;

    for ((listener, _), host) in listeners.into_iter().zip(&state.hosts) {
        let hdir = dir.join("hosts").join(&host.name);
        let netns = host.netns.clone();
        threads.push(std::thread::spawn(move || {
            accept_loop(listener, &netns, &hdir, "loopback")
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Joins the network namespace `netns` (this thread only) and binds `0.0.0.0:port` there.
fn bind_in_namespace(netns: &str, port: u16) -> Result<TcpListener, LabError> {
    let path = Path::new("/run/netns").join(netns);
    let ns = std::fs::File::open(&path).map_err(|e| io_err("cannot open", &path, e))?;
    // SAFETY: setns on an open namespace file; it affects only the calling thread, which
    // from now on serves this namespace alone.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LabError::Io(format!(
            "cannot enter network namespace {netns}: {}",
            std::io::Error::last_os_error()
        )));
    }
    TcpListener::bind(("0.0.0.0", port))
        .map_err(|e| LabError::Io(format!("cannot bind port {port} in {netns}: {e}")))
}

fn accept_loop(listener: TcpListener, netns: &str, hdir: &Path, which: &str) {
    let config = hdir.join("sshd_config");
    let sshd_log = hdir.join("sshd.log");
    let conn_log: PathBuf = hdir.join("connections.log");
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept on {netns}: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&conn_log)
        {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let _ = writeln!(f, "{ms} {peer} {which}");
        }
        let fd: OwnedFd = stream.into();
        let Ok(fd_out) = fd.try_clone() else { continue };
        // `ip netns exec` gives the child a mount namespace of its own: the host's private
        // /root is bound there, so each host has its own home (and rc files) like a machine.
        let spawned = Process::new("ip")
            .args(["netns", "exec", netns, "/bin/sh", "-c"])
            .arg(r#"mount --bind "$1" /root && exec "$2" -i -f "$3" -E "$4""#)
            .arg("labdeck-lab-host")
            .arg(hdir.join("root"))
            .arg(SSHD)
            .arg(&config)
            .arg(&sshd_log)
            .stdin(Stdio::from(fd))
            .stdout(Stdio::from(fd_out))
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            eprintln!("cannot start sshd in {netns}: {e}");
        }
    }
}
