//! The REPL: a line editor (rustyline) on its own thread over a [`Console`].
//!
//! Three threads of control: the **editor thread** reads lines (history, completion and
//! hints from the console's [`CompletionData`]) and prints each command's output; the
//! **async side** executes lines on the console and turns Ctrl-C during a command into
//! [`Console::interrupt`]; the **printer thread** shows engine notifications (jobs ending,
//! hosts failing, walks failing, runs finishing) through rustyline's `ExternalPrinter`.
//!
//! Invariants: a notification is printed above the prompt and the line being edited is
//! redrawn intact, never interleaved with it (when stdin is not a terminal there is no
//! prompt to protect and notifications are plain lines); every line entered is in the
//! history file before it runs, so a crash loses none; the editor thread only waits for
//! the async side while a command runs.

use crate::console::complete::{self, CompletionData};
use crate::console::{Console, Output};
use crate::engine::Event;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Config, Context, Editor, ExternalPrinter as _, Helper};
use std::borrow::Cow;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::mpsc as async_mpsc;

/// The prompt.
pub const PROMPT: &str = "labdeck> ";
/// Lines kept in the history file.
pub const HISTORY_SIZE: usize = 5000;

/// REPL settings.
#[derive(Debug, Clone, Default)]
pub struct ReplOptions {
    /// The history file (`None`: no persistent history).
    pub history: Option<PathBuf>,
    /// The session's run driver: a run still going when the REPL ends is stopped and
    /// undone before the connections close.
    pub driver: Option<std::sync::Arc<crate::run::driver::SessionDriver>>,
}

/// The default history file: `history` in the state directory.
pub fn default_history() -> Option<PathBuf> {
    crate::logging::state_dir().map(|dir| dir.join("history"))
}

/// rustyline's helper: completion and hints from the console's data.
pub struct ReplHelper {
    data: Arc<Mutex<CompletionData>>,
    color: bool,
}

