//! The lab: N hosts in Linux network namespaces, each served by a real OpenSSH `sshd`,
//! joined by veth test links in a chosen topology. Brought up and torn down by labdeck.
//!
//! Layout of a lab directory `D`: `lab.json` (the state: every namespace, port and file the
//! lab made), `pool.toml`, `known_hosts`, `id_ed25519` (the user key), `authorized_keys`,
//! `hosts/<h>/` (host key, sshd_config, sshd log, connection log, `root/`: the host's own
//! home, seen as `/root` by its sessions), `serve.log`.
//!
//! Each host is reached at `127.0.0.1:<port>`: a small listener daemon (`labdeck lab serve`,
//! see [`serve`]) accepts each connection in the root namespace and starts
//! `ip netns exec <ns> sshd -i` with the socket as its stdin and stdout, so every SSH
//! session runs inside the host's namespace and sees only that host's devices. The same
//! daemon also listens on port 22 inside each namespace, so a host is reachable from its
//! neighbours at its test-link addresses (`198.18.L.H:22`), e.g. as the target of a jump;
//! `known_hosts` lists each host's key for its loopback port and for each link address.
//!
//! Invariants: `lab.json` is written before any namespace is created and lists everything
//! to remove, so `lab down` can always undo a partial `lab up`; `lab down` is idempotent;
//! the lab uses only loopback in the root namespace and 198.18.0.0/15 (RFC 2544 benchmark
//! addresses) inside its own namespaces.

pub mod serve;

use crate::quote::quote;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

/// Where `sshd` lives on Debian; sshd -i must be started by absolute path.
pub const SSHD: &str = "/usr/sbin/sshd";
const STATE_FILE: &str = "lab.json";

/// Errors bringing a lab up or down.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LabError {
    #[error("the lab needs root (network namespaces and veth links)")]
    #[diagnostic(help("run labdeck lab as root, e.g. `sudo labdeck lab up`"))]
    NotRoot,
    #[error("`{tool}` is not installed")]
    #[diagnostic(help("install it: apt-get install {package}"))]
    MissingTool { tool: String, package: String },
    #[error("a lab already runs in {}", dir.display())]
    #[diagnostic(help("use it (`labdeck hosts --pool {}/pool.toml`), or take it down first with `labdeck lab down --dir {}`", dir.display(), dir.display()))]
    AlreadyRunning { dir: PathBuf },
    #[error("network namespace {name} already exists and is not this lab's")]
    #[diagnostic(help("remove it with `ip netns del {name}` if it is stale"))]
    NamespaceTaken { name: String },
    #[error("invalid lab: {0}")]
    #[diagnostic(help("use --hosts 1..=64 and --topology line|ring|star|pairs"))]
    Invalid(String),
    #[error("`{command}` failed: {stderr}")]
    Step { command: String, stderr: String },
    #[error("{0}")]
    Io(String),
    #[error("the lab's listener did not report its ports within 10 s; see {}", log.display())]
    ServeTimeout { log: PathBuf },
}

impl LabError {
    /// Usage and environment errors exit with 2, failures while building with 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            LabError::NotRoot
            | LabError::MissingTool { .. }
            | LabError::AlreadyRunning { .. }
            | LabError::NamespaceTaken { .. }
            | LabError::Invalid(_) => 2,
            _ => 1,
        }
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> LabError {
    LabError::Io(format!("{what} {}: {e}", path.display()))
}

/// How the hosts are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// h1–h2–h3–…–hN
    Line,
    /// a line closed by hN–h1
    Ring,
    /// h1 linked to every other host
    Star,
    /// h1–h2, h3–h4, …
    Pairs,
}

/// The links of a topology as pairs of 0-based host indexes, in link order.
pub fn topology_links(topology: Topology, hosts: usize) -> Vec<(usize, usize)> {
    match topology {
        Topology::Line => (1..hosts).map(|i| (i - 1, i)).collect(),
        Topology::Ring => {
            let mut links: Vec<_> = (1..hosts).map(|i| (i - 1, i)).collect();
            if hosts > 2 {
                links.push((hosts - 1, 0));
            }
            links
        }
        Topology::Star => (1..hosts).map(|i| (0, i)).collect(),
        Topology::Pairs => (0..hosts / 2).map(|i| (2 * i, 2 * i + 1)).collect(),
    }
}

