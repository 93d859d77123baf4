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
