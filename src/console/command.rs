//! The console's command language: one line → one [`ConsoleCommand`].
//!
//! Lines are split into words like a POSIX shell does (single quotes keep everything,
//! double quotes honour `\"`, `\\`, `\$` and `` \` ``, a backslash outside quotes escapes
//! the next character), so `exec h1 -- echo 'a b'` passes the two words `echo` and `a b`
//! as the remote argv. Every command is described once, in [`COMMANDS`]; `help`, usage
//! errors, hints and completion all come from that table.
//!
//! Invariants: parsing never panics and never touches the engine; a blank line or a line
//! starting with `#` is no command (`Ok(None)`); every error names the command and carries
//! its usage line.

use crate::engine::JobRef;
use crate::run::StepDecision;
use crate::walk::{Strategy, WalkId};
use std::path::PathBuf;
use std::time::Duration;

/// What the words of a command's arguments are, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    None,
    /// A pool machine (or a recipe role).
    Host,
    /// A pool machine or `all`.
    HostOrAll,
    /// A job id `HOST#N`.
    Job,
    /// A walk id seen in this session.
    Walk,
    /// A walk strategy.
    Strategy,
    /// VPP message names.
    VppMessage,
    /// A command name.
    Command,
    /// A file path.
    Path,
}

/// One command of the language: its name, its arguments (usage), a summary and what its
/// arguments complete to.
#[derive(Debug, Clone, Copy)]
pub struct CommandInfo {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub args: &'static str,
    pub summary: &'static str,
    pub completes: ArgKind,
}

impl CommandInfo {
    /// `name args`, as shown in help and usage errors.
    pub fn usage(&self) -> String {
        if self.args.is_empty() {
            self.name.to_owned()
        } else {
            format!("{} {}", self.name, self.args)
        }
    }
}

