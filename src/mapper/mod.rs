//! The mapper: matches a recipe's host and interface requirements against a pool of machines
//! (LNST's `MachineMapper`, done properly).
//!
//! Given a [`PoolView`] and [`Requirements`], a [`Mapper`] assigns
//! - every host role a distinct machine whose properties satisfy the role's constraints
//!   (equality, full-match regex, negation, presence, absence);
//! - every interface role a distinct interface of that machine satisfying its driver and
//!   property constraints;
//! - recipe network labels to pool networks as a bijection: interfaces sharing a label sit on
//!   one pool network, different labels on different networks.
//!
//! It enumerates all such testbeds lazily ([`Mapper::all_matches`]) and reports each once:
//! testbeds that differ only by swapping interchangeable roles, twin interface roles or
//! interchangeable labels are one testbed (see `symmetry`). It finds K machine-disjoint
//! testbeds ([`Mapper::disjoint`]) and says why nothing matches ([`Mapper::explain`]).
//!
//! Invariants: a `Mapper` only exists for validated inputs (see [`MapperError`]); every
//! testbed it returns satisfies every constraint; no input makes it panic.

mod compile;
mod explain;
mod model;
mod search;
mod symmetry;

pub use explain::{CLOSEST_MACHINES, Explanation, Finding, LabelUse, MachineMiss};
pub use model::{
    HostReq, Interface, InterfaceReq, Machine, Matcher, PoolView, PropertyReq, Requirements,
    Testbed,
};
pub use search::{DisjointTestbeds, Matches};

use compile::Problem;
use search::Plan;

/// Default search-node budget of [`Mapper::disjoint`].
pub const DEFAULT_DISJOINT_BUDGET: u64 = 1_000_000;

/// Errors of the mapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapperError {
    /// Two host roles share a name.
    #[error("role \"{0}\" is declared more than once")]
    DuplicateRole(String),
    /// Two interface roles of one host role share a name.
    #[error("role \"{role}\" declares interface role \"{interface}\" more than once")]
    DuplicateInterfaceRole {
        /// Host role.
        role: String,
        /// Interface role.
        interface: String,
    },
    /// Two pool machines share a name.
    #[error("pool machine \"{0}\" appears more than once")]
    DuplicateMachine(String),
    /// Two interfaces of one pool machine share a name.
    #[error("pool machine \"{machine}\" lists interface \"{interface}\" more than once")]
    DuplicateInterface {
        /// Machine name.
        machine: String,
        /// Interface name.
        interface: String,
    },
    /// A regex matcher does not compile.
    #[error("invalid regex /{pattern}/ in {location}: {message}")]
    InvalidRegex {
        /// Where the matcher appears, e.g. `role "dut" property "arch"`.
        location: String,
        /// The pattern as written.
        pattern: String,
        /// The regex compiler's message.
        message: String,
    },
    /// No testbed matches (from [`Mapper::require_match`]).
    #[error("{0}")]
    NoMatch(Explanation),
}

/// A validated matching problem with its search plan precomputed.
#[derive(Debug, Clone)]
pub struct Mapper {
    problem: Problem,
    plan: Plan,
}

impl Mapper {
    /// Validates the inputs, compiles every matcher once, and precomputes each role's
    /// candidate machines, the search order and the recipe's symmetries.
    pub fn new(pool: PoolView, requirements: Requirements) -> Result<Mapper, MapperError> {
        let problem = Problem::build(pool, requirements)?;
        let plan = Plan::new(&problem);
        Ok(Mapper { problem, plan })
    }

    /// The first testbed in preference order (earliest machines and interfaces), if any.
    pub fn first_match(&self) -> Option<Testbed> {
        self.all_matches().next()
    }

    /// Like [`Mapper::first_match`], with the explanation as the error when nothing matches.
    pub fn require_match(&self) -> Result<Testbed, MapperError> {
        self.first_match()
            .ok_or_else(|| MapperError::NoMatch(self.explain()))
    }

    /// Every testbed, lazily, each symmetry class once, in preference order.
    pub fn all_matches(&self) -> Matches<'_> {
        Matches::new(&self.problem, &self.plan)
    }

    /// Up to `count` pairwise machine-disjoint testbeds, with the default search budget.
    pub fn disjoint(&self, count: usize) -> DisjointTestbeds {
        self.disjoint_with_budget(count, DEFAULT_DISJOINT_BUDGET)
    }

    /// Up to `count` pairwise machine-disjoint testbeds: greedy first, then backtracking
    /// (branch and bound) within `node_budget` search nodes.
    pub fn disjoint_with_budget(&self, count: usize, node_budget: u64) -> DisjointTestbeds {
        search::disjoint(&self.problem, &self.plan, count, node_budget)
    }

    /// Why no testbed matches (or that one does).
    pub fn explain(&self) -> Explanation {
        explain::explain(&self.problem, &self.plan)
    }

    /// Role names in search order (most constrained first).
    pub fn search_order(&self) -> Vec<String> {
        self.plan
            .order
            .iter()
            .map(|&role| self.problem.roles[role].name().to_string())
            .collect()
    }

    /// Groups (of two or more) of roles with identical requirements, in recipe order.
    pub fn identical_roles(&self) -> Vec<Vec<String>> {
        let classes = &self.plan.symmetry.role_class;
        let class_count = classes.iter().max().map_or(0, |max| max + 1);
        (0..class_count)
            .map(|class| {
                classes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &role_class)| role_class == class)
                    .map(|(role, _)| self.problem.roles[role].name().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|group| group.len() > 1)
            .collect()
    }

    /// Whether the recipe has so many label symmetries that duplicate removal is partial
    /// (more than 10,000 label permutations preserve it): then a testbed may be reported more
    /// than once, though none is ever missed.
    pub fn symmetry_truncated(&self) -> bool {
        self.plan.symmetry.truncated
    }

    /// Number of candidate machines (able to host the role on their own) per role, in
    /// recipe order.
    pub fn candidate_counts(&self) -> Vec<(String, usize)> {
        self.problem
            .roles
            .iter()
            .zip(&self.problem.candidates)
            .map(|(role, candidates)| (role.name().to_string(), candidates.machines.len()))
            .collect()
    }
}
