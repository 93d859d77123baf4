//! The TUI's application state and its pure reducers: engine events in, key and mouse input
//! in, [`Effect`]s out. Nothing here touches the terminal, the engine or a clock: the run
//! loop stamps [`App::now_ms`], executes the effects and draws.
//!
//! Invariants: [`App::apply`] and the input handlers are deterministic (same inputs, same
//! state and effects); every selection is clamped to its pane's rows when drawn, so no
//! input can index out of range; [`App::dirty`] is set by every change that alters the
//! screen and cleared only by the run loop after drawing.

use super::keymap::{Action, Keymap};
use super::log::LogLine;
use super::strings as s;
use super::views::{ClientsView, JobsView, LogRing, RateHistory, record_rates};
use crate::engine::{
    DevicesView, Event, HostView, HostViewState, JobRef, apply_devices_event, apply_host_event,
};
use crate::run::{RunPhase, RunView, StepControl, StepDecision};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// How often the selected host's devices are rediscovered.
pub const DEVICE_WATCH_EVERY: Duration = Duration::from_secs(2);
/// Rows a page key moves.
pub const PAGE_ROWS: usize = 10;

/// The panes, in Tab and number order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pane {
    #[default]
    Hosts,
    Devices,
    Jobs,
    Walks,
    Clients,
    Log,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Hosts,
        Pane::Devices,
        Pane::Jobs,
        Pane::Walks,
        Pane::Clients,
        Pane::Log,
    ];

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn title(self) -> &'static str {
        match self {
            Pane::Hosts => s::PANE_HOSTS,
            Pane::Devices => s::PANE_DEVICES,
            Pane::Jobs => s::PANE_JOBS,
            Pane::Walks => s::PANE_WALKS,
            Pane::Clients => s::PANE_CLIENTS,
            Pane::Log => s::PANE_LOG,
        }
    }
}

/// What the run loop must do for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    ConnectAll,
    /// Rediscover a host's devices periodically (`None` stops).
    WatchDevices {
        host: String,
        every: Option<Duration>,
    },
    Kill(JobRef),
    /// A line for the command sink (the REPL's command language).
    Command(String),
    Step(StepDecision),
    Suspend,
    Quit,
}

/// A question on the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Quit,
    DisconnectAll,
}

/// What the status line is collecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Command,
    Filter,
}

/// A line being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
}

/// The screen areas of the panes, as the last draw laid them out (for the mouse).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneAreas {
    pub areas: [Rect; 6],
    /// Per pane: the area of its selectable rows and the index of the first row shown.
    pub rows_at: [Option<(Rect, usize)>; 6],
}

/// Everything the TUI shows.
#[derive(Debug, Default)]
pub struct App {
    pub session: Option<String>,
    pub pool_name: String,
    pub recipe: Option<String>,
    /// Pool machines in file order.
    pub machines: Vec<String>,
    pub hosts: HashMap<String, HostView>,
    pub devices: HashMap<String, DevicesView>,
    pub rate_history: HashMap<(String, String), RateHistory>,
    pub jobs: JobsView,
    pub run: RunView,
    pub clients: ClientsView,
    pub log: LogRing,
    pub focus: Pane,
    /// Cursor per pane (for the Log pane: lines up from the newest).
    pub cursor: [usize; 6],
    pub filters: [String; 6],
    pub input: Option<Input>,
    pub confirm: Option<Confirm>,
    pub help: bool,
    pub zoom: bool,
    /// Step-through replay control, when a replay is attached.
    pub step: Option<StepControl>,
    /// Cursor in the step list (index into [`App::step_rows`]).
    pub step_cursor: usize,
    pub breakpoints: BTreeSet<String>,
    /// The time of the current moment (unix ms), stamped by the run loop (fixed in tests).
    pub now_ms: u64,
    pub dirty: bool,
    pub quit: bool,
    /// A one-line message on the status line.
    pub status: Option<String>,
    /// The host whose devices are being watched.
    pub watched_host: Option<String>,
    /// Pane areas of the last draw.
    pub areas: PaneAreas,
}

