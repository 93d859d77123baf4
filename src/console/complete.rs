//! Completion and hints for the command language, over what the session knows.
//!
//! [`CompletionData`] is filled by the [`super::Console`] from the pool, the recipe and the
//! engine events it sees (running jobs, walk ends); [`complete`] and [`hint`] are pure
//! functions of it and of the line, so the REPL's editor thread and the TUI's `:` line
//! complete the same way. Invariants: candidates are sorted and unique; the returned start
//! offset is a char boundary of the line at or before the cursor; nothing here panics on
//! any line or cursor position.

use super::command::{ArgKind, COMMANDS, lookup, scan_words};
use std::collections::BTreeSet;

/// What can be completed, as the session knows it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompletionData {
    /// Pool machines, in pool order.
    pub hosts: Vec<String>,
    /// Recipe roles (exec and devices accept them).
    pub roles: Vec<String>,
    /// Job ids of running jobs, `HOST#N`.
    pub jobs: BTreeSet<String>,
    /// Walk ids seen ending in this session.
    pub walks: BTreeSet<u64>,
    /// VPP message names (from the definitions, when loaded).
    pub vpp_messages: Vec<String>,
}

const STRATEGIES: &[&str] = &["full", "pairwise", "t=2", "t=3", "random:10:1"];

/// Options per command, completed when the word starts with `-`.
fn flags(command: &str) -> &'static [&'static str] {
    match command {
        "exec" => &["--", "--bg", "--sh", "--timeout"],
        "match" => &["--all", "--disjoint", "--limit", "--param", "--recipe"],
        "plan" => &["--limit", "--param", "--recipe", "--strategy"],
        "replay" => &["--step"],
        _ => &[],
    }
}

/// Completes the word under the cursor: `(start of the word, candidates)`.
pub fn complete(line: &str, pos: usize, data: &CompletionData) -> (usize, Vec<String>) {
    let mut pos = pos.min(line.len());
    while !line.is_char_boundary(pos) {
        pos -= 1;
    }
    let head = &line[..pos];
    let (words, _) = scan_words(head);
    let ends_in_space = head.ends_with(char::is_whitespace) || head.is_empty();
    let (start, current, before): (usize, String, Vec<String>) = if ends_in_space {
        (
            pos,
            String::new(),
            words.iter().map(|w| w.text.clone()).collect(),
        )
    } else {
        match words.split_last() {
            Some((last, rest)) => (
                last.start,
                last.text.clone(),
                rest.iter().map(|w| w.text.clone()).collect(),
            ),
            None => (pos, String::new(), Vec::new()),
        }
    };
    let candidates: Vec<String> = match before.split_first() {
        None => COMMANDS
            .iter()
            .map(|c| c.name.to_owned())
            .filter(|n| n.starts_with(&current))
            .collect(),
        Some((name, args)) => {
            let Some(info) = lookup(name) else {
                return (start, Vec::new());
            };
            if info.name == "exec" && args.iter().any(|a| a == "--") {
                return (start, Vec::new());
            }
            if current.starts_with('-') {
                flags(info.name)
                    .iter()
                    .map(|f| (*f).to_owned())
                    .filter(|f| f.starts_with(&current))
                    .collect()
            } else {
                let first_arg = args.is_empty();
                let kind = match info.completes {
                    ArgKind::Host
                    | ArgKind::HostOrAll
                    | ArgKind::Job
                    | ArgKind::Walk
                    | ArgKind::Command
                    | ArgKind::Strategy
                        if !first_arg =>
                    {
                        ArgKind::None
                    }
                    kind => kind,
                };
                let words: Vec<String> = match kind {
                    ArgKind::Host => data.hosts.iter().chain(&data.roles).cloned().collect(),
                    ArgKind::HostOrAll => std::iter::once("all".to_owned())
                        .chain(data.hosts.iter().cloned())
                        .collect(),
                    ArgKind::Job => data.jobs.iter().cloned().collect(),
                    ArgKind::Walk => data.walks.iter().map(u64::to_string).collect(),
                    ArgKind::Strategy => STRATEGIES.iter().map(|s| (*s).to_owned()).collect(),
                    ArgKind::VppMessage => data
                        .hosts
                        .iter()
                        .chain(&data.vpp_messages)
                        .cloned()
                        .collect(),
                    ArgKind::Command => COMMANDS.iter().map(|c| c.name.to_owned()).collect(),
                    ArgKind::None | ArgKind::Path => Vec::new(),
                };
                words
                    .into_iter()
                    .filter(|w| w.starts_with(&current))
                    .collect()
            }
        }
    };
    let unique: BTreeSet<String> = candidates.into_iter().collect();
    (start, unique.into_iter().collect())
}

