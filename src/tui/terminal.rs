//! The real terminal: raw mode, the alternate screen and mouse capture, entered by
//! [`TerminalGuard::enter`] and always left again — when the guard drops (normal exit, an
//! error, Ctrl-C and SIGTERM end the loop and drop it), from the panic hook, and around a
//! Ctrl-Z suspension.
//!
//! Invariant: [`restore`] is idempotent and never fails loudly, so every exit path may call
//! it; the panic hook restores the terminal before the panic message is printed.

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{Stdout, stdout};
use std::sync::Once;

/// The terminal the TUI draws on.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal while the TUI runs; restores it on drop.
pub struct TerminalGuard {
    pub terminal: Term,
}

fn enter_modes() -> std::io::Result<()> {
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)
}

/// Leaves raw mode, the alternate screen and mouse capture, and shows the cursor.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

static PANIC_HOOK: Once = Once::new();

/// Chains a panic hook that restores the terminal first (installed once per process).
pub fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen.
    pub fn enter() -> std::io::Result<TerminalGuard> {
        install_panic_hook();
        if let Err(e) = enter_modes() {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout())) {
            Ok(mut terminal) => {
                let _ = terminal.hide_cursor();
                Ok(TerminalGuard { terminal })
            }
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// Ctrl-Z: gives the terminal back, stops the process (SIGTSTP), and takes the terminal
    /// again when the shell continues it.
    pub fn suspend(&mut self) -> std::io::Result<()> {
        restore();
        // SAFETY: raise has no preconditions; SIGTSTP stops this process until SIGCONT.
        unsafe {
            libc::raise(libc::SIGTSTP);
        }
        enter_modes()?;
        self.terminal.clear()?;
        let _ = self.terminal.hide_cursor();
        Ok(())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
