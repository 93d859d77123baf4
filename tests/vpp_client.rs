//! VPP client tests against an in-process fake VPP over `tokio::io::duplex`: handshake and
//! message table, routing by context (pipelined, out of order, frames split and merged),
//! events, dumps and gets, timeouts (paused clock), end of stream, and disconnect.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use labdeck::vpp::frame::{FrameReader, encode_frame};
use labdeck::vpp::{ApiDefinitions, ClientConfig, ClientError, VppClient};
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

fn defs() -> Arc<ApiDefinitions> {
    static DEFS: OnceLock<Arc<ApiDefinitions>> = OnceLock::new();
    Arc::clone(DEFS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vpp-api/core");
        Arc::new(ApiDefinitions::load_dir(&dir).expect("core definitions load"))
    }))
}

const CLIENT_INDEX: u32 = 0x8000_0007;

/// The VPP side of a duplex stream, built on labdeck's own codec.
struct FakeVpp {
    reader: FrameReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    ids: HashMap<String, u16>,
    names: HashMap<u16, String>,
}

impl FakeVpp {
    /// Ids: memclnt's fixed ones, the rest from 500 upwards; `missing` left out of the table.
    fn new(stream: DuplexStream, missing: &[&str]) -> Self {
        let (read_half, write_half) = tokio::io::split(stream);
        let fixed = [
            ("sockclnt_create", 15),
            ("sockclnt_create_reply", 16),
            ("sockclnt_delete", 17),
            ("sockclnt_delete_reply", 18),
            ("control_ping", 23),
            ("control_ping_reply", 24),
        ];
        let mut ids: HashMap<String, u16> =
            fixed.iter().map(|(n, i)| (n.to_string(), *i)).collect();
        let mut next = 500u16;
        for name in defs().message_names() {
            if !ids.contains_key(name) && !missing.contains(&name) {
                ids.insert(name.to_string(), next);
                next += 1;
            }
        }
        let names = ids.iter().map(|(n, i)| (*i, n.clone())).collect();
        Self {
            reader: FrameReader::new(read_half, 1 << 24),
            writer: write_half,
            ids,
            names,
        }
    }

    async fn next_request(&mut self) -> Option<(String, Value)> {
        let frame = self.reader.read_frame().await.expect("fake VPP read")?;
        let id = u16::from_be_bytes([frame[0], frame[1]]);
        let name = self
            .names
            .get(&id)
            .unwrap_or_else(|| panic!("client sent unknown id {id}"))
            .clone();
        let value = defs()
            .decode(&name, &frame)
            .expect("client sent a decodable request");
        Some((name, value))
    }

    /// A frame (junk in q and gc_mark, which the client must ignore).
    fn frame(&self, name: &str, value: Value) -> Vec<u8> {
        let body = defs()
            .encode(name, self.ids[name], &value)
            .expect("fake VPP encodes");
        let mut frame = encode_frame(&body).unwrap();
        frame[..8].copy_from_slice(&0x7f00_dead_beef_0000u64.to_be_bytes());
        frame[12..16].copy_from_slice(&0xffff_ffffu32.to_be_bytes());
        frame
    }

    async fn send(&mut self, name: &str, value: Value) {
        let frame = self.frame(name, value);
        self.writer.write_all(&frame).await.expect("fake VPP write");
    }

    async fn handshake(&mut self) {
        let (name, request) = self.next_request().await.expect("sockclnt_create");
        assert_eq!(name, "sockclnt_create");
        assert_eq!(request["name"], json!("labdeck-test"));
        let table: Vec<Value> = defs()
            .messages()
            .filter_map(|m| {
                self.ids
                    .get(&m.name)
                    .map(|id| json!({"index": id, "name": m.name_crc()}))
            })
            .collect();
        self.send(
            "sockclnt_create_reply",
            json!({"context": request["context"], "response": 0, "index": CLIENT_INDEX,
                   "message_table": table}),
        )
        .await;
    }
}

fn config() -> ClientConfig {
    ClientConfig {
        client_name: "labdeck-test".into(),
        request_timeout: Duration::from_secs(5),
        disconnect_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    }
}

async fn connect_with<Serve, Served>(
    missing: &'static [&'static str],
    serve: Serve,
) -> (
    VppClient,
    labdeck::vpp::Events,
    tokio::task::JoinHandle<Value>,
)
where
    Serve: FnOnce(FakeVpp) -> Served + Send + 'static,
    Served: std::future::Future<Output = Value> + Send + 'static,
{
    let (client_end, vpp_end) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut vpp = FakeVpp::new(vpp_end, missing);
        vpp.handshake().await;
        serve(vpp).await
    });
    let (client, events) = VppClient::connect(client_end, defs(), config())
        .await
        .expect("handshake");
    (client, events, server)
}

