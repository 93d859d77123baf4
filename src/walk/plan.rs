//! Walk plans: which walks a run executes and the id of each.
//!
//! A walk picks one option for every action of the walk order. The *walk space* is the
//! product of the actions' option sets; a walk's [`WalkId`] is its index in that product in
//! mixed radix with the **last action fastest** (py-combtest's product order), so the id
//! alone regenerates the walk under every strategy.
//!
//! Strategies ([`Strategy`]) choose which walks of the space run:
//! - `full`: every walk, in id order, generated lazily in constant memory;
//! - `pairwise` / `t=N`: a deterministic t-wise covering array (see [`super::covering`]),
//!   each row reported by its full-product id, ids ascending;
//! - `random:N:SEED`: `min(N, space)` distinct ids drawn without replacement by a seeded
//!   pseudo-random permutation of the space (constant memory; never materialises the product;
//!   stable across crate versions because the PRNG is implemented here).
//!
//! Invariants: the space size fits in `u64` (checked, [`PlanError::ProductOverflow`]);
//! `walk(id)` and `id(walk)` are inverse bijections between `0..space_size` and option
//! vectors; every strategy yields distinct ids.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::covering::{covering_array, first_uncovered};

/// Index of a walk in the full product of option sets (mixed radix, last action fastest).
pub type WalkId = u64;

/// One action of the walk order, as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionDimension {
    /// Action name (used in errors and traces).
    pub name: String,
    /// Number of options of the action; at least 1.
    pub option_count: usize,
    /// A serial action runs once per parameterization of the walk prefix ending at it, as a
    /// barrier between epochs.
    pub serial: bool,
}

impl ActionDimension {
    /// A parallel (non-serial) action.
    pub fn new(name: impl Into<String>, option_count: usize) -> Self {
        ActionDimension {
            name: name.into(),
            option_count,
            serial: false,
        }
    }

    /// A serial action (a barrier between epochs).
    pub fn serial(name: impl Into<String>, option_count: usize) -> Self {
        ActionDimension {
            name: name.into(),
            option_count,
            serial: true,
        }
    }
}

/// Which walks of the space a plan selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The full product.
    Full,
    /// Every pair of option values of every two actions (same as `TWise(2)`).
    Pairwise,
    /// Every t-tuple of option values of every `t` actions.
    TWise(usize),
    /// `n` distinct walks sampled with a seed.
    Random {
        /// Number of walks (capped at the space size).
        n: u64,
        /// PRNG seed.
        seed: u64,
    },
}

impl Strategy {
    /// Covering strength, for covering strategies.
    pub fn strength(&self) -> Option<usize> {
        match self {
            Strategy::Pairwise => Some(2),
            Strategy::TWise(t) => Some(*t),
            Strategy::Full | Strategy::Random { .. } => None,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Full => write!(f, "full"),
            Strategy::Pairwise => write!(f, "pairwise"),
            Strategy::TWise(t) => write!(f, "t={t}"),
            Strategy::Random { n, seed } => write!(f, "random:{n}:{seed}"),
        }
    }
}

/// A strategy string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StrategyParseError {
    /// Nothing was given.
    #[error("empty walk strategy: expected full, pairwise, t=N or random:N:SEED")]
    Empty,
    /// Not one of the known forms.
    #[error("unknown walk strategy {input:?}: expected full, pairwise, t=N or random:N:SEED")]
    Unknown {
        /// The text given.
        input: String,
    },
    /// `t=` without an integer `>= 1`.
    #[error("invalid strength in {input:?}: t= needs an integer >= 1, e.g. t=3")]
    InvalidStrength {
        /// The text given.
        input: String,
    },
    /// `random:` without a valid count and seed.
    #[error(
        "invalid random strategy {input:?}: {reason}; expected random:N:SEED, e.g. random:100:42"
    )]
    InvalidRandom {
        /// The text given.
        input: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl FromStr for Strategy {
    type Err = StrategyParseError;

    /// Parses `full | pairwise | t=N | random:N:SEED` (case-insensitive, surrounding
    /// whitespace ignored).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let lowered = trimmed.to_ascii_lowercase();
        if lowered.is_empty() {
            return Err(StrategyParseError::Empty);
        }
        if lowered == "full" {
            return Ok(Strategy::Full);
        }
        if lowered == "pairwise" {
            return Ok(Strategy::Pairwise);
        }
        if let Some(strength) = lowered.strip_prefix("t=") {
            return match strength.trim().parse::<usize>() {
                Ok(t) if t >= 1 => Ok(Strategy::TWise(t)),
                _ => Err(StrategyParseError::InvalidStrength {
                    input: trimmed.to_string(),
                }),
            };
        }
        if let Some(rest) = lowered.strip_prefix("random:") {
            let invalid = |reason| StrategyParseError::InvalidRandom {
                input: trimmed.to_string(),
                reason,
            };
            let mut parts = rest.split(':');
            let (Some(count), Some(seed), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(invalid("wrong number of fields"));
            };
            let n = count
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid("N is not a whole number"))?;
            if n == 0 {
                return Err(invalid("N must be at least 1"));
            }
            let seed = seed
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid("SEED is not a whole number in 0..2^64"))?;
            return Ok(Strategy::Random { n, seed });
        }
        Err(StrategyParseError::Unknown {
            input: trimmed.to_string(),
        })
    }
}

