//! Pure-Rust tests of the VPP definitions loader and codec: the live byte examples from
//! `vpp-protocol.md`, a round trip of every core message, error reporting, union annotation
//! styles, and property tests that hostile bytes or definitions never cause a panic.

use std::path::PathBuf;
use std::sync::OnceLock;

use labdeck::vpp::{ApiDefinitions, CodecError, DefinitionsBuilder, ServiceKind, peek_msg_id};
use proptest::prelude::*;
use serde_json::{Value, json};

fn core_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/vpp-api/core")
}

fn core() -> &'static ApiDefinitions {
    static DEFS: OnceLock<ApiDefinitions> = OnceLock::new();
    DEFS.get_or_init(|| ApiDefinitions::load_dir(&core_dir()).expect("core definitions load"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn core_definitions_load_completely() {
    let defs = core();
    assert_eq!(defs.message_count(), 824);
    assert_eq!(defs.modules().len(), 53);
    assert!(defs.conflicts().is_empty(), "{:?}", defs.conflicts());
    let ping = defs
        .message_by_name_crc("control_ping_51077d14")
        .expect("name_crc lookup");
    assert_eq!(ping.name, "control_ping");
    assert_eq!(ping.module, "memclnt");
    assert_eq!(defs.name_crc_table().len(), 824);
    assert_eq!(
        defs.message("sockclnt_create_reply").unwrap().name_crc(),
        "sockclnt_create_reply_35166268"
    );
    assert!(defs.message("memclnt_create").unwrap().is_deprecated());
}

#[test]
fn services_are_classified() {
    let defs = core();
    assert_eq!(
        defs.service("control_ping").unwrap().kind(),
        ServiceKind::Simple
    );
    assert_eq!(
        defs.service("sw_interface_dump").unwrap().kind(),
        ServiceKind::Dump
    );
    let get = defs.service("sw_interface_tx_placement_get").unwrap();
    assert_eq!(get.kind(), ServiceKind::Get);
    assert_eq!(
        get.stream_msg.as_deref(),
        Some("sw_interface_tx_placement_details")
    );
    let events = defs.service("want_interface_events").unwrap();
    assert_eq!(events.kind(), ServiceKind::Subscription);
    assert_eq!(events.events, vec!["sw_interface_event".to_string()]);
    let no_reply = defs
        .services()
        .filter(|s| s.kind() == ServiceKind::NoReply)
        .count();
    assert_eq!(no_reply, 4);
}

#[test]
fn context_offset_comes_from_the_definition() {
    let defs = core();
    let offset = |name: &str| defs.message(name).unwrap().context_offset();
    assert_eq!(offset("control_ping"), Some(6));
    assert_eq!(offset("control_ping_reply"), Some(2));
    assert_eq!(offset("sockclnt_create"), Some(2));
    assert_eq!(offset("sockclnt_create_reply"), Some(6));
    assert_eq!(offset("sw_interface_tx_placement_details"), Some(6));
    assert_eq!(offset("sw_interface_event"), None);
}

#[test]
fn control_ping_matches_live_bytes() {
    let defs = core();
    let bytes = defs
        .encode(
            "control_ping",
            23,
            &json!({"client_index": 0x8000_0001u32, "context": 0x0102_0304}),
        )
        .unwrap();
    assert_eq!(bytes, unhex("00 17 80 00 00 01 01 02 03 04"));

    let reply = unhex("00 18 01 02 03 04 00 00 00 00 80 00 00 01 00 00 10 f6");
    let message = defs.message("control_ping_reply").unwrap();
    assert_eq!(message.read_context(&reply), Some(0x0102_0304));
    assert_eq!(peek_msg_id(&reply), Some(0x18));
    assert_eq!(
        message.decode(&reply).unwrap(),
        json!({"_vl_msg_id": 24, "context": 0x0102_0304, "retval": 0,
               "client_index": 0x8000_0001u32, "vpe_pid": 0x10f6})
    );
}

#[test]
fn sockclnt_create_matches_live_bytes() {
    let bytes = core()
        .encode(
            "sockclnt_create",
            15,
            &json!({"context": 0x7c, "name": "raw_probe"}),
        )
        .unwrap();
    assert_eq!(bytes.len(), 70);
    let mut expected = unhex("00 0f 00 00 00 7c");
    expected.extend_from_slice(b"raw_probe");
    expected.resize(70, 0);
    assert_eq!(bytes, expected);
}

#[test]
fn sockclnt_delete_matches_live_bytes() {
    let defs = core();
    let request = defs
        .encode(
            "sockclnt_delete",
            17,
            &json!({"client_index": 0x8000_0001u32, "context": 0x4d, "index": 0x8000_0001u32}),
        )
        .unwrap();
    assert_eq!(request, unhex("00 11 80 00 00 01 00 00 00 4d 80 00 00 01"));
    let reply = defs
        .decode(
            "sockclnt_delete_reply",
            &unhex("00 12 00 00 00 4d 00 00 00 01"),
        )
        .unwrap();
    assert_eq!(
        reply,
        json!({"_vl_msg_id": 18, "context": 0x4d, "response": 1})
    );
}

#[test]
fn cli_inband_matches_live_bytes() {
    let bytes = core()
        .encode(
            "cli_inband",
            0x5a,
            &json!({"client_index": 0x8000_0001u32, "context": 9, "cmd": "show version"}),
        )
        .unwrap();
    let mut expected = unhex("00 5a 80 00 00 01 00 00 00 09 00 00 00 0c");
    expected.extend_from_slice(b"show version");
    assert_eq!(bytes, expected);
}

#[test]
fn every_message_round_trips_its_default_value() {
    let defs = core();
    let mut checked = 0;
    for message in defs.messages() {
        let first = message
            .encode(0x1234, &json!({}))
            .unwrap_or_else(|e| panic!("{}: encoding the default failed: {e}", message.name));
        let expected_len = message.body.fixed_size.unwrap_or(message.body.min_size);
        assert_eq!(first.len(), expected_len, "{}", message.name);
        assert_eq!(peek_msg_id(&first), Some(0x1234));
        let (decoded, used) = message.decode_prefix(&first).unwrap();
        assert_eq!(used, first.len(), "{}", message.name);
        assert_eq!(decoded["_vl_msg_id"], json!(0x1234), "{}", message.name);
        let second = message.encode(0x1234, &decoded).unwrap();
        assert_eq!(hex(&first), hex(&second), "{}", message.name);
        assert_eq!(
            message.decode(&second).unwrap(),
            decoded,
            "{}",
            message.name
        );
        checked += 1;
    }
    assert_eq!(checked, 824);
}

#[test]
fn defaults_apply_only_to_missing_fields() {
    let defs = core();
    let dump = defs
        .decode(
            "sw_interface_dump",
            &defs.encode("sw_interface_dump", 1, &json!({})).unwrap(),
        )
        .unwrap();
    assert_eq!(dump["sw_if_index"], json!(0xffff_ffffu32));
    let given = defs
        .encode("sw_interface_dump", 1, &json!({"sw_if_index": 3}))
        .unwrap();
    assert_eq!(
        defs.decode("sw_interface_dump", &given).unwrap()["sw_if_index"],
        json!(3)
    );
    // {"default": "true"} on a bool
    let table = defs.encode("ip_table_add_del", 1, &json!({})).unwrap();
    assert_eq!(
        defs.decode("ip_table_add_del", &table).unwrap()["is_add"],
        json!(true)
    );
    // f64 default 1.0, host byte order
    let f64_message = defs.encode("get_f64_endian_value", 1, &json!({})).unwrap();
    assert_eq!(&f64_message[10..18], &1.0f64.to_ne_bytes());
    // a field without a default is zero even when its alias has a default elsewhere
    let details = defs.encode("sw_interface_details", 1, &json!({})).unwrap();
    assert_eq!(
        defs.decode("sw_interface_details", &details).unwrap()["sw_if_index"],
        json!(0)
    );
}

#[test]
fn variable_array_length_is_filled_or_checked() {
    let defs = core();
    let table = json!([{"index": 23, "name": "control_ping_51077d14"}, {"index": 24, "name": "x"}]);
    let filled = defs
        .encode(
            "sockclnt_create_reply",
            16,
            &json!({"message_table": table}),
        )
        .unwrap();
    let decoded = defs.decode("sockclnt_create_reply", &filled).unwrap();
    assert_eq!(decoded["count"], json!(2));
    assert_eq!(decoded["message_table"], table);

    let err = defs
        .encode(
            "sockclnt_create_reply",
            16,
            &json!({"count": 3, "message_table": table}),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::LengthMismatch {
                declared: 3,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );

    // u8 variable array from a string, length field u32
    let mask = defs
        .encode("classify_add_del_table", 1, &json!({"mask": "ab"}))
        .unwrap();
    let decoded = defs.decode("classify_add_del_table", &mask).unwrap();
    assert_eq!(decoded["mask_len"], json!(2));
    assert_eq!(decoded["mask"], json!([0x61, 0x62]));

    // a u8 length field cannot count 256 elements
    let paths: Vec<Value> = (0..256).map(|_| json!({})).collect();
    let err = defs
        .encode("ip_route_add_del", 1, &json!({"route": {"paths": paths}}))
        .unwrap_err();
    assert!(
        matches!(err, CodecError::ArrayTooLong { max: 255, .. }),
        "{err}"
    );
}

#[test]
fn address_text_forms_match_object_forms() {
    let defs = core();
    let by_text = defs
        .encode(
            "sw_interface_add_del_address",
            1,
            &json!({"prefix": "2001:db8::1/64"}),
        )
        .unwrap();
    let mut ip6 = vec![0x20, 0x01, 0x0d, 0xb8];
    ip6.extend([0; 11]);
    ip6.push(1);
    let by_object = defs
        .encode(
            "sw_interface_add_del_address",
            1,
            &json!({"prefix": {"address": {"af": "ADDRESS_IP6", "un": {"ip6": ip6}}, "len": 64}}),
        )
        .unwrap();
    assert_eq!(hex(&by_text), hex(&by_object));

    let mac_text = defs
        .encode(
            "create_loopback",
            1,
            &json!({"mac_address": "de:ad:be:ef:00:01"}),
        )
        .unwrap();
    let mac_list = defs
        .encode(
            "create_loopback",
            1,
            &json!({"mac_address": [0xde, 0xad, 0xbe, 0xef, 0, 1]}),
        )
        .unwrap();
    assert_eq!(mac_text, mac_list);
    assert_eq!(&mac_text[10..16], &[0xde, 0xad, 0xbe, 0xef, 0, 1]);

    let err = defs
        .encode("create_loopback", 1, &json!({"mac_address": "de:ad"}))
        .unwrap_err();
    assert!(matches!(err, CodecError::WrongType { .. }), "{err}");
    let err = defs
        .encode(
            "sw_interface_add_del_address",
            1,
            &json!({"prefix": "10.0.0.0/33"}),
        )
        .unwrap_err();
    assert!(matches!(err, CodecError::OutOfRange { .. }), "{err}");
}

#[test]
fn discriminator_is_implied_by_a_single_arm_and_checked() {
    let defs = core();
    let ip6 = json!([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    let bytes = defs
        .encode(
            "ip_neighbor_add_del",
            1,
            &json!({"neighbor": {"ip_address": {"un": {"ip6": ip6}}}}),
        )
        .unwrap();
    let decoded = defs.decode("ip_neighbor_add_del", &bytes).unwrap();
    assert_eq!(decoded["neighbor"]["ip_address"]["af"], json!(1));
    assert_eq!(decoded["neighbor"]["ip_address"]["un"]["ip6"], ip6);
    // every arm is decoded from the same bytes
    assert_eq!(
        decoded["neighbor"]["ip_address"]["un"]["ip4"],
        json!([0x20, 1, 0x0d, 0xb8])
    );

    let err = defs
        .encode(
            "ip_neighbor_add_del",
            1,
            &json!({"neighbor": {"ip_address": {"af": "ADDRESS_IP4", "un": {"ip6": ip6}}}}),
        )
        .unwrap_err();
    assert!(matches!(err, CodecError::Union { .. }), "{err}");

    let err = defs
        .encode(
            "ip_neighbor_add_del",
            1,
            &json!({"neighbor": {"ip_address": {"af": 0, "un": {"ip4": [1, 2, 3, 4], "ip6": ip6}}}}),
        )
        .unwrap_err();
    assert!(matches!(err, CodecError::Union { .. }), "{err}");
}

#[test]
fn errors_name_the_field_and_suggest() {
    let defs = core();
    let err = defs.encode("control_pong", 1, &json!({})).unwrap_err();
    assert_eq!(
        err,
        CodecError::UnknownMessage {
            name: "control_pong".into(),
            suggestion: Some("control_ping".into())
        }
    );
    let err = defs
        .encode("control_ping", 1, &json!({"contxt": 1}))
        .unwrap_err();
    assert!(err.to_string().contains("did you mean `context`"), "{err}");
    let err = defs
        .encode(
            "sw_interface_set_flags",
            1,
            &json!({"flags": "IF_STATUS_API_FLAG_ADMIN_UPP"}),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("IF_STATUS_API_FLAG_ADMIN_UP`?"),
        "{err}"
    );
    let err = defs
        .encode("control_ping", 1, &json!({"context": "one"}))
        .unwrap_err();
    assert!(
        matches!(err, CodecError::WrongType { ref path, .. } if path == "control_ping.context"),
        "{err}"
    );
    let err = defs
        .encode("control_ping", 1, &json!({"context": -1}))
        .unwrap_err();
    assert!(matches!(err, CodecError::OutOfRange { .. }), "{err}");
    let err = defs
        .encode(
            "classify_add_del_table",
            1,
            &json!({"current_data_offset": -40000}),
        )
        .unwrap_err();
    assert!(err.to_string().contains("current_data_offset"), "{err}");
    let err = defs
        .encode("sw_interface_details", 1, &json!({"mtu": [1, 2, 3, 4, 5]}))
        .unwrap_err();
    assert!(
        matches!(err, CodecError::ArrayTooLong { len: 5, max: 4, .. }),
        "{err}"
    );
    let err = defs
        .encode("sockclnt_create", 15, &json!({"name": "n".repeat(64)}))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::StringTooLong {
                len: 64,
                max: 63,
                ..
            }
        ),
        "{err}"
    );
    let err = defs
        .encode(
            "ip_route_add_del",
            1,
            &json!({"route": {"paths": [{"nh": {"address": {"ip5": []}}}]}}),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("ip_route_add_del.route.paths[0].nh.address"),
        "{err}"
    );
    assert!(err.to_string().contains("did you mean"), "{err}");
    let err = defs.encode("control_ping", 1, &json!([1])).unwrap_err();
    assert!(matches!(err, CodecError::WrongType { .. }), "{err}");
}

#[test]
fn hostile_lengths_are_errors_not_allocations() {
    let defs = core();
    // cli_inband_reply claiming a 4 GiB reply
    let mut bytes = unhex("00 5b 00 00 00 09 00 00 00 00 ff ff ff ff");
    bytes.extend_from_slice(b"abc");
    let err = defs.decode("cli_inband_reply", &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::Truncated {
                needed: 0xffff_ffff,
                available: 3,
                ..
            }
        ),
        "{err}"
    );
    // sockclnt_create_reply claiming 65535 table entries of 66 bytes
    let bytes = unhex("00 10 00 00 00 00 00 00 00 7c 00 00 00 00 80 00 00 01 ff ff 00 17");
    let err = defs.decode("sockclnt_create_reply", &bytes).unwrap_err();
    assert!(
        matches!(err, CodecError::Truncated { needed, .. } if needed == 65535 * 66),
        "{err}"
    );
    // empty input
    assert!(defs.decode("control_ping", &[]).is_err());
}

#[test]
fn non_finite_f64_round_trips_as_strings() {
    let defs = core();
    for text in ["NaN", "inf", "-inf"] {
        let bytes = defs
            .encode("get_f64_endian_value", 1, &json!({"f64_one": text}))
            .unwrap();
        let decoded = defs.decode("get_f64_endian_value", &bytes).unwrap();
        assert_eq!(decoded["f64_one"], json!(text));
    }
}

const OLD_STYLE_UNIONS: &str = r#"{
  "module": "old",
  "enums": [["address_family", ["ADDRESS_IP4", 0], ["ADDRESS_IP6", 1], {"enumtype": "u8"}]],
  "aliases": {"ip4_address": {"type": "u8", "length": 4}, "ip6_address": {"type": "u8", "length": 16}},
  "unions": [["address_union", ["vl_api_ip4_address_t", "ip4"], ["vl_api_ip6_address_t", "ip6"]]],
  "types": [["address", ["vl_api_address_family_t", "af"], ["vl_api_address_union_t", "un"]]],
  "messages": [["m", ["u16", "_vl_msg_id"], ["vl_api_address_t", "a"], {"crc": "0x01020304"}]],
  "services": {}
}"#;

const NEW_STYLE_UNIONS: &str = r#"{
  "module": "new",
  "enums": [["address_family", ["ADDRESS_IP4", 0], ["ADDRESS_IP6", 1], {"enumtype": "u8"}]],
  "aliases": {"ip4_address": {"type": "u8", "length": 4}, "ip6_address": {"type": "u8", "length": 16}},
  "unions": [["address_union", ["vl_api_ip4_address_t", "ip4", {"case": "ADDRESS_IP4"}],
                               ["vl_api_ip6_address_t", "ip6", {"case": "ADDRESS_IP6"}]]],
  "types": [["address", ["vl_api_address_family_t", "af"],
                        ["vl_api_address_union_t", "un", {"discriminator": "af"}]]],
  "messages": [["m", ["u16", "_vl_msg_id"], ["vl_api_address_t", "a"], {"crc": "0x01020304"}]],
  "services": {}
}"#;

