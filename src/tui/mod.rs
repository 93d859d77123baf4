//! The terminal UI (`labdeck tui`): ratatui over crossterm's event stream on tokio. It
//! renders engine events through pure reducers and sends commands; it owns no lab state.
//!
//! - [`app`]: the state and the pure reducers for events, keys and the mouse, which answer
//!   with [`app::Effect`]s;
//! - [`views`]: the TUI's own reducers (jobs with output rings, API clients, log ring);
//! - [`render`]: drawing; [`theme`] and [`keymap`]: colours and keys as data;
//! - [`log`]: the tracing layer feeding the Log pane; [`terminal`]: the terminal guard;
//! - [`strings`]: every user-visible string.
//!
//! Integration points: the `:` line and the keys `D` (as `vpp disconnect --all`) and `R`
//! (as `rerun WALK_ID`) go to the command sink [`Wiring::commands`]; its answers come back
//! through [`Wiring::answers`] into the Log pane; a step-through replay is driven through
//! [`Wiring::step`].
//!
//! Invariants: the screen is drawn only when something changed, at most once per
//! [`FRAME`]; while the UI runs nothing else writes to the terminal (tracing goes to the Log
//! pane); the terminal is restored on every exit path (see [`terminal`]).

pub mod app;
pub mod keymap;
pub mod log;
pub mod render;
pub mod strings;
pub mod terminal;
pub mod theme;
pub mod views;

use crate::engine::{Command, EngineHandle};
use crate::run::StepControl;
pub use app::{App, Effect, Pane};
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use keymap::Keymap;
use std::time::Duration;
use theme::Theme;
use tokio::sync::mpsc;

/// The shortest time between two frames (about 30 per second).
pub const FRAME: Duration = Duration::from_millis(33);
/// Engine events applied per wake-up before the loop yields to input and drawing.
pub const EVENT_BATCH: usize = 4096;

/// Errors that end the TUI.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Theme(#[from] theme::ThemeError),
    #[error(transparent)]
    Keymap(#[from] keymap::KeymapError),
}

/// What the integrator connects to the UI.
#[derive(Debug, Default)]
pub struct Wiring {
    /// Where `:` lines, `D` and `R` go.
    pub commands: Option<mpsc::UnboundedSender<String>>,
    /// Lines the command sink answers, for the Log pane.
    pub answers: Option<mpsc::UnboundedReceiver<String>>,
    /// The step control of an attached replay.
    pub step: Option<StepControl>,
    /// Tracing lines for the Log pane.
    pub log: Option<log::LogInbox>,
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    crate::walk::trace::unix_millis_now()
}

/// Carries out an effect that needs no terminal (everything but `Suspend` and `Quit`).
/// Engine refusals and closed sinks are reported in the status line and the log.
pub fn execute(
    effect: &Effect,
    app: &mut App,
    engine: &EngineHandle,
    commands: Option<&mpsc::UnboundedSender<String>>,
) {
    let sent = match effect {
        Effect::ConnectAll => engine.send(Command::ConnectAll).map_err(|e| e.to_string()),
        Effect::WatchDevices { host, every } => engine
            .send(Command::WatchDevices {
                host: host.clone(),
                every: *every,
            })
            .map_err(|e| e.to_string()),
        Effect::Kill(job) => {
            let engine = engine.clone();
            let job = job.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.kill(job.clone(), "TERM").await {
                    tracing::warn!("kill {job}: {e}");
                }
            });
            Ok(())
        }
        Effect::Command(line) => match commands {
            Some(sink) => sink
                .send(line.clone())
                .map_err(|_| format!("the command sink is closed: `{line}` was not sent")),
            None => Err(format!("no command sink is wired: `{line}` was not sent")),
        },
        Effect::Step(decision) => match &app.step {
            Some(control) if control.decide(decision.clone()) => Ok(()),
            Some(_) => {
                app.step = None;
                Err("the replay has ended".to_owned())
            }
            None => Err(strings::NO_STEP_CONTROL.to_owned()),
        },
        Effect::Suspend | Effect::Quit => Ok(()),
    };
    if let Err(message) = sent {
        app.log.push("WARN", &message);
        app.status = Some(message);
        app.dirty = true;
    }
}

/// Runs the UI on the real terminal until the user quits (or SIGTERM).
pub async fn run(
    engine: EngineHandle,
    mut app: App,
    theme: Theme,
    keymap: Keymap,
    mut wiring: Wiring,
) -> Result<(), TuiError> {
    let mut events = engine.subscribe()?;
    app.step = wiring.step.take();
    let mut guard = terminal::TerminalGuard::enter()?;
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Ctrl-C arrives as a key in raw mode; SIGINT from elsewhere ends the UI the same way.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut answers = wiring.answers.take();
    app.now_ms = now_ms();
    let mut pending = app.start();
    let mut last_second = 0;
    loop {
        for effect in pending.drain(..) {
            match effect {
                Effect::Quit => app.quit = true,
                Effect::Suspend => {
                    guard.suspend()?;
                    app.dirty = true;
                }
                other => execute(&other, &mut app, &engine, wiring.commands.as_ref()),
            }
        }
        if app.quit {
            break;
        }
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    app.apply(&event);
                    let mut batch = 1;
                    while batch < EVENT_BATCH {
                        match events.try_recv() {
                            Ok(event) => app.apply(&event),
                            Err(_) => break,
                        }
                        batch += 1;
                    }
                }
                None => app.quit = true,
            },
            term = input.next() => match term {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    pending = app.on_key(&key, &keymap);
                }
                Some(Ok(TermEvent::Mouse(mouse))) => pending = app.on_mouse(&mouse),
                Some(Ok(TermEvent::Resize(_, _))) => app.dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(TuiError::Terminal(e)),
                None => app.quit = true,
            },
            answer = async {
                match answers.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match answer {
                Some(line) => app.apply_answer(&line),
                None => answers = None,
            },
            _ = sigterm.recv() => pending = app.on_action(keymap::Action::Interrupt),
            _ = sigint.recv() => pending = app.on_action(keymap::Action::Interrupt),
            _ = tick.tick() => {
                app.now_ms = now_ms();
                if let Some(inbox) = &wiring.log {
                    let (lines, dropped) = inbox.drain();
                    app.apply_log(lines, dropped);
                }
                let second = app.now_ms / 1000;
                if second != last_second {
                    last_second = second;
                    app.dirty = true;
                }
                if app.dirty {
                    guard
                        .terminal
                        .draw(|frame| render::draw(frame, &mut app, &theme, &keymap))?;
                    app.dirty = false;
                }
            }
        }
    }
    drop(guard);
    Ok(())
}
