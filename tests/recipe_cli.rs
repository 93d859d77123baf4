//! `labdeck match` and `labdeck plan` through the binary, on TOML fixtures (no lab: the pool
//! lists SSH machines that are never contacted).

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recipe")
        .join(name)
        .display()
        .to_string()
}

fn labdeck(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_labdeck"))
        .args(args)
        .env_remove("LABDECK_POOL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run labdeck");
    (
        status.code().expect("exit code"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// miette's rendering with its line wrapping undone: box characters dropped and whitespace
/// collapsed, so that messages can be searched for whatever the width.
fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn match_prints_the_first_testbed_as_a_table() {
    let pool = fixture("pool.toml");
    let recipe = fixture("pair.toml");
    let (code, out, err) = labdeck(&["match", "--pool", &pool, "--recipe", &recipe]);
    assert_eq!(code, 0, "{out}{err}");
    let rows: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("ROLE")).collect();
    assert_eq!(
        rows,
        [
            "ROLE  MACHINE  ADDRESS               IFACE  INTERFACE  NETWORK",
            "dut   h1       root@198.18.0.1:2201  eth0   veth1      net1 -> A",
            "peer  h2       root@198.18.0.2:2202  eth0   veth1      net1 -> A",
        ]
    );
}

#[test]
fn match_all_and_disjoint() {
    let pool = fixture("pool.toml");
    let recipe = fixture("pair.toml");
    let (code, out, _) = labdeck(&["match", "--pool", &pool, "--recipe", &recipe, "--all"]);
    assert_eq!(code, 0, "{out}");
    // dut must be x86_64: h1, h2 on A; h4 on B (h3 is aarch64, so it can only be the peer).
    assert_eq!(out.matches("\ntestbed ").count(), 3, "{out}");
    assert!(out.ends_with("\n3 testbeds\n"), "{out}");
    let (code, out, _) = labdeck(&["match", "-P", &pool, "-r", &recipe, "--disjoint", "2"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 disjoint testbeds found"), "{out}");
    let (code, out, _) = labdeck(&["match", "-P", &pool, "-r", &recipe, "--disjoint", "3"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("found 2 of 3 requested disjoint testbeds; the pool cannot hold more"),
        "{out}"
    );
}

#[test]
fn match_explains_why_nothing_matches_and_exits_1() {
    let pool = fixture("pool.toml");
    let recipe = fixture("no-match.toml");
    let (code, out, err) = labdeck(&["match", "--pool", &pool, "--recipe", &recipe]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("no testbed matches the requirements:"),
        "{out}"
    );
    assert!(
        out.contains("role \"dut\": no machine qualifies; closest:"),
        "{out}"
    );
    // h3 is aarch64 but runs under qemu: the failed constraint is named.
    let h3 = out
        .lines()
        .find(|l| l.trim_start().starts_with("h3:"))
        .unwrap_or_else(|| panic!("h3 listed among the closest: {out}"));
    assert!(h3.contains("virt"), "{h3}");
}

#[test]
fn config_and_param_errors_exit_2() {
    let pool = fixture("pool.toml");
    let recipe = fixture("pair.toml");
    let broken = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/recipe/template-unknown-iface.toml")
        .display()
        .to_string();
    let (code, _, err) = labdeck(&["match", "--pool", &pool, "--recipe", &broken]);
    assert_eq!(code, 2);
    let err = flat(&err);
    assert!(
        err.contains("role `dut` has no interface role `eth1`"),
        "{err}"
    );
    assert!(err.contains("template-unknown-iface.toml:9:24"), "{err}");
    let (code, _, err) = labdeck(&["match", "-P", &pool, "-r", &recipe, "-p", "sise=1"]);
    assert_eq!(code, 2);
    let err = flat(&err);
    assert!(err.contains("unknown param `sise`"), "{err}");
    assert!(err.contains("did you mean `size`?"), "{err}");
    let (code, _, err) = labdeck(&["match", "-P", &pool, "-r", &recipe, "-p", "size=big"]);
    assert_eq!(code, 2);
    assert!(
        flat(&err).contains("param `size` (int): `big` is not an integer"),
        "{err}"
    );
    let (code, _, _) = labdeck(&["match", "-P", "/nonexistent/pool.toml", "-r", &recipe]);
    assert_eq!(code, 2);
    let (code, _, err) = labdeck(&["match", "-P", &pool, "-r", "/nonexistent/r.toml"]);
    assert_eq!(code, 2);
    assert!(flat(&err).contains("cannot read recipe file"), "{err}");
}

#[test]
fn plan_counts_full_and_pairwise() {
    let recipe = fixture("walks.toml");
    let (code, out, err) = labdeck(&[
        "plan",
        "--recipe",
        &recipe,
        "-p",
        "peer=198.18.0.2",
        "--limit",
        "3",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "recipe \"walks\": walk order mtu (3, serial) x ring (3) x size (3) x nap (3) = 81 walks in the full product"
    );
    assert!(out.contains("\nstrategy full: 81 walks\n"), "{out}");
    assert!(!out.contains("coverage"), "{out}");
    assert!(
        out.contains(
            "0: mtu=1500, ring=256, size=100, nap=0\n\
             1: mtu=1500, ring=256, size=100, nap=1\n\
             2: mtu=1500, ring=256, size=100, nap=2\n\
             ... 78 more walks"
        ),
        "{out}"
    );
    let (code, out, err) = labdeck(&[
        "plan",
        "--recipe",
        &recipe,
        "-p",
        "peer=198.18.0.2",
        "--strategy",
        "pairwise",
        "--limit",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // 4 actions x 3 options: a pairwise covering set needs at least 9 walks.
    let count: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("strategy pairwise: "))
        .and_then(|rest| rest.strip_suffix(" walks"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("walk count in {out}"));
    assert!((9..81).contains(&count), "{count}");
    assert!(out.contains("coverage: ok"), "{out}");
    let walk_lines = out.lines().filter(|l| l.contains(": mtu=")).count() as u64;
    assert_eq!(walk_lines, count);
}

#[test]
fn plan_resolves_params_and_rejects_bad_ones() {
    let recipe = fixture("walks.toml");
    let (code, out, err) = labdeck(&[
        "plan",
        "-r",
        &recipe,
        "-p",
        "peer=::1",
        "-p",
        "rings=64,128",
        "--strategy",
        "t=3",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ring (2)"), "{out}");
    assert!(out.contains("= 54 walks in the full product"), "{out}");
    assert!(out.contains("coverage: ok"), "{out}");
    let (code, _, err) = labdeck(&["plan", "-r", &recipe]);
    assert_eq!(code, 2);
    assert!(flat(&err).contains("param `peer` is mandatory"), "{err}");
    let (code, _, err) = labdeck(&["plan", "-r", &recipe, "-p", "peer=::1", "-p", "rings=64,x"]);
    assert_eq!(code, 2);
    assert!(flat(&err).contains("param `rings` (list of int)"), "{err}");
    let (code, _, _) = labdeck(&[
        "plan",
        "-r",
        &recipe,
        "-p",
        "peer=::1",
        "--strategy",
        "nope",
    ]);
    assert_eq!(code, 2);
    let (code, out, _) = labdeck(&[
        "plan",
        "-r",
        &recipe,
        "-p",
        "peer=::1",
        "--strategy",
        "random:5:7",
        "--limit",
        "0",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("strategy random:5:7: 5 walks"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains(": mtu=")).count(), 5);
}