/// Every command, in help order.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "hosts",
        aliases: &[],
        args: "",
        summary: "the pool's machines, their connection state and the connection cache",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "connect",
        aliases: &[],
        args: "[HOST|all]",
        summary: "connect to one machine, or to all of them (default)",
        completes: ArgKind::HostOrAll,
    },
    CommandInfo {
        name: "disconnect",
        aliases: &[],
        args: "[all|KEY|HOST]",
        summary: "kill the jobs on and close a cache key's or a machine's connections (default all)",
        completes: ArgKind::HostOrAll,
    },
    CommandInfo {
        name: "devices",
        aliases: &[],
        args: "HOST",
        summary: "a machine's network devices",
        completes: ArgKind::Host,
    },
    CommandInfo {
        name: "exec",
        aliases: &["x"],
        args: "HOST [--bg] [--timeout SECS] (-- CMD [ARGS...] | --sh LINE)",
        summary: "run a command (each ARG passed literally) or a shell line; --bg does not wait",
        completes: ArgKind::Host,
    },
    CommandInfo {
        name: "jobs",
        aliases: &[],
        args: "",
        summary: "every job of this session and its state",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "kill",
        aliases: &[],
        args: "HOST#N [SIGNAL]",
        summary: "signal a job's whole process group (default TERM)",
        completes: ArgKind::Job,
    },
    CommandInfo {
        name: "wait",
        aliases: &[],
        args: "HOST#N [SECS]",
        summary: "wait for a job to end (default 60 s) and show its output",
        completes: ArgKind::Job,
    },
    CommandInfo {
        name: "match",
        aliases: &[],
        args: "[--all] [--disjoint K] [--limit N] [--recipe FILE] [-p NAME=VALUE]...",
        summary: "testbeds for the recipe's roles in the pool (no connection)",
        completes: ArgKind::Path,
    },
    CommandInfo {
        name: "plan",
        aliases: &[],
        args: "[STRATEGY] [--limit N] [--recipe FILE] [-p NAME=VALUE]...",
        summary: "the walks of the recipe's walk order (full, pairwise, t=N, random:N:SEED)",
        completes: ArgKind::Strategy,
    },
    CommandInfo {
        name: "walks",
        aliases: &[],
        args: "",
        summary: "the walks of the current or last run and their outcomes",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "run",
        aliases: &[],
        args: "[ARGS...]",
        summary: "run the recipe's walks; progress arrives as events",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "replay",
        aliases: &[],
        args: "WALK [--step]",
        summary: "run one walk again, step by step with --step",
        completes: ArgKind::Walk,
    },
    CommandInfo {
        name: "step",
        aliases: &["n", "next"],
        args: "",
        summary: "replay: run the pending step",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "skip",
        aliases: &[],
        args: "",
        summary: "replay: skip the pending step",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "retry",
        aliases: &[],
        args: "",
        summary: "replay: run the previous step again",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "continue",
        aliases: &["c"],
        args: "",
        summary: "replay: run until a breakpoint or a failure",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "break",
        aliases: &["b"],
        args: "ACTION",
        summary: "replay: toggle a breakpoint on an action",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "abort",
        aliases: &[],
        args: "",
        summary: "replay: stop (undo still runs)",
        completes: ArgKind::None,
    },
    CommandInfo {
        name: "shrink",
        aliases: &[],
        args: "WALK",
        summary: "look for a smaller walk that fails the same way",
        completes: ArgKind::Walk,
    },
    CommandInfo {
        name: "rerun",
        aliases: &[],
        args: "WALK",
        summary: "run a failed walk again",
        completes: ArgKind::Walk,
    },
    CommandInfo {
        name: "vpp",
        aliases: &[],
        args: "ARGS...",
        summary: "VPP binary-API calls and the client cache",
        completes: ArgKind::VppMessage,
    },
    CommandInfo {
        name: "undo",
        aliases: &[],
        args: "[LOG]",
        summary: "undo the changes of the last run, or those recorded in an undo log",
        completes: ArgKind::Path,
    },
    CommandInfo {
        name: "help",
        aliases: &["?"],
        args: "[COMMAND]",
        summary: "this list, or one command's usage",
        completes: ArgKind::Command,
    },
    CommandInfo {
        name: "quit",
        aliases: &["exit", "q"],
        args: "",
        summary: "leave (running jobs are killed)",
        completes: ArgKind::None,
    },
];

/// The command named `word` (by name or alias).
pub fn lookup(word: &str) -> Option<&'static CommandInfo> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.aliases.contains(&word))
}

/// What a disconnect targets, before the pool decides between a machine and a cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectSpec {
    All,
    /// A machine name or a cache key (`user@host:port`, `local`).
    Named(String),
}

/// What `exec` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecCommand {
    /// An argument vector; every element is shell-quoted.
    Argv(Vec<String>),
    /// A shell command line, passed as written.
    Shell(String),
}

/// An `exec` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecRequest {
    pub host: String,
    pub command: ExecCommand,
    pub background: bool,
    pub timeout: Option<Duration>,
}

/// The options `match` and `plan` share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipeOptions {
    /// Another recipe than the session's.
    pub recipe: Option<PathBuf>,
    /// `NAME=VALUE` overrides.
    pub params: Vec<String>,
}

/// A `match` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRequest {
    pub all: bool,
    pub disjoint: Option<usize>,
    pub limit: usize,
    pub recipe: RecipeOptions,
}

