//! Drawing: the header, the six panes (or the step-through view in the Walks pane), the
//! status line and the overlays, from an [`App`] and a [`Theme`].
//!
//! Invariants: drawing reads the app and never changes what it shows (it only records the
//! pane areas for the mouse); only the visible window of a long list is turned into
//! widgets, so a frame costs the same with 10 or 10 000 jobs; every time shown comes from
//! [`App::now_ms`] or from event data, never from a clock read here.

use super::app::{App, Confirm, InputKind, Pane, PaneAreas};
use super::keymap::Keymap;
use super::strings as s;
use super::theme::Theme;
use super::views::RateHistory;
use crate::engine::{HostViewState, JobState};
use crate::walk::Outcome;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row, Table, Wrap};
use std::time::Duration;

/// Lays out the screen: header, the six pane areas (zoom gives the focused pane the whole
/// body), status line.
pub fn layout(area: Rect, app: &App) -> (Rect, PaneAreas, Rect) {
    let [header, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut areas = PaneAreas::default();
    if app.zoom {
        areas.areas[app.focus.index()] = body;
        return (header, areas, status);
    }
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Percentage(30),
        Constraint::Percentage(40),
        Constraint::Percentage(30),
    ])
    .areas(body);
    let split = |area: Rect, left: u16| -> [Rect; 2] {
        Layout::horizontal([
            Constraint::Percentage(left),
            Constraint::Percentage(100 - left),
        ])
        .areas(area)
    };
    let [hosts, devices] = split(top, 45);
    let [jobs, walks] = split(middle, 55);
    let [clients, log] = split(bottom, 40);
    areas.areas = [hosts, devices, jobs, walks, clients, log];
    (header, areas, status)
}

/// Draws the whole screen and records the pane areas in the app.
pub fn draw(frame: &mut Frame, app: &mut App, theme: &Theme, keymap: &Keymap) {
    let (header, areas, status) = layout(frame.area(), app);
    app.areas = areas;
    let shared = &*app;
    frame.render_widget(Block::default().style(theme.style("text")), frame.area());
    draw_header(frame, header, shared, theme);
    let mut rows_at = [None; 6];
    for pane in Pane::ALL {
        let area = areas.areas[pane.index()];
        if area.width > 0 && area.height > 0 {
            rows_at[pane.index()] = draw_pane(frame, area, shared, theme, pane);
        }
    }
    draw_status(frame, status, shared, theme);
    if shared.help {
        draw_help(frame, theme, keymap);
    }
    app.areas.rows_at = rows_at;
}

/// Where a pane's selectable rows are: their screen area and the index of the first one
/// shown (for mouse selection).
pub type RowsAt = Option<(Rect, usize)>;

fn body(table_area: Rect) -> Rect {
    Rect {
        y: table_area.y.saturating_add(1),
        height: table_area.height.saturating_sub(1),
        ..table_area
    }
}

