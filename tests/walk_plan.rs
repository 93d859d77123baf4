//! Walk plans: ids, strategies, covering arrays, random samples and epochs.

use std::collections::{BTreeSet, HashSet};

use labdeck::walk::{
    ActionDimension, Plan, PlanError, Strategy, StrategyParseError, WalkId, schedule_epochs,
};
use proptest::prelude::*;

fn dimensions(sizes: &[usize]) -> Vec<ActionDimension> {
    sizes
        .iter()
        .enumerate()
        .map(|(position, &size)| ActionDimension::new(format!("a{position}"), size))
        .collect()
}

fn plan(sizes: &[usize], strategy: Strategy) -> Plan {
    Plan::new(dimensions(sizes), strategy).unwrap()
}

fn small_sizes() -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..5, 1..6)
}

// proptest's `Strategy` trait is shadowed by the walk `Strategy`; bring its methods back.
use proptest::strategy::Strategy as _;

proptest! {
    #[test]
    fn count_is_the_product_of_option_counts(sizes in small_sizes()) {
        let plan = plan(&sizes, Strategy::Full);
        let product: u64 = sizes.iter().map(|&s| s as u64).product();
        prop_assert_eq!(plan.space_size(), product);
        prop_assert_eq!(plan.walk_count(), product);
        prop_assert_eq!(plan.walks().count() as u64, product);
    }

    #[test]
    fn ids_and_walks_are_inverse_bijections(sizes in small_sizes()) {
        let plan = plan(&sizes, Strategy::Full);
        let mut seen = HashSet::new();
        for id in 0..plan.space_size() {
            let walk = plan.walk(id).unwrap();
            prop_assert_eq!(walk.len(), sizes.len());
            for (option, size) in walk.iter().zip(&sizes) {
                prop_assert!(option < size);
            }
            prop_assert_eq!(plan.id(&walk).unwrap(), id);
            prop_assert!(seen.insert(walk));
        }
    }

    #[test]
    fn iterator_yields_walks_in_id_order(sizes in small_sizes()) {
        let plan = plan(&sizes, Strategy::Full);
        for (position, walk) in plan.walks().enumerate() {
            prop_assert_eq!(walk.id, position as u64);
            prop_assert_eq!(walk.options, plan.walk(position as u64).unwrap());
        }
    }

    #[test]
    fn pairwise_covers_every_pair(sizes in proptest::collection::vec(1usize..5, 1..9)) {
        let plan = plan(&sizes, Strategy::Pairwise);
        prop_assert_eq!(plan.coverage_check(2), Ok(()));
        prop_assert!(plan.walk_count() <= plan.space_size());
        let ids: Vec<WalkId> = plan.walk_ids().collect();
        prop_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ascending, distinct");
        for walk in plan.walks() {
            prop_assert_eq!(plan.id(&walk.options).unwrap(), walk.id);
        }
    }

    #[test]
    fn three_wise_covers_every_triple(sizes in proptest::collection::vec(1usize..4, 1..8)) {
        let plan = plan(&sizes, Strategy::TWise(3));
        prop_assert_eq!(plan.coverage_check(3), Ok(()));
        prop_assert_eq!(plan.coverage_check(2), Ok(()));
    }

    #[test]
    fn random_sample_is_distinct_in_range_and_deterministic(
        sizes in small_sizes(),
        n in 1u64..200,
        seed in any::<u64>(),
    ) {
        let first = plan(&sizes, Strategy::Random { n, seed });
        let ids: Vec<WalkId> = first.walk_ids().collect();
        prop_assert_eq!(ids.len() as u64, n.min(first.space_size()));
        prop_assert!(ids.iter().all(|&id| id < first.space_size()));
        let distinct: HashSet<WalkId> = ids.iter().copied().collect();
        prop_assert_eq!(distinct.len(), ids.len());
        let again: Vec<WalkId> = plan(&sizes, Strategy::Random { n, seed }).walk_ids().collect();
        prop_assert_eq!(ids, again);
    }

    #[test]
    fn epochs_run_each_serial_parameterization_once_and_every_walk_once(
        shape in proptest::collection::vec((1usize..4, any::<bool>()), 1..6),
        keep in proptest::collection::vec(any::<bool>(), 0..400),
    ) {
        let dimensions: Vec<ActionDimension> = shape
            .iter()
            .enumerate()
            .map(|(position, &(size, serial))| ActionDimension {
                name: format!("a{position}"),
                option_count: size,
                serial,
            })
            .collect();
        let serial_count = shape.iter().filter(|(_, serial)| *serial).count();
        let plan = Plan::new(dimensions, Strategy::Full).unwrap();
        // A subset of walks, in a scrambled order.
        let mut walk_ids: Vec<WalkId> = (0..plan.space_size())
            .filter(|&id| keep.get(id as usize).copied().unwrap_or(true))
            .collect();
        walk_ids.reverse();
        let epochs = schedule_epochs(&plan, &walk_ids).unwrap();
        prop_assert_eq!(epochs.len(), serial_count + 1);
        let expected: BTreeSet<WalkId> = walk_ids.iter().copied().collect();
        for epoch in &epochs {
            let mut seen_walks = Vec::new();
            let mut seen_prefixes = HashSet::new();
            for group in &epoch.groups {
                prop_assert!(seen_prefixes.insert(group.prefix.clone()), "prefix runs once");
                prop_assert!(!group.walk_ids.is_empty());
                for &id in &group.walk_ids {
                    let walk = plan.walk(id).unwrap();
                    match epoch.serial_action {
                        Some(serial) => prop_assert_eq!(&walk[..=serial], &group.prefix[..]),
                        None => prop_assert!(group.prefix.is_empty()),
                    }
                    seen_walks.push(id);
                }
            }
            prop_assert_eq!(seen_walks.len(), walk_ids.len(), "each walk exactly once");
            let seen: BTreeSet<WalkId> = seen_walks.into_iter().collect();
            prop_assert_eq!(&seen, &expected);
        }
    }

    #[test]
    fn strategy_display_parses_back(strategy in prop_oneof![
        Just(Strategy::Full),
        Just(Strategy::Pairwise),
        (1usize..10).prop_map(Strategy::TWise),
        (1u64..u64::MAX, any::<u64>()).prop_map(|(n, seed)| Strategy::Random { n, seed }),
    ]) {
        prop_assert_eq!(strategy.to_string().parse::<Strategy>(), Ok(strategy));
    }
}