/// A `plan` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    pub strategy: Option<Strategy>,
    pub limit: u64,
    pub recipe: RecipeOptions,
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleCommand {
    Hosts,
    /// `None`: every machine.
    Connect(Option<String>),
    Disconnect(DisconnectSpec),
    Devices(String),
    Exec(ExecRequest),
    Jobs,
    Kill {
        job: JobRef,
        signal: String,
    },
    Wait {
        job: JobRef,
        timeout: Duration,
    },
    Match(MatchRequest),
    Plan(PlanRequest),
    Walks,
    Run(Vec<String>),
    Replay {
        walk: WalkId,
        step: bool,
    },
    Step(StepDecision),
    Shrink(WalkId),
    Rerun(WalkId),
    Vpp(Vec<String>),
    /// `None`: the last run's changes.
    Undo(Option<PathBuf>),
    Help(Option<String>),
    Quit,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unterminated {0} quote")]
    UnterminatedQuote(&'static str),
    #[error("unknown command `{name}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_else(|| " (`help` lists the commands)".to_owned()))]
    UnknownCommand {
        name: String,
        suggestion: Option<String>,
    },
    #[error("{command}: {message}\n  usage: {usage}")]
    Usage {
        command: &'static str,
        message: String,
        usage: String,
    },
}

/// How long `wait` waits when no SECS is given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// A word of a line and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub start: usize,
    pub text: String,
}

/// Splits a line into words the way a POSIX shell does (without expansions).
pub fn split_words(line: &str) -> Result<Vec<String>, ParseError> {
    let (words, open) = scan_words(line);
    match open {
        Some(quote) => Err(ParseError::UnterminatedQuote(quote)),
        None => Ok(words.into_iter().map(|w| w.text).collect()),
    }
}

/// Splits as much of a line as there is; the second value names an unterminated quote.
/// Completion uses this on half-typed lines.
pub fn scan_words(line: &str) -> (Vec<Word>, Option<&'static str>) {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut chars = line.char_indices().peekable();
    let mut open = None;
    while let Some((at, c)) = chars.next() {
        if c.is_whitespace() {
            if let Some(word) = current.take() {
                words.push(word);
            }
            continue;
        }
        let word = current.get_or_insert_with(|| Word {
            start: at,
            text: String::new(),
        });
        match c {
            '\'' => {
                open = Some("single");
                for (_, c) in chars.by_ref() {
                    if c == '\'' {
                        open = None;
                        break;
                    }
                    word.text.push(c);
                }
            }
            '"' => {
                open = Some("double");
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            open = None;
                            break;
                        }
                        '\\' => match chars.peek() {
                            Some(&(_, next @ ('"' | '\\' | '$' | '`'))) => {
                                word.text.push(next);
                                chars.next();
                            }
                            _ => word.text.push('\\'),
                        },
                        other => word.text.push(other),
                    }
                }
            }
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    word.text.push(next);
                }
            }
            other => word.text.push(other),
        }
        if open.is_some() {
            break;
        }
    }
    if let Some(word) = current {
        words.push(word);
    }
    (words, open)
}