/// Errors building or querying a plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The walk order is empty.
    #[error("the walk order has no actions")]
    NoActions,
    /// An action has an empty option set.
    #[error("action {action:?} has no options; every action needs at least one")]
    NoOptions {
        /// Action name.
        action: String,
    },
    /// The product of option counts does not fit in a 64-bit walk id.
    #[error(
        "the walk space of {action_count} actions has more than 2^64-1 walks (overflow at action {action:?}); reduce option sets"
    )]
    ProductOverflow {
        /// Number of actions in the walk order.
        action_count: usize,
        /// First action at which the running product overflowed.
        action: String,
    },
    /// A walk id beyond the space.
    #[error("walk id {id} is out of range: the plan has {space_size} walks (ids 0..{space_size})")]
    WalkIdOutOfRange {
        /// The id given.
        id: WalkId,
        /// Size of the walk space.
        space_size: WalkId,
    },
    /// An option vector of the wrong length.
    #[error("a walk needs {expected} options (one per action), got {found}")]
    WrongWalkLength {
        /// Number of actions.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// An option index beyond an action's option set.
    #[error("option {option} of action {action:?} is out of range: it has {option_count} options")]
    OptionOutOfRange {
        /// Action name.
        action: String,
        /// Option index given.
        option: usize,
        /// Options of that action.
        option_count: usize,
    },
    /// Covering strength 0.
    #[error("covering strength must be at least 1, got {strength}")]
    InvalidStrength {
        /// Strength given.
        strength: usize,
    },
    /// Random sample of size 0.
    #[error("a random sample needs at least one walk")]
    EmptySample,
    /// A coverage check found a tuple no walk covers.
    #[error("the plan is not {strength}-wise covering: no walk has {tuple}")]
    Uncovered {
        /// Strength checked.
        strength: usize,
        /// The missing tuple, e.g. `mtu=2, ring=0`.
        tuple: String,
    },
    /// A walk id given twice to the epoch scheduler.
    #[error("walk id {id} appears more than once in the walks to schedule")]
    DuplicateWalkId {
        /// The repeated id.
        id: WalkId,
    },
}

/// A walk: its id and the option index chosen for each action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// Full-product id.
    pub id: WalkId,
    /// Option index per action, in walk order.
    pub options: Vec<usize>,
}

/// Which walks a plan selects, resolved at construction.
#[derive(Debug, Clone)]
enum Selection {
    Full,
    /// Covering-array rows as ascending full-product ids.
    Covering(Vec<WalkId>),
    Random(RandomPermutation),
}

/// A walk order plus a strategy: the walks a run executes.
#[derive(Debug, Clone)]
pub struct Plan {
    dimensions: Vec<ActionDimension>,
    strategy: Strategy,
    space_size: WalkId,
    /// `stride[i]` = product of option counts of actions after `i` (id weight of action `i`).
    strides: Vec<WalkId>,
    selection: Selection,
    walk_count: WalkId,
}

impl Plan {
    /// Validates the walk order and resolves the strategy. Covering arrays are computed here
    /// (their size is small); full and random plans are generated lazily.
    pub fn new(dimensions: Vec<ActionDimension>, strategy: Strategy) -> Result<Plan, PlanError> {
        if dimensions.is_empty() {
            return Err(PlanError::NoActions);
        }
        if let Some(empty) = dimensions.iter().find(|d| d.option_count == 0) {
            return Err(PlanError::NoOptions {
                action: empty.name.clone(),
            });
        }
        let mut strides = vec![1u64; dimensions.len()];
        let mut running: WalkId = 1;
        for (position, dimension) in dimensions.iter().enumerate().rev() {
            strides[position] = running;
            running = u64::try_from(dimension.option_count)
                .ok()
                .and_then(|count| running.checked_mul(count))
                .ok_or_else(|| PlanError::ProductOverflow {
                    action_count: dimensions.len(),
                    action: dimension.name.clone(),
                })?;
        }
        let space_size = running;
        let mut plan = Plan {
            dimensions,
            strategy,
            space_size,
            strides,
            selection: Selection::Full,
            walk_count: space_size,
        };
        match strategy {
            Strategy::Full => {}
            Strategy::Pairwise | Strategy::TWise(_) => {
                let strength = strategy.strength().unwrap_or(2);
                if strength == 0 {
                    return Err(PlanError::InvalidStrength { strength });
                }
                let sizes = plan.option_counts();
                let mut ids = covering_array(&sizes, strength)
                    .iter()
                    .map(|row| plan.id(row))
                    .collect::<Result<Vec<_>, _>>()?;
                ids.sort_unstable();
                ids.dedup();
                plan.walk_count = ids.len() as WalkId;
                plan.selection = Selection::Covering(ids);
            }
            Strategy::Random { n, seed } => {
                if n == 0 {
                    return Err(PlanError::EmptySample);
                }
                plan.walk_count = n.min(space_size);
                plan.selection = Selection::Random(RandomPermutation::new(space_size, seed));
            }
        }
        Ok(plan)
    }

