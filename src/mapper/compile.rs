//! Validation and compilation of a pool and requirements into the indexed [`Problem`] the
//! search works on.
//!
//! Invariants established here (and relied upon by `search`, `symmetry` and `explain`):
//! - Role names, interface-role names within a role, machine names and interface names within
//!   a machine are unique; every regex compiled, anchored at both ends, exactly once.
//! - Pool networks and recipe labels are interned as dense ids (`NetId`, `LabelId`) in sorted
//!   name order.
//! - Each role's interface requirements are re-ordered into *twin classes*: maximal groups of
//!   interface roles with identical requirements (label, driver, properties), kept contiguous,
//!   classes sorted by that key, members in declaration order. Roles with identical
//!   requirements therefore have identical layouts. `RoleSpec::iface_class` gives each
//!   requirement's class.
//! - `RoleCandidates::machines` lists, in ascending machine index, exactly the machines that can
//!   host the role on their own (properties hold and the role's interfaces fit on distinct
//!   interfaces with consistent labels). `options(c, k)` lists, in ascending interface index,
//!   the interfaces of candidate `c` satisfying interface requirement `k` (driver, properties,
//!   and having a network).

use std::collections::BTreeMap;

use regex::Regex;

use super::MapperError;
use super::model::{HostReq, InterfaceReq, Machine, Matcher, PoolView, PropertyReq, Requirements};

/// Index of a machine in the pool.
pub(crate) type MachineId = usize;
/// Index of a pool network in `Problem::networks`.
pub(crate) type NetId = usize;
/// Index of a recipe label in `Problem::labels`.
pub(crate) type LabelId = usize;

/// A matcher with its regex compiled.
#[derive(Debug, Clone)]
pub(crate) enum CompiledMatcher {
    Equals(String),
    Regex(Regex),
    Not(Box<CompiledMatcher>),
    Present,
    Absent,
}

impl CompiledMatcher {
    /// Compiles `matcher`; `location` names where it appears, for error messages.
    fn compile(matcher: &Matcher, location: &str) -> Result<Self, MapperError> {
        Ok(match matcher {
            Matcher::Equals(value) => CompiledMatcher::Equals(value.clone()),
            Matcher::Regex(pattern) => {
                CompiledMatcher::Regex(compile_full_match(pattern, location)?)
            }
            Matcher::Not(inner) => CompiledMatcher::Not(Box::new(Self::compile(inner, location)?)),
            Matcher::Present => CompiledMatcher::Present,
            Matcher::Absent => CompiledMatcher::Absent,
        })
    }

    /// Whether a property with value `value` (`None` = absent) satisfies the matcher.
    pub(crate) fn matches(&self, value: Option<&str>) -> bool {
        match self {
            CompiledMatcher::Equals(expected) => value == Some(expected.as_str()),
            CompiledMatcher::Regex(regex) => value.is_some_and(|text| regex.is_match(text)),
            CompiledMatcher::Not(inner) => !inner.matches(value),
            CompiledMatcher::Present => value.is_some(),
            CompiledMatcher::Absent => value.is_none(),
        }
    }
}

/// Compiles `pattern` so that it must match the whole value.
fn compile_full_match(pattern: &str, location: &str) -> Result<Regex, MapperError> {
    let invalid = |error: regex::Error| MapperError::InvalidRegex {
        location: location.to_string(),
        pattern: pattern.to_string(),
        message: error.to_string(),
    };
    // Validate the pattern on its own first so that wrapping it cannot change its meaning
    // (an unbalanced `)(` would otherwise splice into the anchors).
    Regex::new(pattern).map_err(invalid)?;
    Regex::new(&format!("^(?:{pattern})$")).map_err(invalid)
}

/// A property constraint with its matcher compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledProperty {
    pub(crate) source: PropertyReq,
    pub(crate) matcher: CompiledMatcher,
}

impl CompiledProperty {
    fn compile(source: &PropertyReq, location: &str) -> Result<Self, MapperError> {
        let location = format!("{location} property \"{}\"", source.key);
        Ok(Self {
            matcher: CompiledMatcher::compile(&source.matcher, &location)?,
            source: source.clone(),
        })
    }