/// Draws one pane into `area` (the per-pane snapshot tests use this directly) and answers
/// where its selectable rows are.
pub fn draw_pane(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, pane: Pane) -> RowsAt {
    let focused = app.focus == pane;
    let title = if pane == Pane::Walks && app.step_mode() {
        match app.step_walk() {
            Some(walk) => format!("{} — walk {walk}", s::PANE_STEP),
            None => s::PANE_STEP.to_owned(),
        }
    } else {
        pane.title().to_owned()
    };
    let mut title_spans = vec![Span::styled(
        format!(" {} {title} ", pane.index() + 1),
        theme.style("title"),
    )];
    let filter = &app.filters[pane.index()];
    if !filter.is_empty() {
        title_spans.push(Span::styled(format!("[/{filter}] "), theme.style("accent")));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(if focused { "border_focused" } else { "border" }))
        .title(Line::from(title_spans));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match pane {
        Pane::Hosts => draw_hosts(frame, inner, app, theme),
        Pane::Devices => draw_devices(frame, inner, app, theme),
        Pane::Jobs => draw_jobs(frame, inner, app, theme),
        Pane::Walks if app.step_mode() => draw_step(frame, inner, app, theme),
        Pane::Walks => draw_walks(frame, inner, app, theme),
        Pane::Clients => draw_clients(frame, inner, app, theme),
        Pane::Log => {
            draw_log(frame, inner, app, theme);
            None
        }
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = if app.run.mode.is_some() {
        format!(
            "{} {}/{}",
            s::run_phase(app.run.phase),
            app.run.done(),
            app.run.total
        )
    } else {
        s::run_phase(app.run.phase).to_owned()
    };
    let recipe = app
        .recipe
        .clone()
        .or_else(|| (!app.run.recipe.is_empty()).then(|| app.run.recipe.clone()))
        .unwrap_or_else(|| s::NONE.to_owned());
    let left = format!(
        " {} │ {} {} │ {} {} │ {} {} │ {} {}",
        s::APP,
        s::SESSION,
        app.session.as_deref().unwrap_or(s::NONE),
        s::POOL,
        app.pool_name,
        s::RECIPE,
        recipe,
        s::RUN,
        run
    );
    let clock = format!("{} UTC ", clock(app.now_ms));
    let pad = usize::from(area.width).saturating_sub(left.chars().count() + clock.chars().count());
    let line = format!("{left}{}{clock}", " ".repeat(pad));
    frame.render_widget(Paragraph::new(line).style(theme.style("header")), area);
}

fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if let Some(input) = &app.input {
        let prompt = match input.kind {
            InputKind::Command => s::COMMAND_PROMPT,
            InputKind::Filter => s::FILTER_PROMPT,
        };
        let text = format!("{prompt}{}", input.text);
        let x = area.x + u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
        frame.render_widget(Paragraph::new(text).style(theme.style("command")), area);
        frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    if let Some(confirm) = app.confirm {
        let text = match confirm {
            Confirm::Quit => s::CONFIRM_QUIT,
            Confirm::DisconnectAll => s::CONFIRM_DISCONNECT,
        };
        frame.render_widget(Paragraph::new(text).style(theme.style("pending")), area);
        return;
    }
    let text = app.status.as_deref().unwrap_or(s::STATUS_HINT);
    frame.render_widget(Paragraph::new(text).style(theme.style("dim")), area);
}

fn draw_help(frame: &mut Frame, theme: &Theme, keymap: &Keymap) {
    let lines = keymap.help_lines();
    let area = frame.area();
    let width = area.width.min(72);
    let height = area
        .height
        .min(u16::try_from(lines.len() + 3).unwrap_or(u16::MAX));
    let overlay = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, overlay);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style("border_focused"))
        .title(Span::styled(
            format!(" {} ", s::PANE_HELP),
            theme.style("title"),
        ))
        .style(theme.style("overlay"));
    let inner = block.inner(overlay);
    frame.render_widget(block, overlay);
    let mut text: Vec<Line> = lines
        .into_iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!("{keys:>16}  "), theme.style("key")),
                Span::raw(what),
            ])
        })
        .collect();
    text.push(Line::styled(s::HELP_FOOTER, theme.style("dim")));
    frame.render_widget(Paragraph::new(text), inner);
}

/// First visible row so that `cursor` is on screen in `height` rows.
fn window_start(cursor: usize, rows: usize, height: usize) -> usize {
    if height == 0 || rows <= height {
        return 0;
    }
    let cursor = cursor.min(rows - 1);
    cursor.saturating_sub(height - 1).min(rows - height)
}

fn table<'a>(
    header: &[&'a str],
    rows: Vec<Row<'a>>,
    widths: Vec<Constraint>,
    theme: &Theme,
) -> Table<'a> {
    Table::new(rows, widths)
        .header(Row::new(header.iter().map(|h| Cell::from(*h))).style(theme.style("table_header")))
        .column_spacing(1)
}

fn host_state_style(state: HostViewState, theme: &Theme) -> Style {
    match state {
        HostViewState::Up => theme.style("ok"),
        HostViewState::Failed => theme.style("error"),
        HostViewState::Connecting => theme.style("warn"),
        HostViewState::Idle | HostViewState::Down => theme.style("dim"),
    }
}

fn draw_hosts(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) -> RowsAt {
    let rows = app.host_rows();
    let cursor = app.cursor[Pane::Hosts.index()].min(rows.len().saturating_sub(1));
    let height = usize::from(area.height.saturating_sub(1));
    let start = window_start(cursor, rows.len(), height);
    let rows_shown: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, machine)| {
            let view = app.hosts.get(*machine).cloned().unwrap_or_default();
            let latency = view.latency.map(fmt_duration).unwrap_or_default();
            let detail = view.error.clone().unwrap_or_default();
            let row = Row::new(vec![
                Cell::from((*machine).clone()),
                Cell::from(app.roles_of(machine)),
                Cell::from(view.state.label()).style(host_state_style(view.state, theme)),
                Cell::from(latency),
                Cell::from(detail).style(theme.style("dim")),
            ]);
            if i == cursor {
                row.style(theme.style("selected"))
            } else {
                row
            }
        })
        .collect();
    let widths = vec![
        Constraint::Length(16),
        Constraint::Length(14),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Min(8),
    ];
    frame.render_widget(table(&s::COLS_HOSTS, rows_shown, widths, theme), area);
    Some((body(area), start))
}

