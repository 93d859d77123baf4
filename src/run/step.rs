//! Step control: how a front end (line prompt, TUI, REPL) drives a replay one step at a
//! time.
//!
//! The replay shows each step as [`super::event::RunEvent::StepPending`] **before** it runs
//! and then waits for a [`StepDecision`] on its [`StepControl`]. Invariant: a step runs only
//! after a `Run`, `Retry` or `Continue` decision taken while it was pending (or, under
//! `Continue`, while no breakpoint or failure stopped the cursor).

use tokio::sync::mpsc;

/// What to do with the pending step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepDecision {
    /// Run the pending step, then stop at the next one.
    Run,
    /// Do not run it (recorded as skipped); stop at the next one.
    Skip,
    /// Run the previous step again (its outcome is compared with the record again).
    Retry,
    /// Toggle a breakpoint on an action (by name); the cursor stays where it is.
    Breakpoint(String),
    /// Run until a breakpoint or a failure.
    Continue,
    /// Stop the replay (undo still runs).
    Abort,
}

impl StepDecision {
    /// Parses a prompt answer: `n`/Enter/space run, `s` skip, `r` retry, `b ACTION`
    /// breakpoint, `c` continue, `a`/`q` abort.
    pub fn parse(line: &str) -> Option<StepDecision> {
        let line = line.trim();
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "" | "n" | "next" | "run" => Some(StepDecision::Run),
            "s" | "skip" => Some(StepDecision::Skip),
            "r" | "retry" => Some(StepDecision::Retry),
            "b" | "break" if !rest.trim().is_empty() => {
                Some(StepDecision::Breakpoint(rest.trim().to_owned()))
            }
            "c" | "continue" => Some(StepDecision::Continue),
            "a" | "abort" | "q" | "quit" => Some(StepDecision::Abort),
            _ => None,
        }
    }
}

/// The sending half a front end holds; cheap to clone.
#[derive(Debug, Clone)]
pub struct StepControl {
    tx: mpsc::UnboundedSender<StepDecision>,
}

impl StepControl {
    /// A control and the receiver the replay reads decisions from.
    pub fn new() -> (StepControl, mpsc::UnboundedReceiver<StepDecision>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (StepControl { tx }, rx)
    }

    /// Sends a decision; `false` when the replay has ended.
    pub fn decide(&self, decision: StepDecision) -> bool {
        self.tx.send(decision).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prompt_answers() {
        assert_eq!(StepDecision::parse(""), Some(StepDecision::Run));
        assert_eq!(StepDecision::parse("s"), Some(StepDecision::Skip));
        assert_eq!(
            StepDecision::parse("b mtu"),
            Some(StepDecision::Breakpoint("mtu".into()))
        );
        assert_eq!(StepDecision::parse("b"), None);
        assert_eq!(StepDecision::parse("c"), Some(StepDecision::Continue));
        assert_eq!(StepDecision::parse("zzz"), None);
    }
}