    /// Whether the property map satisfies this constraint.
    pub(crate) fn holds(&self, properties: &BTreeMap<String, String>) -> bool {
        self.matcher
            .matches(properties.get(&self.source.key).map(String::as_str))
    }
}

/// One interface requirement, compiled.
#[derive(Debug, Clone)]
pub(crate) struct IfaceSpec {
    pub(crate) source: InterfaceReq,
    pub(crate) label: LabelId,
    pub(crate) driver: Option<CompiledMatcher>,
    pub(crate) properties: Vec<CompiledProperty>,
}

impl IfaceSpec {
    /// Whether pool interface `interface` satisfies driver and property constraints
    /// (the network label is checked by the search).
    pub(crate) fn accepts(&self, interface: &super::model::Interface) -> bool {
        self.driver
            .as_ref()
            .is_none_or(|driver| driver.matches(interface.driver.as_deref()))
            && self
                .properties
                .iter()
                .all(|property| property.holds(&interface.properties))
    }
}

/// One host role, compiled.
#[derive(Debug, Clone)]
pub(crate) struct RoleSpec {
    pub(crate) source: HostReq,
    pub(crate) properties: Vec<CompiledProperty>,
    /// Interface requirements grouped by twin class (see module docs).
    pub(crate) ifaces: Vec<IfaceSpec>,
    /// Twin class of each entry of `ifaces` (0-based, classes contiguous and ascending).
    pub(crate) iface_class: Vec<usize>,
}

impl RoleSpec {
    pub(crate) fn name(&self) -> &str {
        &self.source.role
    }
}

/// A pool interface that may serve an interface requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IfaceOption {
    /// Interface index within its machine.
    pub(crate) iface: usize,
    /// Pool network of that interface.
    pub(crate) net: NetId,
}

/// The machines able to host one role on their own, with the interfaces serving each of the
/// role's interface requirements (stored flat, one allocation per role).
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleCandidates {
    pub(crate) machines: Vec<MachineId>,
    iface_count: usize,
    /// `arena[starts[c * iface_count + k]..starts[c * iface_count + k + 1]]` are the options of
    /// candidate `c` for interface requirement `k`.
    starts: Vec<usize>,
    arena: Vec<IfaceOption>,
}

impl RoleCandidates {
    fn new(iface_count: usize) -> Self {
        RoleCandidates {
            machines: Vec::new(),
            iface_count,
            starts: vec![0],
            arena: Vec::new(),
        }
    }

    fn push(&mut self, machine: MachineId, options: &[Vec<IfaceOption>]) {
        self.machines.push(machine);
        for per_iface in options {
            self.arena.extend_from_slice(per_iface);
            self.starts.push(self.arena.len());
        }
    }

