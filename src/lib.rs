//! labdeck: an interactive console for network test labs.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the code map.

pub mod bench;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod lab;
pub mod pool;
pub mod quote;
pub mod recipe;
pub mod report;
pub mod run;
pub mod session;
pub mod ssh;
pub mod transport;
pub mod tui;
pub mod vpp;
pub mod walk;

pub mod console;
pub mod devices;
pub mod logging;
pub mod mapper;
pub mod repl;
