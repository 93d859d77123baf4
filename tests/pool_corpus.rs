//! The corpus of broken pool files: each `tests/corpus/pool/X.toml` must fail to load with
//! exactly the error in `X.expected` (`file:line:column: message`, then `help: …` if any).
//! Set `LABDECK_BLESS=1` to write the `.expected` files of new cases (then review them).

use labdeck::pool::{Pool, PoolError};
use std::path::{Path, PathBuf};

fn render(err: &PoolError) -> String {
    match err {
        PoolError::Config(e) => match &e.help {
            Some(help) => format!("{e}\nhelp: {help}\n"),
            None => format!("{e}\n"),
        },
        other => format!("{other}\n"),
    }
}

#[test]
fn every_broken_pool_gives_its_exact_error() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/pool");
    let bless = std::env::var_os("LABDECK_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the corpus has {} cases", cases.len());
    let mut mismatches = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).expect("read case");
        let name = Path::new(case.file_name().expect("file name"));
        let err = match Pool::parse(name, &text) {
            Ok(_) => {
                mismatches.push(format!("{}: loaded without error", name.display()));
                continue;
            }
            Err(e) => render(&e),
        };
        let expected_path = case.with_extension("expected");
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == err => {}
            Ok(expected) => mismatches.push(format!(
                "{}:\n  expected: {expected:?}\n  actual:   {err:?}",
                name.display()
            )),
            Err(_) if bless => std::fs::write(&expected_path, &err).expect("bless"),
            Err(_) => mismatches.push(format!("{}: no .expected file", name.display())),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