fn draw_devices(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) -> RowsAt {
    let Some(host) = app.selected_host() else {
        frame.render_widget(
            Paragraph::new(s::NO_HOST_SELECTED).style(theme.style("dim")),
            area,
        );
        return None;
    };
    let Some(view) = app.devices.get(&host) else {
        frame.render_widget(
            Paragraph::new(format!("{host}: {}", s::NO_DEVICES_YET)).style(theme.style("dim")),
            area,
        );
        return None;
    };
    let rows = app.device_rows();
    let cursor = app.cursor[Pane::Devices.index()].min(rows.len().saturating_sub(1));
    let error_rows = u16::from(view.error.is_some());
    let height = usize::from(area.height.saturating_sub(1 + error_rows));
    let start = window_start(cursor, rows.len(), height);
    let empty = RateHistory::default();
    let rows_shown: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .filter_map(|(i, d)| {
            let device = view.devices.get(*d)?;
            let rates = view.rates.get(&device.name);
            let history = app
                .rate_history
                .get(&(host.clone(), device.name.clone()))
                .unwrap_or(&empty);
            let addresses: Vec<String> = device
                .addresses
                .iter()
                .map(|a| format!("{}/{}", a.local, a.prefix_len))
                .collect();
            let state_style = if device.state == "UP" {
                theme.style("ok")
            } else {
                theme.style("dim")
            };
            let row = Row::new(vec![
                Cell::from(device.name.clone()),
                Cell::from(device.state.clone()).style(state_style),
                Cell::from(device.mtu.to_string()),
                Cell::from(addresses.join(" ")),
                Cell::from(
                    rates
                        .map(|r| fmt_bits(r.rx_bits_per_sec))
                        .unwrap_or_default(),
                ),
                Cell::from(
                    rates
                        .map(|r| fmt_bits(r.tx_bits_per_sec))
                        .unwrap_or_default(),
                ),
                Cell::from(Line::from(vec![
                    Span::styled(sparkline(&history.rx, 10), theme.style("spark_rx")),
                    Span::raw(" "),
                    Span::styled(sparkline(&history.tx, 10), theme.style("spark_tx")),
                ])),
            ]);
            Some(if i == cursor && app.focus == Pane::Devices {
                row.style(theme.style("selected"))
            } else {
                row
            })
        })
        .collect();
    let widths = vec![
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Min(12),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(21),
    ];
    let [table_area, error_area] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(error_rows)]).areas(area);
    frame.render_widget(
        table(&s::COLS_DEVICES, rows_shown, widths, theme),
        table_area,
    );
    if let Some(error) = &view.error {
        frame.render_widget(
            Paragraph::new(error.as_str()).style(theme.style("error")),
            error_area,
        );
    }
    Some((body(table_area), start))
}

fn job_state_style(state: JobState, theme: &Theme) -> Style {
    match state {
        JobState::Passed => theme.style("ok"),
        JobState::Running | JobState::Starting => theme.style("warn"),
        JobState::Failed | JobState::Error | JobState::TimedOut => theme.style("error"),
        JobState::Killed => theme.style("accent"),
    }
}

