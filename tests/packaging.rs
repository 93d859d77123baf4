//! Shell completions and the man page are generated from the clap definitions and are
//! valid for their consumers (bash parses the completion script; the man page is roff
//! naming every subcommand).

use std::process::Command;

const LABDECK: &str = env!("CARGO_BIN_EXE_labdeck");

fn run(args: &[&str]) -> String {
    let out = Command::new(LABDECK)
        .args(args)
        .output()
        .expect("labdeck runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn bash_completions_parse_and_know_the_subcommands() {
    let script = run(&["completions", "bash"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("labdeck.bash");
    std::fs::write(&file, &script).expect("write");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .status()
        .expect("bash");
    assert!(check.success(), "bash -n rejected the completion script");
    for sub in ["lab", "hosts", "exec", "devices", "undo", "bench"] {
        assert!(
            script.contains(&format!("labdeck,{sub})")),
            "no completion for {sub}"
        );
    }
    assert!(run(&["completions", "zsh"]).starts_with("#compdef labdeck"));
}

#[test]
fn man_page_is_roff_with_every_subcommand() {
    let page = run(&["man"]);
    assert!(page.contains(".TH labdeck 1"), "{page}");
    for sub in [
        "lab",
        "hosts",
        "exec",
        "devices",
        "undo",
        "bench",
        "completions",
    ] {
        assert!(
            page.contains(&format!("labdeck\\-{sub}(1)")),
            "{sub} missing"
        );
    }
}