#[test]
fn old_and_new_union_annotations_load_and_encode() {
    let old = ApiDefinitions::from_json_str(OLD_STYLE_UNIONS).unwrap();
    let new = ApiDefinitions::from_json_str(NEW_STYLE_UNIONS).unwrap();
    let labdeck::vpp::TypeRef::Union(old_union) = old.named_type("address_union").unwrap() else {
        panic!("not a union");
    };
    let labdeck::vpp::TypeRef::Union(new_union) = new.named_type("vl_api_address_union_t").unwrap()
    else {
        panic!("not a union");
    };
    assert_eq!(old_union.size, 16);
    assert_eq!(new_union.size, 16);
    assert_eq!(old_union.arm("ip6").unwrap().case, None);
    assert_eq!(
        new_union.arm("ip6").unwrap().case.as_deref(),
        Some("ADDRESS_IP6")
    );
    let field = &new.message("m").unwrap().fields()[1];
    assert!(field.ty.fixed_size() == Some(17));
    let labdeck::vpp::TypeRef::Struct(address) = &field.ty else {
        panic!("not a struct")
    };
    assert_eq!(
        address.field("un").unwrap().discriminator.as_deref(),
        Some("af")
    );

    let explicit = json!({"a": {"af": 1, "un": {"ip6": [1, 2, 3]}}});
    let old_bytes = old.encode("m", 7, &explicit).unwrap();
    let new_bytes = new.encode("m", 7, &explicit).unwrap();
    assert_eq!(old_bytes, new_bytes);
    let mut expected = vec![0, 7, 1, 1, 2, 3];
    expected.resize(19, 0);
    assert_eq!(old_bytes, expected);

    // Only the new style knows which discriminator value an arm implies.
    let implicit = json!({"a": {"un": {"ip6": [1, 2, 3]}}});
    assert_eq!(old.encode("m", 7, &implicit).unwrap()[2], 0);
    assert_eq!(new.encode("m", 7, &implicit).unwrap()[2], 1);
    assert_eq!(
        old.decode("m", &old_bytes).unwrap(),
        new.decode("m", &new_bytes).unwrap()
    );
}