    /// The walk order.
    pub fn dimensions(&self) -> &[ActionDimension] {
        &self.dimensions
    }

    /// The strategy the plan was built with.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Option count per action, in walk order.
    pub fn option_counts(&self) -> Vec<usize> {
        self.dimensions.iter().map(|d| d.option_count).collect()
    }

    /// Number of walks in the full product (`Π option_count`).
    pub fn space_size(&self) -> WalkId {
        self.space_size
    }

    /// Number of walks the strategy selects (what [`Plan::walks`] yields).
    pub fn walk_count(&self) -> WalkId {
        self.walk_count
    }

    /// The walk with this full-product id. O(number of actions).
    pub fn walk(&self, id: WalkId) -> Result<Vec<usize>, PlanError> {
        if id >= self.space_size {
            return Err(PlanError::WalkIdOutOfRange {
                id,
                space_size: self.space_size,
            });
        }
        Ok(self
            .strides
            .iter()
            .zip(&self.dimensions)
            .map(|(&stride, dimension)| ((id / stride) % dimension.option_count as u64) as usize)
            .collect())
    }

    /// The full-product id of a walk given as one option index per action. O(number of
    /// actions).
    pub fn id(&self, options: &[usize]) -> Result<WalkId, PlanError> {
        if options.len() != self.dimensions.len() {
            return Err(PlanError::WrongWalkLength {
                expected: self.dimensions.len(),
                found: options.len(),
            });
        }
        let mut id: WalkId = 0;
        for ((&option, dimension), &stride) in
            options.iter().zip(&self.dimensions).zip(&self.strides)
        {
            if option >= dimension.option_count {
                return Err(PlanError::OptionOutOfRange {
                    action: dimension.name.clone(),
                    option,
                    option_count: dimension.option_count,
                });
            }
            // Cannot overflow: option < option_count and Σ option·stride < space_size.
            id += option as u64 * stride;
        }
        Ok(id)
    }

    /// Id of the parameterization of actions `0..=last_action` shared by walk `id`: walks with
    /// equal prefixes have equal prefix ids. Caller guarantees `id < space_size`.
    pub(crate) fn prefix_id(&self, id: WalkId, last_action: usize) -> WalkId {
        id / self.strides[last_action]
    }

    /// The option indices of actions `0..=last_action` for a prefix id from
    /// [`Plan::prefix_id`].
    pub(crate) fn prefix_options(&self, prefix_id: WalkId, last_action: usize) -> Vec<usize> {
        let base = self.strides[last_action];
        // prefix_id * base <= the walk id it came from, so it cannot overflow.
        let id = prefix_id * base;
        self.dimensions[..=last_action]
            .iter()
            .zip(&self.strides)
            .map(|(dimension, &stride)| ((id / stride) % dimension.option_count as u64) as usize)
            .collect()
    }

