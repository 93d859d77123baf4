//! End-to-end test of the VPP client over a real unix socket against `tests/vpp/peer.py`, a
//! VPP stand-in that frames, handshakes and packs with vpp_papi 2.4.2's serializer. Fails
//! (never skips) when python3 or vpp_papi 2.4.2 is missing: `pip install vpp-papi==2.4.2`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use labdeck::vpp::{ApiDefinitions, ClientConfig, Message, VppClient};
use serde_json::{Value, json};
use tokio::net::UnixStream;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The running peer; dropping it closes its stdin (it exits) and kills it by pid.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Peer {
    fn spawn(socket: &Path, stats: &Path) -> Self {
        let mut child = Command::new("python3")
            .arg(manifest_dir().join("tests/vpp/peer.py"))
            .arg(socket)
            .arg("--stats")
            .arg(stats)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 ({e}); this test needs python3 with vpp_papi 2.4.2 (pip install vpp-papi==2.4.2)")
            });
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("read peer stdout");
        if line.trim() != "ready" {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!(
                "peer.py did not start (needs python3 with vpp_papi 2.4.2: pip install vpp-papi==2.4.2): {stderr}"
            );
        }
        Self { child, stdin }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_count(stats: &Path) -> u32 {
    std::fs::read_to_string(stats)
        .expect("peer writes its stats file")
        .trim()
        .parse()
        .expect("stats file holds a number")
}

fn config() -> ClientConfig {
    ClientConfig {
        client_name: "labdeck-peer-test".into(),
        // Generous: python on a busy CI machine; the tests never wait on a silent peer.
        request_timeout: Duration::from_secs(60),
        disconnect_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

async fn cli(client: &VppClient, command: &str) -> String {
    let reply = client
        .call("cli_inband", &json!({"cmd": command}))
        .await
        .expect("cli_inband");
    assert_eq!(reply.retval(), Some(0));
    reply.value["reply"]
        .as_str()
        .expect("reply text")
        .to_string()
}

fn field<'m>(message: &'m Message, name: &str) -> &'m Value {
    &message.value[name]
}

#[tokio::test]
async fn client_session_against_the_python_peer() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let stats = dir.path().join("clients");
    let _peer = Peer::spawn(&socket, &stats);
    assert_eq!(client_count(&stats), 0);
    let defs = Arc::new(
        ApiDefinitions::load_dir(&manifest_dir().join("tests/data/vpp-api/core")).unwrap(),
    );

    let stream = UnixStream::connect(&socket).await.unwrap();
    let (client, mut events) = VppClient::connect(stream, Arc::clone(&defs), config())
        .await
        .unwrap();
    assert_eq!(client.client_index() & 0x8000_0000, 0x8000_0000);
    assert_eq!(client.message_table().len(), 824);
    assert_eq!(client_count(&stats), 1);

    // ping, version, cli
    let pong = client.ping().await.unwrap();
    assert_eq!(pong.name, "control_ping_reply");
    assert_eq!(field(&pong, "client_index"), &json!(client.client_index()));
    let version = client.call("show_version", &Value::Null).await.unwrap();
    assert_eq!(field(&version, "version"), &json!("26.10-labdeck-peer"));
    assert_eq!(cli(&client, "show clients").await, "clients 1\n");
    assert_eq!(cli(&client, "show hardware").await, "peer: show hardware\n");

    // create an interface, then dump (old style, ended by control_ping)
    let created = client
        .call(
            "create_loopback",
            &json!({"mac_address": "02:00:00:00:00:2a"}),
        )
        .await
        .unwrap();
    assert_eq!(created.retval(), Some(0));
    let sw_if_index = field(&created, "sw_if_index").as_u64().unwrap();
    let interfaces = client.dump("sw_interface_dump", &json!({})).await.unwrap();
    let names: Vec<&Value> = interfaces
        .iter()
        .map(|i| field(i, "interface_name"))
        .collect();
    assert_eq!(names, vec![&json!("local0"), &json!("loop0")]);
    assert_eq!(
        field(&interfaces[1], "l2_address"),
        &json!([2, 0, 0, 0, 0, 0x2a])
    );
    assert_eq!(field(&interfaces[1], "sw_if_index"), &json!(sw_if_index));
    let only_loop = client
        .dump("sw_interface_dump", &json!({"sw_if_index": sw_if_index}))
        .await
        .unwrap();
    assert_eq!(only_loop.len(), 1);

    // events: subscribe, change flags, receive the context-less event
    let subscribed = client
        .call(
            "want_interface_events",
            &json!({"enable_disable": 1, "pid": std::process::id()}),
        )
        .await
        .unwrap();
    assert_eq!(subscribed.retval(), Some(0));
    let set = client
        .call(
            "sw_interface_set_flags",
            &json!({"sw_if_index": sw_if_index, "flags": "IF_STATUS_API_FLAG_ADMIN_UP"}),
        )
        .await
        .unwrap();
    assert_eq!(set.name, "sw_interface_set_flags_reply");
    assert_eq!(set.retval(), Some(0));
    let event = events.recv().await.expect("interface event");
    assert_eq!(event.name, "sw_interface_event");
    assert_eq!(field(&event, "sw_if_index"), &json!(sw_if_index));
    assert_eq!(field(&event, "flags"), &json!(1));
    assert_eq!(field(&event, "pid"), &json!(std::process::id()));

    // pipelining: many requests in flight, replies matched by context
    let mut pending = Vec::new();
    for _ in 0..200 {
        pending.push(client.send("control_ping", &Value::Null).await.unwrap());
    }
    for request in pending {
        let context = request.context();
        let reply = request.wait().await.unwrap();
        assert_eq!(reply.context(), Some(context));
    }
    // concurrent calls from one client
    let no_filter = json!({});
    let (dumped, pinged, said) = tokio::join!(
        client.dump("sw_interface_dump", &no_filter),
        client.ping(),
        cli(&client, "show interface"),
    );
    assert_eq!(dumped.unwrap().len(), 2);
    assert_eq!(pinged.unwrap().retval(), Some(0));
    assert_eq!(said, "local0 0\nloop0 1\n");

    // disconnect: sockclnt_delete, the peer forgets the client before replying
    client.disconnect().await.unwrap();
    assert_eq!(client_count(&stats), 0);
    assert!(events.recv().await.is_none());

    // a new client is counted alone
    let stream = UnixStream::connect(&socket).await.unwrap();
    let (second, _events) = VppClient::connect(stream, defs, config()).await.unwrap();
    assert_eq!(cli(&second, "show clients").await, "clients 1\n");
    second.disconnect().await.unwrap();
    assert_eq!(client_count(&stats), 0);
}
