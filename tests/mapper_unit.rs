//! Unit-level behaviour of the mapper: matchers, label bijection, symmetry removal, K
//! disjoint testbeds, validation errors.

#[path = "mapper_common.rs"]
mod common;

use std::collections::BTreeSet;

use common::*;
use labdeck::mapper::{Mapper, MapperError, Matcher, PropertyReq, Requirements, Testbed};

fn mapper(pool: labdeck::mapper::PoolView, requirements: Requirements) -> Mapper {
    Mapper::new(pool, requirements).expect("valid inputs")
}

/// The set of (machine, interface, pool network) triples a testbed uses: the canonical form
/// of the LNST case, where roles and labels are interchangeable.
fn triples(testbed: &Testbed) -> BTreeSet<(String, String, String)> {
    testbed
        .interfaces
        .iter()
        .map(|((role, _), iface)| {
            let machine = testbed.hosts[role].clone();
            let network = testbed
                .networks
                .values()
                .next()
                .cloned()
                .unwrap_or_default();
            (machine, iface.clone(), network)
        })
        .collect()
}

#[test]
fn lnst_case_has_four_distinct_testbeds() {
    // Recipe: hosts h1 and h2, each with one interface on label net1.
    // Pool: m1 {eth0: A, eth1: B}, m2 {eth0: A, eth1: B}, m3 {eth0: A}.
    //
    // Ordered (h1, h2) assignments: net1 -> A allows any ordered pair of distinct machines
    // among m1, m2, m3 (3 * 2 = 6); net1 -> B allows (m1, m2) and (m2, m1) (2). LNST yields
    // all 6 + 2 = 8. h1 and h2 have identical requirements, so swapping them gives the same
    // testbed: the distinct testbeds are the unordered pairs, i.e. C(3,2) = 3 on A plus
    // C(2,2) = 1 on B = 4. (Collapsing further to 2 would forget which machines are used:
    // {m1,m2} on A and {m1,m3} on A are different testbeds to run a test on.)
    let pool = pool(vec![
        simple_machine("m1", &["A", "B"]),
        simple_machine("m2", &["A", "B"]),
        simple_machine("m3", &["A"]),
    ]);
    let recipe = recipe(vec![
        host("h1", vec![], vec![if_req("if1", "net1")]),
        host("h2", vec![], vec![if_req("if1", "net1")]),
    ]);
    let mapper = mapper(pool, recipe);
    let matches: Vec<Testbed> = mapper.all_matches().collect();
    assert_eq!(matches.len(), 4, "{matches:#?}");

    let canonical: BTreeSet<_> = matches.iter().map(triples).collect();
    let expected: BTreeSet<BTreeSet<(String, String, String)>> = [
        [("m1", "eth0", "A"), ("m2", "eth0", "A")],
        [("m1", "eth0", "A"), ("m3", "eth0", "A")],
        [("m2", "eth0", "A"), ("m3", "eth0", "A")],
        [("m1", "eth1", "B"), ("m2", "eth1", "B")],
    ]
    .iter()
    .map(|pair| {
        pair.iter()
            .map(|(m, i, n)| (m.to_string(), i.to_string(), n.to_string()))
            .collect()
    })
    .collect();
    assert_eq!(canonical, expected);
    assert_eq!(
        mapper.identical_roles(),
        vec![vec!["h1".to_string(), "h2".to_string()]]
    );
}

#[test]
fn lnst_case_without_symmetry_has_eight() {
    // Same pool, but the roles differ (h2 must not be m3's twin... it forbids nothing real:
    // an absent property), so the roles are no longer interchangeable: all 8 ordered
    // assignments are distinct testbeds.
    let pool = pool(vec![
        simple_machine("m1", &["A", "B"]),
        simple_machine("m2", &["A", "B"]),
        simple_machine("m3", &["A"]),
    ]);
    let recipe = recipe(vec![
        host("h1", vec![], vec![if_req("if1", "net1")]),
        host(
            "h2",
            vec![PropertyReq::absent("broken")],
            vec![if_req("if1", "net1")],
        ),
    ]);
    assert_eq!(mapper(pool, recipe).all_matches().count(), 8);
}