    /// Lazily yields the ids the strategy selects: ascending for `full` and covering plans,
    /// permutation order for `random`. Constant memory.
    pub fn walk_ids(&self) -> WalkIds<'_> {
        WalkIds {
            plan: self,
            position: 0,
        }
    }

    /// Lazily yields the selected walks (id and options), in [`Plan::walk_ids`] order. For
    /// `full` plans each step is an odometer increment (no division); memory is constant.
    pub fn walks(&self) -> Walks<'_> {
        Walks {
            plan: self,
            ids: self.walk_ids(),
            odometer: None,
        }
    }

    /// Verifies that the selected walks cover every t-tuple of option values across every `t`
    /// actions. A `full` plan covers every tuple by construction and returns at once; other
    /// plans are checked by streaming over their walks (memory: one bit per t-tuple).
    pub fn coverage_check(&self, strength: usize) -> Result<(), PlanError> {
        if strength == 0 {
            return Err(PlanError::InvalidStrength { strength });
        }
        if matches!(self.selection, Selection::Full) {
            return Ok(());
        }
        let sizes = self.option_counts();
        match first_uncovered(&sizes, self.walks().map(|walk| walk.options), strength) {
            None => Ok(()),
            Some(missing) => Err(PlanError::Uncovered {
                strength,
                tuple: missing
                    .actions
                    .iter()
                    .zip(&missing.options)
                    .map(|(&action, option)| format!("{}={}", self.dimensions[action].name, option))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Iterator over the ids a plan selects (see [`Plan::walk_ids`]).
#[derive(Debug, Clone)]
pub struct WalkIds<'a> {
    plan: &'a Plan,
    position: WalkId,
}

impl Iterator for WalkIds<'_> {
    type Item = WalkId;

    fn next(&mut self) -> Option<WalkId> {
        if self.position >= self.plan.walk_count {
            return None;
        }
        let position = self.position;
        self.position += 1;
        Some(match &self.plan.selection {
            Selection::Full => position,
            Selection::Covering(ids) => ids[position as usize],
            Selection::Random(permutation) => permutation.apply(position),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.plan.walk_count - self.position;
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

/// Iterator over the walks a plan selects (see [`Plan::walks`]).
#[derive(Debug, Clone)]
pub struct Walks<'a> {
    plan: &'a Plan,
    ids: WalkIds<'a>,
    /// Options of the previous walk, for odometer stepping in `full` plans.
    odometer: Option<Vec<usize>>,
}

impl Iterator for Walks<'_> {
    type Item = Walk;

    fn next(&mut self) -> Option<Walk> {
        let id = self.ids.next()?;
        let options = match (&self.plan.selection, self.odometer.as_mut()) {
            (Selection::Full, Some(previous)) => {
                // Increment, last action fastest.
                for (slot, dimension) in previous.iter_mut().zip(&self.plan.dimensions).rev() {
                    *slot += 1;
                    if *slot < dimension.option_count {
                        break;
                    }
                    *slot = 0;
                }
                previous.clone()
            }
            _ => {
                let options = self.plan.walk(id).ok()?;
                if matches!(self.plan.selection, Selection::Full) {
                    self.odometer = Some(options.clone());
                }
                options
            }
        };
        Some(Walk { id, options })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }
}

/// splitmix64 step (Steele, Lea, Flood 2014): a small, well-mixed, version-stable PRNG.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seeded pseudo-random permutation of `0..size`: a balanced Feistel network on the
/// smallest even-bit-width power of two `>= size`, with cycle walking back into range.
/// Because it is a bijection, the first `n` outputs are distinct; each output costs O(1)
/// expected time (the domain is at most 4x the size) and no memory.
#[derive(Debug, Clone)]
struct RandomPermutation {
    size: u64,
    half_bits: u32,
    round_keys: [u64; Self::ROUNDS],
}

impl RandomPermutation {
    const ROUNDS: usize = 6;

    fn new(size: u64, seed: u64) -> Self {
        let bits_needed = 64 - size.saturating_sub(1).leading_zeros();
        let half_bits = bits_needed.div_ceil(2).max(1);
        let mut state = seed;
        let mut round_keys = [0u64; Self::ROUNDS];
        for key in &mut round_keys {
            *key = splitmix64(&mut state);
        }
        RandomPermutation {
            size,
            half_bits,
            round_keys,
        }
    }

    fn feistel(&self, value: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let mut left = value >> self.half_bits;
        let mut right = value & mask;
        for key in self.round_keys {
            let mut state = key ^ right;
            let mixed = splitmix64(&mut state) & mask;
            (left, right) = (right, left ^ mixed);
        }
        (left << self.half_bits) | right
    }

    /// The image of `position` (< size).
    fn apply(&self, position: u64) -> u64 {
        let mut value = position;
        loop {
            value = self.feistel(value);
            if value < self.size {
                return value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_permutation_is_a_bijection_on_small_sizes() {
        for size in 1..70u64 {
            let permutation = RandomPermutation::new(size, 7);
            let mut images: Vec<u64> = (0..size).map(|p| permutation.apply(p)).collect();
            images.sort_unstable();
            assert_eq!(images, (0..size).collect::<Vec<_>>(), "size {size}");
        }
    }

    #[test]
    fn random_permutation_handles_the_full_u64_range() {
        let permutation = RandomPermutation::new(u64::MAX, 1);
        assert_ne!(permutation.apply(0), permutation.apply(1));
    }

    #[test]
    fn prefix_options_match_walk_prefix() {
        let plan = Plan::new(
            vec![
                ActionDimension::new("a", 2),
                ActionDimension::serial("s", 3),
                ActionDimension::new("b", 4),
            ],
            Strategy::Full,
        )
        .unwrap();
        for id in 0..plan.space_size() {
            let walk = plan.walk(id).unwrap();
            for last in 0..3 {
                let prefix = plan.prefix_id(id, last);
                assert_eq!(plan.prefix_options(prefix, last), walk[..=last].to_vec());
            }
        }
    }
}