impl ReplHelper {
    pub fn new(data: Arc<Mutex<CompletionData>>) -> ReplHelper {
        ReplHelper {
            data,
            color: std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

impl Completer for ReplHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let data = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let (start, mut candidates) = complete::complete(line, pos, &data);
        // A unique candidate at the end of the line gets a space, as in a shell.
        if candidates.len() == 1 && pos >= line.len() {
            for c in &mut candidates {
                c.push(' ');
            }
        }
        Ok((start, candidates))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        complete::hint(line)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
}

impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

/// What the editor thread tells the async side.
enum FromEditor {
    Line(String),
    /// End of input (Ctrl-D, stdin closed).
    Eof,
    Failed(String),
}

fn print_lines(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// The editor thread: reads lines until `quit`, end of input or an error.
fn editor_loop(
    data: Arc<Mutex<CompletionData>>,
    history: Option<PathBuf>,
    lines: async_mpsc::UnboundedSender<FromEditor>,
    replies: mpsc::Receiver<Output>,
    notifications: mpsc::Receiver<String>,
) {
    let config = match Config::builder().max_history_size(HISTORY_SIZE) {
        Ok(builder) => builder.history_ignore_dups(true),
        Err(e) => {
            let _ = lines.send(FromEditor::Failed(e.to_string()));
            return;
        }
    };
    let config = match config {
        Ok(builder) => builder.auto_add_history(false).build(),
        Err(e) => {
            let _ = lines.send(FromEditor::Failed(e.to_string()));
            return;
        }
    };
    let mut editor: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            let _ = lines.send(FromEditor::Failed(format!(
                "cannot start the line editor: {e}"
            )));
            return;
        }
    };
    editor.set_helper(Some(ReplHelper::new(data)));
    if let Some(path) = &history {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if path.exists()
            && let Err(e) = editor.load_history(path)
        {
            tracing::warn!(history = %path.display(), error = %e, "history not loaded");
        }
    }
    // Notifications go through the external printer when there is a terminal (above
    // the prompt, the edited line redrawn), else as plain lines.
    let printer = editor.create_external_printer().ok();
    let spawned = std::thread::Builder::new()
        .name("labdeck-repl-printer".into())
        .spawn(move || {
            let mut printer = printer;
            for message in notifications {
                let printed = match printer.as_mut() {
                    Some(p) => p.print(format!("{message}\n")).is_ok(),
                    None => false,
                };
                if !printed {
                    print_lines(&[message]);
                }
            }
        });
    if let Err(e) = spawned {
        let _ = lines.send(FromEditor::Failed(format!("cannot start the printer: {e}")));
        return;
    }
    loop {
        match editor.readline(PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(path) = &history
                        && let Err(e) = editor.append_history(path)
                    {
                        tracing::warn!(history = %path.display(), error = %e, "history not saved");
                    }
                }
                if lines.send(FromEditor::Line(line)).is_err() {
                    return;
                }
                match replies.recv() {
                    Ok(output) => {
                        print_lines(&output.lines);
                        if output.quit {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
            // Ctrl-C at the prompt drops the line, as in a shell.
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => {
                let _ = lines.send(FromEditor::Eof);
                return;
            }
            Err(e) => {
                let _ = lines.send(FromEditor::Failed(e.to_string()));
                return;
            }
        }
    }
}

/// Executes one line; Ctrl-C while it runs (SIGINT: the terminal is not in raw mode
/// then) interrupts the foreground job, or abandons a command that has none.
async fn execute_interruptibly(
    console: &Console,
    line: &str,
    interrupts: Option<&mut tokio::signal::unix::Signal>,
) -> Output {
    let execution = console.execute_line(line);
    tokio::pin!(execution);
    let Some(interrupts) = interrupts else {
        return execution.await;
    };
    loop {
        tokio::select! {
            output = &mut execution => return output,
            signal = interrupts.recv() => {
                if signal.is_none() {
                    return execution.await;
                }
                let lines = console.interrupt().await;
                if lines.is_empty() {
                    return Output { lines: vec!["interrupted".to_owned()], quit: false };
                }
                print_lines(&lines);
            }
        }
    }
}

/// Runs the REPL until `quit` or end of input; shuts the engine down (killing running
/// jobs) and returns the exit code.
pub async fn run(
    console: Arc<Console>,
    mut events: async_mpsc::UnboundedReceiver<Event>,
    options: ReplOptions,
) -> i32 {
    // SIGINT must never kill the REPL (and leave jobs behind). Installed before the editor
    // thread exists: rustyline saves the SIGINT disposition when a readline starts and
    // restores it when it ends, so a handler installed during the first readline would be
    // undone.
    let mut interrupts =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let (line_tx, mut line_rx) = async_mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = mpsc::channel();
    let (notify_tx, notify_rx) = mpsc::channel::<String>();
    let data = console.completion();
    let history = options.history.clone();
    let editor = std::thread::Builder::new()
        .name("labdeck-repl-editor".into())
        .spawn(move || editor_loop(data, history, line_tx, reply_rx, notify_rx));
    let editor = match editor {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("labdeck repl: cannot start the line editor: {e}");
            console.engine().shutdown().await;
            return 1;
        }
    };
    let observer = Arc::clone(&console);
    let notifier = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let lines = observer.observe(&event);
            if !lines.is_empty() && notify_tx.send(lines.join("\n")).is_err() {
                break;
            }
        }
    });
    let mut code = 0;
    while let Some(message) = line_rx.recv().await {
        match message {
            FromEditor::Line(line) => {
                let output = execute_interruptibly(&console, &line, interrupts.as_mut()).await;
                let quit = output.quit;
                if reply_tx.send(output).is_err() || quit {
                    break;
                }
            }
            FromEditor::Eof => break,
            FromEditor::Failed(e) => {
                eprintln!("labdeck repl: {e}");
                code = 1;
                break;
            }
        }
    }
    if let Some(driver) = &options.driver {
        driver.stop_and_wait("the REPL ended").await;
    }
    console.engine().shutdown().await;
    notifier.abort();
    let _ = tokio::task::spawn_blocking(move || editor.join()).await;
    code
}
