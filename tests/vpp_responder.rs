//! The fast Rust responder (`labdeck::vpp::responder`) against both clients: labdeck's and the
//! reference vpp_papi 2.4.2 (python3; fails, never skips, without it). Both must handshake,
//! ping, get the version, pipeline and delete themselves; the responder's client count must
//! come back to zero.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use labdeck::vpp::responder::{RESPONDER_VERSION, Responder};
use labdeck::vpp::{ApiDefinitions, ClientConfig, VppClient};
use serde_json::{Value, json};

fn api_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vpp-api/core")
}

fn defs() -> Arc<ApiDefinitions> {
    Arc::new(ApiDefinitions::load_dir(&api_dir()).unwrap())
}

fn config() -> ClientConfig {
    ClientConfig {
        client_name: "responder-test".into(),
        request_timeout: Duration::from_secs(120),
        disconnect_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labdeck_client_against_the_responder() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let responder = Responder::bind(&defs(), &socket).unwrap();
    assert_eq!(
        responder.message_table().len(),
        defs().message_count(),
        "every message is announced"
    );

    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (client, _events) = VppClient::connect(stream, defs(), config()).await.unwrap();
    assert_eq!(client.client_index() & 0x8000_0000, 0x8000_0000);
    assert_eq!(responder.clients(), 1);
    let ping = client.ping().await.unwrap();
    assert_eq!(ping.value["client_index"], json!(client.client_index()));
    assert_eq!(ping.value["vpe_pid"], json!(std::process::id()));
    let version = client.call("show_version", &json!({})).await.unwrap();
    assert_eq!(version.value["version"], json!(RESPONDER_VERSION));
    let cli = client
        .call("cli_inband", &json!({"cmd": "show version"}))
        .await
        .unwrap();
    assert_eq!(cli.value["reply"], json!("labdeck responder\n"));

    // pipelined: every reply routed to its own request
    let mut pending = Vec::new();
    for _ in 0..1000 {
        pending.push(client.send("control_ping", &Value::Null).await.unwrap());
    }
    for p in pending {
        let context = p.context();
        assert_eq!(p.wait().await.unwrap().context(), Some(context));
    }
    // an old-style dump ends at the control_ping with its context (no details here)
    let details = client.dump("sw_interface_dump", &json!({})).await.unwrap();
    assert!(details.is_empty());

    // a second client gets another index
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (second, _) = VppClient::connect(stream, defs(), config()).await.unwrap();
    assert_ne!(second.client_index(), client.client_index());
    assert_eq!(responder.clients(), 2);

    client.disconnect().await.unwrap();
    second.disconnect().await.unwrap();
    for _ in 0..1000 {
        if responder.clients() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(responder.clients(), 0);
}

#[tokio::test]
async fn garbage_and_oversized_frames_close_or_are_ignored() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let responder = Responder::new(&defs()).unwrap();
    // unknown id, truncated body, then a frame over the limit: no reply, connection closed
    let (mut near, far) = tokio::io::duplex(1 << 16);
    let serving = tokio::spawn(async move { responder.serve(far).await });
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff]);
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 23, 1]);
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    near.write_all(&bytes).await.unwrap();
    let mut reply = Vec::new();
    near.read_to_end(&mut reply).await.unwrap();
    assert!(reply.is_empty(), "{reply:?}");
    serving.await.unwrap();
}

/// vpp_papi's own client connects, pings, asks the version and disconnects.
#[test]
fn vpp_papi_client_against_the_responder() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let responder = runtime.block_on(async { Responder::bind(&defs(), &socket).unwrap() });
    let script = r#"