#[test]
fn last_action_is_fastest() {
    let plan = plan(&[2, 3], Strategy::Full);
    let walks: Vec<Vec<usize>> = plan.walks().map(|walk| walk.options).collect();
    assert_eq!(
        walks,
        vec![
            vec![0, 0],
            vec![0, 1],
            vec![0, 2],
            vec![1, 0],
            vec![1, 1],
            vec![1, 2]
        ]
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    assert_eq!(
        Plan::new(Vec::new(), Strategy::Full).unwrap_err(),
        PlanError::NoActions
    );
    assert_eq!(
        Plan::new(dimensions(&[2, 0]), Strategy::Full).unwrap_err(),
        PlanError::NoOptions {
            action: "a1".into()
        }
    );
    let overflow = Plan::new(dimensions(&[1 << 32, 1 << 32]), Strategy::Full).unwrap_err();
    assert!(
        matches!(overflow, PlanError::ProductOverflow { .. }),
        "{overflow}"
    );
    assert!(overflow.to_string().contains("2^64"));
    let plan = plan(&[2, 3], Strategy::Full);
    assert_eq!(
        plan.walk(6).unwrap_err(),
        PlanError::WalkIdOutOfRange {
            id: 6,
            space_size: 6
        }
    );
    assert!(matches!(
        plan.id(&[1, 3]),
        Err(PlanError::OptionOutOfRange { option: 3, .. })
    ));
    assert!(matches!(
        plan.id(&[1]),
        Err(PlanError::WrongWalkLength {
            expected: 2,
            found: 1
        })
    ));
    assert_eq!(
        Plan::new(dimensions(&[2]), Strategy::TWise(0)).unwrap_err(),
        PlanError::InvalidStrength { strength: 0 }
    );
    assert_eq!(
        schedule_epochs(&plan, &[1, 1]).unwrap_err(),
        PlanError::DuplicateWalkId { id: 1 }
    );
}

#[test]
fn largest_u64_space_is_accepted() {
    // 2^63 * 1 fits; ids near the top still round-trip.
    let plan = plan(&[1 << 31, 1 << 32], Strategy::Full);
    let top = plan.space_size() - 1;
    assert_eq!(plan.id(&plan.walk(top).unwrap()).unwrap(), top);
}

#[test]
fn strategy_strings_parse() {
    assert_eq!("full".parse(), Ok(Strategy::Full));
    assert_eq!(" Pairwise ".parse(), Ok(Strategy::Pairwise));
    assert_eq!("t=3".parse(), Ok(Strategy::TWise(3)));
    assert_eq!(
        "random:100:42".parse(),
        Ok(Strategy::Random { n: 100, seed: 42 })
    );
    assert_eq!("".parse::<Strategy>(), Err(StrategyParseError::Empty));
    assert!(matches!(
        "t=0".parse::<Strategy>(),
        Err(StrategyParseError::InvalidStrength { .. })
    ));
    assert!(matches!(
        "random:0:1".parse::<Strategy>(),
        Err(StrategyParseError::InvalidRandom { .. })
    ));
    assert!(matches!(
        "random:5".parse::<Strategy>(),
        Err(StrategyParseError::InvalidRandom { .. })
    ));
    let unknown = "allpairs".parse::<Strategy>().unwrap_err();
    assert!(unknown.to_string().contains("pairwise"), "{unknown}");
}

#[test]
fn coverage_check_detects_a_gap() {
    // A random sample of 2 walks out of 2x2 cannot cover all 4 pairs.
    let plan = plan(&[2, 2], Strategy::Random { n: 2, seed: 1 });
    let gap = plan.coverage_check(2).unwrap_err();
    assert!(
        matches!(gap, PlanError::Uncovered { strength: 2, .. }),
        "{gap}"
    );
    assert!(gap.to_string().contains("a0="), "{gap}");
}

#[test]
fn known_covering_sizes() {
    // Reference figures (PICT / ACTS): 3^10 pairwise 15-19, 3-wise ~67; 2^20 pairwise 10-11.
    let pairwise_3_10 = plan(&[3; 10], Strategy::Pairwise);
    assert_eq!(pairwise_3_10.coverage_check(2), Ok(()));
    assert!(
        pairwise_3_10.walk_count() <= 16,
        "{}",
        pairwise_3_10.walk_count()
    );
    let three_wise_3_10 = plan(&[3; 10], Strategy::TWise(3));
    assert_eq!(three_wise_3_10.coverage_check(3), Ok(()));
    assert!(
        three_wise_3_10.walk_count() <= 67,
        "{}",
        three_wise_3_10.walk_count()
    );
    let pairwise_2_20 = plan(&[2; 20], Strategy::Pairwise);
    assert_eq!(pairwise_2_20.coverage_check(2), Ok(()));
    assert!(
        pairwise_2_20.walk_count() <= 11,
        "{}",
        pairwise_2_20.walk_count()
    );
}

#[test]
fn covering_plans_are_deterministic() {
    let first: Vec<WalkId> = plan(&[3, 4, 2, 5, 3], Strategy::Pairwise)
        .walk_ids()
        .collect();
    let second: Vec<WalkId> = plan(&[3, 4, 2, 5, 3], Strategy::Pairwise)
        .walk_ids()
        .collect();
    assert_eq!(first, second);
}

#[test]
fn strength_at_least_action_count_is_the_full_product() {
    let plan = plan(&[2, 3, 2], Strategy::TWise(5));
    assert_eq!(
        plan.walk_ids().collect::<Vec<_>>(),
        (0..12).collect::<Vec<_>>()
    );
}

#[test]
fn epoch_segments_follow_serial_actions() {
    let plan = Plan::new(
        vec![
            ActionDimension::new("a", 2),
            ActionDimension::new("b", 2),
            ActionDimension::serial("s1", 2),
            ActionDimension::new("c", 2),
            ActionDimension::serial("s2", 1),
        ],
        Strategy::Full,
    )
    .unwrap();
    let ids: Vec<WalkId> = plan.walk_ids().collect();
    let epochs = schedule_epochs(&plan, &ids).unwrap();
    assert_eq!(epochs.len(), 3);
    assert_eq!(epochs[0].serial_action, None);
    assert_eq!(epochs[0].segment, 0..2);
    assert_eq!(epochs[0].groups.len(), 1);
    assert_eq!(epochs[1].serial_action, Some(2));
    assert_eq!(epochs[1].segment, 3..4);
    // s1 runs once per (a, b, s1) parameterization: 8 groups of 2 walks (c varies).
    assert_eq!(epochs[1].groups.len(), 8);
    assert_eq!(epochs[1].groups[0].prefix, vec![0, 0, 0]);
    assert_eq!(epochs[1].groups[0].walk_ids, vec![0, 1]);
    assert_eq!(epochs[2].serial_action, Some(4));
    assert_eq!(epochs[2].segment, 5..5);
    assert_eq!(epochs[2].groups.len(), 16);
}
