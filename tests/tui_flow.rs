//! A whole TUI flow driven through the REAL engine on the local transport (a pool with only
//! this machine): connect → jobs (one fails, one is killed with `x`) → a run with a failed
//! walk (run events published through the engine) → step-through replay with decisions on a
//! real `StepControl` → `D` with its confirmation reaching the command sink. The app's
//! effects are carried out by the same `tui::execute` the terminal loop uses; screens are
//! snapshotted with the clock fixed and measured durations masked.

mod tui_common;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use labdeck::engine::{EngineConfig, EngineHandle, Event, JobSpec, JobState};
use labdeck::pool::Pool;
use labdeck::run::{StepControl, StepDecision};
use labdeck::tui::keymap::Keymap;
use labdeck::tui::{App, Effect, Pane, execute};
use tokio::sync::mpsc;
use tui_common::*;

struct Flow {
    app: App,
    engine: EngineHandle,
    events: mpsc::UnboundedReceiver<Event>,
    sink: mpsc::UnboundedSender<String>,
    keymap: Keymap,
}

impl Flow {
    /// Applies engine events until one matches.
    async fn until(&mut self, done: impl Fn(&Event) -> bool) {
        while let Some(event) = self.events.recv().await {
            self.app.apply(&event);
            if done(&event) {
                return;
            }
        }
        panic!("the engine stopped");
    }

    /// Presses keys and carries out the effects (devices are not watched here: the local
    /// machine's devices differ per machine; the tmux lab test shows real devices).
    fn press(&mut self, keys: &str) -> Vec<Effect> {
        let mut all = Vec::new();
        for c in keys.chars() {
            let key = match c {
                '\n' => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                c => KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
            };
            for effect in self.app.on_key(&key, &self.keymap) {
                self.run(&effect);
                all.push(effect);
            }
        }
        all
    }

    fn run(&mut self, effect: &Effect) {
        if !matches!(effect, Effect::WatchDevices { .. }) {
            execute(effect, &mut self.app, &self.engine, Some(&self.sink));
        }
    }

    fn screen(&mut self) -> String {
        mask_durations(&screen(&mut self.app, 200, 60))
    }
}

/// Replaces measured durations (latency, job runtimes) and the blanks after them by
/// `<dur>` padded to the same width, so the snapshot does not depend on timing.
fn mask_durations(text: &str) -> String {
    let re = regex::Regex::new(r"\d+(?:\.\d+)?(?:µs|ms|s\b) *").expect("regex");
    re.replace_all(text, |c: &regex::Captures| {
        let width = c[0].chars().count();
        format!("{:<width$}", "<dur>")
    })
    .into_owned()
}

#[tokio::test]
async fn connect_jobs_failure_step_mode_and_disconnect_all() {
    let pool_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/examples/local-pool.toml"
    );
    let pool = Pool::load(std::path::Path::new(pool_path)).expect("pool loads");
    let machines: Vec<String> = pool.machines.iter().map(|m| m.name.clone()).collect();
    let engine = EngineHandle::spawn(pool, EngineConfig::default());
    let events = engine.subscribe().expect("subscribe");
    let (sink, mut commands) = mpsc::unbounded_channel();
    let mut app = App::new("local-pool.toml", machines, None);
    app.now_ms = NOW_MS;
    let mut flow = Flow {
        app,
        engine: engine.clone(),
        events,
        sink,
        keymap: Keymap::default(),
    };

    // Connect.
    let start = flow.app.start();
    assert_eq!(start[0], Effect::ConnectAll);
    assert!(start.contains(&Effect::WatchDevices {
        host: "workstation".into(),
        every: Some(labdeck::tui::app::DEVICE_WATCH_EVERY),
    }));
    for effect in &start {
        flow.run(effect);
    }
    flow.until(|e| matches!(e, Event::HostConnected { host, .. } if host == "workstation"))
        .await;

    // Jobs: one fails with output, one runs until `x` kills it.
    let failing = engine
        .exec(JobSpec {
            host: "workstation".into(),
            command: "echo hello; echo world; exit 3".into(),
            ..JobSpec::default()
        })
        .await
        .expect("exec");
    flow.until(|e| matches!(e, Event::JobFinished { job, .. } if *job == failing))
        .await;
    let sleeper = engine
        .exec(JobSpec {
            host: "workstation".into(),
            command: "echo started; exec sleep 600".into(),
            background: true,
            ..JobSpec::default()
        })
        .await
        .expect("exec");
    flow.until(|e| matches!(e, Event::JobOutput { job, .. } if *job == sleeper))
        .await;
    let kills = flow.press("3jx");
    assert_eq!(kills, vec![Effect::Kill(sleeper.clone())]);
    flow.until(|e| matches!(e, Event::JobFinished { job, .. } if *job == sleeper))
        .await;
    assert_eq!(
        flow.app.jobs.get(&sleeper).map(|r| r.state),
        Some(JobState::Killed)
    );
    assert_eq!(
        flow.app
            .jobs
            .get(&failing)
            .map(|r| (r.state, r.exit.clone())),
        Some((JobState::Failed, Some("3".into())))
    );
    flow.press("k");
    insta::assert_snapshot!("flow_1_connected_jobs", flow.screen());

    // A run with a failed walk, published through the engine like the executor does.
    for event in run_events() {
        engine.publish(event).expect("publish");
    }
    flow.until(|e| {
        matches!(
            e,
            Event::Run(labdeck::run::RunEvent::WalkFinished { walk_id: 3, .. })
        )
    })
    .await;
    assert_eq!(flow.press("4R"), vec![Effect::Command("rerun 1".into())]);
    assert_eq!(commands.recv().await.as_deref(), Some("rerun 1"));
    insta::assert_snapshot!("flow_2_failed_walk", flow.screen());

    // Step-through replay of the failed walk.
    let (control, mut decisions) = StepControl::new();
    flow.app.step = Some(control);
    for event in step_events() {
        engine.publish(event).expect("publish");
    }
    flow.until(|e| matches!(e, Event::Run(labdeck::run::RunEvent::StepPending { .. })))
        .await;
    insta::assert_snapshot!("flow_3_step_mode", flow.screen());
    flow.press("n");
    assert_eq!(decisions.recv().await, Some(StepDecision::Run));
    flow.press("b");
    assert_eq!(
        decisions.recv().await,
        Some(StepDecision::Breakpoint("ping".into()))
    );

    // D asks, then sends the disconnect-all command to the sink.
    for event in vpp_events() {
        if let Event::Vpp(client) = event {
            flow.app.apply(&Event::Vpp(client));
        }
    }
    assert!(flow.press("D").is_empty());
    insta::assert_snapshot!("flow_4_disconnect_confirmation", flow.screen());
    flow.press("y");
    assert_eq!(
        commands.recv().await.as_deref(),
        Some("vpp disconnect --all")
    );

    // Quitting while the replay is live asks, then aborts the replay.
    assert!(flow.press("q").is_empty());
    let quit = flow.press("y");
    assert_eq!(quit, vec![Effect::Step(StepDecision::Abort), Effect::Quit]);
    assert_eq!(decisions.recv().await, Some(StepDecision::Abort));
    assert!(flow.app.quit);
    assert_eq!(flow.app.focus, Pane::Walks);
    engine.shutdown().await;
}
