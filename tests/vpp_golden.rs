//! Cross-checks labdeck's VPP codec against the reference implementation, vpp_papi 2.4.2.
//!
//! `tests/vpp/golden.py` loads the same in-repo definitions with vpp_papi's serializer and
//! computes every expected byte string at test time. The tests fail (never skip) when
//! `python3` or vpp_papi 2.4.2 is unavailable: `pip install vpp-papi==2.4.2`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use labdeck::vpp::ApiDefinitions;
use serde_json::{Value, json};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn core_dir() -> PathBuf {
    manifest_dir().join("tests/data/vpp-api/core")
}

fn core() -> ApiDefinitions {
    ApiDefinitions::load_dir(&core_dir()).expect("core definitions load")
}

/// Runs `golden.py <command> <core dir>` with `input` on stdin and parses its JSON output.
fn run_golden(command: &str, input: Option<&Value>) -> Value {
    let script = manifest_dir().join("tests/vpp/golden.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(command)
        .arg(core_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run python3 ({e}); the VPP golden tests need python3 with \
                 vpp_papi 2.4.2 (pip install vpp-papi==2.4.2)"
            )
        });
    {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        if let Some(input) = input {
            stdin
                .write_all(input.to_string().as_bytes())
                .expect("write golden.py stdin");
        }
    }
    let output = child.wait_with_output().expect("wait for golden.py");
    assert!(
        output.status.success(),
        "golden.py {command} failed ({}); the VPP golden tests need python3 with vpp_papi 2.4.2 \
         (pip install vpp-papi==2.4.2):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("golden.py prints JSON")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from golden.py"))
        .collect()
}

fn papi_decode(requests: Vec<Value>) -> Vec<Value> {
    let count = requests.len();
    let Value::Array(results) = run_golden("decode", Some(&Value::Array(requests))) else {
        panic!("golden.py decode did not return an array");
    };
    assert_eq!(results.len(), count);
    results
}

#[test]
fn golden_vectors_match_vpp_papi_both_ways() {
    let defs = core();
    let Value::Array(vectors) = run_golden("vectors", None) else {
        panic!("golden.py vectors did not return an array");
    };
    assert!(vectors.len() >= 30, "only {} vectors", vectors.len());

    let mut rust_encodings = Vec::new();
    for vector in &vectors {
        let name = vector["name"].as_str().expect("name");
        let msg_id = u16::try_from(vector["msg_id"].as_u64().expect("msg_id")).expect("u16 id");
        let papi_bytes = unhex(vector["hex"].as_str().expect("hex"));

        // Our encoding of the same input equals vpp_papi's bytes.
        let ours = defs
            .encode(name, msg_id, &vector["input"])
            .unwrap_or_else(|e| panic!("{name}: labdeck cannot encode {}: {e}", vector["input"]));
        assert_eq!(
            hex(&ours),
            hex(&papi_bytes),
            "{name}: input {}",
            vector["input"]
        );

        // We decode vpp_papi's bytes to what vpp_papi decodes them to.
        let decoded = defs
            .decode(name, &papi_bytes)
            .unwrap_or_else(|e| panic!("{name}: labdeck cannot decode vpp_papi's bytes: {e}"));
        assert_eq!(
            decoded, vector["decoded"],
            "{name}: decoding vpp_papi's bytes"
        );

        // Our decoded value re-encodes to the same bytes.
        let again = defs
            .encode(name, msg_id, &decoded)
            .expect("re-encode decoded value");
        assert_eq!(
            hex(&again),
            hex(&papi_bytes),
            "{name}: re-encoding the decoded value"
        );
        rust_encodings.push((name.to_string(), ours, decoded));
    }

    // vpp_papi decodes our bytes to what we decode them to.
    let requests = rust_encodings
        .iter()
        .map(|(name, bytes, _)| json!({"name": name, "hex": hex(bytes)}))
        .collect();
    for ((name, _, ours), theirs) in rust_encodings.iter().zip(papi_decode(requests)) {
        assert_eq!(
            &theirs["decoded"], ours,
            "{name}: vpp_papi decoding labdeck's bytes: {theirs}"
        );
    }
}

#[test]
fn every_message_default_agrees_with_vpp_papi() {
    let defs = core();
    let mut names = Vec::new();
    let mut decode_requests = Vec::new();
    let mut encode_requests = Vec::new();
    let mut ours = Vec::new();
    for (index, message) in defs.messages().enumerate() {
        let msg_id = u16::try_from(100 + index).expect("small id");
        let bytes = message.encode(msg_id, &json!({})).expect("default encodes");
        let decoded = message.decode(&bytes).expect("default decodes");
        decode_requests.push(json!({"name": message.name, "hex": hex(&bytes)}));
        encode_requests.push(json!({"name": message.name, "msg_id": msg_id, "input": decoded}));
        names.push(message.name.clone());
        ours.push((bytes, decoded));
    }
    assert_eq!(names.len(), 824);

    let decoded_by_papi = papi_decode(decode_requests);
    let Value::Array(encoded_by_papi) = run_golden("encode", Some(&Value::Array(encode_requests)))
    else {
        panic!("golden.py encode did not return an array");
    };
    assert_eq!(encoded_by_papi.len(), names.len());

    for (((name, (bytes, decoded)), theirs_decoded), theirs_encoded) in names
        .iter()
        .zip(&ours)
        .zip(&decoded_by_papi)
        .zip(&encoded_by_papi)
    {
        assert_eq!(
            &theirs_decoded["decoded"], decoded,
            "{name}: vpp_papi decoding labdeck's default: {theirs_decoded}"
        );
        assert_eq!(
            theirs_encoded["hex"].as_str(),
            Some(hex(bytes).as_str()),
            "{name}: vpp_papi encoding labdeck's decoded default: {theirs_encoded}"
        );
    }
}
