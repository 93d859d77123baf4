//! Shared fixtures for the TUI tests: synthetic events (runs, devices, VPP clients) and
//! rendering an app or one pane on ratatui's `TestBackend`.
#![allow(dead_code)]

use labdeck::devices::{Address, Device, LinkStats};
use labdeck::engine::Event;
use labdeck::run::{RunEvent, RunMode};
use labdeck::tui::keymap::Keymap;
use labdeck::tui::render::{draw, draw_pane};
use labdeck::tui::theme::Theme;
use labdeck::tui::{App, Pane};
use labdeck::vpp::event::{VppClientEvent, VppClientEventKind};
use labdeck::walk::Outcome;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::Duration;

/// A fixed "now" for snapshots: 2026-11-23 12:00:00 UTC.
pub const NOW_MS: u64 = 1_795_435_200_000;

pub fn screen(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    let theme = Theme::dark();
    let keymap = Keymap::default();
    terminal
        .draw(|frame| draw(frame, app, &theme, &keymap))
        .expect("draws");
    terminal.backend().to_string()
}

pub fn pane(app: &App, pane: Pane, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    let theme = Theme::dark();
    terminal
        .draw(|frame| {
            draw_pane(frame, frame.area(), app, &theme, pane);
        })
        .expect("draws");
    terminal.backend().to_string()
}

pub fn device(
    name: &str,
    state: &str,
    mtu: u32,
    address: Option<&str>,
    rx: u64,
    tx: u64,
) -> Device {
    Device {
        index: 1,
        name: name.into(),
        kind: "veth".into(),
        hwaddr: None,
        state: state.into(),
        flags: vec![],
        mtu,
        driver: None,
        master: None,
        addresses: address
            .map(|a| Address {
                family: "inet".into(),
                local: a.into(),
                prefix_len: 24,
                scope: "global".into(),
            })
            .into_iter()
            .collect(),
        stats: LinkStats {
            rx_bytes: rx,
            tx_bytes: tx,
            ..LinkStats::default()
        },
    }
}

/// Three device snapshots one second apart with growing counters.
pub fn device_events(host: &str) -> Vec<Event> {
    (0..3u64)
        .map(|i| Event::Devices {
            host: host.into(),
            at_ms: NOW_MS - 3_000 + i * 1_000,
            devices: Ok(vec![
                device("lo", "UNKNOWN", 65536, Some("127.0.0.1"), 0, 0),
                device(
                    "eth1",
                    "UP",
                    9000,
                    Some("198.18.0.1"),
                    i * i * 125_000,
                    i * 12_500,
                ),
                device("eth2", "DOWN", 1500, None, 0, 0),
            ]),
        })
        .collect()
}

pub fn started(walks: u64, mode: RunMode) -> RunEvent {
    RunEvent::Started {
        mode,
        recipe: "mtu-sweep".into(),
        strategy: "full".into(),
        testbeds: vec![vec![
            ("dut".into(), "h1".into()),
            ("peer".into(), "h2".into()),
        ]],
        walks,
        epochs: 2,
        run_dir: None,
        at_ms: NOW_MS - 20_000,
    }
}

pub fn walk_finished(walk_id: u64, outcome: Outcome) -> RunEvent {
    RunEvent::WalkFinished {
        walk_id,
        testbed: 0,
        outcome,
        duration_ms: 1_000,
        failed_action: matches!(outcome, Outcome::Fail | Outcome::Error).then(|| "ping".into()),
        values: String::new(),
    }
}

/// A run of 10 walks, 4 ended (one failed), in its second epoch.
pub fn run_events() -> Vec<RunEvent> {
    vec![
        started(10, RunMode::Run),
        RunEvent::EpochStarted {
            epoch: 0,
            of: 2,
            serial: Some("mtu=1500".into()),
        },
        walk_finished(0, Outcome::Pass),
        walk_finished(1, Outcome::Fail),
        walk_finished(2, Outcome::Pass),
        RunEvent::EpochStarted {
            epoch: 1,
            of: 2,
            serial: Some("mtu=9000".into()),
        },
        walk_finished(3, Outcome::Skip),
    ]
}

/// A replay of walk 1: its first action ran (pass, as recorded), the second is pending.
pub fn step_events() -> Vec<RunEvent> {
    vec![
        started(1, RunMode::Replay),
        RunEvent::StepStarted {
            walk_id: 1,
            testbed: 0,
            index: 0,
            action: "mtu".into(),
            option: "9000".into(),
            command: Some("ip link set eth1 mtu 9000".into()),
        },
        RunEvent::StepFinished {
            walk_id: 1,
            testbed: 0,
            index: 0,
            action: "mtu".into(),
            outcome: Outcome::Pass,
            exit_status: Some(0),
            duration_ms: 12,
            excerpt: String::new(),
            recorded: Some(Outcome::Pass),
        },
        RunEvent::StepPending {
            walk_id: 1,
            testbed: 0,
            index: 1,
            action: "ping".into(),
            option: "size=8972".into(),
            command: Some("ping -c 3 -M do -s 8972 198.18.0.2".into()),
            recorded: Some(Outcome::Fail),
            breakpoint: false,
            waits: true,
        },
    ]
}

pub fn vpp_events() -> Vec<Event> {
    let event = |key: &str, kind, reuses, latency| {
        Event::Vpp(VppClientEvent {
            key: key.into(),
            kind,
            detail: String::new(),
            reuses,
            latency,
        })
    };
    vec![
        event(
            "h1:22:/run/vpp/api.sock",
            VppClientEventKind::Connected,
            Some(0),
            None,
        ),
        event(
            "h1:22:/run/vpp/api.sock",
            VppClientEventKind::Reused,
            Some(3),
            None,
        ),
        event(
            "h1:22:/run/vpp/api.sock",
            VppClientEventKind::Ping,
            None,
            Some(Duration::from_micros(420)),
        ),
        event(
            "h2:22:/run/vpp/api.sock",
            VppClientEventKind::Connected,
            Some(0),
            None,
        ),
        event(
            "h2:22:/run/vpp/api.sock",
            VppClientEventKind::Dead,
            None,
            None,
        ),
    ]
}