/// The persisted description of a lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    pub version: u32,
    /// Short hash of the lab directory; prefixes every namespace name.
    pub tag: String,
    pub topology: Topology,
    pub hosts: Vec<LabHost>,
    pub links: Vec<LabLink>,
    /// Process group of the listener daemon (its pid; it leads its own session).
    pub serve_pid: Option<u32>,
    /// Files this lab created, relative to the lab directory, removed by `down`.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabHost {
    pub name: String,
    pub netns: String,
    pub port: Option<u16>,
    pub interfaces: Vec<LabInterface>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabInterface {
    pub name: String,
    pub hwaddr: String,
    pub network: String,
    pub ip4: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabLink {
    pub network: String,
    pub a: (String, String),
    pub b: (String, String),
}

/// Options of `labdeck lab up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub dir: PathBuf,
    pub hosts: usize,
    pub topology: Topology,
}

/// Checks that we are root and have the tools the lab needs.
pub fn preflight() -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        (SSHD, "openssh-server"),
        ("ssh-keygen", "openssh-client"),
    ] {
        if which(tool).is_none() {
            return Err(LabError::MissingTool {
                tool: tool.trim_start_matches("/usr/sbin/").into(),
                package: package.into(),
            });
        }
    }
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        return Path::new(tool).exists().then(|| PathBuf::from(tool));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// A stable 6-hex-digit tag for a lab directory.
pub fn dir_tag(dir: &Path) -> String {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:06x}", h & 0xff_ffff)
}

/// Absolute form of `dir` without requiring it to exist.
pub fn absolute_dir(dir: &Path) -> Result<PathBuf, LabError> {
    std::path::absolute(dir).map_err(|e| io_err("cannot resolve", dir, e))
}