fn draw_jobs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) -> RowsAt {
    let [list_area, output_area] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let filtered = !app.filters[Pane::Jobs.index()].is_empty();
    let jobs = app.jobs.rows();
    // Without a filter the rows are the jobs themselves: no index list for 10k jobs.
    let indexes = if filtered { app.job_rows() } else { Vec::new() };
    let count = if filtered { indexes.len() } else { jobs.len() };
    let cursor = app.cursor[Pane::Jobs.index()].min(count.saturating_sub(1));
    let height = usize::from(list_area.height.saturating_sub(1));
    let start = window_start(cursor, count, height);
    let rows_shown: Vec<Row> = (start..count.min(start + height))
        .filter_map(|i| {
            let row = jobs.get(if filtered { *indexes.get(i)? } else { i })?;
            let line = Row::new(vec![
                Cell::from(format!("#{}", row.job.id)),
                Cell::from(row.job.host.clone()),
                Cell::from(row.command.clone()),
                Cell::from(row.state.label()).style(job_state_style(row.state, theme)),
                Cell::from(fmt_duration(row.runtime(app.now_ms))),
                Cell::from(row.exit.clone().unwrap_or_default()),
            ]);
            Some(if i == cursor {
                line.style(theme.style("selected"))
            } else {
                line
            })
        })
        .collect();
    let widths = vec![
        Constraint::Length(6),
        Constraint::Length(14),
        Constraint::Min(10),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(9),
    ];
    frame.render_widget(table(&s::COLS_JOBS, rows_shown, widths, theme), list_area);
    let rows_at = Some((body(list_area), start));

    let selected = app.selected_job();
    let title = match selected {
        Some(row) => format!("{} {}", s::OUTPUT_OF, row.job),
        None => s::NO_JOB_SELECTED.to_owned(),
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.style("border"))
        .title(Span::styled(title, theme.style("dim")));
    let inner = block.inner(output_area);
    frame.render_widget(block, output_area);
    let Some(row) = selected else {
        return rows_at;
    };
    let height = usize::from(inner.height);
    let partial: Vec<_> = row.partial_lines().collect();
    let total = row.output.len() + partial.len();
    if total == 0 {
        frame.render_widget(
            Paragraph::new(s::NO_OUTPUT).style(theme.style("dim")),
            inner,
        );
        return rows_at;
    }
    let skip = total.saturating_sub(height);
    let lines: Vec<Line> = row
        .output
        .iter()
        .chain(partial.iter())
        .skip(skip)
        .map(|l| {
            let style = if l.stderr {
                theme.style("warn")
            } else {
                theme.style("text")
            };
            Line::styled(l.text.clone(), style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    rows_at
}

fn draw_walks(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) -> RowsAt {
    let run = &app.run;
    if run.mode.is_none() {
        frame.render_widget(Paragraph::new(s::NO_RUN).style(theme.style("dim")), area);
        return None;
    }
    let [gauge_area, info_area, failed_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Min(0),
    ])
    .areas(area);
    let ratio = run.ratio();
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(format!(
                "{}/{} ({:.0}%)",
                run.done(),
                run.total,
                ratio * 100.0
            ))
            .gauge_style(theme.style("gauge")),
        gauge_area,
    );
    let epoch = format!(
        "{} {}/{}{}",
        s::EPOCH,
        (run.epoch + 1).min(run.epochs.max(1)),
        run.epochs,
        run.serial
            .as_ref()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default()
    );
    let counts = [
        run.passed,
        run.failed,
        run.errors,
        run.cancelled,
        run.skipped,
    ];
    let mut count_spans = Vec::new();
    for (i, (label, n)) in s::COUNTS.iter().zip(counts).enumerate() {
        let style = match i {
            0 => theme.style("ok"),
            1 | 2 if n > 0 => theme.style("error"),
            _ => theme.style("text"),
        };
        count_spans.push(Span::styled(format!("{label} {n}"), style));
        count_spans.push(Span::raw("  "));
    }
    let eta = run
        .eta_ms(app.now_ms)
        .map(|ms| fmt_duration(Duration::from_millis(ms)))
        .unwrap_or_else(|| s::NONE.to_owned());
    let mut info = vec![
        Line::from(format!(
            "{epoch} · {} · {} {:.2} {} · {} {eta}",
            run.strategy,
            s::RATE,
            run.rate(app.now_ms),
            s::WALKS_PER_SEC,
            s::ETA
        )),
        Line::from(count_spans),
    ];
    if let Some(reason) = &run.stop_reason {
        info.push(Line::styled(reason.clone(), theme.style("warn")));
    }
    frame.render_widget(Paragraph::new(info), info_area);

    let rows = app.failed_rows();
    let cursor = app.cursor[Pane::Walks.index()].min(rows.len().saturating_sub(1));
    let height = usize::from(failed_area.height.saturating_sub(2));
    let start = window_start(cursor, rows.len(), height);
    let rows_shown: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .filter_map(|(i, w)| {
            let walk = run.failed_walks.get(*w)?;
            let row = Row::new(vec![
                Cell::from(walk.walk_id.to_string()),
                Cell::from(walk.testbed.to_string()),
                Cell::from(s::outcome(walk.outcome)).style(theme.style("error")),
                Cell::from(walk.action.clone().unwrap_or_default()),
            ]);
            Some(if i == cursor && app.focus == Pane::Walks {
                row.style(theme.style("selected"))
            } else {
                row
            })
        })
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.style("border"))
        .title(Span::styled(
            format!("{} ({})", s::FAILED_WALKS, run.failed_walks.len()),
            theme.style("dim"),
        ));
    let inner = block.inner(failed_area);
    frame.render_widget(block, failed_area);
    let widths = vec![
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Min(8),
    ];
    frame.render_widget(table(&s::COLS_FAILED, rows_shown, widths, theme), inner);
    Some((body(inner), start))
}

