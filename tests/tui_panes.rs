//! Snapshots of every TUI pane (and the whole screen) from synthetic events on ratatui's
//! `TestBackend`, with the clock fixed; plus key handling that must produce the right
//! effects (kill, disconnect-all through the command sink, rerun, step decisions).

mod tui_common;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use labdeck::engine::{Ending, Event, HostViewState, JobRef, JobState};
use labdeck::run::{StepControl, StepDecision};
use labdeck::transport::{ExitOutcome, Stream};
use labdeck::tui::keymap::Keymap;
use labdeck::tui::{App, Effect, Pane};
use std::sync::Arc;
use std::time::Duration;
use tui_common::*;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn press(app: &mut App, keys: &str) -> Vec<Effect> {
    let keymap = Keymap::default();
    keys.chars()
        .flat_map(|c| app.on_key(&key(c), &keymap))
        .collect()
}

fn base_app() -> App {
    let mut app = App::new(
        "lab.toml",
        vec!["h1".into(), "h2".into(), "h3".into()],
        Some("mtu-sweep".into()),
    );
    app.now_ms = NOW_MS;
    app.apply(&Event::HostConnected {
        host: "h1".into(),
        latency: Duration::from_millis(3),
    });
    app.apply(&Event::HostConnecting { host: "h2".into() });
    app.apply(&Event::HostFailed {
        host: "h3".into(),
        error: "connection refused".into(),
        hint: "is sshd running?".into(),
    });
    app
}

fn job(host: &str, id: u64) -> JobRef {
    JobRef {
        host: host.into(),
        id,
    }
}

fn add_jobs(app: &mut App) {
    app.now_ms = NOW_MS - 5_000;
    for (id, command) in [(1, "iperf3 -s"), (2, "ping -c 3 198.18.0.2"), (3, "false")] {
        app.apply(&Event::JobStarted {
            job: job("h1", id),
            command: command.into(),
            background: id == 1,
            files: None,
        });
    }
    app.apply(&Event::JobOutput {
        job: job("h1", 1),
        stream: Stream::Stdout,
        data: Arc::from(&b"Server listening on 5201\n-----------\npartial"[..]),
    });
    app.apply(&Event::JobOutput {
        job: job("h1", 1),
        stream: Stream::Stderr,
        data: Arc::from(&b"warning: no -B given\n"[..]),
    });
    for (id, code, state) in [(2, 0, JobState::Passed), (3, 1, JobState::Failed)] {
        app.apply(&Event::JobFinished {
            job: job("h1", id),
            state,
            ending: Ending::Exited(ExitOutcome {
                code: Some(code),
                signal: None,
            }),
            duration: Duration::from_millis(2_040),
            json: None,
        });
    }
    app.now_ms = NOW_MS;
}

#[test]
fn hosts_pane() {
    let mut app = base_app();
    for event in run_events() {
        app.apply(&Event::Run(event));
    }
    insta::assert_snapshot!(pane(&app, Pane::Hosts, 80, 7));
    assert_eq!(app.hosts["h3"].state, HostViewState::Failed);
}

#[test]
fn devices_pane_with_rates_and_sparklines() {
    let mut app = base_app();
    for event in device_events("h1") {
        app.apply(&event);
    }
    let text = pane(&app, Pane::Devices, 100, 7);
    insta::assert_snapshot!(text);
    assert!(
        text.contains("3.0 Mb/s"),
        "rx rate of the last second: 375 kB in 1 s"
    );
}

#[test]
fn jobs_pane_with_the_selected_jobs_output() {
    let mut app = base_app();
    add_jobs(&mut app);
    let text = pane(&app, Pane::Jobs, 100, 14);
    insta::assert_snapshot!(text);
    assert!(text.contains("Server listening on 5201"));
    assert!(text.contains("partial"), "an unterminated line is shown");
}