    /// Interfaces of candidate `candidate` serving interface requirement `iface`.
    pub(crate) fn options(&self, candidate: usize, iface: usize) -> &[IfaceOption] {
        let slot = candidate * self.iface_count + iface;
        match (self.starts.get(slot), self.starts.get(slot + 1)) {
            (Some(&start), Some(&end)) => self.arena.get(start..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// `(options for requirement 0, options for requirement 1, …)` of one candidate.
    pub(crate) fn all_options(&self, candidate: usize) -> impl Iterator<Item = &[IfaceOption]> {
        (0..self.iface_count).map(move |iface| self.options(candidate, iface))
    }
}

/// The validated, indexed matching problem.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub(crate) machines: Vec<Machine>,
    pub(crate) networks: Vec<String>,
    /// `iface_net[m][i]`: pool network of interface `i` of machine `m`.
    pub(crate) iface_net: Vec<Vec<Option<NetId>>>,
    pub(crate) labels: Vec<String>,
    pub(crate) roles: Vec<RoleSpec>,
    pub(crate) candidates: Vec<RoleCandidates>,
}

impl Problem {
    /// Validates and compiles the inputs, and precomputes every role's candidate machines.
    pub(crate) fn build(pool: PoolView, requirements: Requirements) -> Result<Self, MapperError> {
        check_unique_pool_names(&pool)?;
        check_unique_role_names(&requirements)?;

        let mut networks: Vec<String> = pool
            .machines
            .iter()
            .flat_map(|machine| machine.interfaces.iter())
            .filter_map(|interface| interface.network.clone())
            .collect();
        networks.sort();
        networks.dedup();
        let iface_net = pool
            .machines
            .iter()
            .map(|machine| {
                machine
                    .interfaces
                    .iter()
                    .map(|interface| {
                        interface
                            .network
                            .as_ref()
                            .and_then(|network| networks.binary_search(network).ok())
                    })
                    .collect()
            })
            .collect();

        let mut labels: Vec<String> = requirements
            .hosts
            .iter()
            .flat_map(|host| host.interfaces.iter())
            .map(|interface| interface.network.clone())
            .collect();
        labels.sort();
        labels.dedup();

        let roles = requirements
            .hosts
            .iter()
            .map(|host| compile_role(host, &labels))
            .collect::<Result<Vec<_>, _>>()?;

        let mut problem = Problem {
            machines: pool.machines,
            networks,
            iface_net,
            labels,
            roles,
            candidates: Vec::new(),
        };
        problem.candidates = (0..problem.roles.len())
            .map(|role| problem.role_candidates(role))
            .collect();
        Ok(problem)
    }

    /// Whether machine `machine` satisfies every property constraint of `role`.
    pub(crate) fn properties_hold(&self, role: usize, machine: MachineId) -> bool {
        self.roles[role]
            .properties
            .iter()
            .all(|property| property.holds(&self.machines[machine].properties))
    }

    /// For each interface requirement of `role`: the interfaces of `machine` serving it.
    pub(crate) fn iface_options(&self, role: usize, machine: MachineId) -> Vec<Vec<IfaceOption>> {
        let mut options = Vec::new();
        self.fill_iface_options(role, machine, &mut options);
        options
    }

    /// [`Problem::iface_options`] into a reused buffer.
    fn fill_iface_options(
        &self,
        role: usize,
        machine: MachineId,
        options: &mut Vec<Vec<IfaceOption>>,
    ) {
        let interfaces = &self.machines[machine].interfaces;
        let specs = &self.roles[role].ifaces;
        options.resize_with(specs.len(), Vec::new);
        for (spec, served_by) in specs.iter().zip(options.iter_mut()) {
            served_by.clear();
            served_by.extend(
                interfaces
                    .iter()
                    .enumerate()
                    .filter_map(|(iface, interface)| {
                        let net = self.iface_net[machine][iface]?;
                        spec.accepts(interface)
                            .then_some(IfaceOption { iface, net })
                    }),
            );
        }
    }

    fn role_candidates(&self, role: usize) -> RoleCandidates {
        let mut candidates = RoleCandidates::new(self.roles[role].ifaces.len());
        let mut scratch = Vec::new();
        for machine in 0..self.machines.len() {
            if !self.properties_hold(role, machine) {
                continue;
            }
            self.fill_iface_options(role, machine, &mut scratch);
            if fits_alone(&self.roles[role], &scratch) {
                candidates.push(machine, &scratch);
            }
        }
        candidates
    }
}

/// Whether the role's interface requirements can be served by distinct interfaces of one
/// machine with labels consistent on that machine alone (same label ⇒ same network, different
/// labels ⇒ different networks). `options` comes from [`Problem::iface_options`].
pub(crate) fn fits_alone(role: &RoleSpec, options: &[Vec<IfaceOption>]) -> bool {
    if options.iter().any(Vec::is_empty) {
        return false;
    }
    let mut used_ifaces: Vec<usize> = Vec::with_capacity(options.len());
    // (label, network) pairs of the partial local mapping, with their interface counts.
    let mut mapping: Vec<(LabelId, NetId, usize)> = Vec::with_capacity(options.len());
    fits_from(role, options, 0, &mut used_ifaces, &mut mapping)
}

fn fits_from(
    role: &RoleSpec,
    options: &[Vec<IfaceOption>],
    next: usize,
    used_ifaces: &mut Vec<usize>,
    mapping: &mut Vec<(LabelId, NetId, usize)>,
) -> bool {
    let Some(choices) = options.get(next) else {
        return true;
    };
    let label = role.ifaces[next].label;
    for option in choices {
        if used_ifaces.contains(&option.iface) {
            continue;
        }
        let existing = mapping.iter().position(|&(mapped, _, _)| mapped == label);
        match existing {
            Some(slot) if mapping[slot].1 != option.net => continue,
            Some(slot) => mapping[slot].2 += 1,
            None if mapping.iter().any(|&(_, net, _)| net == option.net) => continue,
            None => mapping.push((label, option.net, 1)),
        }
        used_ifaces.push(option.iface);
        let fits = fits_from(role, options, next + 1, used_ifaces, mapping);
        used_ifaces.pop();
        if let Some(slot) = mapping.iter().position(|&(mapped, _, _)| mapped == label) {
            mapping[slot].2 -= 1;
            if mapping[slot].2 == 0 {
                mapping.swap_remove(slot);
            }
        }
        if fits {
            return true;
        }
    }
    false
}

fn check_unique_pool_names(pool: &PoolView) -> Result<(), MapperError> {
    let mut machine_names = std::collections::BTreeSet::new();
    for machine in &pool.machines {
        if !machine_names.insert(machine.name.as_str()) {
            return Err(MapperError::DuplicateMachine(machine.name.clone()));
        }
        let mut iface_names = std::collections::BTreeSet::new();
        for interface in &machine.interfaces {
            if !iface_names.insert(interface.name.as_str()) {
                return Err(MapperError::DuplicateInterface {
                    machine: machine.name.clone(),
                    interface: interface.name.clone(),
                });
            }
        }
    }
    Ok(())
}

fn check_unique_role_names(requirements: &Requirements) -> Result<(), MapperError> {
    let mut role_names = std::collections::BTreeSet::new();
    for host in &requirements.hosts {
        if !role_names.insert(host.role.as_str()) {
            return Err(MapperError::DuplicateRole(host.role.clone()));
        }
        let mut iface_names = std::collections::BTreeSet::new();
        for interface in &host.interfaces {
            if !iface_names.insert(interface.role.as_str()) {
                return Err(MapperError::DuplicateInterfaceRole {
                    role: host.role.clone(),
                    interface: interface.role.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Twin-class key of an interface requirement: everything but its role name
/// (label, driver matcher, sorted property constraints).
pub(crate) type TwinKey<'r> = (&'r str, Option<&'r Matcher>, Vec<&'r PropertyReq>);

/// The [`TwinKey`] of an interface requirement.
pub(crate) fn iface_key(interface: &InterfaceReq) -> TwinKey<'_> {
    let mut properties: Vec<&PropertyReq> = interface.properties.iter().collect();
    properties.sort();
    (
        interface.network.as_str(),
        interface.driver.as_ref(),
        properties,
    )
}

fn compile_role(host: &HostReq, labels: &[String]) -> Result<RoleSpec, MapperError> {
    let location = format!("role \"{}\"", host.role);
    let properties = host
        .properties
        .iter()
        .map(|property| CompiledProperty::compile(property, &location))
        .collect::<Result<Vec<_>, _>>()?;

    // Group interface requirements into twin classes. Classes are ordered by their key (not
    // by declaration), so that roles with identical requirements get identical layouts;
    // members stay in declaration order.
    let mut classes: BTreeMap<TwinKey<'_>, Vec<&InterfaceReq>> = BTreeMap::new();
    for interface in &host.interfaces {
        classes
            .entry(iface_key(interface))
            .or_default()
            .push(interface);
    }
    let class_members: Vec<Vec<&InterfaceReq>> = classes.into_values().collect();

    let mut ifaces = Vec::with_capacity(host.interfaces.len());
    let mut iface_class = Vec::with_capacity(host.interfaces.len());
    for (class, members) in class_members.into_iter().enumerate() {
        for interface in members {
            let iface_location = format!("{location} interface \"{}\"", interface.role);
            // `labels` was collected from these very interfaces, so the search always hits.
            let (Ok(label) | Err(label)) = labels.binary_search(&interface.network);
            let driver = interface
                .driver
                .as_ref()
                .map(|driver| CompiledMatcher::compile(driver, &format!("{iface_location} driver")))
                .transpose()?;
            let properties = interface
                .properties
                .iter()
                .map(|property| CompiledProperty::compile(property, &iface_location))
                .collect::<Result<Vec<_>, _>>()?;
            ifaces.push(IfaceSpec {
                source: interface.clone(),
                label,
                driver,
                properties,
            });
            iface_class.push(class);
        }
    }
    Ok(RoleSpec {
        source: host.clone(),
        properties,
        ifaces,
        iface_class,
    })
}