fn outcome_cell(outcome: Option<Outcome>, theme: &Theme) -> Cell<'static> {
    match outcome {
        None => Cell::from(""),
        Some(o) => {
            let style = match o {
                Outcome::Pass => theme.style("ok"),
                Outcome::Fail | Outcome::Error => theme.style("error"),
                Outcome::Skip | Outcome::Cancel => theme.style("dim"),
            };
            Cell::from(s::outcome(o)).style(style)
        }
    }
}

fn draw_step(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) -> RowsAt {
    let rows = app.step_rows();
    let [list_area, next_area, output_area] = Layout::vertical([
        Constraint::Percentage(50),
        Constraint::Length(3),
        Constraint::Min(0),
    ])
    .areas(area);
    let cursor = app.step_cursor.min(rows.len().saturating_sub(1));
    let height = usize::from(list_area.height.saturating_sub(1));
    let start = window_start(cursor, rows.len(), height);
    let rows_shown: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, r)| {
            let marker = match (app.breakpoints.contains(&r.action), r.pending) {
                (true, true) => "●▶",
                (true, false) => "● ",
                (false, true) => " ▶",
                (false, false) => "  ",
            };
            let row = Row::new(vec![
                Cell::from(marker).style(theme.style("error")),
                Cell::from(r.index.to_string()),
                Cell::from(r.action.clone()),
                Cell::from(r.option.clone()),
                outcome_cell(r.recorded, theme),
                outcome_cell(r.outcome, theme),
            ]);
            if i == cursor {
                row.style(theme.style("selected"))
            } else if r.pending {
                row.style(theme.style("pending"))
            } else {
                row
            }
        })
        .collect();
    let widths = vec![
        Constraint::Length(2),
        Constraint::Length(3),
        Constraint::Min(8),
        Constraint::Min(8),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    frame.render_widget(table(&s::COLS_STEPS, rows_shown, widths, theme), list_area);
    let rows_at = Some((body(list_area), start));

    let mut next = Vec::new();
    match &app.run.pending {
        Some(p) => {
            let mut spans = vec![
                Span::styled(format!("{}: ", s::NEXT_STEP), theme.style("key")),
                Span::raw(format!("{} {}", p.action, p.option)),
            ];
            if p.breakpoint {
                spans.push(Span::styled(
                    format!("  ● {}", s::BREAKPOINT_HIT),
                    theme.style("error"),
                ));
            }
            next.push(Line::from(spans));
            next.push(Line::styled(
                format!("$ {}", p.command.as_deref().unwrap_or(s::NONE)),
                theme.style("pending"),
            ));
        }
        None => next.push(Line::styled(s::STEP_WAITING, theme.style("dim"))),
    }
    next.push(Line::styled(s::STEP_KEYS, theme.style("dim")));
    frame.render_widget(Paragraph::new(next), next_area);

    // The selected step's recorded excerpt, else the newest job's live output.
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.style("border"));
    let inner = block.inner(output_area);
    frame.render_widget(block, output_area);
    let excerpt = rows
        .get(cursor)
        .map(|r| r.excerpt.as_str())
        .filter(|e| !e.is_empty());
    let height = usize::from(inner.height);
    let lines: Vec<Line> = match excerpt {
        Some(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(height)..]
                .iter()
                .map(|l| Line::raw((*l).to_owned()))
                .collect()
        }
        None => match app.jobs.rows().back() {
            Some(job) => job
                .output
                .iter()
                .skip(job.output.len().saturating_sub(height))
                .map(|l| Line::raw(l.text.clone()))
                .collect(),
            None => Vec::new(),
        },
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    rows_at
}

