//! Key bindings as data: `themes/keymap.toml` (embedded) maps each [`Action`] to keys; an
//! override file rebinds only the actions it names. The help overlay is generated from the
//! resolved map, so it never disagrees with what the keys do.
//!
//! Invariants: every action keeps at least the bindings the files give it (an action an
//! override file leaves out keeps its defaults); a key bound to two actions resolves to the
//! first action in [`Action::ALL`] order; unknown actions and unparsable keys are errors.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The default keymap text.
pub const DEFAULT_KEYMAP: &str = include_str!("../../themes/keymap.toml");

/// What a key can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    /// Focus pane N (1-based).
    Pane(u8),
    DrillIn,
    Back,
    Filter,
    CommandLine,
    Help,
    KillJob,
    DisconnectAll,
    RerunWalk,
    StepRun,
    StepSkip,
    StepRetry,
    StepBreakpoint,
    StepContinue,
    StepAbort,
    Quit,
    Interrupt,
    Suspend,
}

impl Action {
    /// Every action, in help order.
    pub const ALL: [Action; 31] = [
        Action::Down,
        Action::Up,
        Action::PageDown,
        Action::PageUp,
        Action::Top,
        Action::Bottom,
        Action::NextPane,
        Action::PrevPane,
        Action::Pane(1),
        Action::Pane(2),
        Action::Pane(3),
        Action::Pane(4),
        Action::Pane(5),
        Action::Pane(6),
        Action::DrillIn,
        Action::Back,
        Action::Filter,
        Action::CommandLine,
        Action::Help,
        Action::KillJob,
        Action::DisconnectAll,
        Action::RerunWalk,
        Action::StepRun,
        Action::StepSkip,
        Action::StepRetry,
        Action::StepBreakpoint,
        Action::StepContinue,
        Action::StepAbort,
        Action::Quit,
        Action::Interrupt,
        Action::Suspend,
    ];

    /// The action's name in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Action::Down => "down",
            Action::Up => "up",
            Action::PageDown => "page_down",
            Action::PageUp => "page_up",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::NextPane => "next_pane",
            Action::PrevPane => "prev_pane",
            Action::Pane(1) => "pane_1",
            Action::Pane(2) => "pane_2",
            Action::Pane(3) => "pane_3",
            Action::Pane(4) => "pane_4",
            Action::Pane(5) => "pane_5",
            Action::Pane(6) => "pane_6",
            Action::Pane(_) => "pane_7",
            Action::DrillIn => "drill_in",
            Action::Back => "back",
            Action::Filter => "filter",
            Action::CommandLine => "command_line",
            Action::Help => "help",
            Action::KillJob => "kill_job",
            Action::DisconnectAll => "disconnect_all",
            Action::RerunWalk => "rerun_walk",
            Action::StepRun => "step_run",
            Action::StepSkip => "step_skip",
            Action::StepRetry => "step_retry",
            Action::StepBreakpoint => "step_breakpoint",
            Action::StepContinue => "step_continue",
            Action::StepAbort => "step_abort",
            Action::Quit => "quit",
            Action::Interrupt => "interrupt",
            Action::Suspend => "suspend",
        }
    }

    /// What the action does, for the help overlay.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Down => "move down",
            Action::Up => "move up",
            Action::PageDown => "page down",
            Action::PageUp => "page up",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::NextPane => "next pane",
            Action::PrevPane => "previous pane",
            Action::Pane(1) => "hosts pane",
            Action::Pane(2) => "devices pane",
            Action::Pane(3) => "jobs pane",
            Action::Pane(4) => "walks pane",
            Action::Pane(5) => "API clients pane",
            Action::Pane(6) => "log pane",
            Action::Pane(_) => "(unused pane)",
            Action::DrillIn => "drill in (zoom the pane; on a host: its devices)",
            Action::Back => "back (close, unzoom, clear filter)",
            Action::Filter => "filter the pane's rows",
            Action::CommandLine => "command line",
            Action::Help => "this help",
            Action::KillJob => "kill the selected job",
            Action::DisconnectAll => "disconnect all API clients (asks first)",
            Action::RerunWalk => "rerun the selected failed walk",
            Action::StepRun => "step: run the next action",
            Action::StepSkip => "step: skip it",
            Action::StepRetry => "step: retry the previous action",
            Action::StepBreakpoint => "step: breakpoint on the action under the cursor",
            Action::StepContinue => "step: continue to a breakpoint or failure",
            Action::StepAbort => "step: abort the replay",
            Action::Quit => "quit (asks while a run is live)",
            Action::Interrupt => "quit now",
            Action::Suspend => "suspend to the shell",
        }
    }
}