#[test]
fn first_match_prefers_pool_order() {
    let pool = pool(vec![
        simple_machine("m1", &["A"]),
        simple_machine("m2", &["A"]),
        simple_machine("m3", &["A"]),
    ]);
    let recipe = recipe(vec![
        host("client", vec![], vec![if_req("eth", "net1")]),
        host(
            "server",
            vec![PropertyReq::absent("x")],
            vec![if_req("eth", "net1")],
        ),
    ]);
    let testbed = mapper(pool, recipe).first_match().expect("a match");
    assert_eq!(testbed.hosts["client"], "m1");
    assert_eq!(testbed.hosts["server"], "m2");
    assert_eq!(testbed.networks["net1"], "A");
    assert_eq!(
        testbed.to_string(),
        "host \"client\" uses \"m1\"\n  interface \"eth\" uses \"eth0\"\n\
         host \"server\" uses \"m2\"\n  interface \"eth\" uses \"eth0\"\nnetworks: net1 -> A\n"
    );
}

#[test]
fn regex_must_match_the_whole_value() {
    let pool = pool(vec![
        machine("arm", &[("arch", "aarch64")], vec![]),
        machine("intel", &[("arch", "x86_64")], vec![]),
        machine("odd", &[("arch", "my_x86_64")], vec![]),
    ]);
    let hosts = |pattern: &str| {
        let recipe = recipe(vec![host(
            "dut",
            vec![PropertyReq::regex("arch", pattern)],
            vec![],
        )]);
        mapper(pool.clone(), recipe)
            .all_matches()
            .map(|testbed| testbed.hosts["dut"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(hosts("x86.*"), vec!["intel"]);
    assert_eq!(hosts("86"), Vec::<String>::new());
    assert_eq!(hosts("x86_64|aarch64"), vec!["arm", "intel"]);
    assert_eq!(hosts(".*x86.*"), vec!["intel", "odd"]);
}

#[test]
fn invalid_regex_is_a_clear_error() {
    let recipe = recipe(vec![host(
        "dut",
        vec![],
        vec![if_req_driver(
            "eth",
            "net1",
            Matcher::Regex("ice(".to_string()),
        )],
    )]);
    let error = Mapper::new(pool(vec![]), recipe).expect_err("must fail");
    match &error {
        MapperError::InvalidRegex {
            location, pattern, ..
        } => {
            assert_eq!(location, "role \"dut\" interface \"eth\" driver");
            assert_eq!(pattern, "ice(");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("invalid regex /ice(/ in role \"dut\" interface \"eth\" driver:")
    );

    // An unbalanced pattern must not splice into the anchors.
    let recipe = recipe_with_arch_regex(")(");
    assert!(matches!(
        Mapper::new(pool(vec![]), recipe),
        Err(MapperError::InvalidRegex { .. })
    ));
}

fn recipe_with_arch_regex(pattern: &str) -> Requirements {
    recipe(vec![host(
        "dut",
        vec![PropertyReq::regex("arch", pattern)],
        vec![],
    )])
}

#[test]
fn negation_presence_and_absence() {
    let pool = pool(vec![
        machine("arm", &[("arch", "aarch64")], vec![]),
        machine("intel", &[("arch", "x86_64"), ("dpdk", "yes")], vec![]),
        machine("bare", &[], vec![]),
    ]);
    let hosts = |properties: Vec<PropertyReq>| {
        let recipe = recipe(vec![host("dut", properties, vec![])]);
        mapper(pool.clone(), recipe)
            .all_matches()
            .map(|testbed| testbed.hosts["dut"].clone())
            .collect::<Vec<_>>()
    };
    // Negated equality also holds when the property is absent.
    assert_eq!(
        hosts(vec![PropertyReq::not(
            "arch",
            Matcher::Equals("aarch64".into())
        )]),
        vec!["intel", "bare"]
    );
    assert_eq!(
        hosts(vec![PropertyReq::not(
            "arch",
            Matcher::Regex("x86.*".into())
        )]),
        vec!["arm", "bare"]
    );
    assert_eq!(
        hosts(vec![PropertyReq::present("arch")]),
        vec!["arm", "intel"]
    );
    assert_eq!(hosts(vec![PropertyReq::absent("arch")]), vec!["bare"]);
    assert_eq!(hosts(vec![PropertyReq::present("dpdk")]), vec!["intel"]);
    assert_eq!(
        hosts(vec![
            PropertyReq::not("dpdk", Matcher::Present),
            PropertyReq::present("arch")
        ]),
        vec!["arm"]
    );
    // Double negation is the matcher itself.
    assert_eq!(
        hosts(vec![PropertyReq::not(
            "arch",
            Matcher::Equals("aarch64".into()).negate()
        )]),
        vec!["arm"]
    );
}

#[test]
fn interface_driver_and_properties() {
    let mut fast = iface("ens1", Some("A"), Some("ice"));
    fast.properties.insert("speed".into(), "100G".into());
    let pool = pool(vec![
        machine("m1", &[], vec![iface("eth0", Some("A"), Some("ixgbe"))]),
        machine(
            "m2",
            &[],
            vec![iface("eth0", Some("A"), Some("ixgbe")), fast],
        ),
        machine("m3", &[], vec![iface("eth0", None, Some("ice"))]),
    ]);
    let mut requirement = if_req_driver("data", "net1", Matcher::Equals("ice".into()));
    requirement
        .properties
        .push(PropertyReq::equals("speed", "100G"));
    let recipe = recipe(vec![host("dut", vec![], vec![requirement])]);
    let all: Vec<Testbed> = mapper(pool, recipe).all_matches().collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].hosts["dut"], "m2");
    assert_eq!(
        all[0].interfaces[&("dut".to_string(), "data".to_string())],
        "ens1"
    );
}

#[test]
fn bijection_rejects_two_labels_on_one_network() {
    // One host needs interfaces on two different labels; its machine only has network A.
    let pool1 = pool(vec![simple_machine("m1", &["A", "A"])]);
    let two_labels = recipe(vec![host(
        "dut",
        vec![],
        vec![if_req("p0", "net1"), if_req("p1", "net2")],
    )]);
    assert_eq!(
        mapper(pool1.clone(), two_labels.clone()).first_match(),
        None
    );

    // Same label twice is fine there.
    let one_label = recipe(vec![host(
        "dut",
        vec![],
        vec![if_req("p0", "net1"), if_req("p1", "net1")],
    )]);
    assert_eq!(mapper(pool1, one_label).all_matches().count(), 1);

    // Across machines: a on net1, b on net2, the pool only has A.
    let pool2 = pool(vec![
        simple_machine("m1", &["A"]),
        simple_machine("m2", &["A"]),
    ]);
    let across = recipe(vec![
        host("a", vec![], vec![if_req("eth", "net1")]),
        host("b", vec![], vec![if_req("eth", "net2")]),
    ]);
    assert_eq!(mapper(pool2, across.clone()).first_match(), None);

    // With A and B the two labels take one network each.
    let pool3 = pool(vec![
        simple_machine("m1", &["A"]),
        simple_machine("m2", &["B"]),
    ]);
    let testbed = mapper(pool3, across).first_match().expect("a match");
    assert_ne!(testbed.networks["net1"], testbed.networks["net2"]);
}

#[test]
fn one_label_always_maps_to_one_network() {
    // a and b share net1, but m1 is only on A and m2 only on B.
    let pool = pool(vec![
        simple_machine("m1", &["A"]),
        simple_machine("m2", &["B"]),
    ]);
    let shared = recipe(vec![
        host("a", vec![], vec![if_req("eth", "net1")]),
        host("b", vec![], vec![if_req("eth", "net1")]),
    ]);
    assert_eq!(mapper(pool, shared).first_match(), None);
}

#[test]
fn interchangeable_labels_are_reported_once() {
    // Role with two interfaces on net1 and net2, otherwise identical: swapping the labels
    // (and the interface roles) gives the same testbed.
    let pool = pool(vec![simple_machine("m1", &["A", "B"])]);
    let recipe = recipe(vec![host(
        "dut",
        vec![],
        vec![if_req("p0", "net1"), if_req("p1", "net2")],
    )]);
    let all: Vec<Testbed> = mapper(pool, recipe).all_matches().collect();
    assert_eq!(all.len(), 1, "{all:#?}");
}

#[test]
fn roles_interchangeable_up_to_label_renaming_are_reported_once() {
    // a uses net1, b uses net2, otherwise identical: (a->m1/A, b->m2/B) and
    // (a->m2/B, b->m1/A) are the same testbed with roles and labels swapped.
    let pool = pool(vec![
        simple_machine("m1", &["A"]),
        simple_machine("m2", &["B"]),
    ]);
    let recipe = recipe(vec![
        host("a", vec![], vec![if_req("eth", "net1")]),
        host("b", vec![], vec![if_req("eth", "net2")]),
    ]);
    let mapper = mapper(pool, recipe);
    assert_eq!(mapper.all_matches().count(), 1);
    // Not "identical": they differ by label, yet interchangeable.
    assert!(mapper.identical_roles().is_empty());
}

#[test]
fn twin_interfaces_are_combinations_not_permutations() {
    let pool = pool(vec![simple_machine("m1", &["A", "A", "A"])]);
    let recipe = recipe(vec![host(
        "dut",
        vec![],
        vec![if_req("p0", "net1"), if_req("p1", "net1")],
    )]);
    // C(3, 2) = 3 pairs of interfaces, not 3 * 2 = 6 ordered ones.
    assert_eq!(mapper(pool, recipe).all_matches().count(), 3);
}

#[test]
fn enumeration_is_lazy() {
    // 60 identical machines, 4 identical roles: C(60, 4) = 487,635 testbeds; taking three
    // must not materialise them.
    let machines = (0..60)
        .map(|index| simple_machine(&format!("m{index:02}"), &["A"]))
        .collect();
    let roles = (0..4)
        .map(|index| host(&format!("r{index}"), vec![], vec![if_req("eth", "net1")]))
        .collect();
    let mapper = mapper(pool(machines), recipe(roles));
    let first: Vec<Testbed> = mapper.all_matches().take(3).collect();
    let hosts: Vec<Vec<&str>> = first
        .iter()
        .map(|testbed| testbed.hosts.values().map(String::as_str).collect())
        .collect();
    assert_eq!(
        hosts,
        vec![
            vec!["m00", "m01", "m02", "m03"],
            vec!["m00", "m01", "m02", "m04"],
            vec!["m00", "m01", "m02", "m05"]
        ]
    );
}

#[test]
fn k_disjoint_testbeds() {
    let machines = (0..7)
        .map(|index| simple_machine(&format!("m{index}"), &["A"]))
        .collect();
    let recipe = recipe(vec![
        host("a", vec![], vec![if_req("eth", "net1")]),
        host("b", vec![], vec![if_req("eth", "net1")]),
    ]);
    let mapper = mapper(pool(machines), recipe);

    let three = mapper.disjoint(3);
    assert!(three.is_complete());
    assert_eq!(three.testbeds.len(), 3);
    assert_pairwise_disjoint(&three.testbeds);

    // 7 machines hold at most 3 two-machine testbeds; the search proves it.
    let five = mapper.disjoint(5);
    assert_eq!(five.testbeds.len(), 3);
    assert!(!five.is_complete());
    assert!(five.exhaustive);
    assert_pairwise_disjoint(&five.testbeds);
    assert!(
        five.to_string()
            .starts_with("found 3 of 5 requested disjoint testbeds; the pool cannot hold more")
    );

    assert!(mapper.disjoint(0).testbeds.is_empty());
}

#[test]
fn disjoint_backtracks_past_a_bad_greedy_choice() {
    // "a" needs fast=yes (m1, m2); "b" takes anything. Greedy takes a=m1, b=m2 and then has
    // no fast machine left; backtracking finds a=m1,b=m3 and a=m2,b=m4.
    let pool = pool(vec![
        machine("m1", &[("fast", "yes")], vec![]),
        machine("m2", &[("fast", "yes")], vec![]),
        machine("m3", &[], vec![]),
        machine("m4", &[], vec![]),
    ]);
    let recipe = recipe(vec![
        host("a", vec![PropertyReq::equals("fast", "yes")], vec![]),
        host("b", vec![], vec![]),
    ]);
    let result = mapper(pool, recipe).disjoint(2);
    assert!(result.is_complete(), "{result}");
    assert_pairwise_disjoint(&result.testbeds);
}

#[test]
fn disjoint_reports_budget_exhaustion() {
    // The greedy-trap pool of the previous test, with a budget too small to backtrack.
    let pool = pool(vec![
        machine("m1", &[("fast", "yes")], vec![]),
        machine("m2", &[("fast", "yes")], vec![]),
        machine("m3", &[], vec![]),
        machine("m4", &[], vec![]),
    ]);
    let recipe = recipe(vec![
        host("a", vec![PropertyReq::equals("fast", "yes")], vec![]),
        host("b", vec![], vec![]),
    ]);
    let mapper = mapper(pool, recipe);
    let result = mapper.disjoint_with_budget(2, 1);
    assert_eq!(result.testbeds.len(), 1);
    assert!(!result.exhaustive);
    assert!(result.to_string().contains("search budget exhausted"));
}

#[test]
fn disjoint_bound_proves_the_maximum() {
    // 9 machines, 3 roles per testbed: at most 3 disjoint testbeds.
    let machines: Vec<_> = (0..9)
        .map(|index| simple_machine(&format!("m{index}"), &["A"]))
        .collect();
    let recipe = recipe(vec![
        host(
            "a",
            vec![PropertyReq::absent("x")],
            vec![if_req("eth", "net1")],
        ),
        host("b", vec![], vec![if_req("eth", "net1")]),
        host(
            "c",
            vec![PropertyReq::absent("y")],
            vec![if_req("eth", "net1")],
        ),
    ]);
    let result = mapper(pool(machines), recipe).disjoint_with_budget(4, 1);
    assert_eq!(result.testbeds.len(), 3);
    assert!(result.exhaustive);
    assert_pairwise_disjoint(&result.testbeds);
}

fn assert_pairwise_disjoint(testbeds: &[Testbed]) {
    let mut seen = BTreeSet::new();
    for testbed in testbeds {
        for machine in testbed.hosts.values() {
            assert!(seen.insert(machine.clone()), "machine {machine} used twice");
        }
    }
}

#[test]
fn empty_recipe_matches_once_with_an_empty_testbed() {
    let mapper = mapper(pool(vec![]), recipe(vec![]));
    let all: Vec<Testbed> = mapper.all_matches().collect();
    assert_eq!(all, vec![Testbed::default()]);
}

#[test]
fn empty_pool_matches_nothing() {
    let recipe = recipe(vec![host("dut", vec![], vec![])]);
    let mapper = mapper(pool(vec![]), recipe);
    assert_eq!(mapper.first_match(), None);
    assert!(matches!(
        mapper.require_match(),
        Err(MapperError::NoMatch(_))
    ));
}

#[test]
fn validation_errors() {
    let duplicate_role = recipe(vec![host("a", vec![], vec![]), host("a", vec![], vec![])]);
    assert_eq!(
        Mapper::new(pool(vec![]), duplicate_role).err(),
        Some(MapperError::DuplicateRole("a".into()))
    );
    let duplicate_iface = recipe(vec![host(
        "a",
        vec![],
        vec![if_req("eth", "net1"), if_req("eth", "net2")],
    )]);
    assert_eq!(
        Mapper::new(pool(vec![]), duplicate_iface).err(),
        Some(MapperError::DuplicateInterfaceRole {
            role: "a".into(),
            interface: "eth".into()
        })
    );
    let duplicate_machine = pool(vec![simple_machine("m1", &[]), simple_machine("m1", &[])]);
    assert_eq!(
        Mapper::new(duplicate_machine, recipe(vec![])).err(),
        Some(MapperError::DuplicateMachine("m1".into()))
    );
    let duplicate_machine_iface = pool(vec![machine(
        "m1",
        &[],
        vec![iface("eth0", None, None), iface("eth0", None, None)],
    )]);
    assert_eq!(
        Mapper::new(duplicate_machine_iface, recipe(vec![])).err(),
        Some(MapperError::DuplicateInterface {
            machine: "m1".into(),
            interface: "eth0".into()
        })
    );
}

#[test]
fn inputs_deserialize_from_json() {
    let pool: labdeck::mapper::PoolView = serde_json::from_str(
        r#"{"machines": [
            {"name": "m1", "properties": {"arch": "x86_64"},
             "interfaces": [{"name": "eth0", "network": "A", "driver": "ice"}]}
        ]}"#,
    )
    .expect("pool json");
    let recipe: Requirements = serde_json::from_str(
        r#"{"hosts": [
            {"role": "dut",
             "properties": [{"key": "arch", "matcher": {"regex": "x86.*"}},
                            {"key": "broken", "matcher": "absent"},
                            {"key": "os", "matcher": {"not": {"equals": "windows"}}}],
             "interfaces": [{"role": "data", "network": "net1", "driver": {"equals": "ice"}}]}
        ]}"#,
    )
    .expect("recipe json");
    let testbed = mapper(pool, recipe).first_match().expect("a match");
    assert_eq!(testbed.hosts["dut"], "m1");
    let json = serde_json::to_value(&testbed).expect("serializes");
    assert_eq!(json["interfaces"]["dut"]["data"], "eth0");
    assert_eq!(json["networks"]["net1"], "A");
}

