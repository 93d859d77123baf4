//! The console: the command language shared by the REPL and the TUI's `:` line, and the
//! [`Console`] that executes it against the engine.
//!
//! - [`command`]: one line → one [`ConsoleCommand`], the command table, help;
//! - [`complete`]: completion and hints over [`CompletionData`];
//! - [`exec`]: [`Console`] (executes commands, returns output lines, turns engine events
//!   into notification lines) and [`RunDriver`], the trait the walk executor implements for
//!   `run`, `walks`, `replay`, step control, `shrink`, `rerun`, `vpp` and `undo`.
//!
//! Invariants: the console never mutates host or job state itself (everything goes through
//! the `EngineHandle`); its output is plain lines without terminal control sequences, so any
//! front end can show them.

pub mod command;
pub mod complete;
pub mod exec;

pub use command::{ConsoleCommand, ParseError, parse};
pub use complete::CompletionData;
pub use exec::{Console, DriverFuture, Output, RunDriver};