#[test]
fn jobs_filter_narrows_the_rows() {
    let mut app = base_app();
    add_jobs(&mut app);
    press(&mut app, "3/ping");
    assert_eq!(app.job_rows().len(), 1);
    let text = pane(&app, Pane::Jobs, 100, 10);
    assert!(
        text.contains("[/ping]") && !text.contains("iperf3"),
        "{text}"
    );
}

#[test]
fn walks_pane() {
    let mut app = base_app();
    app.now_ms = NOW_MS;
    for event in run_events() {
        app.apply(&Event::Run(event));
    }
    insta::assert_snapshot!(pane(&app, Pane::Walks, 90, 12));
}

#[test]
fn step_through_pane() {
    let mut app = base_app();
    let (control, _decisions) = StepControl::new();
    app.step = Some(control);
    for event in step_events() {
        app.apply(&Event::Run(event));
    }
    insta::assert_snapshot!(pane(&app, Pane::Walks, 90, 14));
}

#[test]
fn clients_pane() {
    let mut app = base_app();
    for event in vpp_events() {
        app.apply(&event);
    }
    insta::assert_snapshot!(pane(&app, Pane::Clients, 90, 5));
}

#[test]
fn log_pane_shows_tracing_lines_and_answers() {
    let mut app = base_app();
    app.apply_log(
        vec![labdeck::tui::log::LogLine {
            level: tracing::Level::WARN,
            target: "labdeck::engine".into(),
            message: "h3: connection refused".into(),
        }],
        0,
    );
    app.apply_answer("3 jobs running");
    insta::assert_snapshot!(pane(&app, Pane::Log, 60, 4));
}

#[test]
fn whole_screen_with_help_overlay() {
    let mut app = base_app();
    add_jobs(&mut app);
    for event in device_events("h1") {
        app.apply(&event);
    }
    for event in run_events() {
        app.apply(&Event::Run(event));
    }
    for event in vpp_events() {
        app.apply(&event);
    }
    insta::assert_snapshot!("whole_screen", screen(&mut app, 200, 60));
    press(&mut app, "?");
    let help = screen(&mut app, 200, 60);
    insta::assert_snapshot!("help_overlay", help);
    assert!(help.contains("disconnect all API clients"));
    // Keys other than Esc/? do nothing while the help is open.
    assert!(press(&mut app, "q").is_empty() && !app.quit);
}

