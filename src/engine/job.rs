//! Jobs: what to run on a host, how it is wrapped, and how its end is judged.
//!
//! Every job runs through the same wrapper on every transport: the wrapper first prints a
//! marker line with its process-group id (sshd and the local transport both start each
//! command in a new session, so the shell's `$$` is the group id), then changes directory,
//! exports the environment (every value shell-quoted) and runs the command line. The job
//! task strips the marker from stdout before anyone sees it. Invariants: a kill always
//! targets the whole process group (over a second channel on SSH, since OpenSSH ignores
//! signal requests for root logins); the final state is decided once, by [`judge`].

use crate::quote::quote;
use crate::transport::ExitOutcome;
use std::time::Duration;

/// The marker line's prefix; the group id and a newline follow.
pub const PGID_MARKER: &[u8] = b"\x1eLABDECK_PGID=";

/// Everything about a job except where its output goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSpec {
    pub host: String,
    /// A shell command line; callers quote values with [`crate::quote`].
    pub command: String,
    /// Background jobs are listed and killed on exit like any other; they only differ in
    /// that front ends don't wait for them.
    pub background: bool,
    /// Kill the process group with SIGKILL after this long and end as `TimedOut`.
    pub timeout: Option<Duration>,
    /// A non-zero exit passes and a zero exit fails.
    pub expect_fail: bool,
    /// Parse stdout as JSON into the job's result.
    pub json: bool,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    /// A human description for summaries.
    pub desc: Option<String>,
    /// Keep all of stdout (up to 16 MiB) for the engine, e.g. for device discovery.
    pub capture: bool,
}

/// A job's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Starting,
    Running,
    Passed,
    Failed,
    Killed,
    TimedOut,
    Error,
}

impl JobState {
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Starting | JobState::Running)
    }

    pub fn label(self) -> &'static str {
        match self {
            JobState::Starting => "starting",
            JobState::Running => "running",
            JobState::Passed => "passed",
            JobState::Failed => "failed",
            JobState::Killed => "killed",
            JobState::TimedOut => "timed-out",
            JobState::Error => "error",
        }
    }
}

/// The wrapped command line that actually runs.
pub fn wrap(spec: &JobSpec) -> Result<String, String> {
    let mut lines = vec![r"printf '\036LABDECK_PGID=%s\n' $$".to_owned()];
    if let Some(dir) = &spec.cwd {
        lines.push(format!("cd -- {} || exit 126", quote(dir)));
    }
    for (key, value) in &spec.env {
        let valid = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!("`{key}` is not a valid environment variable name"));
        }
        lines.push(format!("export {key}={}", quote(value)));
    }
    lines.push(spec.command.clone());
    Ok(lines.join("\n"))
}

/// How a job ended, before judging.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Exited(ExitOutcome),
    TransportError { error: String, hint: String },
}

/// Decides a finished job's state. Precedence: timeout, then an explicit kill, then a
/// transport error, then the exit status (inverted by `expect_fail`).
pub fn judge(spec: &JobSpec, ending: &Ending, timed_out: bool, killed: bool) -> JobState {
    if timed_out {
        return JobState::TimedOut;
    }
    if killed {
        return JobState::Killed;
    }
    match ending {
        Ending::TransportError { .. } => JobState::Error,
        Ending::Exited(outcome) => {
            if outcome.success() != spec.expect_fail {
                JobState::Passed
            } else {
                JobState::Failed
            }
        }
    }
}

/// Splits the marker line off the head of stdout. Feed chunks until it returns the
/// group id; bytes after the marker line are handed back as ordinary output.
#[derive(Debug, Default)]
pub struct MarkerParser {
    head: Vec<u8>,
    done: bool,
}

impl MarkerParser {
    /// Returns `(pgid if just found, output bytes to pass on)`.
    pub fn feed(&mut self, chunk: &[u8]) -> (Option<u32>, Vec<u8>) {
        if self.done {
            return (None, chunk.to_vec());
        }
        self.head.extend_from_slice(chunk);
        if !PGID_MARKER.starts_with(&self.head[..self.head.len().min(PGID_MARKER.len())]) {
            // Not our marker (should not happen): pass everything through.
            self.done = true;
            return (None, std::mem::take(&mut self.head));
        }
        let Some(newline) = self.head.iter().position(|&b| b == b'\n') else {
            return (None, Vec::new());
        };
        self.done = true;
        let pgid = std::str::from_utf8(&self.head[PGID_MARKER.len().min(newline)..newline])
            .ok()
            .and_then(|s| s.parse().ok());
        let rest = self.head.split_off(newline + 1);
        self.head.clear();
        (pgid, rest)
    }
}