#[tokio::test]
async fn handshake_builds_the_id_table_and_fills_client_index() {
    let (client, _events, server) =
        connect_with(&["show_version"], |mut vpp: FakeVpp| async move {
            let (name, request) = vpp.next_request().await.unwrap();
            vpp.send(
                "control_ping_reply",
                json!({"context": request["context"], "client_index": CLIENT_INDEX}),
            )
            .await;
            json!({"name": name, "request": request})
        })
        .await;
    assert_eq!(client.client_index(), CLIENT_INDEX);
    assert_eq!(client.message_id("control_ping"), Some(23));
    assert_eq!(client.message_id("show_version"), None);
    assert_eq!(client.message_table().len(), 823);
    let err = client.call("show_version", &Value::Null).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::NotCallable { name_crc, .. } if name_crc == "show_version_51077d14"),
        "{err}"
    );
    let reply = client.ping().await.unwrap();
    assert_eq!(reply.name, "control_ping_reply");
    let seen = server.await.unwrap();
    assert_eq!(seen["name"], json!("control_ping"));
    assert_eq!(seen["request"]["client_index"], json!(CLIENT_INDEX));
    assert_eq!(
        Some(seen["request"]["context"].as_u64().unwrap() as u32),
        reply.context()
    );
    assert_ne!(reply.context(), Some(0));
}

#[tokio::test]
async fn pipelined_replies_route_by_context_across_split_and_merged_frames() {
    let (client, mut events, server) = connect_with(&[], |mut vpp: FakeVpp| async move {
        let mut contexts = Vec::new();
        for _ in 0..3 {
            let (name, request) = vpp.next_request().await.unwrap();
            contexts.push((name, request["context"].clone()));
        }
        // Reverse order, an event first, all in one buffer written one byte at a time.
        let mut burst = vpp.frame(
            "sw_interface_event",
            json!({"client_index": CLIENT_INDEX, "pid": 7, "sw_if_index": 3, "flags": 1}),
        );
        burst.extend(vpp.frame(
            "show_version_reply",
            json!({"context": contexts[2].1, "version": "fake"}),
        ));
        burst.extend(vpp.frame(
            "control_ping_reply",
            json!({"context": contexts[1].1, "vpe_pid": 2}),
        ));
        burst.extend(vpp.frame(
            "control_ping_reply",
            json!({"context": contexts[0].1, "vpe_pid": 1}),
        ));
        for byte in burst {
            vpp.writer.write_all(&[byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        json!(contexts.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())
    })
    .await;
    let first = client.send("control_ping", &Value::Null).await.unwrap();
    let second = client.send("control_ping", &Value::Null).await.unwrap();
    let third = client.send("show_version", &Value::Null).await.unwrap();
    let contexts = [first.context(), second.context(), third.context()];
    assert!(contexts[0] != contexts[1] && contexts[1] != contexts[2]);
    let version = third.wait().await.unwrap();
    let pong_two = second.wait().await.unwrap();
    let pong_one = first.wait().await.unwrap();
    assert_eq!(version.value["version"], json!("fake"));
    assert_eq!(version.context(), Some(contexts[2]));
    assert_eq!(pong_one.value["vpe_pid"], json!(1));
    assert_eq!(pong_two.value["vpe_pid"], json!(2));
    let event = events.recv().await.unwrap();
    assert_eq!(event.name, "sw_interface_event");
    assert_eq!(event.value["sw_if_index"], json!(3));
    assert_eq!(
        server.await.unwrap(),
        json!(["control_ping", "control_ping", "show_version"])
    );
}

#[tokio::test]
async fn dump_ends_at_control_ping_reply_with_the_same_context() {
    let (client, _events, server) = connect_with(&[], |mut vpp: FakeVpp| async move {
        let (dump, request) = vpp.next_request().await.unwrap();
        let (ping, ping_request) = vpp.next_request().await.unwrap();
        for index in [1, 2] {
            vpp.send(
                "sw_interface_details",
                json!({"context": request["context"], "sw_if_index": index, "interface_name": format!("loop{index}")}),
            )
            .await;
        }
        vpp.send("control_ping_reply", json!({"context": ping_request["context"]})).await;
        json!([dump, ping, request["context"] == ping_request["context"], request["sw_if_index"]])
    })
    .await;
    let details = client.dump("sw_interface_dump", &json!({})).await.unwrap();
    let names: Vec<&Value> = details.iter().map(|d| &d.value["interface_name"]).collect();
    assert_eq!(names, vec![&json!("loop1"), &json!("loop2")]);
    assert_eq!(
        server.await.unwrap(),
        json!(["sw_interface_dump", "control_ping", true, 0xffff_ffffu32])
    );
    let err = client.dump("control_ping", &json!({})).await.unwrap_err();
    assert!(matches!(err, ClientError::Usage { .. }), "{err}");
}

#[tokio::test]
async fn get_collects_stream_messages_until_the_reply() {
    let (client, _events, _server) = connect_with(&[], |mut vpp: FakeVpp| async move {
        let (_, request) = vpp.next_request().await.unwrap();
        for queue in [0, 1] {
            vpp.send(
                "sw_interface_tx_placement_details",
                json!({"context": request["context"], "queue_id": queue, "threads": [1, 2]}),
            )
            .await;
        }
        vpp.send(
            "sw_interface_tx_placement_get_reply",
            json!({"context": request["context"], "retval": -165, "cursor": 9}),
        )
        .await;
        Value::Null
    })
    .await;
    let (reply, details) = client
        .get("sw_interface_tx_placement_get", &json!({"sw_if_index": 1}))
        .await
        .unwrap();
    assert_eq!(reply.retval(), Some(-165));
    assert_eq!(reply.value["cursor"], json!(9));
    assert_eq!(details.len(), 2);
    assert_eq!(details[1].value["threads"], json!([1, 2]));
    assert_eq!(details[1].value["array_size"], json!(2));
}

#[tokio::test(start_paused = true)]
async fn silent_vpp_makes_requests_time_out() {
    let (client, _events, _server) = connect_with(&[], |mut vpp: FakeVpp| async move {
        while vpp.next_request().await.is_some() {}
        Value::Null
    })
    .await;
    let err = client.call("show_version", &Value::Null).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { request, timeout, .. }
            if request == "show_version" && *timeout == Duration::from_secs(5)),
        "{err}"
    );
    assert!(client.is_alive());
}

#[tokio::test(start_paused = true)]
async fn silent_vpp_makes_the_handshake_time_out() {
    let (client_end, vpp_end) = tokio::io::duplex(1 << 16);
    let err = VppClient::connect(client_end, defs(), config())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { request, .. } if request == "sockclnt_create"),
        "{err}"
    );
    drop(vpp_end);
}