/// A row of the step-through list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub index: usize,
    pub action: String,
    pub option: String,
    pub command: Option<String>,
    pub recorded: Option<crate::walk::Outcome>,
    pub outcome: Option<crate::walk::Outcome>,
    pub pending: bool,
    pub excerpt: String,
}

impl App {
    pub fn new(pool_name: &str, machines: Vec<String>, recipe: Option<String>) -> App {
        App {
            pool_name: pool_name.to_owned(),
            machines,
            recipe,
            dirty: true,
            ..App::default()
        }
    }

    /// What to do first: connect every machine and watch the first one's devices.
    pub fn start(&mut self) -> Vec<Effect> {
        let mut effects = vec![Effect::ConnectAll];
        effects.extend(self.follow_selected_host());
        effects
    }

    /// Applies one engine event at [`App::now_ms`].
    pub fn apply(&mut self, event: &Event) {
        // Cache changes are not shown; everything else is.
        if !matches!(event, Event::Cache(_)) {
            self.dirty = true;
        }
        match event {
            Event::HostConnecting { .. }
            | Event::HostConnected { .. }
            | Event::HostFailed { .. }
            | Event::HostDisconnected { .. } => apply_host_event(&mut self.hosts, event),
            Event::HostReconnecting {
                host,
                attempt,
                delay,
            } => {
                let view = self.hosts.entry(host.clone()).or_default();
                view.state = HostViewState::Connecting;
                view.error = Some(format!(
                    "reconnect #{attempt} in {:.1} s",
                    delay.as_secs_f64()
                ));
            }
            Event::Cache(_) => {}
            Event::JobStarted { .. } | Event::JobOutput { .. } | Event::JobFinished { .. } => {
                self.jobs.apply(event, self.now_ms)
            }
            Event::Devices { host, .. } => {
                apply_devices_event(&mut self.devices, event);
                if let Some(view) = self.devices.get(host) {
                    record_rates(&mut self.rate_history, host, view);
                }
            }
            Event::Run(run) => {
                self.run.apply(run, self.now_ms);
                if self.run.pending.is_some() {
                    self.step_cursor = self.step_rows().len().saturating_sub(1);
                }
            }
            Event::Vpp(client) => self.clients.apply(client),
        }
    }

    /// Takes tracing lines from the log inbox.
    pub fn apply_log(&mut self, lines: Vec<LogLine>, dropped: u64) {
        if lines.is_empty() && dropped == 0 {
            return;
        }
        self.dirty = true;
        self.log.dropped += dropped;
        for line in lines {
            let level = match line.level {
                tracing::Level::ERROR => "ERROR",
                tracing::Level::WARN => "WARN",
                tracing::Level::INFO => "INFO",
                tracing::Level::DEBUG => "DEBUG",
                tracing::Level::TRACE => "TRACE",
            };
            self.log
                .push(level, &format!("{}: {}", line.target, line.message));
        }
    }

    /// A line the command sink answered (shown in the Log pane).
    pub fn apply_answer(&mut self, line: &str) {
        self.dirty = true;
        for part in line.lines() {
            self.log.push(s::ANSWER_PREFIX, part);
        }
    }

    /// Whether a run is live (quitting asks first).
    pub fn run_is_live(&self) -> bool {
        matches!(
            self.run.phase,
            RunPhase::Running | RunPhase::Paused | RunPhase::Stopping
        )
    }

    /// Whether the Walks pane shows the step-through replay.
    pub fn step_mode(&self) -> bool {
        self.step.is_some() || self.run.pending.is_some()
    }

    /// Hosts pane rows: machines matching the filter.
    pub fn host_rows(&self) -> Vec<&String> {
        let filter = &self.filters[Pane::Hosts.index()];
        self.machines
            .iter()
            .filter(|m| {
                filter.is_empty() || m.contains(filter.as_str()) || {
                    let state = self.hosts.get(*m).map(|v| v.state.label()).unwrap_or("");
                    state.contains(filter.as_str()) || self.roles_of(m).contains(filter.as_str())
                }
            })
            .collect()
    }