#[test]
fn most_constrained_role_goes_first() {
    let pool = pool(vec![
        machine("m1", &[], vec![]),
        machine("m2", &[], vec![]),
        machine("m3", &[("gpu", "yes")], vec![]),
    ]);
    let recipe = recipe(vec![
        host("any", vec![], vec![]),
        host("gpu", vec![PropertyReq::equals("gpu", "yes")], vec![]),
    ]);
    let mapper = mapper(pool, recipe);
    assert_eq!(mapper.search_order(), vec!["gpu", "any"]);
    assert_eq!(
        mapper.candidate_counts(),
        vec![("any".to_string(), 3), ("gpu".to_string(), 1)]
    );
    let testbed = mapper.first_match().expect("a match");
    assert_eq!(testbed.hosts["gpu"], "m3");
    assert_eq!(testbed.hosts["any"], "m1");
}

#[test]
fn identical_roles_declared_in_different_interface_order() {
    // a and b have the same requirements, interface roles declared in a different order.
    let ice = || Matcher::Equals("ice".into());
    let mlx = || Matcher::Equals("mlx5_core".into());
    let recipe = recipe(vec![
        host(
            "a",
            vec![],
            vec![
                if_req_driver("p0", "net1", ice()),
                if_req_driver("p1", "net2", mlx()),
            ],
        ),
        host(
            "b",
            vec![],
            vec![
                if_req_driver("x", "net2", mlx()),
                if_req_driver("y", "net1", ice()),
            ],
        ),
    ]);
    let nic = |name: &str| {
        machine(
            name,
            &[],
            vec![
                iface("eth0", Some("A"), Some("ice")),
                iface("eth1", Some("B"), Some("mlx5_core")),
            ],
        )
    };
    let mapper = mapper(pool(vec![nic("m1"), nic("m2"), nic("m3")]), recipe);
    assert_eq!(
        mapper.identical_roles(),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
    // net1 -> A and net2 -> B are forced; the testbeds are the C(3, 2) = 3 machine pairs.
    let pairs: BTreeSet<BTreeSet<String>> = mapper
        .all_matches()
        .map(|testbed| testbed.hosts.into_values().collect())
        .collect();
    assert_eq!(pairs.len(), 3);
    assert_eq!(mapper.all_matches().count(), 3);
}

#[test]
fn empty_recipe_has_one_disjoint_testbed() {
    let mapper = mapper(pool(vec![simple_machine("m1", &["A"])]), recipe(vec![]));
    let result = mapper.disjoint(usize::MAX);
    assert_eq!(result.testbeds, vec![Testbed::default()]);
    assert!(result.exhaustive);
}
