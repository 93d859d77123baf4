//! The demo runs headless to completion anywhere (no root, no SSH); its batch reports are
//! valid (JUnit against a JUnit schema with the reference validator `xmlschema`, the JSON
//! report round-trips); sessions record their runs and `labdeck runs` lists them; a broken
//! session file gives a located error and exit 2.

mod common;
use common::*;
use std::process::Command;

#[test]
fn the_demo_runs_headless_and_its_reports_are_valid() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("demo");
    let out = labdeck(&["demo", "--batch", "--dir", dir.to_str().expect("utf-8")]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the demo's walks really fail: {stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("walks: 10 passed, 4 failed, 0 errors, 0 cancelled, 2 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("10 passed, 4 failed"),
        "{stdout}"
    );

    // The run is recorded under the session and listed.
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .expect("runs dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let listing = labdeck(&["runs", dir.to_str().expect("utf-8")]);
    let listing_text = text(&listing.stdout);
    assert!(listing.status.success());
    assert!(
        listing_text.contains("demo-mtu  finished  16     10      4"),
        "{listing_text}"
    );

    // JUnit validates against the schema.
    let junit = run.join("junit.xml");
    let check = Command::new("python3")
        .args([
            "-c",
            "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2]); print('valid')",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/junit.xsd"),
            junit.to_str().expect("utf-8"),
        ])
        .output()
        .expect("python3 runs");
    assert_eq!(
        text(&check.stdout).trim(),
        "valid",
        "{}",
        text(&check.stderr)
    );
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains("walk 4 (mtu=1500 payload=4000 fits=- settle=0)"),
        "{xml}"
    );

    // The JSON report round-trips and agrees with the summary.
    let json_text = std::fs::read_to_string(run.join("report.json")).expect("json");
    let json: serde_json::Value = serde_json::from_str(&json_text).expect("parses");
    let again: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&json).expect("serializes")).expect("parses");
    assert_eq!(json, again);
    assert_eq!(json["totals"]["failed"], 4);
    assert_eq!(json["totals"]["skipped"], 2);
    assert_eq!(json["walks"].as_array().map(Vec::len), Some(16));
    assert_eq!(json["result"], "fail");

    // A second run of the same session is recorded beside the first.
    let out = labdeck(&["open", "--batch", dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let listing = text(&labdeck(&["runs", dir.to_str().expect("utf-8")]).stdout);
    assert_eq!(listing.lines().count(), 3, "{listing}");
}

#[test]
fn a_broken_session_is_a_located_config_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("session.toml"),
        "pool = \"pool.toml\"\nrecipie = \"r.toml\"\n",
    )
    .expect("write");
    let out = labdeck(&["open", "--batch", tmp.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("session.toml:2:1"), "{stderr}");
    assert!(
        stderr.contains("recipe"),
        "suggests the right key: {stderr}"
    );
}

/// `labdeck demo --lab` (root): the same session over SSH on a lab it brings up and takes
/// down again; the walks are spread over the lab's two hosts.
#[test]
fn the_demo_runs_over_ssh_on_a_lab() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("demo");
    let out = labdeck(&[
        "demo",
        "--batch",
        "--lab",
        "--dir",
        dir.to_str().expect("utf-8"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("on 2 testbeds"), "{stdout}");
    assert!(
        stdout.contains("testbed 0: box=h1") && stdout.contains("testbed 1: box=h2"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("10 passed, 4 failed"),
        "{stdout}"
    );
    // The lab is gone again.
    let lab_dir = dir.join("lab");
    assert!(
        !lab_dir.join("lab.json").exists(),
        "lab down removed its state"
    );
    assert!(processes_mentioning(lab_dir.to_str().expect("utf-8")).is_empty());
}