    /// The roles a machine plays in the run's testbeds (`tb0:dut`).
    pub fn roles_of(&self, machine: &str) -> String {
        let mut roles = Vec::new();
        for (i, testbed) in self.run.testbeds.iter().enumerate() {
            for (role, m) in testbed {
                if m == machine {
                    roles.push(format!("tb{i}:{role}"));
                }
            }
        }
        roles.join(" ")
    }

    /// The machine under the Hosts cursor.
    pub fn selected_host(&self) -> Option<String> {
        let rows = self.host_rows();
        if rows.is_empty() {
            return None;
        }
        let at = self.cursor[Pane::Hosts.index()].min(rows.len() - 1);
        rows.get(at).map(|m| (*m).clone())
    }

    /// Devices pane rows (indexes into the selected host's devices).
    pub fn device_rows(&self) -> Vec<usize> {
        let Some(view) = self.selected_host().and_then(|h| self.devices.get(&h)) else {
            return Vec::new();
        };
        let filter = &self.filters[Pane::Devices.index()];
        view.devices
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                filter.is_empty()
                    || d.name.contains(filter.as_str())
                    || d.state.contains(filter.as_str())
                    || d.addresses
                        .iter()
                        .any(|a| a.local.contains(filter.as_str()))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Jobs pane rows (indexes into [`JobsView::rows`]).
    pub fn job_rows(&self) -> Vec<usize> {
        let filter = &self.filters[Pane::Jobs.index()];
        self.jobs
            .rows()
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                filter.is_empty()
                    || r.command.contains(filter.as_str())
                    || r.job.host.contains(filter.as_str())
                    || r.state.label().contains(filter.as_str())
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The job under the Jobs cursor.
    pub fn selected_job(&self) -> Option<&super::views::JobRow> {
        let rows = self.job_rows();
        let at = self.cursor[Pane::Jobs.index()].min(rows.len().checked_sub(1)?);
        self.jobs.rows().get(*rows.get(at)?)
    }

    /// Walks pane rows outside step mode: failed walks (indexes), newest last.
    pub fn failed_rows(&self) -> Vec<usize> {
        let filter = &self.filters[Pane::Walks.index()];
        self.run
            .failed_walks
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                filter.is_empty()
                    || w.walk_id.to_string().contains(filter.as_str())
                    || w.action.as_deref().unwrap_or("").contains(filter.as_str())
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The walk of the step-through view: the pending step's, else the last step's.
    pub fn step_walk(&self) -> Option<u64> {
        self.run
            .pending
            .as_ref()
            .map(|p| p.walk_id)
            .or_else(|| self.run.recent.back().map(|l| l.walk_id))
    }

    /// The actions of the step-through walk so far, the pending one last.
    pub fn step_rows(&self) -> Vec<StepRow> {
        let Some(walk) = self.step_walk() else {
            return Vec::new();
        };
        let mut rows: Vec<StepRow> = self
            .run
            .recent
            .iter()
            .filter(|l| l.walk_id == walk)
            .map(|l| StepRow {
                index: l.index,
                action: l.action.clone(),
                option: l.option.clone(),
                command: l.command.clone(),
                recorded: l.recorded,
                outcome: l.outcome,
                pending: false,
                excerpt: l.excerpt.clone(),
            })
            .collect();
        if let Some(p) = &self.run.pending {
            rows.push(StepRow {
                index: p.index,
                action: p.action.clone(),
                option: p.option.clone(),
                command: p.command.clone(),
                recorded: p.recorded,
                outcome: None,
                pending: true,
                excerpt: String::new(),
            });
        }
        rows
    }

    /// Clients pane rows (keys).
    pub fn client_rows(&self) -> Vec<&String> {
        let filter = &self.filters[Pane::Clients.index()];
        self.clients
            .rows
            .iter()
            .filter(|(k, r)| {
                filter.is_empty()
                    || k.contains(filter.as_str())
                    || r.state.contains(filter.as_str())
            })
            .map(|(k, _)| k)
            .collect()
    }

    /// Log pane rows (indexes into the ring).
    pub fn log_rows(&self) -> Vec<usize> {
        let filter = &self.filters[Pane::Log.index()];
        if filter.is_empty() {
            return (0..self.log.lines.len()).collect();
        }
        self.log
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.text.contains(filter.as_str()) || l.level.contains(filter.as_str()))
            .map(|(i, _)| i)
            .collect()
    }

    fn rows_in(&self, pane: Pane) -> usize {
        match pane {
            Pane::Hosts => self.host_rows().len(),
            Pane::Devices => self.device_rows().len(),
            Pane::Jobs => {
                if self.filters[Pane::Jobs.index()].is_empty() {
                    self.jobs.len()
                } else {
                    self.job_rows().len()
                }
            }
            Pane::Walks => {
                if self.step_mode() {
                    self.step_rows().len()
                } else {
                    self.failed_rows().len()
                }
            }
            Pane::Clients => self.client_rows().len(),
            Pane::Log => {
                if self.filters[Pane::Log.index()].is_empty() {
                    self.log.lines.len()
                } else {
                    self.log_rows().len()
                }
            }
        }
    }

    /// Handles a key press.
    pub fn on_key(&mut self, key: &KeyEvent, keymap: &Keymap) -> Vec<Effect> {
        self.dirty = true;
        if keymap.action(key) == Some(Action::Interrupt) {
            self.input = None;
            self.confirm = None;
            return self.quit_now();
        }
        if let Some(input) = &mut self.input {
            return match key.code {
                KeyCode::Esc => {
                    if input.kind == InputKind::Filter {
                        self.filters[self.focus.index()].clear();
                    }
                    self.input = None;
                    Vec::new()
                }
                KeyCode::Enter => {
                    let done = self.input.take();
                    match done {
                        Some(Input {
                            kind: InputKind::Command,
                            text,
                        }) if !text.trim().is_empty() => {
                            self.status = Some(format!("{} :{}", s::SENT, text.trim()));
                            vec![Effect::Command(text.trim().to_owned())]
                        }
                        _ => Vec::new(),
                    }
                }
                KeyCode::Backspace => {
                    input.text.pop();
                    self.sync_filter();
                    Vec::new()
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.text.push(c);
                    self.sync_filter();
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        if let Some(confirm) = self.confirm {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.confirm = None;
                    match confirm {
                        Confirm::Quit => self.quit_now(),
                        Confirm::DisconnectAll => {
                            self.status =
                                Some(format!("{} :{}", s::SENT, s::DISCONNECT_ALL_COMMAND));
                            vec![Effect::Command(s::DISCONNECT_ALL_COMMAND.to_owned())]
                        }
                    }
                }
                _ => {
                    self.confirm = None;
                    Vec::new()
                }
            };
        }
        match keymap.action(key) {
            Some(action) => self.on_action(action),
            None => Vec::new(),
        }
    }

    fn sync_filter(&mut self) {
        if let Some(Input {
            kind: InputKind::Filter,
            text,
        }) = &self.input
        {
            self.filters[self.focus.index()] = text.clone();
            self.cursor[self.focus.index()] = 0;
        }
    }

    fn quit_now(&mut self) -> Vec<Effect> {
        self.quit = true;
        let mut effects = Vec::new();
        if self.step.is_some() && self.run_is_live() {
            effects.push(Effect::Step(StepDecision::Abort));
        }
        effects.push(Effect::Quit);
        effects
    }

    /// Performs a keymap action.
    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        self.dirty = true;
        if self.help && !matches!(action, Action::Help | Action::Back | Action::Interrupt) {
            return Vec::new();
        }
        match action {
            Action::Down => self.move_cursor(1),
            Action::Up => self.move_cursor(-1),
            Action::PageDown => self.move_cursor(PAGE_ROWS as isize),
            Action::PageUp => self.move_cursor(-(PAGE_ROWS as isize)),
            Action::Top => self.move_cursor(isize::MIN / 2),
            Action::Bottom => self.move_cursor(isize::MAX / 2),
            Action::NextPane => self.focus_pane((self.focus.index() + 1) % Pane::ALL.len()),
            Action::PrevPane => {
                self.focus_pane((self.focus.index() + Pane::ALL.len() - 1) % Pane::ALL.len())
            }
            Action::Pane(n) => match usize::from(n).checked_sub(1) {
                Some(i) if i < Pane::ALL.len() => self.focus_pane(i),
                _ => Vec::new(),
            },
            Action::DrillIn => {
                if self.focus == Pane::Hosts {
                    self.focus = Pane::Devices;
                } else {
                    self.zoom = !self.zoom;
                }
                Vec::new()
            }
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if self.zoom {
                    self.zoom = false;
                } else if !self.filters[self.focus.index()].is_empty() {
                    self.filters[self.focus.index()].clear();
                } else {
                    self.status = None;
                }
                Vec::new()
            }
            Action::Filter => {
                self.input = Some(Input {
                    kind: InputKind::Filter,
                    text: self.filters[self.focus.index()].clone(),
                });
                Vec::new()
            }
            Action::CommandLine => {
                self.input = Some(Input {
                    kind: InputKind::Command,
                    text: String::new(),
                });
                Vec::new()
            }
            Action::Help => {
                self.help = !self.help;
                Vec::new()
            }
            Action::KillJob => match self.selected_job() {
                Some(row) if !row.state.is_final() => {
                    let job = row.job.clone();
                    self.status = Some(format!("{} {job}", s::KILLING));
                    vec![Effect::Kill(job)]
                }
                _ => {
                    self.status = Some(s::NO_JOB_TO_KILL.to_owned());
                    Vec::new()
                }
            },
            Action::DisconnectAll => {
                self.confirm = Some(Confirm::DisconnectAll);
                Vec::new()
            }
            Action::RerunWalk => {
                let rows = self.failed_rows();
                let picked = if self.focus == Pane::Walks && !self.step_mode() {
                    rows.get(self.cursor[Pane::Walks.index()].min(rows.len().saturating_sub(1)))
                } else {
                    None
                };
                match picked.and_then(|i| self.run.failed_walks.get(*i)) {
                    Some(walk) => {
                        let line = format!("{} {}", s::RERUN_COMMAND, walk.walk_id);
                        self.status = Some(format!("{} :{line}", s::SENT));
                        vec![Effect::Command(line)]
                    }
                    None => {
                        self.status = Some(s::NO_FAILED_WALK.to_owned());
                        Vec::new()
                    }
                }
            }
            Action::StepRun => self.step_decision(StepDecision::Run),
            Action::StepSkip => self.step_decision(StepDecision::Skip),
            Action::StepRetry => self.step_decision(StepDecision::Retry),
            Action::StepContinue => self.step_decision(StepDecision::Continue),
            Action::StepAbort => self.step_decision(StepDecision::Abort),
            Action::StepBreakpoint => {
                let rows = self.step_rows();
                let Some(row) = rows.get(self.step_cursor.min(rows.len().saturating_sub(1))) else {
                    self.status = Some(s::NO_STEP_CONTROL.to_owned());
                    return Vec::new();
                };
                let action = row.action.clone();
                if !self.breakpoints.remove(&action) {
                    self.breakpoints.insert(action.clone());
                }
                self.step_decision(StepDecision::Breakpoint(action))
            }
            Action::Quit => {
                if self.run_is_live() {
                    self.confirm = Some(Confirm::Quit);
                    Vec::new()
                } else {
                    self.quit_now()
                }
            }
            Action::Interrupt => self.quit_now(),
            Action::Suspend => vec![Effect::Suspend],
        }
    }

    fn step_decision(&mut self, decision: StepDecision) -> Vec<Effect> {
        if self.step.is_some() {
            return vec![Effect::Step(decision)];
        }
        if self.run.pending.is_some() {
            // A replay started from the command line: its step control lives in the session
            // driver, reached through the command language.
            let line = match decision {
                StepDecision::Run => "step".to_owned(),
                StepDecision::Skip => "skip".to_owned(),
                StepDecision::Retry => "retry".to_owned(),
                StepDecision::Continue => "continue".to_owned(),
                StepDecision::Abort => "abort".to_owned(),
                StepDecision::Breakpoint(action) => format!("break {action}"),
            };
            return vec![Effect::Command(line)];
        }
        self.status = Some(s::NO_STEP_CONTROL.to_owned());
        Vec::new()
    }

    fn focus_pane(&mut self, index: usize) -> Vec<Effect> {
        if let Some(pane) = Pane::ALL.get(index) {
            self.focus = *pane;
        }
        Vec::new()
    }

    fn move_cursor(&mut self, by: isize) -> Vec<Effect> {
        let pane = self.focus;
        if pane == Pane::Walks && self.step_mode() {
            let rows = self.step_rows().len();
            self.step_cursor = step(self.step_cursor, by, rows);
            return Vec::new();
        }
        let rows = self.rows_in(pane);
        let cursor = &mut self.cursor[pane.index()];
        if pane == Pane::Log {
            // The log cursor counts lines up from the newest.
            *cursor = step(*cursor, -by, rows);
            return Vec::new();
        }
        *cursor = step(*cursor, by, rows);
        if pane == Pane::Hosts {
            return self.follow_selected_host();
        }
        Vec::new()
    }

    /// Watches the selected host's devices (and stops watching the previous one).
    pub fn follow_selected_host(&mut self) -> Vec<Effect> {
        let selected = self.selected_host();
        if selected == self.watched_host {
            return Vec::new();
        }
        let mut effects = Vec::new();
        if let Some(old) = self.watched_host.take() {
            effects.push(Effect::WatchDevices {
                host: old,
                every: None,
            });
        }
        if let Some(host) = &selected {
            effects.push(Effect::WatchDevices {
                host: host.clone(),
                every: Some(DEVICE_WATCH_EVERY),
            });
        }
        self.watched_host = selected;
        effects
    }

    /// Handles a mouse event: a click focuses the pane under it and selects the row; the
    /// wheel scrolls the pane under the pointer.
    pub fn on_mouse(&mut self, mouse: &MouseEvent) -> Vec<Effect> {
        let at = Position::new(mouse.column, mouse.row);
        let Some(i) = self.areas.areas.iter().position(|a| a.contains(at)) else {
            return Vec::new();
        };
        let Some(pane) = Pane::ALL.get(i).copied() else {
            return Vec::new();
        };
        match mouse.kind {
            MouseEventKind::ScrollDown => {
                self.focus = pane;
                self.move_cursor(3)
            }
            MouseEventKind::ScrollUp => {
                self.focus = pane;
                self.move_cursor(-3)
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.dirty = true;
                self.focus = pane;
                if let Some((rows_area, first)) = self.areas.rows_at[i]
                    && rows_area.contains(at)
                {
                    let target = first + usize::from(at.y - rows_area.y);
                    if pane == Pane::Walks && self.step_mode() {
                        if target < self.step_rows().len() {
                            self.step_cursor = target;
                        }
                    } else if target < self.rows_in(pane) {
                        self.cursor[pane.index()] = target;
                    }
                }
                if pane == Pane::Hosts {
                    return self.follow_selected_host();
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

/// Moves `cursor` by `by` within `0..rows`.
fn step(cursor: usize, by: isize, rows: usize) -> usize {
    if rows == 0 {
        return 0;
    }
    let moved = (cursor.min(rows - 1) as isize).saturating_add(by);
    moved.clamp(0, rows as isize - 1) as usize
}
