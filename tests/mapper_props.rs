//! Property tests of the mapper against an independent brute force.
//!
//! On small random pools (1–5 machines, ≤ 3 interfaces, ≤ 3 networks) and recipes (≤ 3 roles,
//! ≤ 2 interface roles each, ≤ 3 labels, roles often copies of each other with labels
//! renamed, so symmetries are common):
//! - every testbed the mapper yields satisfies every constraint (checked here, independently);
//! - the mapper yields no two testbeds related by a symmetry of the recipe;
//! - the set of symmetry classes it yields equals the set the brute force finds.
//!
//! The brute force enumerates every injective role → machine and interface-role → interface
//! assignment, checks constraints and the label bijection directly, and computes the recipe's
//! full symmetry group (role permutations × label permutations × interface-role permutations
//! per role) by trying every combination.

use std::collections::{BTreeMap, BTreeSet};

use labdeck::mapper::{
    HostReq, Interface, InterfaceReq, Machine, Mapper, Matcher, PoolView, PropertyReq,
    Requirements, Testbed,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- independent checker

fn matcher_holds(matcher: &Matcher, value: Option<&String>) -> bool {
    match matcher {
        Matcher::Equals(expected) => value == Some(expected),
        Matcher::Regex(pattern) => value.is_some_and(|text| {
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .map(|regex| regex.is_match(text))
                .unwrap_or(false)
        }),
        Matcher::Not(inner) => !matcher_holds(inner, value),
        Matcher::Present => value.is_some(),
        Matcher::Absent => value.is_none(),
    }
}

fn properties_hold(required: &[PropertyReq], actual: &BTreeMap<String, String>) -> bool {
    required
        .iter()
        .all(|property| matcher_holds(&property.matcher, actual.get(&property.key)))
}

fn interface_fits(requirement: &InterfaceReq, interface: &Interface) -> bool {
    interface.network.is_some()
        && requirement
            .driver
            .as_ref()
            .is_none_or(|driver| matcher_holds(driver, interface.driver.as_ref()))
        && properties_hold(&requirement.properties, &interface.properties)
}

/// Checks a testbed against every constraint; returns the first violation.
fn violation(pool: &PoolView, recipe: &Requirements, testbed: &Testbed) -> Option<String> {
    if testbed.hosts.len() != recipe.hosts.len() {
        return Some("wrong number of hosts".into());
    }
    let distinct: BTreeSet<&String> = testbed.hosts.values().collect();
    if distinct.len() != testbed.hosts.len() {
        return Some("machine used twice".into());
    }
    let mut label_to_net: BTreeMap<&str, &str> = BTreeMap::new();
    for host in &recipe.hosts {
        let Some(machine_name) = testbed.hosts.get(&host.role) else {
            return Some(format!("role {} unmapped", host.role));
        };
        let Some(machine) = pool.machines.iter().find(|m| &m.name == machine_name) else {
            return Some(format!("unknown machine {machine_name}"));
        };
        if !properties_hold(&host.properties, &machine.properties) {
            return Some(format!("{machine_name} fails properties of {}", host.role));
        }
        let mut used = BTreeSet::new();
        for requirement in &host.interfaces {
            let key = (host.role.clone(), requirement.role.clone());
            let Some(iface_name) = testbed.interfaces.get(&key) else {
                return Some(format!("{key:?} unmapped"));
            };
            if !used.insert(iface_name) {
                return Some(format!("interface {iface_name} used twice"));
            }
            let Some(interface) = machine.interfaces.iter().find(|i| &i.name == iface_name) else {
                return Some(format!("unknown interface {iface_name}"));
            };
            if !interface_fits(requirement, interface) {
                return Some(format!("{iface_name} fails {key:?}"));
            }
            let network = interface.network.as_deref().unwrap_or_default();
            match label_to_net.get(requirement.network.as_str()) {
                Some(&mapped) if mapped != network => {
                    return Some(format!("label {} on two networks", requirement.network));
                }
                _ => {
                    label_to_net.insert(&requirement.network, network);
                }
            }
            if testbed
                .networks
                .get(&requirement.network)
                .map(String::as_str)
                != Some(network)
            {
                return Some(format!("networks map wrong for {}", requirement.network));
            }
        }
    }
    let nets: BTreeSet<&&str> = label_to_net.values().collect();
    if nets.len() != label_to_net.len() {
        return Some("two labels share a network".into());
    }
    if testbed.networks.len() != label_to_net.len() {
        return Some("extra labels in networks map".into());
    }
    None
}

// ---------------------------------------------------------------- brute force

fn brute_force(pool: &PoolView, recipe: &Requirements) -> Vec<Testbed> {
    let mut out = Vec::new();
    let mut partial = Testbed::default();
    let mut used_machines = vec![false; pool.machines.len()];
    assign_role(pool, recipe, 0, &mut used_machines, &mut partial, &mut out);
    out
}

fn assign_role(
    pool: &PoolView,
    recipe: &Requirements,
    role_index: usize,
    used_machines: &mut Vec<bool>,
    partial: &mut Testbed,
    out: &mut Vec<Testbed>,
) {
    let Some(host) = recipe.hosts.get(role_index) else {
        // Derive the label map and check it is a consistent bijection.
        let mut networks: BTreeMap<String, String> = BTreeMap::new();
        for host in &recipe.hosts {
            let machine_name = &partial.hosts[&host.role];
            let machine = pool
                .machines
                .iter()
                .find(|m| &m.name == machine_name)
                .unwrap();
            for requirement in &host.interfaces {
                let name = &partial.interfaces[&(host.role.clone(), requirement.role.clone())];
                let interface = machine.interfaces.iter().find(|i| &i.name == name).unwrap();
                let network = interface.network.clone().unwrap();
                if let Some(existing) = networks.get(&requirement.network)
                    && *existing != network
                {
                    return;
                }
                networks.insert(requirement.network.clone(), network);
            }
        }
        let distinct: BTreeSet<&String> = networks.values().collect();
        if distinct.len() != networks.len() {
            return;
        }
        let mut testbed = partial.clone();
        testbed.networks = networks;
        out.push(testbed);
        return;
    };
    for (machine_index, machine) in pool.machines.iter().enumerate() {
        if used_machines[machine_index] || !properties_hold(&host.properties, &machine.properties) {
            continue;
        }
        used_machines[machine_index] = true;
        partial
            .hosts
            .insert(host.role.clone(), machine.name.clone());
        let mut used_ifaces = vec![false; machine.interfaces.len()];
        assign_iface(
            pool,
            recipe,
            role_index,
            machine,
            0,
            &mut used_ifaces,
            used_machines,
            partial,
            out,
        );
        partial.hosts.remove(&host.role);
        used_machines[machine_index] = false;
    }
}

#[allow(clippy::too_many_arguments)]
fn assign_iface(
    pool: &PoolView,
    recipe: &Requirements,
    role_index: usize,
    machine: &Machine,
    iface_index: usize,
    used_ifaces: &mut Vec<bool>,
    used_machines: &mut Vec<bool>,
    partial: &mut Testbed,
    out: &mut Vec<Testbed>,
) {
    let host = &recipe.hosts[role_index];
    let Some(requirement) = host.interfaces.get(iface_index) else {
        assign_role(pool, recipe, role_index + 1, used_machines, partial, out);
        return;
    };
    let key = (host.role.clone(), requirement.role.clone());
    for (index, interface) in machine.interfaces.iter().enumerate() {
        if used_ifaces[index] || !interface_fits(requirement, interface) {
            continue;
        }
        used_ifaces[index] = true;
        partial
            .interfaces
            .insert(key.clone(), interface.name.clone());
        assign_iface(
            pool,
            recipe,
            role_index,
            machine,
            iface_index + 1,
            used_ifaces,
            used_machines,
            partial,
            out,
        );
        partial.interfaces.remove(&key);
        used_ifaces[index] = false;
    }
}

// ---------------------------------------------------------------- symmetry group

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for smaller in permutations(n - 1) {
        for slot in 0..n {
            let mut perm = smaller.clone();
            perm.insert(slot, n - 1);
            out.push(perm);
        }
    }
    out
}