/// A key as bound: the key code and whether Ctrl is held (Shift is part of the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Binding {
    /// Parses `q`, `D`, `ctrl-c`, `tab`, `space`, …
    pub fn parse(text: &str) -> Result<Binding, String> {
        let (ctrl, name) = match text.strip_prefix("ctrl-") {
            Some(rest) if !rest.is_empty() => (true, rest),
            _ => (false, text),
        };
        let code = match name {
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            other => {
                let mut chars = other.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("`{text}` is not a key")),
                }
            }
        };
        Ok(Binding { code, ctrl })
    }

    /// The binding a key press matches.
    pub fn of(key: &KeyEvent) -> Binding {
        Binding {
            code: key.code,
            ctrl: key.modifiers.contains(KeyModifiers::CONTROL),
        }
    }

    /// The key as the help overlay shows it.
    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::Left => "←".to_owned(),
            KeyCode::Right => "→".to_owned(),
            KeyCode::PageUp => "PgUp".to_owned(),
            KeyCode::PageDown => "PgDn".to_owned(),
            KeyCode::Home => "Home".to_owned(),
            KeyCode::End => "End".to_owned(),
            KeyCode::Tab => "Tab".to_owned(),
            KeyCode::BackTab => "S-Tab".to_owned(),
            KeyCode::Enter => "Enter".to_owned(),
            KeyCode::Esc => "Esc".to_owned(),
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }
}

/// Problems with a keymap file.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("cannot read keymap {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("keymap {origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

/// The resolved key bindings.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    bindings: Vec<(Action, Vec<Binding>)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut map = Keymap {
            bindings: Vec::new(),
        };
        // The embedded file is tested to parse; an unbound map is the fallback anyway.
        let _ = map.overlay(DEFAULT_KEYMAP, "default keymap");
        map
    }
}

impl Keymap {
    /// The default map with the actions of `text` rebound.
    pub fn with_override(text: &str, origin: &str) -> Result<Keymap, KeymapError> {
        let mut map = Keymap::default();
        map.overlay(text, origin)?;
        Ok(map)
    }

    /// The default map overridden by a file.
    pub fn load(path: &std::path::Path) -> Result<Keymap, KeymapError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeymapError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Keymap::with_override(&text, &path.display().to_string())
    }

    fn overlay(&mut self, text: &str, origin: &str) -> Result<(), KeymapError> {
        let invalid = |message: String| KeymapError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let file: KeymapFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for (name, keys) in file.keys {
            let action = Action::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or_else(|| invalid(format!("unknown action `{name}`")))?;
            let keys = keys
                .iter()
                .map(|k| Binding::parse(k).map_err(|m| invalid(format!("{name}: {m}"))))
                .collect::<Result<Vec<_>, _>>()?;
            self.bindings.retain(|(a, _)| *a != action);
            self.bindings.push((action, keys));
        }
        self.bindings.sort_by_key(|(a, _)| {
            Action::ALL
                .iter()
                .position(|x| x == a)
                .unwrap_or(usize::MAX)
        });
        Ok(())
    }

    /// The action bound to a key press.
    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        let pressed = Binding::of(key);
        self.bindings
            .iter()
            .find(|(_, keys)| keys.contains(&pressed))
            .map(|(a, _)| *a)
    }

    /// `(keys, description)` per bound action, in help order.
    pub fn help_lines(&self) -> Vec<(String, &'static str)> {
        self.bindings
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(action, keys)| {
                let labels: Vec<String> = keys.iter().map(Binding::label).collect();
                (labels.join(" "), action.describe())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn the_default_keymap_binds_the_documented_keys() {
        let map = Keymap::default();
        let none = KeyModifiers::NONE;
        assert_eq!(
            map.action(&press(KeyCode::Char('j'), none)),
            Some(Action::Down)
        );
        assert_eq!(
            map.action(&press(KeyCode::Char('D'), KeyModifiers::SHIFT)),
            Some(Action::DisconnectAll)
        );
        assert_eq!(
            map.action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Interrupt)
        );
        assert_eq!(
            map.action(&press(KeyCode::Char('c'), none)),
            Some(Action::StepContinue)
        );
        assert_eq!(
            map.action(&press(KeyCode::Char(' '), none)),
            Some(Action::StepRun)
        );
        assert_eq!(
            map.action(&press(KeyCode::Char('3'), none)),
            Some(Action::Pane(3))
        );
        assert_eq!(map.action(&press(KeyCode::F(5), none)), None);
    }

    #[test]
    fn an_override_rebinds_only_what_it_names() {
        let map =
            Keymap::with_override("[keys]\nquit = [\"Q\", \"ctrl-q\"]\n", "mine").expect("ok");
        let none = KeyModifiers::NONE;
        assert_eq!(map.action(&press(KeyCode::Char('q'), none)), None);
        assert_eq!(
            map.action(&press(KeyCode::Char('Q'), none)),
            Some(Action::Quit)
        );
        assert_eq!(
            map.action(&press(KeyCode::Char('j'), none)),
            Some(Action::Down)
        );
        let help = map.help_lines();
        assert!(
            help.iter()
                .any(|(k, d)| k == "Q Ctrl-q" && d.starts_with("quit"))
        );
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(Keymap::with_override("[keys]\nflyaway = [\"f\"]\n", "x").is_err());
        assert!(Keymap::with_override("[keys]\nquit = [\"qq\"]\n", "x").is_err());
    }
}
