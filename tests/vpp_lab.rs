//! The VPP client cache and `labdeck vpp` against `tests/vpp/peer.py` (a VPP stand-in built on
//! vpp_papi 2.4.2): locally through the library, and on a real lab host over SSH
//! (`direct-streamlocal`) through the `labdeck` binary. Needs root and python3 with
//! vpp_papi 2.4.2 (`pip install vpp-papi==2.4.2`); fails, never skips, without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Lab, labdeck, text, wait_for};
use labdeck::engine::vpp::{DefinitionsSource, VppEngineError, VppSettings};
use labdeck::engine::{DisconnectTarget, EngineConfig, EngineHandle, Event};
use labdeck::pool::Pool;
use labdeck::transport::{Connection, Trust};
use labdeck::vpp::event::VppClientEventKind;
use labdeck::vpp::{
    ApiDefinitions, CacheError, CacheEvent, ClientCache, ClientConfig, ClientError, ClientKey,
    CrcCollections, RestartPlan, restart_vpp,
};
use serde_json::{Value, json};

const SOCKET: &str = "/run/vpp/api.sock";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The python3 that has vpp_papi (its absolute path: lab sessions have their own /root).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys, vpp_papi; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "this test needs python3 with vpp_papi 2.4.2 (pip install vpp-papi==2.4.2): {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

/// A peer kept running by a supervisor loop (optionally inside a network namespace): when the
/// peer dies, the loop removes the socket and starts a new one, until the `stop` file exists.
/// `restart.sh` (usable over SSH inside a lab host: it only needs `kill`) kills the current
/// peer and waits until it is gone. Dropping this stops the loop and the peer.
struct PeerScript {
    dir: PathBuf,
    socket: String,
    script: PathBuf,
    supervisor: Option<std::process::Child>,
}

impl PeerScript {
    fn new(dir: &Path, socket: &str, netns: Option<&str>) -> Self {
        let peer = manifest_dir().join("tests/vpp/peer.py");
        let enter = netns.map_or(String::new(), |ns| format!("ip netns exec {ns} "));
        let d = dir.display();
        let supervise = format!(
            r#"#!/bin/sh
rm -f {d}/fifo && mkfifo {d}/fifo
exec 3<>{d}/fifo
mkdir -p "$(dirname {socket})"
while [ ! -f {d}/stop ]; do
  rm -f {socket}
  {enter}{py} {peer} {socket} --stats {d}/clients <&3 >>{d}/peer.log 2>&1 &
  echo $! > {d}/peer.pid
  wait $!
done
"#,
            py = python(),
            peer = peer.display(),
        );
        std::fs::write(dir.join("supervise.sh"), supervise).expect("write script");
        let script = dir.join("restart.sh");
        let restart = format!(
            r#"#!/bin/sh
pid=$(cat {d}/peer.pid)
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
"#
        );
        std::fs::write(&script, restart).expect("write script");
        Self {
            dir: dir.to_path_buf(),
            socket: socket.into(),
            script,
            supervisor: None,
        }
    }

    fn wait_ready(&self) {
        assert!(
            wait_for(|| self.dir.join("clients").exists() && Path::new(&self.socket).exists()),
            "peer did not start: {}",
            std::fs::read_to_string(self.dir.join("peer.log")).unwrap_or_default()
        );
    }