#[test]
fn builder_combines_sources_and_keeps_first_definition() {
    let mut builder = DefinitionsBuilder::new();
    builder
        .add_file(&core_dir().join("memclnt.api.json"))
        .unwrap();
    builder
        .add_json_str(
            "get_api_json",
            &format!("[{NEW_STYLE_UNIONS}, {OLD_STYLE_UNIONS}]"),
        )
        .unwrap();
    let defs = builder.build().unwrap();
    assert!(defs.message("control_ping").is_some());
    assert!(defs.message("m").is_some());
    // the old file's union and type differ from the new ones (annotations): first one kept
    let kinds: Vec<&str> = defs.conflicts().iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec!["union", "type"]);
    assert!(
        defs.conflicts()
            .iter()
            .all(|c| c.ignored_origin == "get_api_json[1]")
    );
}

#[test]
fn load_dir_reports_missing_and_bad_files() {
    let empty = tempfile::tempdir().unwrap();
    let err = ApiDefinitions::load_dir(empty.path()).unwrap_err();
    assert!(err.to_string().contains("no .api.json files"), "{err}");
    std::fs::write(
        empty.path().join("bad.api.json"),
        "{\"messages\": [[\"m\", [\"u16\"]]]}",
    )
    .unwrap();
    let err = ApiDefinitions::load_dir(empty.path()).unwrap_err();
    assert!(err.to_string().contains("bad.api.json"), "{err}");
    assert!(ApiDefinitions::load_dir(&empty.path().join("missing")).is_err());
}

