//! Logging: `tracing` events to the terminal, to a daily-rolling file in the state
//! directory and, when given, to a run directory.
//!
//! The level comes from `--log-level` when given, else from `RUST_LOG`, else a default
//! per destination (`warn` on the terminal, `info` in files). File writers are
//! non-blocking (tracing-appender's worker thread), so logging never stalls the engine.
//!
//! Invariants: with `terminal: false` (the TUI, the REPL) nothing is ever written to the
//! terminal; the returned [`LogGuard`] must live until the process exits, since dropping it
//! flushes and stops the file writers; a directory that cannot be created is reported and
//! that destination skipped, never a panic.

use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// File name prefix and suffix of the log files: `labdeck.YYYY-MM-DD.log`.
pub const LOG_PREFIX: &str = "labdeck";
pub const LOG_SUFFIX: &str = "log";
/// Daily files kept per directory.
pub const KEPT_FILES: usize = 14;

/// Where logs go and how much.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// `--log-level`: a level (`debug`) or a full filter (`labdeck=debug,russh=warn`).
    pub level: Option<String>,
    /// The state directory's log files (`None`: no state-directory log).
    pub state_dir: Option<PathBuf>,
    /// A run directory to log into as well.
    pub run_dir: Option<PathBuf>,
    /// Also log to stderr (off for full-screen and line-editing front ends).
    pub terminal: bool,
}

/// Keeps the file writers running; drop it last.
#[must_use = "dropping the guard stops the log writers"]
pub struct LogGuard {
    _writers: Vec<WorkerGuard>,
}

/// Why logging could not be set up as asked.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid log level `{level}`: {reason}")]
    Level { level: String, reason: String },
    #[error("cannot log into {dir}: {reason}")]
    Directory { dir: PathBuf, reason: String },
    #[error("a global logger is already installed")]
    AlreadySet,
}

/// labdeck's state directory: `$XDG_STATE_HOME/labdeck`, else `~/.local/state/labdeck`.
pub fn state_dir() -> Option<PathBuf> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    from_env("XDG_STATE_HOME")
        .or_else(|| from_env("HOME").map(|home| home.join(".local").join("state")))
        .map(|base| base.join("labdeck"))
}

/// The filter for one destination: `--log-level`, else `RUST_LOG`, else `default`.
fn filter(level: Option<&str>, default: &str) -> Result<EnvFilter, LogError> {
    match level {
        Some(level) => EnvFilter::try_new(level).map_err(|e| LogError::Level {
            level: level.to_owned(),
            reason: e.to_string(),
        }),
        None => Ok(EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default))),
    }
}

/// A daily-rolling file appender in `dir` (created if missing).
fn appender(dir: &Path) -> Result<RollingFileAppender, LogError> {
    let failed = |reason: String| LogError::Directory {
        dir: dir.to_owned(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_PREFIX)
        .filename_suffix(LOG_SUFFIX)
        .max_log_files(KEPT_FILES)
        .build(dir)
        .map_err(|e| failed(e.to_string()))
}

/// The run log: a file set once a run directory exists (`labdeck run`, replays, shrinks);
/// events before that (or without a run) are not written there.
static RUN_LOG: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

/// Starts writing the log into `dir/labdeck.log` (the run directory); replaces an earlier one.
pub fn set_run_log(dir: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("labdeck.log"))?;
    *RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// Writes into the run log, when one is set.
struct RunLogWriter;

impl std::io::Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Installs the global subscriber. Destinations that fail are skipped and reported in the
/// second value (the caller decides whether to tell the user); a bad level is an error.
pub fn init(config: &LogConfig) -> Result<(LogGuard, Vec<LogError>), LogError> {
    let level = config.level.as_deref();
    // Validate the level once, up front, so a typo is a usage error.
    filter(level, "warn")?;
    let mut layers: Vec<Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>> = Vec::new();
    let mut writers = Vec::new();
    let mut skipped = Vec::new();
    if config.terminal {
        layers.push(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter(level, "warn")?)
                .boxed(),
        );
    }
    for dir in config.state_dir.iter().chain(&config.run_dir) {
        match appender(dir) {
            Ok(file) => {
                let (writer, guard) = tracing_appender::non_blocking(file);
                writers.push(guard);
                layers.push(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer)
                        .with_filter(filter(level, "info")?)
                        .boxed(),
                );
            }
            Err(e) => skipped.push(e),
        }
    }
    // The run directory's log, once a run sets it (see `set_run_log`).
    layers.push(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| RunLogWriter)
            .with_filter(filter(level, "info")?)
            .boxed(),
    );
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|_| LogError::AlreadySet)?;
    Ok((LogGuard { _writers: writers }, skipped))
}

/// The log files in `dir`, newest name last.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(LOG_PREFIX) && n.ends_with(LOG_SUFFIX))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_level_is_refused_and_a_good_one_accepted() {
        assert!(matches!(
            filter(Some("labdeck=lots"), "warn"),
            Err(LogError::Level { .. })
        ));
        assert!(filter(Some("debug"), "warn").is_ok());
        assert!(filter(Some("labdeck=debug,russh=warn"), "warn").is_ok());
    }

    #[test]
    fn log_files_are_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("labdeck.2026-01-02.log"), "x").unwrap();
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        let files = log_files(dir.path());
        assert_eq!(files.len(), 1);
        assert!(log_files(&dir.path().join("missing")).is_empty());
    }
}
