//! Logging: the library writes events into the state and run directories at the level
//! asked for; the binary logs into `$XDG_STATE_HOME/labdeck`, `--log-level` filters, and a
//! bad level is a usage error (exit 2).

use labdeck::logging::{self, LogConfig};
use std::path::Path;
use std::process::Command;

const LABDECK: &str = env!("CARGO_BIN_EXE_labdeck");

fn logs_in(dir: &Path) -> String {
    logging::log_files(dir)
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("log readable"))
        .collect()
}

/// The global subscriber can be installed once per process, so this is the only test
/// here that installs one.
#[test]
fn events_reach_the_state_and_run_directories_at_the_level_asked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state").join("labdeck");
    let run = tmp.path().join("runs").join("r1");
    let config = LogConfig {
        level: Some("info".into()),
        state_dir: Some(state.clone()),
        run_dir: Some(run.clone()),
        terminal: false,
    };
    let (guard, skipped) = logging::init(&config).expect("logging starts");
    assert!(skipped.is_empty(), "{skipped:?}");
    tracing::info!(walk = 7, "info-event-kept");
    tracing::debug!("debug-event-filtered");
    drop(guard); // flushes the non-blocking writers
    for dir in [&state, &run] {
        let text = logs_in(dir);
        assert!(
            text.contains("info-event-kept") && text.contains("walk=7"),
            "{text}"
        );
        assert!(!text.contains("debug-event-filtered"), "{text}");
    }
    let again = logging::init(&config);
    assert!(
        matches!(again, Err(logging::LogError::AlreadySet)),
        "a second global logger is refused"
    );
}

fn labdeck_with_state(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(LABDECK)
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env_remove("RUST_LOG")
        .output()
        .expect("labdeck runs")
}

#[test]
fn the_binary_logs_into_the_state_directory_and_log_level_filters() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // By default files get `info` and the terminal only `warn`.
    let default = tmp.path().join("default");
    let out = labdeck_with_state(&default, &["completions", "bash"]);
    assert!(out.status.success());
    let text = logs_in(&default.join("labdeck"));
    assert!(
        text.contains("labdeck started") && text.contains("labdeck finished"),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `--log-level` sets every destination's level.
    let info = tmp.path().join("info");
    let out = labdeck_with_state(&info, &["--log-level", "info", "completions", "bash"]);
    assert!(out.status.success());
    assert!(logs_in(&info.join("labdeck")).contains("labdeck started"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("labdeck started"));

    let warn = tmp.path().join("warn");
    let out = labdeck_with_state(&warn, &["completions", "bash", "--log-level", "warn"]);
    assert!(out.status.success());
    let text = logs_in(&warn.join("labdeck"));
    assert!(!text.contains("labdeck started"), "{text}");

    let bad = tmp.path().join("bad");
    let out = labdeck_with_state(
        &bad,
        &["--log-level", "labdeck=lots", "completions", "bash"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid log level"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
