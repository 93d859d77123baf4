//! The corpus of broken recipe files: each `tests/corpus/recipe/X.toml` must fail to load
//! with exactly the error in `X.expected` (`file:line:column: message`, then `help: …` if
//! any). Set `LABDECK_BLESS=1` to write the `.expected` files of new cases (then review them).

use labdeck::recipe::{Recipe, RecipeError};
use std::path::{Path, PathBuf};

fn render(err: &RecipeError) -> String {
    match err {
        RecipeError::Config(e) => match &e.help {
            Some(help) => format!("{e}\nhelp: {help}\n"),
            None => format!("{e}\n"),
        },
        other => format!("{other}\n"),
    }
}

#[test]
fn every_broken_recipe_gives_its_exact_error() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/recipe");
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
        let err = match Recipe::parse(name, &text) {
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

/// The example recipe shipped in assets/ loads.
#[test]
fn example_recipes_load() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/examples");
    let recipe = Recipe::load(&dir.join("mtu-sweep.toml")).expect("example recipe loads");
    assert_eq!(recipe.name, "mtu-sweep");
    assert_eq!(recipe.walk.order, ["mtu", "gro", "size", "settle"]);
}
