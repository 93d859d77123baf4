//! The corpus harness shared by the broken-input tests: every `X.toml` in a corpus
//! directory must fail with exactly the text in `X.expected` (`file:line:column: message`,
//! then `help: …` if any). `LABDECK_BLESS=1` writes the `.expected` files of new cases
//! (review them before committing).

use labdeck::diag::ConfigError;
use std::path::{Path, PathBuf};

/// How a config error reads in a corpus file.
pub fn render_config(e: &ConfigError) -> String {
    match &e.help {
        Some(help) => format!("{e}\nhelp: {help}\n"),
        None => format!("{e}\n"),
    }
}

/// Checks every case of `tests/corpus/<name>`; `parse` returns the rendered error, or
/// `None` when the case loaded (which is a failure).
pub fn check_corpus(name: &str, parse: impl Fn(&Path, &str) -> Option<String>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    let bless = std::env::var_os("LABDECK_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "the {name} corpus has {} cases",
        cases.len()
    );
    let mut mismatches = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).expect("read case");
        let file = Path::new(case.file_name().expect("file name"));
        let Some(err) = parse(file, &text) else {
            mismatches.push(format!("{}: loaded without error", file.display()));
            continue;
        };
        let expected_path = case.with_extension("expected");
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == err => {}
            Ok(expected) => mismatches.push(format!(
                "{}:\n  expected: {expected:?}\n  actual:   {err:?}",
                file.display()
            )),
            Err(_) if bless => std::fs::write(&expected_path, &err).expect("bless"),
            Err(_) => mismatches.push(format!("{}: no .expected file", file.display())),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
