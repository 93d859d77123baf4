//! `labdeck repl` driven through a pseudo-terminal against a real lab (root): the host
//! table, a command's output, Tab completion of a host name, Ctrl-C killing a foreground
//! job, a background job's end printed above an open prompt with the edited line redrawn
//! intact, and the history kept across two sessions (up-arrow recalls it).
//!
//! Every wait is an expect with a generous bound; none is a performance assertion.

mod common;
use common::*;
use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};
use std::path::Path;
use std::process::Command;

/// Bound of every single expectation (a lab host answers in milliseconds).
const EXPECT_MS: u64 = 60_000;
const UP_ARROW: &str = "\x1b[A";
/// rustyline turns bracketed paste on while it edits a line and off when the line is
/// accepted: these mark "a prompt is open" and "the line was entered" in the raw stream
/// (the prompt itself is redrawn at every keystroke, so it marks nothing).
const EDITING: &str = "\x1b[?2004h";
const ENTERED: &str = "\x1b[?2004l";

fn repl(lab: &Lab, history: &Path, state: &Path) -> PtySession {
    let mut command = Command::new(LABDECK);
    command
        .args(["repl", "--pool", &lab.pool(), "--history"])
        .arg(history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("XDG_STATE_HOME", state);
    let options = Options::new().timeout_ms(Some(EXPECT_MS));
    let mut session = spawn_with_options(command, options).expect("labdeck repl starts");
    session
        .exp_string("`help` lists the commands")
        .expect("banner");
    session.exp_string(EDITING).expect("first prompt");
    session
}

/// Types keys (flushed at once: the pty writer buffers).
fn keys(session: &mut PtySession, keys: &str, what: &str) {
    session.send(keys).expect(what);
    session.flush().expect(what);
}

/// Sends a line (or the rest of one) and returns everything printed until the next prompt.
fn run_line(session: &mut PtySession, line: &str) -> String {
    session.send_line(line).expect("line sent");
    output_until_prompt(session, line)
}

fn output_until_prompt(session: &mut PtySession, what: &str) -> String {
    session
        .exp_string(ENTERED)
        .unwrap_or_else(|e| panic!("`{what}` not entered: {e}"));
    session
        .exp_string(EDITING)
        .unwrap_or_else(|e| panic!("no prompt after `{what}`: {e}"))
}

#[test]
fn the_repl_on_a_lab_completes_prints_events_above_the_prompt_and_keeps_history() {
    let lab = Lab::up(1, "line");
    let tmp = tempfile::tempdir().expect("tempdir");
    let history = tmp.path().join("deep").join("history");
    let state = tmp.path().join("state");
    let go = "/root/labdeck-repl-go";
    let _ = lab.exec("h1", &["rm", "-f", go]);

    let mut session = repl(&lab, &history, &state);

    // The host table names the lab's host.
    let hosts = run_line(&mut session, "hosts");
    assert!(hosts.contains("NAME") && hosts.contains("h1"), "{hosts}");

    // A command's output; the quoted word stays one argument.
    let out = run_line(&mut session, "exec h1 -- echo 'hi from' h1");
    assert!(out.contains("hi from h1"), "{out}");

    // Tab completes the host name (and adds a space): the command runs on h1.
    keys(&mut session, "exec h", "typed");
    keys(&mut session, "\t", "tab");
    let out = run_line(&mut session, "-- echo tab' 'done");
    assert!(out.contains("tab done"), "{out}");

    // Ctrl-C during a foreground job kills its process group and returns to the prompt.
    session.send_line("exec h1 -- sleep 3141").expect("sent");
    session.exp_string(ENTERED).expect("entered");
    // Once the job runs, the editor has handed the terminal back (Ctrl-C is SIGINT again).
    assert!(
        wait_for(|| lab
            .exec("h1", &["pgrep", "-x", "-f", "sleep 3141"])
            .status
            .success()),
        "the foreground job never started"
    );
    session.send_control('c').expect("ctrl-c");
    if let Err(e) = session.exp_string("interrupted: ") {
        let status = session.process().wait();
        panic!("Ctrl-C did not interrupt the job ({e:?}); labdeck: {status:?}");
    }
    let out = session.exp_string(EDITING).expect("prompt after the kill");
    assert!(out.contains("killed"), "{out}");

    // A background job that ends while a line is being edited: its notification is printed
    // above the prompt, and the prompt comes back with the half-typed line intact.
    let start = run_line(
        &mut session,
        &format!(
            "exec h1 --bg --sh 'i=0; while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo done-bg'"
        ),
    );
    assert!(start.contains("runs in the background"), "{start}");
    keys(&mut session, "help ex", "typed");
    session.exp_string("labdeck> help e").expect("echoed");
    session.exp_string("x").expect("echoed");
    let touched = lab.exec("h1", &["touch", go]);
    assert!(touched.status.success(), "{}", text(&touched.stderr));
    let note = session
        .exp_regex(r"\[h1#\d+ passed \(exit 0, [0-9.]+ s\): [^\]]*\]")
        .expect("job end shown");
    assert!(note.1.contains("while"), "{note:?}");
    session.exp_string("done-bg").expect("its output shown");
    session
        .exp_string("labdeck> help ex")
        .expect("prompt redrawn with the edited line");
    keys(&mut session, "ec\r", "finished the line");
    let help = output_until_prompt(&mut session, "help exec");
    assert!(help.contains("usage: exec HOST"), "{help}");

    session.send_line("quit").expect("quit");
    session.exp_eof().expect("the repl exits on quit");

    // The history file has the lines, and a second session recalls them with up-arrow.
    let saved = std::fs::read_to_string(&history).expect("history written");
    assert!(
        saved.contains("help exec") && saved.contains("exec h1 -- echo 'hi from' h1"),
        "{saved}"
    );
    let mut session = repl(&lab, &history, &state);
    keys(&mut session, UP_ARROW, "up");
    session
        .exp_string("labdeck> quit")
        .expect("last line recalled");
    keys(&mut session, UP_ARROW, "up");
    session
        .exp_string("labdeck> help exec")
        .expect("the line before recalled");
    keys(&mut session, "\r", "enter");
    let help = output_until_prompt(&mut session, "recalled help exec");
    assert!(help.contains("usage: exec HOST"), "{help}");
    session.send_control('d').expect("ctrl-d");
    session.exp_eof().expect("the repl exits on end of input");
    let _ = lab.exec("h1", &["rm", "-f", go]);
}