fn message_names() -> &'static Vec<String> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| core().message_names().map(str::to_string).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(index in 0usize..824, bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let message = core().message(&message_names()[index]).unwrap();
        if let Ok((_, used)) = message.decode_prefix(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn decoding_mutated_valid_messages_never_panics(
        index in 0usize..824,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
        extra in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let message = core().message(&message_names()[index]).unwrap();
        let mut bytes = message.encode(1, &json!({})).unwrap();
        bytes.extend_from_slice(&extra);
        for (position, value) in flips {
            let len = bytes.len();
            bytes[position % len] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        if let Ok((value, used)) = message.decode_prefix(&bytes) {
            prop_assert!(used <= bytes.len());
            prop_assert!(value.is_object());
        }
    }

    #[test]
    fn loading_mangled_definitions_never_panics(
        cut in any::<usize>(),
        replacements in proptest::collection::vec((any::<usize>(), prop::sample::select(vec!['0', '9', '[', ']', '{', '}', '"', ',', 'x'])), 0..4),
    ) {
        let mut text: Vec<char> = NEW_STYLE_UNIONS.chars().collect();
        for (position, replacement) in replacements {
            let len = text.len();
            text[position % len] = replacement;
        }
        text.truncate(cut % (text.len() + 1));
        let mangled: String = text.into_iter().collect();
        if let Ok(defs) = ApiDefinitions::from_json_str(&mangled) {
            for message in defs.messages() {
                if let Ok(bytes) = message.encode(1, &json!({})) {
                    prop_assert!(message.decode(&bytes).is_ok(), "{} does not decode its own default", message.name);
                }
            }
        }
    }
}
