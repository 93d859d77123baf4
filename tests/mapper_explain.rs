//! Snapshot tests of the mapper's "why nothing matches" explanations.

#[path = "mapper_common.rs"]
mod common;

use common::*;
use labdeck::mapper::{Finding, Mapper, Matcher, PropertyReq, Requirements};

fn explain(pool: labdeck::mapper::PoolView, requirements: Requirements) -> String {
    Mapper::new(pool, requirements)
        .expect("valid inputs")
        .explain()
        .to_string()
}

fn kind(value: &str) -> PropertyReq {
    PropertyReq::equals("kind", value)
}

#[test]
fn closest_machines_and_their_failed_constraints() {
    let pool = pool(vec![
        machine(
            "m1",
            &[("arch", "aarch64")],
            vec![iface("ens1", Some("A"), Some("ice"))],
        ),
        machine(
            "m2",
            &[("arch", "x86_64")],
            vec![iface("eth0", Some("A"), Some("ixgbe"))],
        ),
        machine("m3", &[("arch", "x86_64")], vec![]),
        machine("m4", &[], vec![iface("eth0", None, Some("ixgbe"))]),
    ]);
    let recipe = recipe(vec![host(
        "dut",
        vec![PropertyReq::equals("arch", "x86_64")],
        vec![if_req_driver("data", "net1", Matcher::Equals("ice".into()))],
    )]);
    insta::assert_snapshot!(explain(pool, recipe), @r#"
    no testbed matches the requirements:
    role "dut": no machine qualifies; closest:
      m1: fails arch=x86_64 (has aarch64)
      m2: lacks interface for "data" (driver=ice, on a network); closest eth0 fails driver=ice (has ixgbe)
      m3: lacks interface for "data" (driver=ice, on a network); machine has no interfaces
    "#);
}

#[test]
fn property_matchers_in_failures() {
    let pool = pool(vec![
        machine("m1", &[("arch", "aarch64"), ("broken", "yes")], vec![]),
        machine("m2", &[("os", "windows")], vec![]),
    ]);
    let recipe = recipe(vec![host(
        "dut",
        vec![
            PropertyReq::regex("arch", "x86.*"),
            PropertyReq::absent("broken"),
            PropertyReq::not("os", Matcher::Equals("windows".into())),
            PropertyReq::present("arch"),
        ],
        vec![],
    )]);
    insta::assert_snapshot!(explain(pool, recipe), @r#"
    no testbed matches the requirements:
    role "dut": no machine qualifies; closest:
      m1: fails arch~/x86.*/ (has aarch64); fails broken absent (has yes)
      m2: fails arch~/x86.*/ (arch absent); fails os!=windows (has windows); fails arch present (arch absent)
    "#);
}

#[test]
fn interfaces_that_cannot_share_a_machine() {
    let pool = pool(vec![
        simple_machine("m1", &["A"]),
        simple_machine("m2", &["A", "A"]),
    ]);
    let recipe = recipe(vec![host(
        "dut",
        vec![],
        vec![if_req("p0", "net1"), if_req("p1", "net2")],
    )]);
    insta::assert_snapshot!(explain(pool, recipe), @r#"
    no testbed matches the requirements:
    role "dut": no machine qualifies; closest:
      m1: interface roles "p0", "p1" need 2 distinct interfaces; only 1 interface qualifies: eth0
      m2: interface roles "p0" (net1), "p1" (net2) cannot sit on networks consistent with their labels (same label: same network; different labels: different networks)
    recipe needs 2 distinct networks (net1, net2); pool offers 1 (A)
    "#);
}

#[test]
fn too_few_machines_for_a_set_of_roles() {
    let pool = pool(vec![
        machine("g1", &[("gpu", "yes")], vec![]),
        machine("g2", &[("gpu", "yes")], vec![]),
        machine("c1", &[], vec![]),
    ]);
    let gpu = || vec![PropertyReq::equals("gpu", "yes")];
    let recipe = recipe(vec![
        host("trainer", gpu(), vec![]),
        host("worker", gpu(), vec![]),
        host("scorer", gpu(), vec![]),
        host("client", vec![], vec![]),
    ]);
    insta::assert_snapshot!(explain(pool, recipe), @r#"
    no testbed matches the requirements:
    roles "trainer", "worker", "scorer" need 3 distinct machines; only 2 machines qualify for them: g1, g2
    "#);
}

#[test]
fn too_few_networks() {
    let pool = pool(vec![
        simple_machine("m1", &["A", "B"]),
        simple_machine("m2", &["A", "B"]),
    ]);
    let recipe = recipe(vec![
        host(
            "a",
            vec![],
            vec![if_req("p0", "net1"), if_req("p1", "net2")],
        ),
        host("b", vec![], vec![if_req("p0", "net3")]),
    ]);
    insta::assert_snapshot!(explain(pool, recipe), @r#"
    no testbed matches the requirements:
    recipe needs 3 distinct networks (net1, net2, net3); pool offers 2 (A, B)
    "#);
}

#[test]
fn label_no_network_reaches_all_users() {
    let pool = pool(vec![
        machine("ma", &[("kind", "a")], vec![iface("eth0", Some("A"), None)]),
        machine("mb", &[("kind", "b")], vec![iface("eth0", Some("B"), None)]),
    ]);
    let recipe = recipe(vec![
        host("a", vec![kind("a")], vec![if_req("eth", "net1")]),
        host("b", vec![kind("b")], vec![if_req("eth", "net1")]),
    ]);
    insta::assert_snapshot!(explain(pool, recipe), @r#"
    no testbed matches the requirements:
    label "net1": no pool network is reachable by all of its interfaces
      a.eth reaches A
      b.eth reaches B
    "#);
}

#[test]
fn labels_shared_by_roles_need_more_networks_than_offered() {
    let pool = pool(vec![
        machine("ma", &[("kind", "a")], vec![iface("eth0", Some("A"), None)]),
        machine("mc", &[("kind", "c")], vec![iface("eth0", Some("A"), None)]),
        machine(
            "mb",
            &[("kind", "b")],
            vec![
                iface("eth0", Some("A"), None),
                iface("eth1", Some("B"), None),
            ],
        ),
    ]);
    let recipe = recipe(vec![
        host("a", vec![kind("a")], vec![if_req("eth", "net1")]),
        host(
            "b",
            vec![kind("b")],
            vec![if_req("p0", "net1"), if_req("p1", "net2")],
        ),
        host("c", vec![kind("c")], vec![if_req("eth", "net2")]),
    ]);
    insta::assert_snapshot!(explain(pool, recipe), @r#"
    no testbed matches the requirements:
    labels "net1", "net2" (used by roles "a", "b", "c") need 2 distinct networks; pool offers 1 for them: A
    "#);
}

#[test]
fn no_combination_after_exhaustive_search() {
    // a can use m1 (A) or m2 (B); b only m1 (A). Each label and role has options, but b
    // takes m1 and a is then left with m2 on the wrong network.
    let pool = pool(vec![
        machine(
            "m1",
            &[("kind", "both")],
            vec![iface("eth0", Some("A"), None)],
        ),
        machine("m2", &[("kind", "a")], vec![iface("eth0", Some("B"), None)]),
    ]);
    let recipe = recipe(vec![
        host("a", vec![], vec![if_req("eth", "net1")]),
        host("b", vec![kind("both")], vec![if_req("eth", "net1")]),
    ]);
    let mapper = Mapper::new(pool, recipe).expect("valid inputs");
    let explanation = mapper.explain();
    assert!(!explanation.matched);
    assert!(matches!(
        explanation.findings[..],
        [Finding::NoCombination { .. }]
    ));
    insta::assert_snapshot!(explanation.to_string(), @r#"
    no testbed matches the requirements:
    every role has machines that qualify on their own, but no combination satisfies all constraints together (exhaustive search)
      role "a": 2 machines qualify
      role "b": 1 machine qualifies
    "#);
}

#[test]
fn empty_pool() {
    let recipe = recipe(vec![host("dut", vec![], vec![])]);
    insta::assert_snapshot!(explain(pool(vec![]), recipe), @r#"
    no testbed matches the requirements:
    role "dut": no machine qualifies (the pool is empty)
    "#);
}

#[test]
fn matched_explanation() {
    let pool = pool(vec![simple_machine("m1", &["A"])]);
    let recipe = recipe(vec![host("dut", vec![], vec![if_req("eth", "net1")])]);
    let mapper = Mapper::new(pool, recipe).expect("valid inputs");
    let explanation = mapper.explain();
    assert!(explanation.matched);
    assert!(explanation.findings.is_empty());
    insta::assert_snapshot!(explanation.to_string(), @"a testbed matches the requirements");
}

#[test]
fn require_match_carries_the_explanation() {
    let recipe = recipe(vec![host(
        "dut",
        vec![PropertyReq::equals("arch", "s390x")],
        vec![],
    )]);
    let mapper = Mapper::new(
        pool(vec![machine("m1", &[("arch", "x86_64")], vec![])]),
        recipe,
    )
    .expect("valid inputs");
    let error = mapper.require_match().expect_err("no match");
    insta::assert_snapshot!(error.to_string(), @r#"
    no testbed matches the requirements:
    role "dut": no machine qualifies; closest:
      m1: fails arch=s390x (has x86_64)
    "#);
}