import glob, json, os, sys
from vpp_papi.vpp_papi import VPPApiClient
files = sorted(glob.glob(os.path.join(sys.argv[2], "*.api.json")))
c = VPPApiClient(apifiles=files, use_socket=True, server_address=sys.argv[1], read_timeout=60)
c.connect("papi-responder-test")
ping = c.api.control_ping()
version = c.api.show_version()
cli = c.api.cli_inband(cmd="show version")
c.disconnect()
print(json.dumps({"ping_retval": ping.retval, "client_index": ping.client_index,
                  "version": version.version, "cli": cli.reply}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&socket)
        .arg(api_dir())
        .output()
        .expect("python3 runs (needs vpp_papi 2.4.2: pip install vpp-papi==2.4.2)");
    assert!(
        out.status.success(),
        "vpp_papi failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["ping_retval"], json!(0));
    assert_eq!(seen["client_index"], json!(0x8000_0000u32));
    assert_eq!(seen["version"], json!(RESPONDER_VERSION));
    assert_eq!(seen["cli"], json!("labdeck responder\n"));
    // vpp_papi deleted its client (the responder may still be finishing that connection)
    for _ in 0..1000 {
        if responder.clients() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(responder.clients(), 0);
    drop(responder);
}

/// The engine's VPP part on a local machine whose API socket is the responder's: calls,
/// events in order, liveness pings, disconnects, and shutdown deleting every client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_vpp_against_the_responder_on_a_local_machine() {
    use labdeck::engine::vpp::{DefinitionsSource, VppEngineError, VppSettings};
    use labdeck::engine::{DisconnectTarget, EngineConfig, EngineHandle, Event};
    use labdeck::pool::Pool;
    use labdeck::vpp::event::VppClientEventKind as K;

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let responder = Responder::bind(&defs(), &socket).unwrap();
    let pool = Pool::parse(
        std::path::Path::new("pool.toml"),
        &format!(
            "[machines.here]\ntransport = \"local\"\nvpp_api_sockets = [\"{}\"]\n\
             vpp_restart_command = \"exit 7\"\n\
             [machines.plain]\ntransport = \"local\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let engine = EngineHandle::spawn(pool, EngineConfig::default());
    engine
        .vpp_configure(VppSettings {
            definitions: DefinitionsSource::Dir(api_dir()),
            client: config(),
            ping_every: Some(Duration::from_millis(50)),
            ..VppSettings::default()
        })
        .unwrap();
    let mut events = engine.subscribe().unwrap();

    assert!(matches!(
        engine.vpp_call("plain", "control_ping", json!({})).await,
        Err(VppEngineError::NoSocket { .. })
    ));
    let version = engine
        .vpp_call("here", "show_version", json!({}))
        .await
        .unwrap();
    assert_eq!(version["version"], json!(RESPONDER_VERSION));
    assert_eq!(
        engine.vpp_cli("here", "show version").await.unwrap(),
        "labdeck responder\n"
    );
    assert!(
        engine
            .vpp_dump("here", "sw_interface_dump", json!({}))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(responder.clients(), 1);
    let clients = engine.vpp_clients().await.unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].stats.calls, 3);

    // events, in order, before each reply: connected, then reused twice (pings aside)
    let mut kinds = Vec::new();
    let mut pinged = false;
    while kinds.len() < 3 || !pinged {
        if let Event::Vpp(e) = events.recv().await.unwrap() {
            if e.kind == K::Ping {
                assert!(e.latency.is_some(), "{e:?}");
                pinged = true;
            } else {
                kinds.push(e.kind);
            }
        }
    }
    assert_eq!(kinds, [K::Connected, K::Reused, K::Reused]);

    // disconnect by key, by host, all
    let key = clients[0].key.clone();
    assert_eq!(
        engine
            .vpp_disconnect(DisconnectTarget::Key(key.clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(responder.clients(), 0);
    assert!(matches!(
        engine
            .vpp_disconnect(DisconnectTarget::Key("nonsense".into()))
            .await,
        Err(VppEngineError::UnknownKey(_))
    ));
    engine
        .vpp_call("here", "control_ping", json!({}))
        .await
        .unwrap();
    assert_eq!(
        engine
            .vpp_disconnect(DisconnectTarget::Host("here".into()))
            .await
            .unwrap(),
        1
    );
    engine
        .vpp_call("here", "control_ping", json!({}))
        .await
        .unwrap();
    assert_eq!(
        engine.vpp_disconnect(DisconnectTarget::All).await.unwrap(),
        1
    );
    assert_eq!(responder.clients(), 0);

    // a restart of a machine whose restart command fails is an error, and leaks nothing
    engine
        .vpp_call("here", "control_ping", json!({}))
        .await
        .unwrap();
    assert_eq!(responder.clients(), 1);
    let restart = engine.vpp_restart("here").await;
    assert!(
        matches!(restart, Err(VppEngineError::Restart(_))),
        "{restart:?}"
    );

    // shutdown deletes the clients
    engine
        .vpp_call("here", "control_ping", json!({}))
        .await
        .unwrap();
    assert_eq!(responder.clients(), 1);
    engine.shutdown().await;
    for _ in 0..1000 {
        if responder.clients() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(responder.clients(), 0);
}