    /// Starts the supervisor and waits until the peer listens.
    fn start(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("clients"));
        let _ = std::fs::remove_file(self.dir.join("stop"));
        let child = Command::new("sh")
            .arg(self.dir.join("supervise.sh"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sh");
        self.supervisor = Some(child);
        self.wait_ready();
    }

    /// Kills the peer here; the supervisor starts a new one; waits until it listens.
    fn restart(&self) {
        let _ = std::fs::remove_file(self.dir.join("clients"));
        let status = Command::new("sh").arg(&self.script).status().expect("sh");
        assert!(status.success());
        self.wait_ready();
    }

    fn clients(&self) -> u32 {
        std::fs::read_to_string(self.dir.join("clients"))
            .expect("stats file")
            .trim()
            .parse()
            .expect("a number")
    }

    /// Stops the supervisor, then kills the peer for good.
    fn kill(&mut self) {
        let _ = std::fs::write(self.dir.join("stop"), "");
        if let Some(mut child) = self.supervisor.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("peer.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

impl Drop for PeerScript {
    fn drop(&mut self) {
        self.kill();
        // The dead peer's socket file; the next peer would remove it anyway.
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn defs() -> Arc<ApiDefinitions> {
    Arc::new(ApiDefinitions::load_dir(&manifest_dir().join("tests/data/vpp-api/core")).unwrap())
}

fn config() -> ClientConfig {
    ClientConfig {
        client_name: "labdeck-cache-test".into(),
        // Generous: python on a busy machine; no test waits on a silent peer.
        request_timeout: Duration::from_secs(120),
        disconnect_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

fn drain(events: &mut tokio::sync::mpsc::UnboundedReceiver<CacheEvent>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(event) = events.try_recv() {
        let name = match event {
            CacheEvent::Connected { .. } => "connected",
            CacheEvent::Reused { .. } => "reused",
            CacheEvent::ConnectFailed { .. } => "connect-failed",
            CacheEvent::Disconnected { .. } => "disconnected",
            CacheEvent::Dead { .. } => "dead",
            CacheEvent::Reconnecting { .. } => "reconnecting",
            CacheEvent::VppEvent { .. } => "vpp-event",
            CacheEvent::RestartStarted { .. } => "restart-started",
            CacheEvent::RestartCommandDone { .. } => "restart-command-done",
            CacheEvent::RestartWaiting { .. } => "restart-waiting",
            CacheEvent::RestartReady { .. } => "restart-ready",
        };
        names.push(name.to_string());
    }
    names
}

// Multi-threaded: the test blocks while waiting for the peer, and the clients' reader tasks
// must keep running meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_connects_reuses_reconnects_and_restarts_without_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock").display().to_string();
    let mut peer = PeerScript::new(dir.path(), &socket, None);
    peer.start();
    assert_eq!(peer.clients(), 0);

    let cache = ClientCache::with_definitions(config(), defs());
    let mut events = cache.subscribe();
    let key = ClientKey {
        host: "localhost".into(),
        port: 0,
        socket: socket.clone(),
    };
    let transport = Connection::Local;

    // a call before any connect has no transport to use
    assert!(matches!(
        cache.ping(&key).await,
        Err(CacheError::NotConnected { .. })
    ));

    // connect, reuse (counted), one client on the peer
    let first = cache.connect(&key, &transport).await.unwrap();
    let again = cache.connect(&key, &transport).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    drop((first, again));
    assert_eq!(peer.clients(), 1);
    let version = cache.call(&key, "show_version", &json!({})).await.unwrap();
    assert_eq!(version.value["version"], json!("26.10-labdeck-peer"));
    let interfaces = cache
        .dump(&key, "sw_interface_dump", &json!({}))
        .await
        .unwrap();
    assert_eq!(interfaces.len(), 1);
    cache.ping(&key).await.unwrap();
    let stats = cache.stats(&key);
    assert_eq!((stats.connects, stats.reuses, stats.calls), (1, 4, 3));
    assert_eq!(cache.clients().len(), 1);
    assert_eq!(
        drain(&mut events),
        ["connected", "reused", "reused", "reused", "reused"]
    );

    // CRC check: the peer's table against a matching and a stale collection
    let crc = format!(
        "stale:\n  control_ping: '0xdeadbeef'\ncurrent:\n  control_ping: '{:#010x}'\n",
        defs().message("control_ping").unwrap().crc
    );
    let collections = CrcCollections::from_yaml_str(&crc, "t").unwrap();
    let report = cache.check_crcs(&key, &collections).unwrap();
    assert_eq!(report.matched.as_deref(), Some("current"));
    let stale =
        CrcCollections::from_yaml_str("stale:\n  control_ping: '0xdeadbeef'\n", "t").unwrap();
    let mismatch = cache.check_crcs(&key, &stale).unwrap_err();
    assert!(
        mismatch
            .to_string()
            .contains("control_ping: expected 0xdeadbeef, VPP has"),
        "{mismatch}"
    );

    // disconnect: sockclnt_delete reaches the peer; definitions are kept for the next connect
    assert!(cache.disconnect(&key).await);
    assert!(!cache.disconnect(&key).await);
    assert_eq!(peer.clients(), 0);
    assert!(cache.clients().is_empty());
    cache.ping(&key).await.unwrap();
    assert_eq!(peer.clients(), 1);
    assert_eq!(cache.definition_loads(), 1);
    assert_eq!(drain(&mut events), ["disconnected", "connected"]);

    // VPP dies and comes back: the next call reconnects once and succeeds
    peer.restart();
    assert!(
        wait_for(|| cache.clients().is_empty()),
        "dead client left the cache"
    );
    cache.ping(&key).await.unwrap();
    assert_eq!(peer.clients(), 1);
    assert_eq!(drain(&mut events), ["dead", "connected"]);

    // a client that dies under a call: reconnect once; the peer is gone, so an error
    let client = cache.client(&key).unwrap();
    // (the peer never answers create_vlan_subif: only its death ends this request)
    let pending = client
        .send(
            "create_vlan_subif",
            &json!({"sw_if_index": 0, "vlan_id": 7}),
        )
        .await
        .unwrap();
    peer.kill();
    assert!(matches!(pending.wait().await, Err(ClientError::Closed)));
    drop(client);
    let error = cache
        .call(&key, "show_version", &json!({}))
        .await
        .unwrap_err();
    // the one reconnect finds the socket gone, or the dying peer resetting the connection
    assert!(
        matches!(error, CacheError::Transport(_) | CacheError::Connect { .. }),
        "expected a failed reconnect, got {error}"
    );
    assert!(
        cache.clients().is_empty(),
        "a failed connect caches nothing"
    );

    // restart: the client connected before is connected again, none leaked
    peer.start();
    cache.ping(&key).await.unwrap();
    assert_eq!(peer.clients(), 1);
    drain(&mut events);
    let plan = RestartPlan {
        host: "localhost".into(),
        port: 0,
        command: format!("sh {}", peer.script.display()),
        sockets: vec![socket.clone()],
        command_timeout: Duration::from_secs(300),
        ready_deadline: Duration::from_secs(300),
        poll_interval: Duration::from_millis(50),
    };
    let restarted = restart_vpp(&cache, &transport, &plan).await.unwrap();
    assert_eq!(restarted.reconnected, vec![key.to_string()]);
    assert_eq!(peer.clients(), 1);
    cache.ping(&key).await.unwrap();
    let seen = drain(&mut events);
    assert_eq!(seen.first().map(String::as_str), Some("disconnected"));
    assert!(seen.contains(&"restart-started".to_string()), "{seen:?}");
    assert!(seen.contains(&"restart-ready".to_string()), "{seen:?}");

    assert_eq!(cache.disconnect_all().await, vec![key]);
    assert_eq!(peer.clients(), 0);
}

fn vpp(pool: &str, args: &[&str]) -> (i32, Value, String) {
    let api_dir = manifest_dir().join("tests/data/vpp-api/core");
    let mut argv = vec![
        "vpp",
        "--pool",
        pool,
        "--api-dir",
        api_dir.to_str().unwrap(),
        "--timeout",
        "600",
    ];
    argv.extend_from_slice(args);
    let out = labdeck(&argv);
    let stdout = text(&out.stdout);
    let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), value, text(&out.stderr))
}

#[test]
fn vpp_over_ssh_on_a_lab_host() {
    // the pool: h1 has the API socket and a restart command that restarts the peer (run
    // inside the host over SSH: it kills the peer, and the supervisor starts a new one)
    let (lab, _state, mut peer, baseline, pool_text) = lab_with_peer(SOCKET);
    assert!(pool_text.contains("vpp_api_sockets"), "{pool_text}");
    let pool = lab.dir.join("vpp-pool.toml");
    std::fs::write(&pool, pool_text).unwrap();
    let pool = pool.display().to_string();

    let (code, version, err) = vpp(&pool, &["h1", "call", "show_version", "{}"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(version["name"], json!("show_version_reply"));
    assert_eq!(version["reply"]["version"], json!("26.10-labdeck-peer"));

    // definitions copied from the machine over its SSH connection (the lab host sees this
    // checkout at the same path)
    let host_api_dir = manifest_dir().join("tests/data/vpp-api");
    let out = labdeck(&[
        "vpp",
        "--pool",
        &pool,
        "--host-api-dir",
        host_api_dir.to_str().unwrap(),
        "--timeout",
        "600",
        "h1",
        "call",
        "show_version",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let copied: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(copied["reply"]["version"], json!("26.10-labdeck-peer"));
    // definitions fetched from the peer itself with get_api_json (a memclnt bootstrap client)
    let out = labdeck(&[
        "vpp",
        "--pool",
        &pool,
        "--api-json",
        "--timeout",
        "600",
        "h1",
        "dump",
        "sw_interface_dump",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let fetched: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fetched[0]["interface_name"], json!("local0"));
    assert_eq!(peer.clients(), baseline, "the bootstrap client was deleted");
    let out = labdeck(&[
        "vpp",
        "--pool",
        &pool,
        "--host-api-dir",
        "/nonexistent/vpp/api",
        "h1",
        "call",
        "show_version",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot get the VPP API definitions of `h1`"),
        "{}",
        text(&out.stderr)
    );

    let (code, details, err) = vpp(&pool, &["h1", "dump", "sw_interface_dump", "{}"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(details[0]["interface_name"], json!("local0"));

    let (code, cli, err) = vpp(&pool, &["h1", "cli", "show interface"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cli["reply"], json!("local0 0\n"));

    let (code, clients, err) = vpp(&pool, &["clients"]);
    assert_eq!(code, 0, "{err}");
    let listed = clients["clients"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0]["key"].as_str().unwrap().ends_with(SOCKET),
        "{clients}"
    );

    let (code, disconnected, err) = vpp(&pool, &["disconnect", "--all"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(disconnected["disconnected"].as_array().unwrap().len(), 1);
    assert_eq!(peer.clients(), baseline);

    let (code, restarted, err) = vpp(&pool, &["h1", "restart"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        restarted["restart"]["reconnected"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{restarted}"
    );
    // reconnect after the restart
    let (code, _, err) = vpp(&pool, &["h1", "ping"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(peer.clients(), baseline, "a client leaked");

    // a missing socket is a clear error
    let (code, _, err) = vpp(&pool, &["--socket", "/run/vpp/nothing.sock", "h1", "ping"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no VPP API socket at /run/vpp/nothing.sock on"),
        "{err}"
    );

    // the peer killed during a call: an error, not a hang (the peer never answers
    // create_vlan_subif, so only the peer's death can end this call before --timeout 600)
    let api_dir = manifest_dir().join("tests/data/vpp-api/core");
    let child = Command::new(common::LABDECK)
        .args([
            "vpp",
            "--pool",
            &pool,
            "--api-dir",
            api_dir.to_str().unwrap(),
            "--timeout",
            "600",
            "h1",
            "call",
            "create_vlan_subif",
            "{\"sw_if_index\": 0, \"vlan_id\": 7}",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(|| peer.clients() == baseline + 1),
        "the call's client did not connect"
    );
    peer.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("no VPP API socket") || err.contains("closed"),
        "{err}"
    );
}

/// The engine's VPP event kinds seen so far, liveness pings left out.
fn vpp_kinds(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Vec<VppClientEventKind> {
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Vpp(e) = event
            && e.kind != VppClientEventKind::Ping
        {
            kinds.push(e.kind);
        }
    }
    kinds
}

// The engine test's own socket path: /run is shared by the lab namespaces, and the other lab
// test of this file runs its peer at SOCKET at the same time.
const ENGINE_SOCKET: &str = "/run/vpp/engine-api.sock";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_vpp_clients_on_a_lab_host() {
    use VppClientEventKind as K;
    let (lab, _state, peer, baseline, pool_text) = lab_with_peer(ENGINE_SOCKET);
    let pool_file = lab.dir.join("vpp-engine-pool.toml");
    let pool_text = format!("{pool_text}\n[machines.here]\ntransport = \"local\"\n");
    std::fs::write(&pool_file, pool_text).unwrap();
    let pool = Pool::load(&pool_file).unwrap();
    let engine = EngineHandle::spawn(
        pool.clone(),
        EngineConfig {
            trust: Trust {
                labdeck_known_hosts: pool.known_hosts.clone(),
                user_known_hosts: false,
                accept_new_hostkeys: false,
            },
            connect_timeout: Duration::from_secs(60),
            ..EngineConfig::default()
        },
    );
    engine
        .vpp_configure(VppSettings {
            definitions: DefinitionsSource::Dir(manifest_dir().join("tests/data/vpp-api/core")),
            client: config(),
            ping_every: Some(Duration::from_millis(100)),
            restart_deadline: Duration::from_secs(300),
            ..VppSettings::default()
        })
        .unwrap();
    let mut events = engine.subscribe().unwrap();

    // refusals before anything is connected
    let unknown = engine.vpp_call("h9", "show_version", json!({})).await;
    assert!(matches!(unknown, Err(VppEngineError::UnknownHost { .. })));
    let no_socket = engine.vpp_call("here", "show_version", json!({})).await;
    assert!(
        matches!(no_socket, Err(VppEngineError::NoSocket { .. })),
        "{no_socket:?}"
    );

    // calls through the engine: the machine's connection is opened for them
    let version = engine
        .vpp_call("h1", "show_version", json!({}))
        .await
        .unwrap();
    assert_eq!(version["version"], json!("26.10-labdeck-peer"));
    let details = engine
        .vpp_dump("h1", "sw_interface_dump", json!({}))
        .await
        .unwrap();
    assert_eq!(details[0]["interface_name"], json!("local0"));
    let output = engine.vpp_cli("h1", "show interface").await.unwrap();
    assert_eq!(output, "local0 0\n");
    assert_eq!(peer.clients(), baseline + 1);
    assert_eq!(vpp_kinds(&mut events), [K::Connected, K::Reused, K::Reused]);
    let clients = engine.vpp_clients().await.unwrap();
    assert_eq!(clients.len(), 1);
    assert!(clients[0].key.ends_with(ENGINE_SOCKET), "{clients:?}");
    assert_eq!(clients[0].stats.calls, 3);

    // the liveness ping reports a round trip
    loop {
        match events.recv().await.unwrap() {
            Event::Vpp(e) if e.kind == K::Ping => {
                assert!(e.latency.is_some(), "{e:?}");
                break;
            }
            _ => {}
        }
    }

    // disconnect-all, then a restart (a probe only: nothing was connected), then a call
    // reconnects; no client leaked
    assert_eq!(
        engine.vpp_disconnect(DisconnectTarget::All).await.unwrap(),
        1
    );
    assert_eq!(peer.clients(), baseline);
    assert!(engine.vpp_clients().await.unwrap().is_empty());
    let report = engine.vpp_restart("h1").await.unwrap();
    assert!(report.reconnected.is_empty(), "{report:?}");
    assert_eq!(peer.clients(), baseline);
    engine.vpp_cli("h1", "show version").await.unwrap();
    assert_eq!(peer.clients(), baseline + 1);
    let kinds = vpp_kinds(&mut events);
    assert_eq!(kinds.first(), Some(&K::Disconnected), "{kinds:?}");
    assert_eq!(kinds[1], K::RestartStarted, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&K::Connected), "{kinds:?}");
    assert!(kinds.contains(&K::RestartReady), "{kinds:?}");

    // a restart with a client connected reconnects it
    let report = engine.vpp_restart("h1").await.unwrap();
    assert_eq!(report.reconnected.len(), 1, "{report:?}");
    assert_eq!(peer.clients(), baseline + 1);
    engine
        .vpp_call("h1", "control_ping", json!({}))
        .await
        .unwrap();

    // disconnecting the machine disconnects its VPP client first (sockclnt_delete)
    engine
        .disconnect(DisconnectTarget::Host("h1".into()))
        .await
        .unwrap();
    assert!(wait_for(|| peer.clients() == baseline), "a client leaked");
    // the next call connects the machine again
    engine
        .vpp_call("h1", "control_ping", json!({}))
        .await
        .unwrap();
    assert_eq!(peer.clients(), baseline + 1);
    // so does shutdown
    engine.shutdown().await;
    assert!(
        wait_for(|| peer.clients() == baseline),
        "a client leaked at shutdown"
    );
}

/// A one-host lab whose h1 serves a supervised VPP peer at `socket` (restartable over SSH),
/// and the lab's pool text with h1's `vpp_api_sockets` and `vpp_restart_command` set.
fn lab_with_peer(socket: &str) -> (Lab, tempfile::TempDir, PeerScript, u32, String) {
    let lab = Lab::up(1, "line");
    let netns = lab.state()["hosts"][0]["netns"]
        .as_str()
        .unwrap()
        .to_string();
    let state = tempfile::tempdir().unwrap();
    let mut peer = PeerScript::new(state.path(), socket, Some(&netns));
    peer.start();
    let baseline = peer.clients();
    let pool_text = std::fs::read_to_string(lab.pool()).unwrap().replacen(
        "[machines.h1]\n",
        &format!(
            "[machines.h1]\nvpp_api_sockets = [\"{socket}\"]\nvpp_restart_command = \"sh {}\"\n",
            peer.script.display()
        ),
        1,
    );
    (lab, state, peer, baseline, pool_text)
}

const WALK_SOCKET: &str = "/run/vpp/walk-api.sock";

/// A recipe's VPP actions on a lab host through `labdeck run`: a call judged by a JSON
/// predicate on the reply, a VPP restart (clients disconnected first, reconnected after), a
/// call after it; no client is leaked when the run ends.
#[test]
fn walk_with_vpp_actions_on_a_lab_host() {
    let (lab, state, peer, baseline, pool_text) = lab_with_peer(WALK_SOCKET);
    let pool = lab.dir.join("vpp-walk-pool.toml");
    std::fs::write(&pool, pool_text).unwrap();
    let recipe = state.path().join("vpp-walk.toml");
    std::fs::write(
        &recipe,
        r#"name = "vpp-walk"
[hosts.dut]
[[actions]]
name = "loopback"
kind = "vpp_call"
role = "dut"
message = "create_loopback"
expect = { json = ".sw_if_index >= 1" }
[[actions]]
name = "restart"
kind = "vpp_restart"
role = "dut"
[[actions]]
name = "version"
kind = "vpp_call"
role = "dut"
message = "show_version"
expect = { json = ".version == '26.10-labdeck-peer'" }
"#,
    )
    .unwrap();
    let run_dir = state.path().join("run");
    let out = labdeck(&[
        "run",
        "--pool",
        pool.to_str().unwrap(),
        "--recipe",
        recipe.to_str().unwrap(),
        "--vpp-api-dir",
        manifest_dir().join("tests/data/vpp-api").to_str().unwrap(),
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    let trace = labdeck::walk::read_trace(run_dir.join("trace.jsonl")).unwrap();
    let steps: Vec<(String, String)> = trace
        .records
        .iter()
        .filter_map(|r| match r {
            labdeck::walk::TraceRecord::Step(s) => {
                Some((s.action.clone(), s.output_excerpt.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[1].1.contains("1 client(s) reconnected"), "{steps:?}");
    assert!(steps[2].1.contains("26.10-labdeck-peer"), "{steps:?}");
    // The restart really restarted the peer, and the run left no client behind.
    assert!(
        wait_for(|| peer.clients() == baseline),
        "clients leaked: {}",
        peer.clients()
    );
}