/// A hint shown after the cursor: the rest of a uniquely typed command name and its
/// arguments, or the arguments of a command followed by a space.
pub fn hint(line: &str) -> Option<String> {
    if line.trim().is_empty() || line.starts_with(char::is_whitespace) {
        return None;
    }
    let word_end = line.find(char::is_whitespace);
    match word_end {
        None => {
            let mut matching = COMMANDS.iter().filter(|c| c.name.starts_with(line));
            let info = matching.next()?;
            if matching.next().is_some() {
                return None;
            }
            let rest = info.name.get(line.len()..)?;
            if info.args.is_empty() {
                (!rest.is_empty()).then(|| rest.to_owned())
            } else {
                Some(format!("{rest} {}", info.args))
            }
        }
        Some(end) => {
            let info = lookup(&line[..end])?;
            let after = &line[end..];
            (after.trim().is_empty() && !info.args.is_empty()).then(|| {
                let pad = if after.is_empty() { " " } else { "" };
                format!("{pad}{}", info.args)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> CompletionData {
        CompletionData {
            hosts: vec!["h1".into(), "h2".into(), "dut".into()],
            roles: vec!["tx".into()],
            jobs: ["h1#1".to_owned(), "h2#4".to_owned()].into_iter().collect(),
            walks: [3, 12].into_iter().collect(),
            vpp_messages: vec!["show_version".into(), "sw_interface_dump".into()],
        }
    }

    fn names(line: &str) -> (usize, Vec<String>) {
        complete(line, line.len(), &data())
    }

    #[test]
    fn completes_command_names() {
        assert_eq!(names("ho"), (0, vec!["hosts".to_owned()]));
        assert_eq!(
            names("re"),
            (
                0,
                vec!["replay".to_owned(), "rerun".to_owned(), "retry".to_owned()]
            )
        );
        assert_eq!(names("").1.len(), COMMANDS.len());
        assert_eq!(names("zz"), (0, vec![]));
    }

    #[test]
    fn completes_hosts_roles_jobs_walks_and_vpp_messages() {
        assert_eq!(names("exec h"), (5, vec!["h1".to_owned(), "h2".to_owned()]));
        assert_eq!(names("exec t"), (5, vec!["tx".to_owned()]));
        assert_eq!(names("devices d"), (8, vec!["dut".to_owned()]));
        assert_eq!(names("connect a"), (8, vec!["all".to_owned()]));
        assert_eq!(names("kill h2"), (5, vec!["h2#4".to_owned()]));
        assert_eq!(
            names("wait "),
            (5, vec!["h1#1".to_owned(), "h2#4".to_owned()])
        );
        assert_eq!(names("replay 1"), (7, vec!["12".to_owned()]));
        assert_eq!(names("shrink "), (7, vec!["12".to_owned(), "3".to_owned()]));
        assert_eq!(names("vpp h1 sh"), (7, vec!["show_version".to_owned()]));
        assert_eq!(names("plan pa"), (5, vec!["pairwise".to_owned()]));
        assert_eq!(names("help ex"), (5, vec!["exec".to_owned()]));
        assert_eq!(names("exec h1 --b"), (8, vec!["--bg".to_owned()]));
    }

    #[test]
    fn only_the_first_argument_completes_and_never_the_remote_command() {
        assert_eq!(names("devices h1 h").1, Vec::<String>::new());
        assert_eq!(names("exec h1 -- h").1, Vec::<String>::new());
        assert_eq!(names("jobs h").1, Vec::<String>::new());
        assert_eq!(names("nosuch h").1, Vec::<String>::new());
    }

    #[test]
    fn the_cursor_position_decides_the_word() {
        assert_eq!(
            complete("exec h1 -- ls", 6, &data()),
            (5, vec!["h1".to_owned(), "h2".to_owned()])
        );
        assert_eq!(complete("ho", 99, &data()), (0, vec!["hosts".to_owned()]));
        // Inside a multi-byte character: moved back to a boundary, no panic.
        let _ = complete("exec ü", 6, &data());
        let _ = complete("exec 'h", 7, &data());
    }

    #[test]
    fn hints_show_the_arguments() {
        assert_eq!(hint("dev").as_deref(), Some("ices HOST"));
        assert_eq!(hint("devices").as_deref(), Some(" HOST"));
        assert_eq!(hint("devices ").as_deref(), Some("HOST"));
        assert_eq!(hint("devices h1"), None);
        assert_eq!(hint("hos").as_deref(), Some("ts"));
        assert_eq!(hint("hosts"), None);
        assert_eq!(hint("re"), None, "ambiguous");
        assert_eq!(hint(""), None);
        assert_eq!(hint(" x"), None);
    }
}