#[tokio::test]
async fn handshake_with_nonzero_response_fails() {
    let (client_end, vpp_end) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut vpp = FakeVpp::new(vpp_end, &[]);
        let (_, request) = vpp.next_request().await.unwrap();
        vpp.send(
            "sockclnt_create_reply",
            json!({"context": request["context"], "response": -1}),
        )
        .await;
        vpp
    });
    let err = VppClient::connect(client_end, defs(), config())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Handshake(_)), "{err}");
    drop(server.await.unwrap());
}

#[tokio::test]
async fn end_of_stream_fails_pending_requests_and_marks_the_client_dead() {
    let (client, mut events, server) = connect_with(&[], |mut vpp: FakeVpp| async move {
        let (name, _) = vpp.next_request().await.unwrap();
        drop(vpp);
        json!(name)
    })
    .await;
    let err = client.call("show_version", &Value::Null).await.unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err}");
    assert_eq!(server.await.unwrap(), json!("show_version"));
    assert!(!client.is_alive());
    assert!(events.recv().await.is_none());
    let err = client.ping().await.unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err}");
    // Disconnecting a dead client only closes it.
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn disconnect_sends_sockclnt_delete_and_closes() {
    let (client, _events, server) = connect_with(&[], |mut vpp: FakeVpp| async move {
        let (name, request) = vpp.next_request().await.unwrap();
        vpp.send(
            "sockclnt_delete_reply",
            json!({"context": request["context"], "response": 1}),
        )
        .await;
        let after = vpp.next_request().await;
        json!({"name": name, "request": request, "eof": after.is_none()})
    })
    .await;
    client.disconnect().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen["name"], json!("sockclnt_delete"));
    assert_eq!(seen["request"]["client_index"], json!(CLIENT_INDEX));
    assert_eq!(seen["request"]["index"], json!(CLIENT_INDEX));
    assert_eq!(seen["eof"], json!(true));
}

#[tokio::test(start_paused = true)]
async fn disconnect_gives_up_after_its_short_timeout() {
    let (client, _events, server) = connect_with(&[], |mut vpp: FakeVpp| async move {
        let mut names = Vec::new();
        while let Some((name, _)) = vpp.next_request().await {
            names.push(name);
        }
        json!(names)
    })
    .await;
    let err = client.disconnect().await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { request, timeout, .. }
            if request == "sockclnt_delete" && *timeout == Duration::from_millis(300)),
        "{err}"
    );
    // The stream was closed anyway: the fake VPP saw end of stream after the delete.
    assert_eq!(server.await.unwrap(), json!(["sockclnt_delete"]));
}