#[test]
fn keys_produce_effects() {
    let mut app = base_app();
    add_jobs(&mut app);
    // x kills the selected running job (job 1 is running, the cursor starts on it).
    assert_eq!(press(&mut app, "3x"), vec![Effect::Kill(job("h1", 1))]);
    // A finished job is not killed.
    assert!(press(&mut app, "jx").is_empty());
    // D asks first, then sends the disconnect-all command to the sink.
    assert!(press(&mut app, "D").is_empty());
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::Command("vpp disconnect --all".into())]
    );
    assert!(press(&mut app, "Dn").is_empty(), "n cancels");
    // R reruns the failed walk under the cursor in the walks pane.
    for event in run_events() {
        app.apply(&Event::Run(event));
    }
    assert_eq!(
        press(&mut app, "4R"),
        vec![Effect::Command("rerun 1".into())]
    );
    // The : line goes to the sink.
    let keymap = Keymap::default();
    press(&mut app, ":hosts");
    assert_eq!(
        app.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &keymap),
        vec![Effect::Command("hosts".into())]
    );
    // q asks while a run is live.
    assert!(press(&mut app, "q").is_empty() && !app.quit);
    assert_eq!(press(&mut app, "y"), vec![Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn step_keys_send_decisions() {
    let mut app = base_app();
    for event in step_events() {
        app.apply(&Event::Run(event));
    }
    // No control attached: the decision goes to the command language (the session driver
    // holds the control of a replay started from the `:` line).
    assert_eq!(
        press(&mut app, "n"),
        vec![Effect::Command("step".into())],
        "no control attached: the decision goes through the command line"
    );
    let (control, _decisions) = StepControl::new();
    app.step = Some(control);
    let effects = press(&mut app, "nsrca ");
    let decisions: Vec<StepDecision> = effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Step(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(
        decisions,
        [
            StepDecision::Run,
            StepDecision::Skip,
            StepDecision::Retry,
            StepDecision::Continue,
            StepDecision::Abort,
            StepDecision::Run
        ]
    );
    // b toggles a breakpoint on the action under the cursor (the pending `ping`).
    assert_eq!(
        press(&mut app, "4b"),
        vec![Effect::Step(StepDecision::Breakpoint("ping".into()))]
    );
    assert!(app.breakpoints.contains("ping"));
    // Moving the cursor up puts it on `mtu`.
    assert_eq!(
        press(&mut app, "kb"),
        vec![Effect::Step(StepDecision::Breakpoint("mtu".into()))]
    );
}

#[test]
fn resize_and_tiny_screens_do_not_panic() {
    let mut app = base_app();
    add_jobs(&mut app);
    for event in run_events().into_iter().chain(step_events()) {
        app.apply(&Event::Run(event));
    }
    for (w, h) in [(1, 1), (10, 3), (40, 12), (200, 60), (300, 100)] {
        let text = screen(&mut app, w, h);
        assert_eq!(text.lines().count(), usize::from(h));
    }
    press(&mut app, "?");
    let _ = screen(&mut app, 5, 2);
}

#[test]
fn mouse_clicks_focus_and_select() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = base_app();
    let _ = screen(&mut app, 200, 60);
    let hosts = app.areas.areas[Pane::Hosts.index()];
    let effects = app.on_mouse(&MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: hosts.x + 3,
        row: hosts.y + 3,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.selected_host().as_deref(), Some("h2"));
    assert!(effects.contains(&Effect::WatchDevices {
        host: "h2".into(),
        every: Some(labdeck::tui::app::DEVICE_WATCH_EVERY)
    }));
    // A click on the third job row selects it, under the table header.
    add_jobs(&mut app);
    let _ = screen(&mut app, 200, 60);
    let jobs = app.areas.areas[Pane::Jobs.index()];
    app.on_mouse(&MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: jobs.x + 4,
        row: jobs.y + 4,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.focus, Pane::Jobs);
    assert_eq!(app.selected_job().map(|j| j.job.id), Some(3));
    let log = app.areas.areas[Pane::Log.index()];
    app.on_mouse(&MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: log.x + 2,
        row: log.y + 2,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.focus, Pane::Log);
}

#[test]
fn the_log_scrolls_and_filters_from_the_newest_line() {
    let mut app = base_app();
    for i in 0..50 {
        app.apply_answer(&format!("line {i}"));
    }
    press(&mut app, "6kk");
    let text = pane(&app, Pane::Log, 40, 5);
    let shown: Vec<&str> = text.lines().filter(|l| l.contains("line ")).collect();
    assert_eq!(shown.len(), 3);
    assert!(shown[2].contains("line 47"), "{text}");
    press(&mut app, "/line 1");
    let text = pane(&app, Pane::Log, 40, 5);
    assert!(
        text.contains("line 19") || text.contains("line 17"),
        "{text}"
    );
    assert!(!text.contains("line 47"), "{text}");
}

#[test]
fn only_visible_changes_ask_for_a_redraw() {
    let mut app = base_app();
    let cache = Event::Cache(labdeck::engine::cache::CacheView {
        key: "local".into(),
        state: "up",
        connections: 1,
        channels_in_use: 0,
        reuse_count: 3,
        connects: 1,
        fast_path: true,
        machines: vec!["h1".into()],
    });
    assert!(app.dirty);
    app.apply(&cache);
    assert!(app.dirty, "a pending redraw is not lost");
    app.dirty = false;
    app.apply(&cache);
    assert!(!app.dirty, "cache changes are not shown");
    app.apply(&Event::HostDisconnected { host: "h1".into() });
    assert!(app.dirty);
    app.dirty = false;
    app.apply_log(Vec::new(), 0);
    assert!(!app.dirty, "an empty log drain changes nothing");
}
