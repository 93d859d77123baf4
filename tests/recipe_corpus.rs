//! The corpus of broken recipe files: each `tests/corpus/recipe/X.toml` must fail to load
//! with exactly the error in `X.expected` (`file:line:column: message`, then `help: …` if
//! any). Set `LABDECK_BLESS=1` to write the `.expected` files of new cases (then review them); the harness is `corpus_common`.

mod corpus_common;
use labdeck::recipe::{Recipe, RecipeError};
use std::path::PathBuf;

#[test]
fn every_broken_recipe_gives_its_exact_error() {
    corpus_common::check_corpus("recipe", |file, text| {
        Recipe::parse(file, text).err().map(|e| match &e {
            RecipeError::Config(c) => corpus_common::render_config(c),
            other => format!("{other}\n"),
        })
    });
}

/// The example recipe shipped in assets/ loads.
#[test]
fn example_recipes_load() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/examples");
    let recipe = Recipe::load(&dir.join("mtu-sweep.toml")).expect("example recipe loads");
    assert_eq!(recipe.name, "mtu-sweep");
    assert_eq!(recipe.walk.order, ["mtu", "gro", "size", "settle"]);
}