/// The command that signals a whole process group.
pub fn kill_command(pgid: u32, signal: &str) -> String {
    format!("kill -s {} -- -{pgid}", quote(signal))
}

/// Accepts `TERM`, `SIGTERM`, `term` or a number; returns the name `kill -s` understands.
pub fn normalize_signal(signal: &str) -> Result<String, String> {
    let upper = signal
        .trim()
        .trim_start_matches("SIG")
        .trim_start_matches("sig")
        .to_ascii_uppercase();
    const NAMES: [&str; 12] = [
        "HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "ALRM", "PIPE",
        "ABRT",
    ];
    if NAMES.contains(&upper.as_str()) {
        return Ok(upper);
    }
    match upper.parse::<u8>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n.to_string()),
        _ => Err(format!(
            "unknown signal `{signal}` (use e.g. TERM, KILL, INT or a number)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_split_off_across_chunks() {
        let mut p = MarkerParser::default();
        assert_eq!(p.feed(b"\x1eLABDECK_PG"), (None, vec![]));
        assert_eq!(p.feed(b"ID=4242\nhello"), (Some(4242), b"hello".to_vec()));
        assert_eq!(p.feed(b" world"), (None, b" world".to_vec()));
    }

    #[test]
    fn foreign_output_passes_through() {
        let mut p = MarkerParser::default();
        assert_eq!(p.feed(b"plain"), (None, b"plain".to_vec()));
        assert_eq!(p.feed(b"more"), (None, b"more".to_vec()));
    }

    #[test]
    fn judge_precedence_and_expect_fail() {
        let spec = JobSpec::default();
        let exit = |c| {
            Ending::Exited(ExitOutcome {
                code: Some(c),
                signal: None,
            })
        };
        assert_eq!(judge(&spec, &exit(0), false, false), JobState::Passed);
        assert_eq!(judge(&spec, &exit(1), false, false), JobState::Failed);
        assert_eq!(judge(&spec, &exit(0), true, true), JobState::TimedOut);
        assert_eq!(judge(&spec, &exit(0), false, true), JobState::Killed);
        let inverted = JobSpec {
            expect_fail: true,
            ..JobSpec::default()
        };
        assert_eq!(judge(&inverted, &exit(1), false, false), JobState::Passed);
        assert_eq!(judge(&inverted, &exit(0), false, false), JobState::Failed);
        let err = Ending::TransportError {
            error: "x".into(),
            hint: "y".into(),
        };
        assert_eq!(judge(&spec, &err, false, false), JobState::Error);
    }

    #[test]
    fn wrapper_quotes_cwd_and_env_and_rejects_bad_names() {
        let spec = JobSpec {
            command: "echo $X".into(),
            cwd: Some("/tmp/a b".into()),
            env: vec![("X".into(), "1; rm -rf /".into())],
            ..JobSpec::default()
        };
        let w = wrap(&spec).expect("valid");
        assert!(w.contains("cd -- '/tmp/a b' || exit 126"));
        assert!(w.contains("export X='1; rm -rf /'"));
        assert!(w.ends_with("\necho $X"));
        let bad = JobSpec {
            env: vec![("A-B".into(), "1".into())],
            ..JobSpec::default()
        };
        assert!(wrap(&bad).is_err());
    }

    #[test]
    fn signals_normalize() {
        assert_eq!(normalize_signal("SIGTERM").as_deref(), Ok("TERM"));
        assert_eq!(normalize_signal("kill").as_deref(), Ok("KILL"));
        assert_eq!(normalize_signal("9").as_deref(), Ok("9"));
        assert!(normalize_signal("TERM; reboot").is_err());
        assert_eq!(kill_command(77, "TERM"), "kill -s TERM -- -77");
    }
}
