//! Walk runs on a real lab: a failure that depends on one pair of values is reported, shrunk
//! to exactly that pair and replayed; step mode shows every step before it runs; device
//! changes are undone after a run, after SIGTERM mid-run, and restorable with `labdeck undo`
//! after kill -9 (whose trace still loads and replays). Checked from the hosts.

mod common;
use common::*;
use labdeck::walk::{Outcome, TraceRecord, read_trace};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/walk/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// What a lab host says about its test port `eth1`: mtu, state and addresses.
fn port(lab: &Lab, host: &str) -> String {
    let out = lab.exec(
        host,
        &[
            "sh",
            "-c",
            "cat /sys/class/net/eth1/mtu; ip -br addr show dev eth1; ip -o link show | cut -d' ' -f2",
        ],
    );
    text(&out.stdout)
}

fn host_file(lab: &Lab, host: &str, file: &str) -> Option<String> {
    let out = lab.exec(host, &["cat", file]);
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_owned())
}

#[test]
fn a_pair_failure_is_reported_shrunk_and_replayed() {
    let lab = Lab::up(2, "line");
    let before = port(&lab, "h1");
    assert!(before.starts_with("1500\n"), "{before}");
    let tmp = tempfile::tempdir().expect("tmp");
    let run_dir = tmp.path().join("run");
    let junit = tmp.path().join("junit.xml");
    let pool = lab.pool();
    let recipe = fixture("pair-lab.toml");
    let out = labdeck(&[
        "run",
        "--pool",
        &pool,
        "--recipe",
        &recipe,
        "--run-dir",
        run_dir.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("FAIL walk 3 on testbed 0 at check=-"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL walk 9 on testbed 0 at check=-"),
        "{stdout}"
    );
    assert!(
        stdout.contains("walks: 8 passed, 2 failed, 0 errors, 0 cancelled, 2 skipped"),
        "skips are not failures: {stdout}"
    );
    assert!(stdout.contains("8 passed, 2 failed"), "{stdout}");
    // Every MTU change was undone: the host is as before.
    assert_eq!(port(&lab, "h1"), before);

    // The trace: a footer with the failed ids, a step record per step run.
    let trace_path = run_dir.join("trace.jsonl");
    let trace = read_trace(&trace_path).expect("trace loads");
    let footer = trace.footer.clone().expect("footer");
    assert_eq!(footer.failed_ids, vec![3, 9]);
    assert_eq!((footer.passed, footer.failed, footer.skipped), (8, 2, 2));
    let failing_steps = trace
        .records
        .iter()
        .filter(|r| matches!(r, TraceRecord::Step(s) if s.outcome == Outcome::Fail))
        .count();
    assert_eq!(failing_steps, 2);
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.contains("tests=\"12\""), "{xml}");
    assert!(xml.contains("failures=\"2\""), "{xml}");
    assert!(xml.contains("skipped=\"2\""), "{xml}");
    for file in ["summary.txt", "report.json", "junit.xml", "trace.idx"] {
        assert!(run_dir.join(file).exists(), "{file} written");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).expect("json"))
            .expect("report parses");
    assert_eq!(report["totals"]["failed"], 2);
    assert_eq!(report["testbeds"][0]["dut"], "h1");

    // Replay reproduces the failure on the recorded testbed.
    let trace_arg = trace_path.to_str().expect("utf-8");
    let out = labdeck(&["replay", "--pool", &pool, trace_arg, "--walk", "3"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("walk 3: fail (recorded fail) — reproduced"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[4/4] check: fail exit 1 — same as recorded (fail)"),
        "{stdout}"
    );
    assert_eq!(port(&lab, "h1"), before, "replay undid its changes");

    // Shrink finds exactly the pair.
    let shrink_dir = tmp.path().join("shrink");
    let out = labdeck(&[
        "shrink",
        "--pool",
        &pool,
        trace_arg,
        "--walk",
        "9",
        "--run-dir",
        shrink_dir.to_str().expect("utf-8"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let minimal_line = stdout
        .lines()
        .find(|l| l.starts_with("minimal failing walk"))
        .expect("a minimal walk");
    assert!(minimal_line.ends_with(": a=2 b=y check=-"), "{stdout}");
    assert_eq!(port(&lab, "h1"), before, "shrink undid every attempt");
    // The minimal recipe reproduces on its own.
    let minimal = shrink_dir.join("minimal.toml");
    let out = labdeck(&[
        "run",
        "--pool",
        &pool,
        "--recipe",
        minimal.to_str().expect("utf-8"),
        "--run-dir",
        tmp.path().join("minimal-run").to_str().expect("utf-8"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

/// Lines of a child's stdout, as they come.
fn line_reader(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, prefix: &str) {
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let found = line.contains(prefix);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => panic!("no line with {prefix:?}; saw:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn step_mode_shows_every_step_before_it_runs() {
    let lab = Lab::up(2, "line");
    let tmp = tempfile::tempdir().expect("tmp");
    let run_dir = tmp.path().join("run");
    let pool = lab.pool();
    let out = labdeck(&[
        "run",
        "--pool",
        &pool,
        "--recipe",
        &fixture("pair-lab.toml"),
        "--run-dir",
        run_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let trace = run_dir.join("trace.jsonl");
    let mut child = Command::new(LABDECK)
        .args([
            "replay",
            "--pool",
            &pool,
            trace.to_str().expect("utf-8"),
            "--walk",
            "3",
            "--step",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("replay starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let rx = line_reader(&mut child);
    let mut seen = Vec::new();
    wait_line(&rx, &mut seen, "next: [1/4] mtu=1400");
    // Shown, not run: the port still has its MTU, the setup removed the files.
    assert!(port(&lab, "h1").starts_with("1500\n"));
    assert_eq!(host_file(&lab, "h1", "/root/a"), None);
    writeln!(stdin, "n").expect("send");
    wait_line(&rx, &mut seen, "next: [2/4] a=2");
    assert!(
        port(&lab, "h1").starts_with("1400\n"),
        "mtu step ran after n"
    );
    assert_eq!(
        host_file(&lab, "h1", "/root/a"),
        None,
        "a not run before shown and answered"
    );
    writeln!(stdin, "n").expect("send");
    wait_line(&rx, &mut seen, "next: [3/4] b=y");
    assert_eq!(host_file(&lab, "h1", "/root/a").as_deref(), Some("2"));
    assert_eq!(host_file(&lab, "h1", "/root/b"), None);
    // Continue runs to the failure, which stops the cursor on the failed step.
    writeln!(stdin, "c").expect("send");
    wait_line(
        &rx,
        &mut seen,
        "[4/4] check: fail exit 1 — same as recorded (fail)",
    );
    wait_line(&rx, &mut seen, "next: [4/4] check=-");
    // Retry runs it again (still failing), then n accepts the failure.
    writeln!(stdin, "r").expect("send");
    wait_line(&rx, &mut seen, "[4/4] check: fail exit 1");
    writeln!(stdin, "n").expect("send");
    wait_line(&rx, &mut seen, "walk 3: fail (recorded fail) — reproduced");
    let status = child.wait().expect("replay ends");
    assert_eq!(status.code(), Some(0), "{}", seen.join("\n"));
    // Every step's announcement precedes its result.
    for (n, action) in [(1, "mtu"), (2, "a"), (3, "b"), (4, "check")] {
        let shown = seen
            .iter()
            .position(|l| l.starts_with(&format!("next: [{n}/4]")));
        let done = seen
            .iter()
            .position(|l| l.contains(&format!("[{n}/4] {action}:")));
        assert!(
            shown.is_some() && done.is_some() && shown < done,
            "{action}: {}",
            seen.join("\n")
        );
    }
    assert!(port(&lab, "h1").starts_with("1500\n"), "replay undone");
}

fn start_slow_run(lab: &Lab, run_dir: &Path) -> std::process::Child {
    Command::new(LABDECK)
        .args([
            "run",
            "--pool",
            &lab.pool(),
            "--recipe",
            &fixture("slow-lab.toml"),
            "--testbeds",
            "1",
            "--run-dir",
            run_dir.to_str().expect("utf-8"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts")
}

/// Waits until the long step of the slow recipe runs (its changes are made by then).
fn wait_host_marker(lab: &Lab) {
    let ok = (0..2400).any(|_| {
        if host_file(lab, "h1", "/root/waiting").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
        false
    });
    assert!(ok, "the long step started");
}

#[test]
fn sigterm_mid_run_undoes_every_change_and_cancels() {
    let lab = Lab::up(2, "line");
    let before = port(&lab, "h1");
    let tmp = tempfile::tempdir().expect("tmp");
    let run_dir = tmp.path().join("run");
    let child = start_slow_run(&lab, &run_dir);
    wait_host_marker(&lab);
    let changed = port(&lab, "h1");
    assert!(
        changed.starts_with("1280\n") && changed.contains("198.19.7.1/24"),
        "{changed}"
    );
    assert!(
        changed.contains("ldtest0@ldtest0p") && changed.contains("ldbr0"),
        "{changed}"
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let out = child.wait_with_output().expect("run ends");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("STOPPED: interrupted by SIGTERM"),
        "{stdout}{}",
        text(&out.stderr)
    );
    // The step in flight finished; the walk passed; the second walk never started.
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert_eq!(
        port(&lab, "h1"),
        before,
        "every change undone after SIGTERM"
    );
    let trace = read_trace(run_dir.join("trace.jsonl")).expect("trace loads");
    let footer = trace.footer.expect("a footer after a graceful stop");
    assert_eq!(footer.failed + footer.errors, 0, "a stop is not a failure");
    assert_eq!(footer.walk_count, 1);
}

#[test]
fn kill_9_leaves_a_trace_that_loads_and_a_lab_undo_restores() {
    let lab = Lab::up(2, "line");
    let before = port(&lab, "h1");
    let tmp = tempfile::tempdir().expect("tmp");
    let run_dir = tmp.path().join("run");
    let mut child = start_slow_run(&lab, &run_dir);
    wait_host_marker(&lab);
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert_ne!(port(&lab, "h1"), before, "changes were left by the crash");
    // The trace loads (no footer: interrupted) and the walk in it replays.
    let trace = read_trace(run_dir.join("trace.jsonl")).expect("trace loads after kill -9");
    assert!(trace.is_interrupted());
    assert!(trace.footer.is_none());
    // The fsynced undo log restores the host.
    let out = labdeck(&[
        "undo",
        "--pool",
        &lab.pool(),
        run_dir.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("6 changes undone"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(port(&lab, "h1"), before, "labdeck undo restored the host");
}

/// Runs the slow recipe to its end with `extra` arguments; returns (exit code, stdout).
fn slow_run(lab: &Lab, run_dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let pool = lab.pool();
    let recipe = fixture("slow-lab.toml");
    let mut args = vec![
        "run",
        "--pool",
        &pool,
        "--recipe",
        &recipe,
        "--testbeds",
        "1",
        "-p",
        "waits=0",
        "--run-dir",
        run_dir.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let out = labdeck(&args);
    (out.status.code(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn changes_are_undone_after_a_run_and_kept_on_failure_when_asked() {
    let lab = Lab::up(2, "line");
    let before = port(&lab, "h1");
    let tmp = tempfile::tempdir().expect("tmp");
    // A passing run: MTU, address, link state, veth and bridge all restored.
    let (code, out) = slow_run(&lab, &tmp.path().join("pass"), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(port(&lab, "h1"), before, "undone after the run");
    // A failing run without --keep-on-failure: undone too.
    let (code, out) = slow_run(&lab, &tmp.path().join("fail"), &["-p", "fail=yes"]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(port(&lab, "h1"), before, "undone after a failure");
    // With --keep-on-failure the failed testbed stays as it is, until `labdeck undo`.
    let kept = tmp.path().join("kept");
    let (code, out) = slow_run(&lab, &kept, &["-p", "fail=yes", "--keep-on-failure"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("testbed 0 kept as it failed"), "{out}");
    let changed = port(&lab, "h1");
    assert!(
        changed.starts_with("1280\n")
            && changed.contains("ldtest0@ldtest0p")
            && changed.contains("ldbr0"),
        "{changed}"
    );
    let out = labdeck(&["undo", "--pool", &lab.pool(), kept.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        port(&lab, "h1"),
        before,
        "labdeck undo restored the kept testbed"
    );
}
