//! Epochs: how serial actions split walks into barrier-separated phases (a pure model).
//!
//! The walk order is cut at every serial action. Epoch 0 runs, for every walk, the actions
//! before the first serial action. Epoch `k >= 1` opens with the `k`-th serial action `S`,
//! which runs **once per parameterization of the prefix `actions[0..=S]`** (per testbed;
//! call [`schedule_epochs`] once per testbed with that testbed's walks), after every walk
//! finished epoch `k-1`; then each walk of the group runs its segment, the actions after `S`
//! up to the next serial action.
//!
//! Invariants of a returned schedule (checked by property tests):
//! - there are `serial_count + 1` epochs; segments partition the non-serial actions;
//! - in every epoch each given walk appears in exactly one group, exactly once;
//! - in every epoch the group prefixes are distinct (each serial parameterization runs once)
//!   and every walk in a group has that prefix;
//! - no walks gives no groups;
//! - groups are ordered by prefix (lexicographic = prefix id), walks keep the input order.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use super::plan::{Plan, PlanError, WalkId};

/// Walks that share a prefix parameterization in one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochGroup {
    /// Option index of each action `0..=serial_action` (empty in epoch 0).
    pub prefix: Vec<usize>,
    /// Walks of this group, in input order.
    pub walk_ids: Vec<WalkId>,
}

/// One phase between barriers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// Serial action that opens the epoch (run once per group first); `None` in epoch 0.
    pub serial_action: Option<usize>,
    /// Actions every walk runs in this epoch, after the serial action (may be empty).
    pub segment: Range<usize>,
    /// Groups keyed by prefix parameterization; one group holding every walk in epoch 0.
    pub groups: Vec<EpochGroup>,
}

/// The action ranges of each epoch: `(serial action, segment)` pairs, `serial_count + 1` of
/// them, depending only on the walk order.
pub fn epoch_segments(plan: &Plan) -> Vec<(Option<usize>, Range<usize>)> {
    let action_count = plan.dimensions().len();
    let serials: Vec<usize> = plan
        .dimensions()
        .iter()
        .enumerate()
        .filter(|(_, d)| d.serial)
        .map(|(position, _)| position)
        .collect();
    let mut segments = Vec::with_capacity(serials.len() + 1);
    let first_end = serials.first().copied().unwrap_or(action_count);
    segments.push((None, 0..first_end));
    for (number, &serial) in serials.iter().enumerate() {
        let end = serials.get(number + 1).copied().unwrap_or(action_count);
        segments.push((Some(serial), serial + 1..end));
    }
    segments
}

/// Groups `walk_ids` (one testbed's walks) into epochs. Errors on an id outside the plan's
/// space or an id given twice.
pub fn schedule_epochs(plan: &Plan, walk_ids: &[WalkId]) -> Result<Vec<Epoch>, PlanError> {
    let mut seen = HashSet::with_capacity(walk_ids.len());
    for &id in walk_ids {
        if id >= plan.space_size() {
            return Err(PlanError::WalkIdOutOfRange {
                id,
                space_size: plan.space_size(),
            });
        }
        if !seen.insert(id) {
            return Err(PlanError::DuplicateWalkId { id });
        }
    }
    Ok(epoch_segments(plan)
        .into_iter()
        .map(|(serial_action, segment)| {
            let groups = match serial_action {
                None if walk_ids.is_empty() => Vec::new(),
                None => vec![EpochGroup {
                    prefix: Vec::new(),
                    walk_ids: walk_ids.to_vec(),
                }],
                Some(serial) => {
                    let mut by_prefix: BTreeMap<WalkId, Vec<WalkId>> = BTreeMap::new();
                    for &id in walk_ids {
                        by_prefix
                            .entry(plan.prefix_id(id, serial))
                            .or_default()
                            .push(id);
                    }
                    by_prefix
                        .into_iter()
                        .map(|(prefix_id, ids)| EpochGroup {
                            prefix: plan.prefix_options(prefix_id, serial),
                            walk_ids: ids,
                        })
                        .collect()
                }
            };
            Epoch {
                serial_action,
                segment,
                groups,
            }
        })
        .collect())
}