/// Reads `lab.json` in `dir`, if any.
pub fn load_state(dir: &Path) -> Result<Option<LabState>, LabError> {
    let path = dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| LabError::Io(format!("{} is damaged: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("cannot read", &path, e)),
    }
}

fn save_state(dir: &Path, state: &LabState) -> Result<(), LabError> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(".lab.json.tmp");
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| LabError::Io(format!("cannot encode lab state: {e}")))?;
    std::fs::write(&tmp, text).map_err(|e| io_err("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io_err("cannot write", &path, e))
}

/// Runs a command, turning a non-zero exit into [`LabError::Step`].
fn run(program: &str, args: &[&str]) -> Result<String, LabError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Process::new(program)
        .args(args)
        .output()
        .map_err(|e| LabError::Step {
            command: command.clone(),
            stderr: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(LabError::Step {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn namespaces() -> Vec<String> {
    run("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn process_alive(pid: u32) -> bool {
    // A killed process can linger as a zombie until it is reaped; that is not alive.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Is any part of this lab still alive (listener or namespaces)?
pub fn is_running(state: &LabState) -> bool {
    let existing = namespaces();
    state.serve_pid.is_some_and(process_alive)
        || state.hosts.iter().any(|h| existing.contains(&h.netns))
}

/// Every namespace is there and every host has a port, but the listener is gone.
fn needs_repair(state: &LabState) -> bool {
    let existing = namespaces();
    !state.serve_pid.is_some_and(process_alive)
        && !state.hosts.is_empty()
        && state
            .hosts
            .iter()
            .all(|h| existing.contains(&h.netns) && h.port.is_some())
}

/// Brings a lab up (or repairs one whose listener died) and returns its state. On failure, everything made so far is removed.
pub fn up(opts: &UpOptions) -> Result<LabState, LabError> {
    preflight()?;
    if !(1..=64).contains(&opts.hosts) {
        return Err(LabError::Invalid(format!(
            "--hosts {} is out of range",
            opts.hosts
        )));
    }
    let dir = absolute_dir(&opts.dir)?;
    if let Some(mut old) = load_state(&dir)? {
        if needs_repair(&old) {
            // Namespaces and files are intact; only the listener died: restart it on the
            // same ports, so the pool and known_hosts stay valid.
            serve::start(&dir, &mut old)?;
            save_state(&dir, &old)?;
            wait_for_banners(&old)?;
            return Ok(old);
        }
        if is_running(&old) {
            return Err(LabError::AlreadyRunning { dir });
        }
        down(&dir)?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| io_err("cannot create", &dir, e))?;
    let tag = dir_tag(&dir);
    let existing = namespaces();
    let mut state = LabState {
        version: 1,
        tag: tag.clone(),
        topology: opts.topology,
        hosts: (1..=opts.hosts)
            .map(|i| LabHost {
                name: format!("h{i}"),
                netns: format!("ld{tag}-h{i}"),
                port: None,
                interfaces: Vec::new(),
            })
            .collect(),
        links: Vec::new(),
        serve_pid: None,
        files: Vec::new(),
    };
    if let Some(h) = state.hosts.iter().find(|h| existing.contains(&h.netns)) {
        return Err(LabError::NamespaceTaken {
            name: h.netns.clone(),
        });
    }
    save_state(&dir, &state)?;
    match build(&dir, &mut state) {
        Ok(()) => Ok(state),
        Err(e) => {
            let _ = save_state(&dir, &state);
            let _ = down(&dir);
            Err(e)
        }
    }
}

fn build(dir: &Path, state: &mut LabState) -> Result<(), LabError> {
    let tag_bytes = u32::from_str_radix(&state.tag, 16).unwrap_or(0);
    // Files first, so that `down` knows about them even if a later step fails.
    for name in [
        "id_ed25519",
        "id_ed25519.pub",
        "authorized_keys",
        "known_hosts",
        "pool.toml",
        "serve.log",
        "ports.json",
        "hosts",
    ] {
        state.files.push(name.into());
    }
    save_state(dir, state)?;
    keygen(&dir.join("id_ed25519"), "labdeck-lab-user")?;
    let user_pub = read(&dir.join("id_ed25519.pub"))?;
    write(&dir.join("authorized_keys"), &user_pub)?;
    std::fs::create_dir_all("/run/sshd")
        .map_err(|e| io_err("cannot create", Path::new("/run/sshd"), e))?;

    for host in &state.hosts {
        let hdir = dir.join("hosts").join(&host.name);
        std::fs::create_dir_all(&hdir).map_err(|e| io_err("cannot create", &hdir, e))?;
        keygen(&hdir.join("ssh_host_ed25519_key"), &host.name)?;
        let home = hdir.join("root");
        std::fs::create_dir_all(&home).map_err(|e| io_err("cannot create", &home, e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err("cannot protect", &home, e))?;
        }
        let config = sshd_config(dir, &hdir);
        let config_path = hdir.join("sshd_config");
        write(&config_path, &config)?;
        let cfg = config_path.to_string_lossy().into_owned();
        run(SSHD, &["-t", "-f", &cfg])?;
    }

    for host in &state.hosts {
        run("ip", &["netns", "add", &host.netns])?;
        run("ip", &["-n", &host.netns, "link", "set", "lo", "up"])?;
    }
    save_state(dir, state)?;

    for (link_no, (a, b)) in topology_links(state.topology, state.hosts.len())
        .into_iter()
        .enumerate()
    {
        let network = format!("net{}", link_no + 1);
        let ends = [a, b].map(|h| {
            let host = &state.hosts[h];
            let ifname = format!("eth{}", host.interfaces.len() + 1);
            let hwaddr = format!(
                "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                (tag_bytes >> 16) & 0xff,
                (tag_bytes >> 8) & 0xff,
                tag_bytes & 0xff,
                h + 1,
                host.interfaces.len() + 1
            );
            let ip4 = format!("198.18.{}.{}/24", link_no + 1, h + 1);
            (h, ifname, hwaddr, ip4)
        });
        let [(ha, ifa, maca, _), (hb, ifb, macb, _)] = &ends;
        let (nsa, nsb) = (
            state.hosts[*ha].netns.clone(),
            state.hosts[*hb].netns.clone(),
        );
        run(
            "ip",
            &[
                "link", "add", ifa, "netns", &nsa, "address", maca, "type", "veth", "peer", "name",
                ifb, "netns", &nsb, "address", macb,
            ],
        )?;
        for (h, ifname, hwaddr, ip4) in &ends {
            let ns = &state.hosts[*h].netns;
            run("ip", &["-n", ns, "addr", "add", ip4, "dev", ifname])?;
            run("ip", &["-n", ns, "link", "set", ifname, "up"])?;
            state.hosts[*h].interfaces.push(LabInterface {
                name: ifname.clone(),
                hwaddr: hwaddr.clone(),
                network: network.clone(),
                ip4: ip4.clone(),
            });
        }
        state.links.push(LabLink {
            network,
            a: (state.hosts[*ha].name.clone(), ifa.clone()),
            b: (state.hosts[*hb].name.clone(), ifb.clone()),
        });
    }
    save_state(dir, state)?;

    let ports = serve::start(dir, state)?;
    for (host, port) in state.hosts.iter_mut().zip(ports) {
        host.port = Some(port);
    }
    save_state(dir, state)?;

    let mut known_hosts = String::new();
    for host in &state.hosts {
        let key = read(
            &dir.join("hosts")
                .join(&host.name)
                .join("ssh_host_ed25519_key.pub"),
        )?;
        let mut fields = key.split_whitespace();
        let (Some(kind), Some(b64)) = (fields.next(), fields.next()) else {
            return Err(LabError::Io(format!(
                "host key of {} is unreadable",
                host.name
            )));
        };
        let _ = writeln!(
            known_hosts,
            "[127.0.0.1]:{} {kind} {b64}",
            host.port.unwrap_or(0)
        );
        // Port 22 on each test-link address, for connections through another host.
        for iface in &host.interfaces {
            let ip = iface.ip4.split('/').next().unwrap_or(&iface.ip4);
            let _ = writeln!(known_hosts, "{ip} {kind} {b64}");
        }
    }
    write(&dir.join("known_hosts"), &known_hosts)?;
    write(&dir.join("pool.toml"), &pool_toml(state))?;
    wait_for_banners(state)
}

fn sshd_config(dir: &Path, hdir: &Path) -> String {
    format!(
        "# labdeck lab host: started as `sshd -i` inside the host's network namespace\n\
         HostKey {hostkey}\n\
         AuthorizedKeysFile {auth}\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PidFile none\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         AllowTcpForwarding yes\n\
         AllowStreamLocalForwarding yes\n\
         MaxSessions 10\n\
         LogLevel ERROR\n\
         Subsystem sftp internal-sftp\n",
        hostkey = hdir.join("ssh_host_ed25519_key").display(),
        auth = dir.join("authorized_keys").display(),
    )
}

/// The pool file that describes this lab.
pub fn pool_toml(state: &LabState) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Written by `labdeck lab up` ({} topology, {} hosts). Paths are relative to this file.\n\
         known_hosts = \"known_hosts\"\n\n[defaults]\nuser = \"root\"\nidentity = \"id_ed25519\"",
        serde_json::to_value(state.topology)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        state.hosts.len()
    );
    for host in &state.hosts {
        let _ = writeln!(
            s,
            "\n[machines.{}]\naddress = \"127.0.0.1\"\nport = {}\nproperties = {{ lab = \"labdeck\", netns = \"{}\", arch = \"{}\" }}",
            host.name,
            host.port.unwrap_or(0),
            host.netns,
            std::env::consts::ARCH
        );
        for iface in &host.interfaces {
            let _ = writeln!(
                s,
                "[[machines.{}.interfaces]]\nname = \"{}\"\nhwaddr = \"{}\"\nnetwork = \"{}\"\ndriver = \"veth\"\nproperties = {{ ip4 = \"{}\" }}",
                host.name, iface.name, iface.hwaddr, iface.network, iface.ip4
            );
        }
    }
    s
}

fn wait_for_banners(state: &LabState) -> Result<(), LabError> {
    use std::io::Read;
    for host in &state.hosts {
        let port = host.port.unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let banner = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                let mut buf = [0u8; 8];
                s.read_exact(&mut buf)?;
                Ok(buf)
            });
            match banner {
                Ok(buf) if buf.starts_with(b"SSH-2.0") => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                other => {
                    return Err(LabError::Io(format!(
                        "sshd of {} on port {port} does not answer ({other:?}); see {}",
                        host.name, "hosts/<h>/sshd.log"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn keygen(path: &Path, comment: &str) -> Result<(), LabError> {
    let p = path.to_string_lossy().into_owned();
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(format!("{p}.pub"));
    run(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", &p],
    )
    .map(|_| ())
}

fn read(path: &Path) -> Result<String, LabError> {
    std::fs::read_to_string(path).map_err(|e| io_err("cannot read", path, e))
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|e| io_err("cannot write", path, e))
}

/// What `lab down` removed.
#[derive(Debug, Default)]
pub struct DownReport {
    pub namespaces: Vec<String>,
    pub processes: usize,
    pub files: usize,
    pub had_lab: bool,
}

/// Removes every namespace, process and file of the lab in `dir`. Safe to run twice.
pub fn down(dir: &Path) -> Result<DownReport, LabError> {
    let dir = absolute_dir(dir)?;
    let mut report = DownReport::default();
    let Some(state) = load_state(&dir)? else {
        return Ok(report);
    };
    report.had_lab = true;
    if let Some(pid) = state.serve_pid.and_then(|p| i32::try_from(p).ok())
        && process_alive(pid as u32)
    {
        // SAFETY: signalling the listener's process group, which it leads (setsid).
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
        report.processes += 1;
    }
    let existing = namespaces();
    for host in state.hosts.iter().filter(|h| existing.contains(&h.netns)) {
        report.processes += kill_namespace_processes(&host.netns);
        run("ip", &["netns", "del", &host.netns])?;
        report.namespaces.push(host.netns.clone());
    }
    for file in &state.files {
        let path = dir.join(file);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if removed.is_ok() {
            report.files += 1;
        }
    }
    std::fs::remove_file(dir.join(STATE_FILE)).map_err(|e| io_err("cannot remove", &dir, e))?;
    let _ = std::fs::remove_dir(&dir);
    Ok(report)
}

/// Kills every process inside a namespace (TERM, then KILL); returns how many there were.
fn kill_namespace_processes(netns: &str) -> usize {
    let pids = |sig| -> Vec<i32> {
        let list: Vec<i32> = run("ip", &["netns", "pids", netns])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for pid in &list {
            // SAFETY: plain kill(2) on a pid read from the kernel's namespace list.
            unsafe {
                libc::kill(*pid, sig);
            }
        }
        list
    };
    let first = pids(libc::SIGTERM).len();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !pids(0).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids(libc::SIGKILL);
    first
}

/// A human summary of a lab's state, for `lab up` and `lab status`.
pub fn describe(dir: &Path, state: &LabState) -> String {
    let mut s = String::new();
    let existing = namespaces();
    let serve = state.serve_pid.is_some_and(process_alive);
    let _ = writeln!(
        s,
        "lab {} ({} topology) in {}: listener {}",
        state.tag,
        serde_json::to_value(state.topology)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        dir.display(),
        if serve { "running" } else { "NOT running" }
    );
    let _ = writeln!(
        s,
        "{:<6} {:<16} {:<7} {:<6} interfaces",
        "HOST", "NETNS", "PORT", "NS"
    );
    for h in &state.hosts {
        let ifaces: Vec<String> = h
            .interfaces
            .iter()
            .map(|i| format!("{}({} {})", i.name, i.network, i.ip4))
            .collect();
        let _ = writeln!(
            s,
            "{:<6} {:<16} {:<7} {:<6} {}",
            h.name,
            h.netns,
            h.port.map_or("-".into(), |p| p.to_string()),
            if existing.contains(&h.netns) {
                "up"
            } else {
                "gone"
            },
            ifaces.join(" ")
        );
    }
    let _ = writeln!(
        s,
        "pool: {}",
        quote(&dir.join("pool.toml").display().to_string())
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topologies_wire_the_expected_links() {
        assert_eq!(topology_links(Topology::Line, 3), vec![(0, 1), (1, 2)]);
        assert_eq!(
            topology_links(Topology::Ring, 4),
            vec![(0, 1), (1, 2), (2, 3), (3, 0)]
        );
        assert_eq!(topology_links(Topology::Ring, 2), vec![(0, 1)]);
        assert_eq!(
            topology_links(Topology::Star, 4),
            vec![(0, 1), (0, 2), (0, 3)]
        );
        assert_eq!(topology_links(Topology::Pairs, 5), vec![(0, 1), (2, 3)]);
        assert!(topology_links(Topology::Line, 1).is_empty());
    }

    #[test]
    fn dir_tag_is_stable_and_short() {
        let a = dir_tag(Path::new("/tmp/lab-a"));
        assert_eq!(a.len(), 6);
        assert_eq!(a, dir_tag(Path::new("/tmp/lab-a")));
        assert_ne!(a, dir_tag(Path::new("/tmp/lab-b")));
    }

    #[test]
    fn pool_toml_of_a_lab_loads() {
        let state = LabState {
            version: 1,
            tag: "abcdef".into(),
            topology: Topology::Line,
            hosts: vec![LabHost {
                name: "h1".into(),
                netns: "ldabcdef-h1".into(),
                port: Some(40000),
                interfaces: vec![LabInterface {
                    name: "eth1".into(),
                    hwaddr: "02:ab:cd:ef:01:01".into(),
                    network: "net1".into(),
                    ip4: "198.18.1.1/24".into(),
                }],
            }],
            links: vec![],
            serve_pid: None,
            files: vec![],
        };
        let pool = crate::pool::Pool::parse(Path::new("/x/pool.toml"), &pool_toml(&state))
            .expect("lab pool parses");
        let h1 = pool.machine("h1").expect("h1");
        assert_eq!(h1.interfaces[0].network.as_deref(), Some("net1"));
        assert_eq!(h1.properties["netns"], "ldabcdef-h1");
    }
}
