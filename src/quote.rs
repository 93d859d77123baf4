//! POSIX shell quoting for every value labdeck puts into a remote command line.
//!
//! Invariant: `sh -c "printf %s $(quote(x))"` prints exactly `x` for every string `x`;
//! no character of a quoted value is ever interpreted by the shell.

/// Quotes one word for a POSIX shell. Words made only of safe characters stay as they are.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        return word.to_owned();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for ch in word.chars() {
        if ch == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

/// Joins an argument vector into one command line in which every argument is one word.
pub fn join_argv<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn safe_words_stay_bare() {
        assert_eq!(quote("eth0"), "eth0");
        assert_eq!(quote("198.18.1.1/24"), "198.18.1.1/24");
    }

    #[test]
    fn dangerous_words_are_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(join_argv(&["echo", "a;b", "`x`"]), "echo 'a;b' '`x`'");
    }

    proptest! {
        #[test]
        fn the_shell_gives_back_every_string(word in "[^\\x00]{0,40}") {
            let line = format!("printf %s {}", quote(&word));
            let out = std::process::Command::new("sh").arg("-c").arg(&line).output()
                .expect("sh runs");
            prop_assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }
}
