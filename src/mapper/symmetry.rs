//! Symmetries of a recipe: which host roles, interface roles and network labels are
//! interchangeable, so that the search reports each testbed once.
//!
//! A symmetry is a triple (role permutation π, per-role interface-role bijections φ, label
//! permutation τ) such that role `π(r)` has exactly the requirements of role `r` with labels
//! renamed by τ and interface roles renamed by φ. Two matches related by a symmetry are the
//! same testbed with names swapped; the search reports only the lexicographically smallest
//! of each such orbit (the *lex-leader*).
//!
//! The full group G is never enumerated. It factors as G = H · S where
//! - S permutes roles with identical requirements among themselves and interface roles with
//!   identical requirements (twins) within a role, with labels fixed. The search breaks S with
//!   ordering constraints (identical roles take ascending machines, twins ascending
//!   interfaces), which is exactly the lex-leader condition for S.
//! - H holds one representative per label permutation τ that maps the multiset of role
//!   requirements onto itself; the role map inside a class of identical roles is the
//!   order-preserving one. Given τ, the class map and the twin-class map are forced, because
//!   classes are maximal.
//!
//! Invariant: a complete assignment that satisfies the S constraints is a lex-leader of its
//! orbit under G iff, for every non-identity element h of H, it is ≤ the S-sorted image of h.
//! H is enumerated up to [`MAX_AUTOMORPHISMS`] elements; beyond that `truncated` is set and
//! the enumeration may repeat a testbed under the missing symmetries (never loses one).

use std::collections::BTreeMap;

use super::compile::{LabelId, Problem};
use super::model::{Matcher, PropertyReq};

/// Upper bound on the label automorphisms kept.
pub(crate) const MAX_AUTOMORPHISMS: usize = 10_000;

/// Requirements of an interface role without its name, labels as ids.
type IfaceKey = (LabelId, Option<Matcher>, Vec<PropertyReq>);

/// Requirements of a host role without its name: sorted properties and the sorted multiset of
/// its interface keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RoleKey {
    properties: Vec<PropertyReq>,
    ifaces: Vec<IfaceKey>,
}

impl RoleKey {
    fn renamed(&self, tau: &[LabelId]) -> RoleKey {
        let mut ifaces: Vec<IfaceKey> = self
            .ifaces
            .iter()
            .map(|(label, driver, properties)| (tau[*label], driver.clone(), properties.clone()))
            .collect();
        ifaces.sort();
        RoleKey {
            properties: self.properties.clone(),
            ifaces,
        }
    }
}

/// One non-identity element of H, acting on roles and interface requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Automorphism {
    /// `role_image[r]`: the role whose assignment role `r` takes in the image.
    pub(crate) role_image: Vec<usize>,
    /// `iface_image[r][k]`: the interface requirement of `role_image[r]` whose interface
    /// requirement `k` of role `r` takes in the image.
    pub(crate) iface_image: Vec<Vec<usize>>,
}

/// The symmetry structure of a recipe.
#[derive(Debug, Clone, Default)]
pub(crate) struct Symmetries {
    /// Class of roles with identical requirements, per role (dense ids by first appearance).
    pub(crate) role_class: Vec<usize>,
    /// Non-identity elements of H.
    pub(crate) automorphisms: Vec<Automorphism>,
    /// Whether H had more than [`MAX_AUTOMORPHISMS`] elements.
    pub(crate) truncated: bool,
}

fn iface_key_of(problem: &Problem, role: usize, iface: usize) -> IfaceKey {
    let spec = &problem.roles[role].ifaces[iface];
    let mut properties = spec.source.properties.clone();
    properties.sort();
    (spec.label, spec.source.driver.clone(), properties)
}

fn role_key(problem: &Problem, role: usize) -> RoleKey {
    let mut properties = problem.roles[role].source.properties.clone();
    properties.sort();
    let mut ifaces: Vec<IfaceKey> = (0..problem.roles[role].ifaces.len())
        .map(|iface| iface_key_of(problem, role, iface))
        .collect();
    ifaces.sort();
    RoleKey { properties, ifaces }
}

/// Computes the symmetry structure. `rank` orders roles within a class (the search position),
/// so that the order-preserving role map matches the search's ordering constraints.
pub(crate) fn analyse(problem: &Problem, rank: &[usize]) -> Symmetries {
    let role_count = problem.roles.len();
    let keys: Vec<RoleKey> = (0..role_count)
        .map(|role| role_key(problem, role))
        .collect();

    let mut class_of_key: BTreeMap<&RoleKey, usize> = BTreeMap::new();
    let mut class_members: Vec<Vec<usize>> = Vec::new();
    let mut role_class = Vec::with_capacity(role_count);
    for (role, key) in keys.iter().enumerate() {
        let next = class_members.len();
        let class = *class_of_key.entry(key).or_insert(next);
        if class == next {
            class_members.push(Vec::new());
        }
        class_members[class].push(role);
        role_class.push(class);
    }
    for members in &mut class_members {
        members.sort_by_key(|&role| rank.get(role).copied().unwrap_or(role));
    }
    let class_keys: Vec<&RoleKey> = class_members
        .iter()
        .map(|members| &keys[members[0]])
        .collect();

    let label_count = problem.labels.len();
    // Classes become checkable once τ is defined on every label they use.
    let mut ready_after: Vec<Vec<usize>> = vec![Vec::new(); label_count];
    for (class, key) in class_keys.iter().enumerate() {
        if let Some(max_label) = key.ifaces.iter().map(|(label, _, _)| *label).max() {
            ready_after[max_label].push(class);
        }
    }

    let mut enumeration = LabelPermutations {
        class_keys: &class_keys,
        class_of_key: &class_of_key,
        class_sizes: class_members.iter().map(Vec::len).collect(),
        ready_after,
        tau: Vec::with_capacity(label_count),
        label_taken: vec![false; label_count],
        found: Vec::new(),
        truncated: false,
    };
    enumeration.extend(label_count);
    let truncated = enumeration.truncated;
    let found = enumeration.found;

    let automorphisms = found
        .into_iter()
        .filter(|(tau, _)| tau.iter().enumerate().any(|(label, image)| label != *image))
        .map(|(tau, class_image)| {
            build_automorphism(problem, &role_class, &class_members, &class_image, &tau)
        })
        .collect();
    Symmetries {
        role_class,
        automorphisms,
        truncated,
    }
}

