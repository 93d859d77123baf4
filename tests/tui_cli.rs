//! `labdeck tui` refuses bad input before touching the terminal: an unknown theme, a broken
//! keymap file and a missing pool exit with 2 and say why.

mod common;
use common::*;

const POOL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/examples/local-pool.toml"
);

#[test]
fn bad_theme_keymap_or_pool_exit_2_with_the_reason() {
    let out = labdeck(&["tui", "--pool", POOL, "--theme", "no-such-theme"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read theme no-such-theme"));

    let dir = tempfile::tempdir().expect("tempdir");
    let theme = dir.path().join("mine.toml");
    std::fs::write(&theme, "[roles.okk]\nfg = \"red\"\n").expect("write");
    let out = labdeck(&[
        "tui",
        "--pool",
        POOL,
        "--theme",
        theme.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown role `okk`"),
        "{}",
        text(&out.stderr)
    );

    let keymap = dir.path().join("keys.toml");
    std::fs::write(&keymap, "[keys]\nquit = [\"qq\"]\n").expect("write");
    let out = labdeck(&[
        "tui",
        "--pool",
        POOL,
        "--keymap",
        keymap.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`qq` is not a key"),
        "{}",
        text(&out.stderr)
    );

    let out = labdeck(&["tui", "--pool", "/nonexistent/pool.toml"]);
    assert_eq!(out.status.code(), Some(2));
}