/// Parses one line. `Ok(None)` for a blank line or a comment.
pub fn parse(line: &str) -> Result<Option<ConsoleCommand>, ParseError> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let words = split_words(line)?;
    let Some((name, args)) = words.split_first() else {
        return Ok(None);
    };
    let Some(info) = lookup(name) else {
        let names = COMMANDS.iter().map(|c| c.name);
        return Err(ParseError::UnknownCommand {
            name: name.clone(),
            suggestion: crate::diag::nearest(name, names).map(str::to_owned),
        });
    };
    let usage = |message: String| ParseError::Usage {
        command: info.name,
        message,
        usage: info.usage(),
    };
    let mut args = Args {
        words: args,
        at: 0,
        usage: &usage,
    };
    let command = match info.name {
        "hosts" => ConsoleCommand::Hosts,
        "jobs" => ConsoleCommand::Jobs,
        "walks" => ConsoleCommand::Walks,
        "connect" => ConsoleCommand::Connect(args.optional().filter(|t| t != "all")),
        "disconnect" => ConsoleCommand::Disconnect(match args.optional() {
            None => DisconnectSpec::All,
            Some(t) if t == "all" => DisconnectSpec::All,
            Some(t) => DisconnectSpec::Named(t),
        }),
        "devices" => ConsoleCommand::Devices(args.required("a host")?),
        "exec" => ConsoleCommand::Exec(parse_exec(&mut args)?),
        "kill" => {
            let job = parse_job(&args.required("a job id HOST#N")?).map_err(&usage)?;
            let signal = match args.optional() {
                None => "TERM".to_owned(),
                Some(s) => crate::engine::job::normalize_signal(&s).map_err(&usage)?,
            };
            ConsoleCommand::Kill { job, signal }
        }
        "wait" => {
            let job = parse_job(&args.required("a job id HOST#N")?).map_err(&usage)?;
            let timeout = match args.optional() {
                None => DEFAULT_WAIT,
                Some(s) => parse_secs(&s).map_err(&usage)?,
            };
            ConsoleCommand::Wait { job, timeout }
        }
        "match" => ConsoleCommand::Match(parse_match(&mut args)?),
        "plan" => ConsoleCommand::Plan(parse_plan(&mut args)?),
        "run" => ConsoleCommand::Run(args.rest()),
        "replay" => {
            let walk = parse_walk(&args.required("a walk id")?).map_err(&usage)?;
            let step = match args.optional().as_deref() {
                None => false,
                Some("--step") => true,
                Some(other) => return Err(usage(format!("unexpected `{other}`"))),
            };
            ConsoleCommand::Replay { walk, step }
        }
        "step" => ConsoleCommand::Step(StepDecision::Run),
        "skip" => ConsoleCommand::Step(StepDecision::Skip),
        "retry" => ConsoleCommand::Step(StepDecision::Retry),
        "continue" => ConsoleCommand::Step(StepDecision::Continue),
        "abort" => ConsoleCommand::Step(StepDecision::Abort),
        "break" => ConsoleCommand::Step(StepDecision::Breakpoint(args.required("an action")?)),
        "shrink" => {
            ConsoleCommand::Shrink(parse_walk(&args.required("a walk id")?).map_err(&usage)?)
        }
        "rerun" => ConsoleCommand::Rerun(parse_walk(&args.required("a walk id")?).map_err(&usage)?),
        "vpp" => {
            let rest = args.rest();
            if rest.is_empty() {
                return Err(usage("missing arguments".to_owned()));
            }
            ConsoleCommand::Vpp(rest)
        }
        "undo" => ConsoleCommand::Undo(args.optional().map(PathBuf::from)),
        "help" => {
            let topic = args.optional();
            if let Some(t) = &topic
                && lookup(t).is_none()
            {
                return Err(usage(format!("no command `{t}`")));
            }
            ConsoleCommand::Help(topic)
        }
        "quit" => ConsoleCommand::Quit,
        other => return Err(usage(format!("`{other}` is not implemented"))),
    };
    args.finish()?;
    Ok(Some(command))
}

/// The words after the command name, consumed left to right.
struct Args<'a> {
    words: &'a [String],
    at: usize,
    usage: &'a dyn Fn(String) -> ParseError,
}

impl Args<'_> {
    fn optional(&mut self) -> Option<String> {
        let word = self.words.get(self.at).cloned();
        if word.is_some() {
            self.at += 1;
        }
        word
    }

    fn required(&mut self, what: &str) -> Result<String, ParseError> {
        self.optional()
            .ok_or_else(|| (self.usage)(format!("missing {what}")))
    }

    fn value_of(&mut self, flag: &str) -> Result<String, ParseError> {
        self.optional()
            .ok_or_else(|| (self.usage)(format!("{flag} needs a value")))
    }

    fn rest(&mut self) -> Vec<String> {
        let rest = self.words.get(self.at..).unwrap_or_default().to_vec();
        self.at = self.words.len();
        rest
    }

    fn finish(&self) -> Result<(), ParseError> {
        match self.words.get(self.at) {
            None => Ok(()),
            Some(extra) => Err((self.usage)(format!("unexpected `{extra}`"))),
        }
    }
}

