//! Benchmark of the terminal UI: frame time and memory with 10,000 jobs and 100,000 log
//! lines at 200×60 on ratatui's `TestBackend` (no terminal I/O; the draw is the cost).
//!
//! Run: `cargo run --release --example bench_tui [FRAMES]` (default 300 frames per case).
//! Prints: the time to apply the events, then per case the median / p99 / max frame time,
//! and the process's RSS (VmRSS) and peak (VmHWM) before and after loading.

use labdeck::devices::{Device, LinkStats};
use labdeck::engine::{Ending, Event, JobRef, JobState};
use labdeck::run::{RunEvent, RunMode};
use labdeck::transport::{ExitOutcome, Stream};
use labdeck::tui::keymap::{Action, Keymap};
use labdeck::tui::log::LogLine;
use labdeck::tui::render::draw;
use labdeck::tui::theme::Theme;
use labdeck::tui::{App, Pane};
use labdeck::walk::Outcome;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const JOBS: u64 = 10_000;
const LOG_LINES: usize = 100_000;
const HOSTS: usize = 16;

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn load(app: &mut App) {
    for h in 0..HOSTS {
        app.apply(&Event::HostConnected {
            host: format!("h{h}"),
            latency: Duration::from_millis(3),
        });
    }
    for at in 0..3u64 {
        let devices = (0..32)
            .map(|i| Device {
                index: i,
                name: format!("eth{i}"),
                kind: "veth".into(),
                hwaddr: None,
                state: "UP".into(),
                flags: vec![],
                mtu: 1500,
                driver: None,
                master: None,
                addresses: vec![],
                stats: LinkStats {
                    rx_bytes: at * 1_000_000 * u64::from(i + 1),
                    tx_bytes: at * 500_000,
                    ..LinkStats::default()
                },
            })
            .collect();
        app.apply(&Event::Devices {
            host: "h0".into(),
            at_ms: at * 1_000,
            devices: Ok(devices),
        });
    }
    for id in 1..=JOBS {
        let job = JobRef {
            host: format!("h{}", id as usize % HOSTS),
            id,
        };
        app.apply(&Event::JobStarted {
            job: job.clone(),
            command: format!("iperf3 -c 198.18.1.2 -t 10 --job {id}"),
            background: false,
            files: None,
        });
        let output = format!(
            "Connecting to host 198.18.1.2, port 5201\n[  5] local 198.18.1.1 port {id}\n[  5] 0.00-1.00 sec 1.10 GBytes 9.41 Gbits/sec\nline 4\nline 5\n"
        );
        app.apply(&Event::JobOutput {
            job: job.clone(),
            stream: Stream::Stdout,
            data: Arc::from(output.as_bytes()),
        });
        if id % 10 != 0 {
            app.apply(&Event::JobFinished {
                job,
                state: if id % 7 == 0 {
                    JobState::Failed
                } else {
                    JobState::Passed
                },
                ending: Ending::Exited(ExitOutcome {
                    code: Some(u32::from(id % 7 == 0)),
                    signal: None,
                }),
                duration: Duration::from_millis(id),
                json: None,
            });
        }
    }
    let lines = (0..LOG_LINES)
        .map(|i| LogLine {
            level: tracing::Level::INFO,
            target: "labdeck::engine".into(),
            message: format!("job h{}#{i} finished: passed in {i} ms", i % HOSTS),
        })
        .collect();
    app.apply_log(lines, 0);
    app.apply(&Event::Run(RunEvent::Started {
        mode: RunMode::Run,
        recipe: "mtu-sweep".into(),
        strategy: "full".into(),
        testbeds: vec![vec![
            ("dut".into(), "h0".into()),
            ("peer".into(), "h1".into()),
        ]],
        walks: 5_000,
        epochs: 4,
        run_dir: None,
        at_ms: 0,
    }));
    for walk_id in 0..3_000 {
        app.apply(&Event::Run(RunEvent::WalkFinished {
            walk_id,
            testbed: 0,
            outcome: if walk_id % 3 == 0 {
                Outcome::Fail
            } else {
                Outcome::Pass
            },
            duration_ms: 10,
            failed_action: Some("ping".into()),
            values: String::new(),
        }));
    }
}

fn frames(
    terminal: &mut Terminal<TestBackend>,
    app: &mut App,
    theme: &Theme,
    keymap: &Keymap,
    count: usize,
) -> BenchResult<Vec<Duration>> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        app.dirty = true;
        let start = Instant::now();
        terminal.draw(|frame| draw(frame, app, theme, keymap))?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times)
}

fn report(case: &str, times: &[Duration]) {
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "| {case} | {:.2} ms | {:.2} ms | {:.2} ms |",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

fn main() -> BenchResult<()> {
    let count: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 300,
    };
    println!("# labdeck TUI benchmark: {JOBS} jobs, {LOG_LINES} log lines, 200x60");
    let rss_before = status_kb("VmRSS:");
    let machines = (0..HOSTS).map(|h| format!("h{h}")).collect();
    let mut app = App::new("bench.toml", machines, Some("mtu-sweep".into()));
    app.now_ms = 10_000;
    let start = Instant::now();
    load(&mut app);
    println!(
        "events applied in {:.0} ms ({} jobs kept, {} output lines, {} log lines)",
        start.elapsed().as_secs_f64() * 1e3,
        app.jobs.len(),
        app.jobs.output_lines(),
        app.log.lines.len()
    );
    let theme = Theme::dark();
    let keymap = Keymap::default();
    let mut terminal = Terminal::new(TestBackend::new(200, 60))?;
    println!("| case | median | p99 | max |");
    println!("|---|---:|---:|---:|");
    report(
        "all panes, hosts focused",
        &frames(&mut terminal, &mut app, &theme, &keymap, count)?,
    );
    app.on_action(Action::Pane(3));
    app.on_action(Action::Bottom);
    report(
        "jobs focused, cursor on the newest of 10k",
        &frames(&mut terminal, &mut app, &theme, &keymap, count)?,
    );
    app.filters[Pane::Jobs.index()] = "--job 99".into();
    report(
        "jobs filtered (scan of 10k per frame)",
        &frames(&mut terminal, &mut app, &theme, &keymap, count)?,
    );
    app.filters[Pane::Jobs.index()].clear();
    app.on_action(Action::Pane(6));
    app.filters[Pane::Log.index()] = "h3#".into();
    report(
        "log filtered (newest matches among 100k)",
        &frames(&mut terminal, &mut app, &theme, &keymap, count)?,
    );
    app.filters[Pane::Log.index()].clear();
    app.on_action(Action::DrillIn);
    report(
        "log zoomed to the full screen",
        &frames(&mut terminal, &mut app, &theme, &keymap, count)?,
    );
    println!(
        "RSS: {} KiB before loading, {} KiB after (peak {} KiB)",
        rss_before,
        status_kb("VmRSS:"),
        status_kb("VmHWM:")
    );
    Ok(())
}