/// Backtracking enumeration of the label permutations τ that preserve the role multiset.
struct LabelPermutations<'k> {
    class_keys: &'k [&'k RoleKey],
    class_of_key: &'k BTreeMap<&'k RoleKey, usize>,
    class_sizes: Vec<usize>,
    ready_after: Vec<Vec<usize>>,
    tau: Vec<LabelId>,
    label_taken: Vec<bool>,
    /// (τ, class image) pairs.
    found: Vec<(Vec<LabelId>, Vec<usize>)>,
    truncated: bool,
}

impl LabelPermutations<'_> {
    fn image_class(&self, class: usize) -> Option<usize> {
        let image = self.class_keys[class].renamed(&self.tau);
        let target = *self.class_of_key.get(&image)?;
        (self.class_sizes[target] == self.class_sizes[class]).then_some(target)
    }

    fn extend(&mut self, label_count: usize) {
        if self.truncated {
            return;
        }
        let next = self.tau.len();
        if next == label_count {
            let class_image: Option<Vec<usize>> = (0..self.class_keys.len())
                .map(|class| {
                    if self.class_keys[class].ifaces.is_empty() {
                        Some(class)
                    } else {
                        self.image_class(class)
                    }
                })
                .collect();
            if let Some(class_image) = class_image {
                if self.found.len() >= MAX_AUTOMORPHISMS {
                    self.truncated = true;
                } else {
                    self.found.push((self.tau.clone(), class_image));
                }
            }
            return;
        }
        for image in 0..label_count {
            if self.label_taken[image] {
                continue;
            }
            self.tau.push(image);
            self.label_taken[image] = true;
            // τ is now defined on labels 0..=next: check the classes that just became checkable.
            let consistent = self.ready_after[next]
                .iter()
                .all(|&class| self.image_class_partial(class).is_some());
            if consistent {
                self.extend(label_count);
            }
            self.label_taken[image] = false;
            self.tau.pop();
        }
    }

    /// Like `image_class`, for a class whose labels are all within the partial τ.
    fn image_class_partial(&self, class: usize) -> Option<usize> {
        let key = self.class_keys[class];
        let mut ifaces: Vec<IfaceKey> = key
            .ifaces
            .iter()
            .map(|(label, driver, properties)| {
                (self.tau[*label], driver.clone(), properties.clone())
            })
            .collect();
        ifaces.sort();
        let image = RoleKey {
            properties: key.properties.clone(),
            ifaces,
        };
        let target = *self.class_of_key.get(&image)?;
        (self.class_sizes[target] == self.class_sizes[class]).then_some(target)
    }
}

fn build_automorphism(
    problem: &Problem,
    role_class: &[usize],
    class_members: &[Vec<usize>],
    class_image: &[usize],
    tau: &[LabelId],
) -> Automorphism {
    let role_count = problem.roles.len();
    let mut role_image = vec![0; role_count];
    let mut iface_image = vec![Vec::new(); role_count];
    for role in 0..role_count {
        let class = role_class[role];
        let rank_in_class = class_members[class]
            .iter()
            .position(|&member| member == role)
            .unwrap_or(0);
        let target = class_members[class_image[class]]
            .get(rank_in_class)
            .copied()
            .unwrap_or(role);
        role_image[role] = target;

        // Map each twin class of `role` to the twin class of `target` with the renamed key,
        // member by member.
        let spec = &problem.roles[role];
        let target_spec = &problem.roles[target];
        let mut mapping = Vec::with_capacity(spec.ifaces.len());
        for iface in 0..spec.ifaces.len() {
            let (label, driver, properties) = iface_key_of(problem, role, iface);
            let wanted: IfaceKey = (tau[label], driver, properties);
            let twin_rank = (0..iface)
                .filter(|&earlier| spec.iface_class[earlier] == spec.iface_class[iface])
                .count();
            let target_iface = (0..target_spec.ifaces.len())
                .filter(|&candidate| iface_key_of(problem, target, candidate) == wanted)
                .nth(twin_rank)
                .unwrap_or(iface);
            mapping.push(target_iface);
        }
        iface_image[role] = mapping;
    }
    Automorphism {
        role_image,
        iface_image,
    }
}