fn parse_exec(args: &mut Args<'_>) -> Result<ExecRequest, ParseError> {
    let host = args.required("a host")?;
    if host.starts_with('-') {
        return Err((args.usage)(format!("expected a host before `{host}`")));
    }
    let mut background = false;
    let mut timeout = None;
    let mut command = None;
    while let Some(word) = args.optional() {
        match word.as_str() {
            "--bg" => background = true,
            "--timeout" => {
                timeout = Some(parse_secs(&args.value_of("--timeout")?).map_err(args.usage)?)
            }
            "--sh" => command = Some(ExecCommand::Shell(args.value_of("--sh")?)),
            "--" => {
                let argv = args.rest();
                if argv.is_empty() {
                    return Err((args.usage)("nothing to run after `--`".to_owned()));
                }
                command = Some(ExecCommand::Argv(argv));
            }
            other => {
                return Err((args.usage)(format!(
                    "unexpected `{other}` (the command goes after `--`)"
                )));
            }
        }
    }
    let command = command.ok_or_else(|| (args.usage)("nothing to run".to_owned()))?;
    Ok(ExecRequest {
        host,
        command,
        background,
        timeout,
    })
}

fn parse_recipe_option(
    args: &mut Args<'_>,
    word: &str,
    options: &mut RecipeOptions,
) -> Result<bool, ParseError> {
    match word {
        "--recipe" | "-r" => options.recipe = Some(PathBuf::from(args.value_of(word)?)),
        "-p" | "--param" => {
            let value = args.value_of(word)?;
            if !value.contains('=') {
                return Err((args.usage)(format!("`{value}` is not NAME=VALUE")));
            }
            options.params.push(value);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_count(args: &mut Args<'_>, flag: &str) -> Result<u64, ParseError> {
    let value = args.value_of(flag)?;
    value
        .parse::<u64>()
        .map_err(|_| (args.usage)(format!("{flag} `{value}` is not a whole number")))
}

fn parse_match(args: &mut Args<'_>) -> Result<MatchRequest, ParseError> {
    let mut request = MatchRequest {
        all: false,
        disjoint: None,
        limit: 100,
        recipe: RecipeOptions::default(),
    };
    while let Some(word) = args.optional() {
        if parse_recipe_option(args, &word, &mut request.recipe)? {
            continue;
        }
        match word.as_str() {
            "--all" => request.all = true,
            "--disjoint" => {
                let k = parse_count(args, "--disjoint")?;
                if k == 0 {
                    return Err((args.usage)("--disjoint needs at least 1".to_owned()));
                }
                request.disjoint = Some(usize::try_from(k).unwrap_or(usize::MAX));
            }
            "--limit" => {
                request.limit = usize::try_from(parse_count(args, "--limit")?).unwrap_or(usize::MAX)
            }
            other => return Err((args.usage)(format!("unexpected `{other}`"))),
        }
    }
    if request.all && request.disjoint.is_some() {
        return Err((args.usage)(
            "--all and --disjoint exclude each other".to_owned(),
        ));
    }
    Ok(request)
}

fn parse_plan(args: &mut Args<'_>) -> Result<PlanRequest, ParseError> {
    let mut request = PlanRequest {
        strategy: None,
        limit: 20,
        recipe: RecipeOptions::default(),
    };
    while let Some(word) = args.optional() {
        if parse_recipe_option(args, &word, &mut request.recipe)? {
            continue;
        }
        match word.as_str() {
            "--limit" => request.limit = parse_count(args, "--limit")?,
            "--strategy" => {
                let value = args.value_of("--strategy")?;
                request.strategy = Some(parse_strategy(&value).map_err(args.usage)?);
            }
            other if !other.starts_with('-') && request.strategy.is_none() => {
                request.strategy = Some(parse_strategy(other).map_err(args.usage)?);
            }
            other => return Err((args.usage)(format!("unexpected `{other}`"))),
        }
    }
    Ok(request)
}

fn parse_strategy(text: &str) -> Result<Strategy, String> {
    text.parse::<Strategy>()
        .map_err(|e| format!("bad strategy `{text}`: {e}"))
}

/// Parses `HOST#N` (N ≥ 1).
pub fn parse_job(text: &str) -> Result<JobRef, String> {
    let bad = || format!("`{text}` is not a job id (HOST#N, e.g. h1#2)");
    let (host, id) = text.rsplit_once('#').ok_or_else(bad)?;
    let id: u64 = id.parse().map_err(|_| bad())?;
    if host.is_empty() || id == 0 {
        return Err(bad());
    }
    Ok(JobRef {
        host: host.to_owned(),
        id,
    })
}

fn parse_walk(text: &str) -> Result<WalkId, String> {
    text.parse::<WalkId>()
        .map_err(|_| format!("`{text}` is not a walk id (a whole number)"))
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

/// The help text: every command with its arguments and summary, or one command's usage.
pub fn help(topic: Option<&str>) -> Vec<String> {
    if let Some(info) = topic.and_then(lookup) {
        let mut lines = vec![
            format!("usage: {}", info.usage()),
            format!("  {}", info.summary),
        ];
        if !info.aliases.is_empty() {
            lines.push(format!("  aliases: {}", info.aliases.join(", ")));
        }
        return lines;
    }
    let width = COMMANDS
        .iter()
        .map(|c| c.usage().chars().count())
        .filter(|w| *w <= 40)
        .max()
        .unwrap_or(0);
    let mut lines = vec!["commands:".to_owned()];
    for info in COMMANDS {
        let usage = info.usage();
        if usage.chars().count() > width {
            lines.push(format!("  {usage}"));
            lines.push(format!("  {:width$}  {}", "", info.summary));
        } else {
            lines.push(format!("  {usage:width$}  {}", info.summary));
        }
    }
    lines.push(
        "quote words like a shell: exec h1 -- echo 'a b' passes `a b` as one argument".into(),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> ConsoleCommand {
        parse(line)
            .unwrap_or_else(|e| panic!("`{line}` should parse: {e}"))
            .unwrap_or_else(|| panic!("`{line}` is a command"))
    }

    fn err(line: &str) -> String {
        match parse(line) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("`{line}` should not parse, got {c:?}"),
        }
    }

    fn job(host: &str, id: u64) -> JobRef {
        JobRef {
            host: host.into(),
            id,
        }
    }

    #[test]
    fn splits_words_like_a_shell() {
        assert_eq!(
            split_words(r#"a 'b c' "d \"e\" \x" f\ g '' h"#).unwrap(),
            vec!["a", "b c", r#"d "e" \x"#, "f g", "", "h"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(
            split_words("echo 'a b"),
            Err(ParseError::UnterminatedQuote("single"))
        );
        assert_eq!(
            split_words("echo \"a"),
            Err(ParseError::UnterminatedQuote("double"))
        );
        let (words, open) = scan_words("exec h1 'x y");
        assert_eq!(open, Some("single"));
        assert_eq!(words.last().map(|w| w.start), Some(8));
    }

    #[test]
    fn blank_lines_and_comments_are_no_command() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(parse("# note"), Ok(None));
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(ok("hosts"), ConsoleCommand::Hosts);
        assert_eq!(ok("connect"), ConsoleCommand::Connect(None));
        assert_eq!(ok("connect all"), ConsoleCommand::Connect(None));
        assert_eq!(ok("connect h1"), ConsoleCommand::Connect(Some("h1".into())));
        assert_eq!(
            ok("disconnect"),
            ConsoleCommand::Disconnect(DisconnectSpec::All)
        );
        assert_eq!(
            ok("disconnect all"),
            ConsoleCommand::Disconnect(DisconnectSpec::All)
        );
        assert_eq!(
            ok("disconnect root@127.0.0.1:2201"),
            ConsoleCommand::Disconnect(DisconnectSpec::Named("root@127.0.0.1:2201".into()))
        );
        assert_eq!(ok("devices h2"), ConsoleCommand::Devices("h2".into()));
        assert_eq!(ok("jobs"), ConsoleCommand::Jobs);
        assert_eq!(
            ok("kill h1#3"),
            ConsoleCommand::Kill {
                job: job("h1", 3),
                signal: "TERM".into()
            }
        );
        assert_eq!(
            ok("kill h1#3 sigkill"),
            ConsoleCommand::Kill {
                job: job("h1", 3),
                signal: "KILL".into()
            }
        );
        assert_eq!(
            ok("wait h1#3"),
            ConsoleCommand::Wait {
                job: job("h1", 3),
                timeout: DEFAULT_WAIT
            }
        );
        assert_eq!(
            ok("wait h1#3 2.5"),
            ConsoleCommand::Wait {
                job: job("h1", 3),
                timeout: Duration::from_millis(2500)
            }
        );
        assert_eq!(
            ok("match"),
            ConsoleCommand::Match(MatchRequest {
                all: false,
                disjoint: None,
                limit: 100,
                recipe: RecipeOptions::default()
            })
        );
        assert_eq!(
            ok("match --disjoint 2 -p n=3 --recipe r.toml"),
            ConsoleCommand::Match(MatchRequest {
                all: false,
                disjoint: Some(2),
                limit: 100,
                recipe: RecipeOptions {
                    recipe: Some("r.toml".into()),
                    params: vec!["n=3".into()]
                }
            })
        );
        assert_eq!(
            ok("plan pairwise --limit 0"),
            ConsoleCommand::Plan(PlanRequest {
                strategy: Some(Strategy::Pairwise),
                limit: 0,
                recipe: RecipeOptions::default()
            })
        );
        assert_eq!(
            ok("plan"),
            ConsoleCommand::Plan(PlanRequest {
                strategy: None,
                limit: 20,
                recipe: RecipeOptions::default()
            })
        );
        assert_eq!(ok("walks"), ConsoleCommand::Walks);
        assert_eq!(ok("run"), ConsoleCommand::Run(vec![]));
        assert_eq!(
            ok("run -p mtu=9000"),
            ConsoleCommand::Run(vec!["-p".into(), "mtu=9000".into()])
        );
        assert_eq!(
            ok("replay 7"),
            ConsoleCommand::Replay {
                walk: 7,
                step: false
            }
        );
        assert_eq!(
            ok("replay 7 --step"),
            ConsoleCommand::Replay {
                walk: 7,
                step: true
            }
        );
        assert_eq!(ok("step"), ConsoleCommand::Step(StepDecision::Run));
        assert_eq!(ok("n"), ConsoleCommand::Step(StepDecision::Run));
        assert_eq!(ok("skip"), ConsoleCommand::Step(StepDecision::Skip));
        assert_eq!(ok("retry"), ConsoleCommand::Step(StepDecision::Retry));
        assert_eq!(ok("continue"), ConsoleCommand::Step(StepDecision::Continue));
        assert_eq!(ok("abort"), ConsoleCommand::Step(StepDecision::Abort));
        assert_eq!(
            ok("break mtu"),
            ConsoleCommand::Step(StepDecision::Breakpoint("mtu".into()))
        );
        assert_eq!(ok("shrink 4"), ConsoleCommand::Shrink(4));
        assert_eq!(ok("rerun 5"), ConsoleCommand::Rerun(5));
        assert_eq!(
            ok("vpp h1 show_version"),
            ConsoleCommand::Vpp(vec!["h1".into(), "show_version".into()])
        );
        assert_eq!(ok("undo"), ConsoleCommand::Undo(None));
        assert_eq!(
            ok("undo /tmp/u.log"),
            ConsoleCommand::Undo(Some("/tmp/u.log".into()))
        );
        assert_eq!(ok("help"), ConsoleCommand::Help(None));
        assert_eq!(ok("help exec"), ConsoleCommand::Help(Some("exec".into())));
        assert_eq!(ok("quit"), ConsoleCommand::Quit);
        assert_eq!(ok("exit"), ConsoleCommand::Quit);
    }

    #[test]
    fn exec_keeps_the_argv_and_its_options() {
        assert_eq!(
            ok("exec h1 -- echo 'a b'"),
            ConsoleCommand::Exec(ExecRequest {
                host: "h1".into(),
                command: ExecCommand::Argv(vec!["echo".into(), "a b".into()]),
                background: false,
                timeout: None
            })
        );
        assert_eq!(
            ok("exec h1 --bg --timeout 5 -- sleep 1 --bg"),
            ConsoleCommand::Exec(ExecRequest {
                host: "h1".into(),
                command: ExecCommand::Argv(vec!["sleep".into(), "1".into(), "--bg".into()]),
                background: true,
                timeout: Some(Duration::from_secs(5))
            })
        );
        assert_eq!(
            ok("x h2 --sh 'sleep 1; echo done' --bg"),
            ConsoleCommand::Exec(ExecRequest {
                host: "h2".into(),
                command: ExecCommand::Shell("sleep 1; echo done".into()),
                background: true,
                timeout: None
            })
        );
    }

    #[test]
    fn errors_name_the_command_and_its_usage() {
        assert_eq!(
            err("hots"),
            "unknown command `hots` (did you mean `hosts`?)"
        );
        assert!(err("zzzzzzzz").contains("`help` lists the commands"));
        let e = err("exec");
        assert!(e.starts_with("exec: missing a host"), "{e}");
        assert!(e.contains("usage: exec HOST"), "{e}");
        assert!(err("exec h1").contains("nothing to run"));
        assert!(err("exec h1 --").contains("nothing to run after `--`"));
        assert!(err("exec h1 echo hi").contains("the command goes after `--`"));
        assert!(err("exec h1 --timeout -- x").contains("is not a positive number"));
        assert!(err("exec h1 --sh").contains("--sh needs a value"));
        assert!(err("exec --bg -- x").contains("expected a host"));
        assert!(err("kill").contains("missing a job id"));
        assert!(err("kill h1").contains("not a job id"));
        assert!(err("kill h1#0").contains("not a job id"));
        assert!(err("kill h1#x").contains("not a job id"));
        assert!(err("kill h1#2 SIGBOGUS").contains("unknown signal"));
        assert!(err("wait h1#2 -1").contains("positive number"));
        assert!(err("hosts extra").contains("hosts: unexpected `extra`"));
        assert!(err("replay x").contains("not a walk id"));
        assert!(err("replay 3 --fast").contains("unexpected `--fast`"));
        assert!(err("plan bogus").contains("bad strategy"));
        assert!(err("plan full pairwise").contains("unexpected `pairwise`"));
        assert!(err("match --all --disjoint 2").contains("exclude each other"));
        assert!(err("match --disjoint 0").contains("at least 1"));
        assert!(err("match -p nonsense").contains("not NAME=VALUE"));
        assert!(err("vpp").contains("missing arguments"));
        assert!(err("break").contains("missing an action"));
        assert!(err("help nothing").contains("no command `nothing`"));
        assert!(err("devices").contains("missing a host"));
        assert_eq!(err("echo 'x"), "unterminated single quote");
    }

    #[test]
    fn help_lists_every_command_once() {
        let text = help(None).join("\n");
        for info in COMMANDS {
            assert!(text.contains(info.summary), "{}", info.name);
            assert!(text.contains(&info.usage()), "{}", info.name);
        }
        let one = help(Some("x"));
        assert_eq!(
            one[0],
            format!(
                "usage: {}",
                lookup("exec").map(|c| c.usage()).unwrap_or_default()
            )
        );
    }

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for info in COMMANDS {
            for name in std::iter::once(&info.name).chain(info.aliases) {
                assert!(seen.insert(*name), "{name} twice");
            }
        }
    }

    #[test]
    fn no_input_panics() {
        for line in [
            "\\",
            "'",
            "\"\\",
            "exec h1 -- \\",
            "kill #",
            "kill h1##",
            "wait #1",
            "plan t=0",
            "plan random:x",
            "match --limit",
            "\u{0}",
            "exec \u{1F600} -- ü",
        ] {
            let _ = parse(line);
        }
    }
}