fn draw_clients(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) -> RowsAt {
    let rows = app.client_rows();
    let cursor = app.cursor[Pane::Clients.index()].min(rows.len().saturating_sub(1));
    let height = usize::from(area.height.saturating_sub(1));
    let start = window_start(cursor, rows.len(), height);
    let rows_shown: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .filter_map(|(i, key)| {
            let client = app.clients.rows.get(*key)?;
            let style = match client.state {
                "connected" | "VPP ready" => theme.style("ok"),
                "dead" | "connect failed" => theme.style("error"),
                "disconnected" => theme.style("dim"),
                _ => theme.style("warn"),
            };
            let ping = match (client.last_ping, client.ping_failed) {
                (_, true) => "failed".to_owned(),
                (Some(d), false) => fmt_duration(d),
                (None, false) => String::new(),
            };
            let row = Row::new(vec![
                Cell::from((*key).clone()),
                Cell::from(client.state).style(style),
                Cell::from(client.reuses.to_string()),
                Cell::from(ping),
                Cell::from(client.detail.clone()).style(theme.style("dim")),
            ]);
            Some(if i == cursor && app.focus == Pane::Clients {
                row.style(theme.style("selected"))
            } else {
                row
            })
        })
        .collect();
    let widths = vec![
        Constraint::Min(20),
        Constraint::Length(14),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Min(6),
    ];
    frame.render_widget(table(&s::COLS_CLIENTS, rows_shown, widths, theme), area);
    Some((body(area), start))
}

fn draw_log(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let height = usize::from(area.height);
    let filter = app.filters[Pane::Log.index()].as_str();
    let lines = &app.log.lines;
    // Newest first, matching the filter; only as many as the window needs are scanned.
    let up = app.cursor[Pane::Log.index()];
    let found: Vec<usize> = (0..lines.len())
        .rev()
        .filter(|i| {
            filter.is_empty()
                || lines
                    .get(*i)
                    .is_some_and(|l| l.text.contains(filter) || l.level.contains(filter))
        })
        .take(up.saturating_add(height))
        .collect();
    let up = up.min(found.len().saturating_sub(1));
    let shown: Vec<Line> = found
        .iter()
        .skip(up)
        .take(height)
        .rev()
        .filter_map(|i| {
            let entry = lines.get(*i)?;
            let style = match entry.level {
                "ERROR" => theme.style("error"),
                "WARN" => theme.style("warn"),
                "INFO" => theme.style("text"),
                s::ANSWER_PREFIX => theme.style("accent"),
                _ => theme.style("dim"),
            };
            let level = if entry.level == s::ANSWER_PREFIX {
                entry.level.to_owned()
            } else {
                format!("{:5} ", entry.level)
            };
            Some(Line::from(vec![
                Span::styled(level, style),
                Span::raw(entry.text.clone()),
            ]))
        })
        .collect();
    frame.render_widget(Paragraph::new(shown), area);
}

/// `HH:MM:SS` of a unix time in milliseconds (UTC).
pub fn clock(now_ms: u64) -> String {
    let secs = (now_ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A duration in a few characters: `350µs`, `12ms`, `4.2s`, `3m07s`, `2h05m`.
pub fn fmt_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{}ms", micros / 1_000)
    } else if micros < 60_000_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if micros < 3_600_000_000 {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        let mins = d.as_secs() / 60;
        format!("{}h{:02}m", mins / 60, mins % 60)
    }
}

/// A bit rate: `0 b/s`, `12.0 kb/s`, `1.5 Mb/s`, `9.9 Gb/s`.
pub fn fmt_bits(bits_per_sec: f64) -> String {
    let b = bits_per_sec.max(0.0);
    if b < 1e3 {
        format!("{b:.0} b/s")
    } else if b < 1e6 {
        format!("{:.1} kb/s", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} Mb/s", b / 1e6)
    } else {
        format!("{:.1} Gb/s", b / 1e9)
    }
}

/// The last `width` values as block characters scaled to their maximum.
pub fn sparkline(values: &std::collections::VecDeque<f64>, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let shown: Vec<f64> = values
        .iter()
        .skip(values.len().saturating_sub(width))
        .copied()
        .collect();
    let max = shown.iter().copied().fold(0.0_f64, f64::max);
    shown
        .iter()
        .map(|v| {
            if max <= 0.0 || !v.is_finite() {
                BARS[0]
            } else {
                let level = (v / max * 7.0).round().clamp(0.0, 7.0) as usize;
                BARS[level]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(fmt_duration(Duration::from_micros(350)), "350µs");
        assert_eq!(fmt_duration(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_secs(187)), "3m07s");
        assert_eq!(fmt_bits(1_500_000.0), "1.5 Mb/s");
        let values = [0.0, 5.0, 10.0].into_iter().collect();
        assert_eq!(sparkline(&values, 10), "▁▅█");
        assert_eq!(window_start(50, 100, 10), 41);
        assert_eq!(window_start(3, 100, 10), 0);
        assert_eq!(window_start(99, 100, 0), 0);
    }
}