fn sorted(properties: &[PropertyReq]) -> Vec<PropertyReq> {
    let mut copy = properties.to_vec();
    copy.sort();
    copy
}

/// A symmetry: role `r` takes role `roles[r]`'s assignment, its interface role `k` takes
/// interface role `ifaces[r][k]` of that role, label `l` takes the network of `labels[l]`.
#[derive(Debug, Clone)]
struct Symmetry {
    roles: Vec<usize>,
    ifaces: Vec<Vec<usize>>,
    labels: BTreeMap<String, String>,
}

fn symmetry_group(recipe: &Requirements) -> Vec<Symmetry> {
    let labels: Vec<String> = recipe
        .hosts
        .iter()
        .flat_map(|host| host.interfaces.iter().map(|i| i.network.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let hosts = &recipe.hosts;
    let mut group = Vec::new();
    for role_perm in permutations(hosts.len()) {
        for label_perm in permutations(labels.len()) {
            let tau: BTreeMap<&String, &String> = labels
                .iter()
                .enumerate()
                .map(|(index, label)| (label, &labels[label_perm[index]]))
                .collect();
            // For each role, every interface bijection that works.
            let mut per_role: Vec<Vec<Vec<usize>>> = Vec::new();
            for (role, host) in hosts.iter().enumerate() {
                let image = &hosts[role_perm[role]];
                let mut options = Vec::new();
                if sorted(&host.properties) == sorted(&image.properties)
                    && host.interfaces.len() == image.interfaces.len()
                {
                    for phi in permutations(host.interfaces.len()) {
                        let works = host.interfaces.iter().enumerate().all(|(k, mine)| {
                            let theirs = &image.interfaces[phi[k]];
                            theirs.driver == mine.driver
                                && sorted(&theirs.properties) == sorted(&mine.properties)
                                && *tau[&mine.network] == theirs.network
                        });
                        if works {
                            options.push(phi);
                        }
                    }
                }
                per_role.push(options);
            }
            // Cartesian product of the per-role choices.
            let mut combos: Vec<Vec<Vec<usize>>> = vec![Vec::new()];
            for options in &per_role {
                let mut next = Vec::new();
                for combo in &combos {
                    for option in options {
                        let mut extended = combo.clone();
                        extended.push(option.clone());
                        next.push(extended);
                    }
                }
                combos = next;
            }
            for ifaces in combos {
                group.push(Symmetry {
                    roles: role_perm.clone(),
                    ifaces,
                    labels: tau
                        .iter()
                        .map(|(a, b)| ((*a).clone(), (*b).clone()))
                        .collect(),
                });
            }
        }
    }
    group
}

fn apply(recipe: &Requirements, symmetry: &Symmetry, testbed: &Testbed) -> Testbed {
    let mut image = Testbed::default();
    for (role, host) in recipe.hosts.iter().enumerate() {
        let source = &recipe.hosts[symmetry.roles[role]];
        image
            .hosts
            .insert(host.role.clone(), testbed.hosts[&source.role].clone());
        for (k, requirement) in host.interfaces.iter().enumerate() {
            let source_iface = &source.interfaces[symmetry.ifaces[role][k]];
            image.interfaces.insert(
                (host.role.clone(), requirement.role.clone()),
                testbed.interfaces[&(source.role.clone(), source_iface.role.clone())].clone(),
            );
        }
    }
    for (label, source_label) in &symmetry.labels {
        image
            .networks
            .insert(label.clone(), testbed.networks[source_label].clone());
    }
    image
}

fn canonical(recipe: &Requirements, group: &[Symmetry], testbed: &Testbed) -> Testbed {
    group
        .iter()
        .map(|symmetry| apply(recipe, symmetry, testbed))
        .min()
        .unwrap_or_else(|| testbed.clone())
}

// ---------------------------------------------------------------- generators

const KEYS: [&str; 2] = ["arch", "os"];
const VALUES: [&str; 2] = ["x86", "arm"];
const NETWORKS: [&str; 3] = ["A", "B", "C"];
const DRIVERS: [&str; 2] = ["ice", "mlx"];
const LABELS: [&str; 3] = ["net1", "net2", "net3"];

fn value_matcher(values: &'static [&'static str]) -> impl Strategy<Value = Matcher> {
    let leaf = prop_oneof![
        3 => proptest::sample::select(values).prop_map(|v| Matcher::Equals(v.to_string())),
        1 => proptest::sample::select(values)
            .prop_map(|v| Matcher::Regex(format!("{}.*", &v[..1]))),
        1 => Just(Matcher::Present),
        1 => Just(Matcher::Absent),
    ];
    leaf.prop_flat_map(|matcher| {
        prop_oneof![3 => Just(matcher.clone()), 1 => Just(Matcher::Not(Box::new(matcher)))]
    })
}

fn property_req() -> impl Strategy<Value = PropertyReq> {
    (proptest::sample::select(&KEYS[..]), value_matcher(&VALUES)).prop_map(|(key, matcher)| {
        PropertyReq {
            key: key.to_string(),
            matcher,
        }
    })
}

fn iface_req() -> impl Strategy<Value = (usize, Option<Matcher>)> {
    (
        0..LABELS.len(),
        proptest::option::weighted(0.25, value_matcher(&DRIVERS)),
    )
}

/// A generated role: property constraints and (label index, driver matcher) per interface.
type RoleSpec = (Vec<PropertyReq>, Vec<(usize, Option<Matcher>)>);

fn fresh_role() -> impl Strategy<Value = RoleSpec> {
    (
        proptest::collection::vec(property_req(), 0..=1),
        proptest::collection::vec(iface_req(), 0..=2),
    )
}

/// Roles: each either fresh or a copy of an earlier one with labels renamed by a permutation.
fn recipe_strategy() -> impl Strategy<Value = Requirements> {
    (
        proptest::collection::vec(fresh_role(), 1..=3),
        proptest::collection::vec((any::<bool>(), 0..3usize, 0..6usize), 3),
    )
        .prop_map(|(fresh, copy_plan)| {
            let perms = permutations(3);
            let mut specs: Vec<RoleSpec> = Vec::new();
            for (index, spec) in fresh.into_iter().enumerate() {
                let (copy, source, perm) = copy_plan[index];
                if copy && index > 0 {
                    let (properties, ifaces) = specs[source % index].clone();
                    let renamed = ifaces
                        .into_iter()
                        .map(|(label, driver)| (perms[perm][label], driver))
                        .collect();
                    specs.push((properties, renamed));
                } else {
                    specs.push(spec);
                }
            }
            Requirements {
                hosts: specs
                    .into_iter()
                    .enumerate()
                    .map(|(index, (properties, ifaces))| HostReq {
                        role: format!("r{index}"),
                        properties,
                        interfaces: ifaces
                            .into_iter()
                            .enumerate()
                            .map(|(k, (label, driver))| InterfaceReq {
                                role: format!("i{k}"),
                                network: LABELS[label].to_string(),
                                driver,
                                properties: Vec::new(),
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
}

fn interface_strategy() -> impl Strategy<Value = (Option<&'static str>, Option<&'static str>)> {
    (
        proptest::option::weighted(0.9, proptest::sample::select(&NETWORKS[..])),
        proptest::option::weighted(0.7, proptest::sample::select(&DRIVERS[..])),
    )
}

fn pool_strategy() -> impl Strategy<Value = PoolView> {
    proptest::collection::vec(
        (
            proptest::collection::btree_map(
                proptest::sample::select(&KEYS[..]),
                proptest::sample::select(&VALUES[..]),
                0..=2,
            ),
            proptest::collection::vec(interface_strategy(), 0..=3),
        ),
        1..=5,
    )
    .prop_map(|machines| PoolView {
        machines: machines
            .into_iter()
            .enumerate()
            .map(|(index, (properties, interfaces))| Machine {
                name: format!("m{index}"),
                properties: properties
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                interfaces: interfaces
                    .into_iter()
                    .enumerate()
                    .map(|(i, (network, driver))| Interface {
                        name: format!("e{i}"),
                        network: network.map(str::to_string),
                        driver: driver.map(str::to_string),
                        hwaddr: None,
                        properties: BTreeMap::new(),
                    })
                    .collect(),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------- disjoint brute force

fn machine_mask(pool: &PoolView, testbed: &Testbed) -> u32 {
    testbed
        .hosts
        .values()
        .map(|name| pool.machines.iter().position(|m| &m.name == name).unwrap())
        .fold(0, |mask, index| mask | (1 << index))
}

/// Largest number of pairwise disjoint masks from `masks[from..]` avoiding `taken`.
fn max_packing(masks: &[u32], from: usize, taken: u32) -> usize {
    let mut best = 0;
    for (index, &mask) in masks.iter().enumerate().skip(from) {
        if mask & taken == 0 {
            best = best.max(1 + max_packing(masks, index + 1, taken | mask));
        }
    }
    best
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn enumeration_equals_brute_force_modulo_symmetry(
        pool in pool_strategy(),
        recipe in recipe_strategy(),
    ) {
        let mapper = Mapper::new(pool.clone(), recipe.clone()).expect("valid inputs");
        let produced: Vec<Testbed> = mapper.all_matches().collect();

        for testbed in &produced {
            prop_assert_eq!(violation(&pool, &recipe, testbed), None, "{}", testbed);
        }

        let group = symmetry_group(&recipe);
        let produced_classes: Vec<Testbed> =
            produced.iter().map(|t| canonical(&recipe, &group, t)).collect();
        let unique: BTreeSet<&Testbed> = produced_classes.iter().collect();
        prop_assert_eq!(unique.len(), produced_classes.len(), "symmetric duplicates yielded");

        let expected: BTreeSet<Testbed> = brute_force(&pool, &recipe)
            .iter()
            .map(|t| canonical(&recipe, &group, t))
            .collect();
        let produced_set: BTreeSet<Testbed> = produced_classes.into_iter().collect();
        prop_assert_eq!(produced_set, expected);

        // first_match is the first of the enumeration, and explain agrees on existence.
        prop_assert_eq!(mapper.first_match(), produced.first().cloned());
        prop_assert_eq!(mapper.explain().matched, !produced.is_empty());
    }

    #[test]
    fn disjoint_testbeds_are_valid_and_disjoint(
        pool in pool_strategy(),
        recipe in recipe_strategy(),
        requested in 0usize..4,
    ) {
        let mapper = Mapper::new(pool.clone(), recipe.clone()).expect("valid inputs");
        let result = mapper.disjoint(requested);
        prop_assert!(result.testbeds.len() <= requested);
        let mut seen = BTreeSet::new();
        for testbed in &result.testbeds {
            prop_assert_eq!(violation(&pool, &recipe, testbed), None, "{}", testbed);
            for machine in testbed.hosts.values() {
                prop_assert!(seen.insert(machine.clone()), "machine reused");
            }
        }
        // Small pools never exhaust the default budget, so the count is the true maximum
        // (capped at the request), computed here by brute force over machine sets.
        prop_assert!(result.exhaustive);
        let masks: BTreeSet<u32> = brute_force(&pool, &recipe)
            .iter()
            .map(|testbed| machine_mask(&pool, testbed))
            .collect();
        let masks: Vec<u32> = masks.into_iter().collect();
        let best = max_packing(&masks, 0, 0);
        prop_assert_eq!(result.testbeds.len(), best.min(requested));
    }
}
