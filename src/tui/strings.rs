//! Every user-visible string of the terminal UI, in one place (titles, column headers, help
//! texts, prompts, messages), so wording and a later translation change one file.
//!
//! Invariant: no other `tui` module spells out a sentence shown to the user; they format
//! these constants with data.

pub const APP: &str = "labdeck";
pub const SESSION: &str = "session";
pub const POOL: &str = "pool";
pub const RECIPE: &str = "recipe";
pub const RUN: &str = "run";
pub const NONE: &str = "-";

pub const PANE_HOSTS: &str = "Testbeds & hosts";
pub const PANE_DEVICES: &str = "Devices";
pub const PANE_JOBS: &str = "Jobs";
pub const PANE_WALKS: &str = "Walks";
pub const PANE_STEP: &str = "Step-through replay";
pub const PANE_CLIENTS: &str = "API clients";
pub const PANE_LOG: &str = "Log";
pub const PANE_HELP: &str = "Keys";

pub const COLS_HOSTS: [&str; 5] = ["machine", "roles", "state", "latency", "detail"];
pub const COLS_DEVICES: [&str; 7] = ["name", "state", "mtu", "addresses", "rx", "tx", "rx / tx"];
pub const COLS_JOBS: [&str; 6] = ["job", "host", "command", "state", "runtime", "exit"];
pub const COLS_CLIENTS: [&str; 5] = ["key", "state", "reuses", "last ping", "detail"];
pub const COLS_FAILED: [&str; 4] = ["walk", "testbed", "outcome", "failed action"];
pub const COLS_STEPS: [&str; 6] = ["", "#", "action", "option", "recorded", "now"];

pub const NO_HOST_SELECTED: &str = "select a host in the hosts pane";
pub const NO_DEVICES_YET: &str = "discovering devices…";
pub const NO_JOB_SELECTED: &str = "no job selected";
pub const NO_RUN: &str = "no run yet";
pub const NO_OUTPUT: &str = "(no output yet)";
pub const OUTPUT_OF: &str = "output of";
pub const FAILED_WALKS: &str = "failed walks";
pub const NEXT_STEP: &str = "next";
pub const BREAKPOINT_HIT: &str = "breakpoint";
pub const STEP_KEYS: &str = "n/Space run · s skip · r retry · b breakpoint · c continue · a abort";
pub const STEP_WAITING: &str = "waiting for the next step…";
pub const EPOCH: &str = "epoch";
pub const RATE: &str = "rate";
pub const ETA: &str = "ETA";
pub const WALKS_PER_SEC: &str = "walks/s";
pub const COUNTS: [&str; 5] = ["pass", "fail", "error", "cancel", "skip"];

pub const CONFIRM_QUIT: &str = "A run is live: quit (its undo runs)? y/n";
pub const CONFIRM_DISCONNECT: &str = "Disconnect ALL API clients? y/n";
pub const FILTER_PROMPT: &str = "/";
pub const COMMAND_PROMPT: &str = ":";
pub const STATUS_HINT: &str = "? help · Tab/1-6 panes · : command · / filter · q quit";
pub const NO_STEP_CONTROL: &str = "no step-through replay is attached";
pub const NO_JOB_TO_KILL: &str = "select a running job to kill";
pub const NO_FAILED_WALK: &str = "select a failed walk in the walks pane";
pub const SENT: &str = "sent";
pub const KILLING: &str = "killing";
pub const ANSWER_PREFIX: &str = "» ";
pub const HELP_FOOTER: &str = "Esc or ? closes this help";

/// The command the `D` key sends to the command sink (see the module docs of `tui`).
pub const DISCONNECT_ALL_COMMAND: &str = "vpp disconnect --all";
/// The command the `R` key sends for a failed walk (`rerun WALK_ID`).
pub const RERUN_COMMAND: &str = "rerun";

/// Run phases as the header shows them.
pub fn run_phase(phase: crate::run::RunPhase) -> &'static str {
    use crate::run::RunPhase;
    match phase {
        RunPhase::Idle => "idle",
        RunPhase::Running => "running",
        RunPhase::Paused => "paused",
        RunPhase::Stopping => "stopping",
        RunPhase::Finished => "finished",
    }
}

/// Walk and step outcomes as panes show them.
pub fn outcome(outcome: crate::walk::Outcome) -> &'static str {
    use crate::walk::Outcome;
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Error => "ERROR",
        Outcome::Skip => "skip",
        Outcome::Cancel => "cancel",
    }
}
