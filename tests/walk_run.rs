//! `labdeck run` end to end on the local transport (no lab): serial actions run once per
//! parameterization per testbed (checked from the trace), failures and cancels are counted
//! apart, `--rerun-failed` runs only the failed walks, `--max-failures` stops early, and
//! usage or config errors exit with 2 before anything runs.

mod common;
use common::*;
use labdeck::walk::{Outcome, TraceRecord, read_trace};
use std::collections::{BTreeMap, BTreeSet};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/walk/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(extra: &[&str]) -> (Option<i32>, String, String) {
    let pool = fixture("local-pool.toml");
    let recipe = fixture("serial-local.toml");
    let mut args = vec!["run", "--pool", &pool, "--recipe", &recipe];
    args.extend_from_slice(extra);
    let out = labdeck(&args);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn serial_actions_run_once_per_parameterization_per_testbed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("run");
    let (code, stdout, stderr) = run(&["--run-dir", dir.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    // 6 walks: x=b fails twice, x=c with s=2 is cancelled once.
    assert!(
        stdout.contains("walks: 3 passed, 2 failed, 0 errors, 1 cancelled, 0 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("3 passed, 2 failed"), "{stdout}");
    let trace = read_trace(dir.join("trace.jsonl")).expect("trace");
    assert_eq!(trace.header.testbeds.len(), 2, "two disjoint testbeds");
    let mut serial_runs: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut walks_per_testbed: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for record in &trace.records {
        match record {
            TraceRecord::Step(step) if step.action == "s" => serial_runs
                .entry(step.testbed)
                .or_default()
                .push(step.option.as_str().unwrap_or("").to_owned()),
            TraceRecord::WalkEnd(end) => {
                walks_per_testbed
                    .entry(end.testbed)
                    .or_default()
                    .insert(end.walk_id);
            }
            _ => {}
        }
    }
    for (testbed, walks) in &walks_per_testbed {
        // The serial values this testbed's walks need, each exactly once.
        let needed: BTreeSet<String> = walks.iter().map(|id| (id / 3 + 1).to_string()).collect();
        let ran = &serial_runs[testbed];
        let distinct: BTreeSet<String> = ran.iter().cloned().collect();
        assert_eq!(
            ran.len(),
            distinct.len(),
            "testbed {testbed}: a serial value ran twice: {ran:?}"
        );
        assert_eq!(distinct, needed, "testbed {testbed}");
    }
    let footer = trace.footer.expect("footer");
    assert_eq!(footer.cancelled, 1);
    assert_eq!(footer.failed_ids.len(), 2);

    // Rerun only the failed walks: failures first.
    let (code, stdout, _) = run(&[
        "--rerun-failed",
        dir.join("trace.jsonl").to_str().expect("utf-8"),
        "--run-dir",
        tmp.path().join("rerun").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("0 passed, 2 failed"), "{stdout}");
    let rerun = read_trace(tmp.path().join("rerun/trace.jsonl")).expect("rerun trace");
    let mut ids: Vec<u64> = rerun
        .records
        .iter()
        .filter_map(|r| match r {
            TraceRecord::WalkEnd(e) => Some(e.walk_id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    let mut want = footer.failed_ids.clone();
    want.sort_unstable();
    assert_eq!(ids, want);

    // Nothing fails when the failing value is another: exit 0, the cancel is no failure.
    let (code, stdout, _) = run(&[
        "-p",
        "fail_on=z",
        "--run-dir",
        tmp.path().join("pass").to_str().expect("utf-8"),
        "--tap",
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("# SKIP cancelled"), "{stdout}");
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");
}

#[test]
fn max_failures_stops_the_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("run");
    let (code, stdout, _) = run(&[
        "--max-failures",
        "1",
        "--testbeds",
        "1",
        "--run-dir",
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("STOPPED: stopped after 1 failed walks"),
        "{stdout}"
    );
    let trace = read_trace(dir.join("trace.jsonl")).expect("trace");
    let footer = trace.footer.expect("footer");
    assert_eq!(footer.failed, 1);
    // Walk 1 (s=1, x=b) failed; the walks it interrupted end cancelled, none ran after.
    let ends: Vec<(u64, Outcome)> = trace
        .records
        .iter()
        .filter_map(|r| match r {
            TraceRecord::WalkEnd(e) => Some((e.walk_id, e.outcome)),
            _ => None,
        })
        .collect();
    let failed_at = ends
        .iter()
        .position(|e| *e == (1, Outcome::Fail))
        .expect("walk 1 failed");
    assert!(
        ends[failed_at + 1..]
            .iter()
            .all(|(_, o)| *o == Outcome::Cancel),
        "{ends:?}"
    );
    assert_eq!(ends[..failed_at], [(0, Outcome::Pass)]);
}

#[test]
fn usage_and_config_errors_exit_2_before_running() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("never");
    let (code, _, stderr) = run(&["-p", "nope=1", "--run-dir", dir.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
    assert!(!dir.exists(), "nothing written before the run is valid");
    let (code, _, stderr) = run(&["--strategy", "sideways"]);
    assert_eq!(code, Some(2), "{stderr}");
    let out = labdeck(&[
        "run",
        "--pool",
        &fixture("local-pool.toml"),
        "--recipe",
        &fixture("serial-local.toml"),
        "--testbeds",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("only 2 machine-disjoint testbeds fit recipe `serial-local`"),
        "{}",
        text(&out.stderr)
    );
}
