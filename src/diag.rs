//! Config-file diagnostics shared by every file labdeck reads (pools, recipes, sessions).
//!
//! Invariant: every [`ConfigError`] carries the file name, the full source text and a byte
//! span inside it, so that its plain `Display` names `file:line:column` and its miette
//! rendering draws a caret under the offending text. Suggestions for misspelt keys come from
//! [`nearest`], so all files suggest the same way.

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::path::Path;

/// A config error located in a file: `file:line:column: message`, with an optional hint.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `file:line:column`, 1-based, as editors and compilers print it.
    pub location: String,
    pub message: String,
    #[help]
    pub help: Option<String>,
    #[source_code]
    pub source_code: NamedSource<String>,
    #[label("here")]
    pub span: SourceSpan,
}

impl ConfigError {
    /// Builds an error at `span` (byte range) in `text`, read from `path`.
    pub fn at(
        path: &Path,
        text: &str,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let start = span.start.min(text.len());
        let end = span.end.clamp(start, text.len());
        let (line, column) = line_column(text, start);
        let name = path.display().to_string();
        ConfigError {
            location: format!("{name}:{line}:{column}"),
            message: message.into(),
            help,
            source_code: NamedSource::new(name, text.to_owned()),
            span: (start, end - start).into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The candidate closest to `word` by Jaro-Winkler similarity, if it is close enough to be
/// a plausible typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Turns a `toml` deserialisation error into a located [`ConfigError`]; an unknown key gets
/// "did you mean" help computed from the keys serde expected.
pub fn from_toml_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let message = err.message().trim().to_owned();
    let help = unknown_key_help(&message);
    // The valid keys or variants move into the help; other messages keep "expected …".
    let message = if help.is_some() {
        message
            .split(", expected")
            .next()
            .unwrap_or(&message)
            .to_owned()
    } else {
        message
    };
    ConfigError::at(path, text, span, message, help)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant") message:
/// a suggestion of the nearest valid key and the list of valid keys.
fn unknown_key_help(message: &str) -> Option<String> {
    let (rest, what) = match message.strip_prefix("unknown field `") {
        Some(rest) => (rest, "keys"),
        None => (message.strip_prefix("unknown variant `")?, "values"),
    };
    let (unknown, expected) = rest.split_once('`')?;
    let valid: Vec<&str> = expected
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    if valid.is_empty() {
        return None;
    }
    let list = valid.join(", ");
    Some(match nearest(unknown, valid.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? valid {what} here: {list}"),
        None => format!("valid {what} here: {list}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 8), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn nearest_suggests_close_keys_only() {
        let keys = ["address", "port", "user", "identity"];
        assert_eq!(nearest("adress", keys), Some("address"));
        assert_eq!(nearest("usr", keys), Some("user"));
        assert_eq!(nearest("zzzzzz", keys), None);
    }

    #[test]
    fn unknown_key_help_lists_and_suggests() {
        let help = unknown_key_help("unknown field `prot`, expected one of `port`, `user`");
        assert_eq!(
            help.as_deref(),
            Some("did you mean `port`? valid keys here: port, user")
        );
        assert_eq!(unknown_key_help("invalid type: string"), None);
    }
}
