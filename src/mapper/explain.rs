//! Why nothing matches: per-role closest machines with the constraints they fail, machine
//! shortages, and network-label conflicts.
//!
//! Invariants:
//! - The text is deterministic: roles, machines, labels and networks are listed in recipe or
//!   pool order (ties between equally close machines go to pool order).
//! - Static findings (no candidate machine, too few machines for a set of roles, too few
//!   networks for a set of labels) are computed without searching; only when none applies is
//!   the search run, and then `NoCombination` is reported if it finds nothing.
//! - `Explanation::matched` is true exactly when a testbed exists.

use std::collections::BTreeSet;
use std::fmt;

use super::compile::{IfaceSpec, LabelId, MachineId, NetId, Problem, fits_alone};
use super::model::{Interface, write_constraint};
use super::search::{Plan, Search};

/// How many closest machines are listed per role.
pub const CLOSEST_MACHINES: usize = 3;

/// One machine that almost qualifies for a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineMiss {
    /// Machine name.
    pub machine: String,
    /// The constraints it fails, one sentence each.
    pub failures: Vec<String>,
}

/// Which pool networks one interface requirement can reach on the role's candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelUse {
    /// Host role.
    pub role: String,
    /// Interface role.
    pub interface: String,
    /// Pool networks reachable.
    pub networks: Vec<String>,
}

/// One reason why no testbed matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// No machine can host the role on its own.
    NoCandidates {
        /// Host role.
        role: String,
        /// The closest machines (fewest failed constraints), at most [`CLOSEST_MACHINES`].
        closest: Vec<MachineMiss>,
    },
    /// These roles need distinct machines, but fewer qualify for them as a whole.
    TooFewMachines {
        /// Roles involved.
        roles: Vec<String>,
        /// Every machine qualifying for at least one of them.
        machines: Vec<String>,
    },
    /// The recipe uses more labels than the pool has networks.
    TooFewNetworks {
        /// All recipe labels.
        labels: Vec<String>,
        /// All pool networks.
        networks: Vec<String>,
    },
    /// No single pool network is reachable by every interface carrying the label.
    LabelUnservable {
        /// Recipe label.
        label: String,
        /// Its users and what each can reach.
        users: Vec<LabelUse>,
    },
    /// These labels need distinct networks, but fewer serve them as a whole.
    LabelConflict {
        /// Labels involved.
        labels: Vec<String>,
        /// Roles using them.
        roles: Vec<String>,
        /// Every network serving at least one of them.
        networks: Vec<String>,
    },
    /// Each requirement can be met alone, but an exhaustive search found no combination.
    NoCombination {
        /// (role, number of machines able to host it alone).
        candidate_counts: Vec<(String, usize)>,
    },
}

/// The answer of [`crate::mapper::Mapper::explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Whether a testbed exists (then `findings` is empty).
    pub matched: bool,
    /// Reasons, most specific first.
    pub findings: Vec<Finding>,
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("\"{item}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "1 machine qualifies", "2 machines qualify".
fn qualify(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun} qualifies")
    } else {
        format!("{count} {noun}s qualify")
    }
}

fn plain_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::NoCandidates { role, closest } => {
                write!(f, "role \"{role}\": no machine qualifies")?;
                if closest.is_empty() {
                    return write!(f, " (the pool is empty)");
                }
                write!(f, "; closest:")?;
                for miss in closest {
                    write!(f, "\n  {}: {}", miss.machine, miss.failures.join("; "))?;
                }
                Ok(())
            }
            Finding::TooFewMachines { roles, machines } => write!(
                f,
                "roles {} need {} distinct machines; only {} for them: {}",
                quoted_list(roles),
                roles.len(),
                qualify(machines.len(), "machine"),
                plain_list(machines)
            ),
            Finding::TooFewNetworks { labels, networks } => write!(
                f,
                "recipe needs {} distinct networks ({}); pool offers {} ({})",
                labels.len(),
                plain_list(labels),
                networks.len(),
                plain_list(networks)
            ),
            Finding::LabelUnservable { label, users } => {
                write!(
                    f,
                    "label \"{label}\": no pool network is reachable by all of its interfaces"
                )?;
                for user in users {
                    write!(
                        f,
                        "\n  {}.{} reaches {}",
                        user.role,
                        user.interface,
                        plain_list(&user.networks)
                    )?;
                }
                Ok(())
            }
            Finding::LabelConflict {
                labels,
                roles,
                networks,
            } => write!(
                f,
                "labels {} (used by roles {}) need {} distinct networks; pool offers {} for them: {}",
                quoted_list(labels),
                quoted_list(roles),
                labels.len(),
                networks.len(),
                plain_list(networks)
            ),
            Finding::NoCombination { candidate_counts } => {
                write!(
                    f,
                    "every role has machines that qualify on their own, but no combination \
                     satisfies all constraints together (exhaustive search)"
                )?;
                for (role, count) in candidate_counts {
                    write!(f, "\n  role \"{role}\": {}", qualify(*count, "machine"))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matched {
            return writeln!(f, "a testbed matches the requirements");
        }
        writeln!(f, "no testbed matches the requirements:")?;
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// Builds the explanation.
pub(crate) fn explain(problem: &Problem, plan: &Plan) -> Explanation {
    let mut findings = Vec::new();
    for role in 0..problem.roles.len() {
        if problem.candidates[role].machines.is_empty() {
            findings.push(Finding::NoCandidates {
                role: problem.roles[role].name().to_string(),
                closest: closest_machines(problem, role),
            });
        }
    }
    if let Some(finding) = machine_shortage(problem) {
        findings.push(finding);
    }
    findings.extend(label_findings(problem));

    if !findings.is_empty() {
        return Explanation {
            matched: false,
            findings,
        };
    }
    let mut search = Search::new(problem, plan, vec![true; problem.machines.len()], None);
    if search.next_assignment().is_some() {
        return Explanation {
            matched: true,
            findings,
        };
    }
    findings.push(Finding::NoCombination {
        candidate_counts: problem
            .roles
            .iter()
            .zip(&problem.candidates)
            .map(|(role, candidates)| (role.name().to_string(), candidates.machines.len()))
            .collect(),
    });
    Explanation {
        matched: false,
        findings,
    }
}

fn describe_value(key: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("has {value}"),
        None => format!("{key} absent"),
    }
}

fn constraint_text(key: &str, matcher: &super::model::Matcher) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = write_constraint(&mut text, key, matcher);
    text
}

/// Failed constraints of `interface` against `spec` (network presence, driver, properties).
fn interface_failures(spec: &IfaceSpec, interface: &Interface) -> Vec<String> {
    let mut failures = Vec::new();
    if interface.network.is_none() {
        failures.push("is on no network".to_string());
    }
    if let (Some(driver), Some(source)) = (&spec.driver, &spec.source.driver)
        && !driver.matches(interface.driver.as_deref())
    {
        failures.push(format!(
            "fails {} ({})",
            constraint_text("driver", source),
            describe_value("driver", interface.driver.as_deref())
        ));
    }
    for property in &spec.properties {
        if !property.holds(&interface.properties) {
            let value = interface
                .properties
                .get(&property.source.key)
                .map(String::as_str);
            failures.push(format!(
                "fails {} ({})",
                property.source,
                describe_value(&property.source.key, value)
            ));
        }
    }
    failures
}

/// What an interface requirement asks for, e.g. `driver=ice, speed=100G, on a network`.
fn iface_requirement_text(spec: &IfaceSpec) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(driver) = &spec.source.driver {
        parts.push(constraint_text("driver", driver));
    }
    parts.extend(spec.source.properties.iter().map(ToString::to_string));
    parts.push("on a network".to_string());
    parts.join(", ")
}

/// Failed constraints of `machine` for `role`, one sentence each (empty = qualifies).
pub(crate) fn machine_failures(problem: &Problem, role: usize, machine: MachineId) -> Vec<String> {
    let spec = &problem.roles[role];
    let pool_machine = &problem.machines[machine];
    let mut failures = Vec::new();
    for property in &spec.properties {
        if !property.holds(&pool_machine.properties) {
            let value = pool_machine
                .properties
                .get(&property.source.key)
                .map(String::as_str);
            failures.push(format!(
                "fails {} ({})",
                property.source,
                describe_value(&property.source.key, value)
            ));
        }
    }

    let options = problem.iface_options(role, machine);
    let mut every_iface_served = true;
    for (iface_spec, served_by) in spec.ifaces.iter().zip(&options) {
        if !served_by.is_empty() {
            continue;
        }
        every_iface_served = false;
        let closest = pool_machine
            .interfaces
            .iter()
            .map(|interface| (interface_failures(iface_spec, interface), &interface.name))
            .min_by_key(|(failures, _)| failures.len());
        let detail = match closest {
            Some((interface_failures, name)) => {
                format!("closest {name} {}", interface_failures.join(", "))
            }
            None => "machine has no interfaces".to_string(),
        };
        failures.push(format!(
            "lacks interface for \"{}\" ({}); {detail}",
            iface_spec.source.role,
            iface_requirement_text(iface_spec)
        ));
    }
    if every_iface_served && !fits_alone(spec, &options) {
        failures.push(local_interface_conflict(spec, &options, pool_machine));
    }
    failures
}

/// Explains why individually served interface requirements cannot be placed together.
fn local_interface_conflict(
    spec: &super::compile::RoleSpec,
    options: &[Vec<super::compile::IfaceOption>],
    machine: &super::model::Machine,
) -> String {
    let allowed: Vec<Vec<usize>> = options
        .iter()
        .map(|served_by| served_by.iter().map(|option| option.iface).collect())
        .collect();
    if let Some((violators, reachable)) = hall_violator(&allowed, machine.interfaces.len()) {
        let roles: Vec<String> = violators
            .iter()
            .map(|&k| spec.ifaces[k].source.role.clone())
            .collect();
        let names: Vec<String> = reachable
            .iter()
            .map(|&iface| machine.interfaces[iface].name.clone())
            .collect();
        return format!(
            "interface roles {} need {} distinct interfaces; only {}: {}",
            quoted_list(&roles),
            roles.len(),
            qualify(names.len(), "interface"),
            plain_list(&names)
        );
    }
    let roles: Vec<String> = spec
        .ifaces
        .iter()
        .map(|iface| format!("\"{}\" ({})", iface.source.role, iface.source.network))
        .collect();
    format!(
        "interface roles {} cannot sit on networks consistent with their labels \
         (same label: same network; different labels: different networks)",
        roles.join(", ")
    )
}

fn closest_machines(problem: &Problem, role: usize) -> Vec<MachineMiss> {
    let mut scored: Vec<(usize, MachineId, Vec<String>)> = (0..problem.machines.len())
        .map(|machine| {
            let failures = machine_failures(problem, role, machine);
            (failures.len(), machine, failures)
        })
        .collect();
    scored.sort_by_key(|(count, machine, _)| (*count, *machine));
    scored
        .into_iter()
        .take(CLOSEST_MACHINES)
        .map(|(_, machine, failures)| MachineMiss {
            machine: problem.machines[machine].name.clone(),
            failures,
        })
        .collect()
}

/// Maximum bipartite matching of left vertices to `right_count` right vertices; on failure
/// returns a Hall violator: a set of left vertices and the (smaller) set of right vertices they
/// can reach, both ascending.
fn hall_violator(allowed: &[Vec<usize>], right_count: usize) -> Option<(Vec<usize>, Vec<usize>)> {
    let mut owner: Vec<Option<usize>> = vec![None; right_count];
    for left in 0..allowed.len() {
        let mut visited = vec![false; right_count];
        if augment(left, allowed, &mut owner, &mut visited) {
            continue;
        }
        // `left` is unmatched: everything reachable by alternating paths from it violates Hall.
        let mut left_set: BTreeSet<usize> = BTreeSet::from([left]);
        let mut right_set: BTreeSet<usize> = BTreeSet::new();
        let mut frontier = vec![left];
        while let Some(current) = frontier.pop() {
            for &right in &allowed[current] {
                if right_set.insert(right)
                    && let Some(next) = owner[right]
                    && left_set.insert(next)
                {
                    frontier.push(next);
                }
            }
        }
        return Some((
            left_set.into_iter().collect(),
            right_set.into_iter().collect(),
        ));
    }
    None
}

fn augment(
    left: usize,
    allowed: &[Vec<usize>],
    owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for &right in &allowed[left] {
        if visited[right] {
            continue;
        }
        visited[right] = true;
        let free = match owner[right] {
            None => true,
            Some(holder) => augment(holder, allowed, owner, visited),
        };
        if free {
            owner[right] = Some(left);
            return true;
        }
    }
    false
}

fn machine_shortage(problem: &Problem) -> Option<Finding> {
    let allowed: Vec<Vec<usize>> = problem
        .candidates
        .iter()
        .map(|candidates| candidates.machines.clone())
        .collect();
    let (roles, machines) = hall_violator(&allowed, problem.machines.len())?;
    // A role with no candidate at all is already reported on its own.
    if machines.is_empty() {
        return None;
    }
    Some(Finding::TooFewMachines {
        roles: roles
            .iter()
            .map(|&role| problem.roles[role].name().to_string())
            .collect(),
        machines: machines
            .iter()
            .map(|&machine| problem.machines[machine].name.clone())
            .collect(),
    })
}

/// Networks each (role, interface requirement) can reach on the role's candidate machines.
fn reachable_networks(problem: &Problem, role: usize, iface: usize) -> BTreeSet<NetId> {
    let candidates = &problem.candidates[role];
    (0..candidates.machines.len())
        .flat_map(|candidate| {
            candidates
                .options(candidate, iface)
                .iter()
                .map(|option| option.net)
        })
        .collect()
}

fn label_findings(problem: &Problem) -> Vec<Finding> {
    let mut findings = Vec::new();
    if problem.labels.len() > problem.networks.len() {
        findings.push(Finding::TooFewNetworks {
            labels: problem.labels.clone(),
            networks: problem.networks.clone(),
        });
        return findings;
    }
    // Per label: networks reachable by every user (roles without candidates are skipped:
    // they are reported on their own).
    let mut served: Vec<Option<BTreeSet<NetId>>> = vec![None; problem.labels.len()];
    let mut users: Vec<Vec<(usize, usize, BTreeSet<NetId>)>> =
        vec![Vec::new(); problem.labels.len()];
    for (role, spec) in problem.roles.iter().enumerate() {
        if problem.candidates[role].machines.is_empty() {
            continue;
        }
        for (iface, iface_spec) in spec.ifaces.iter().enumerate() {
            let reach = reachable_networks(problem, role, iface);
            let label: LabelId = iface_spec.label;
            served[label] = Some(match served[label].take() {
                None => reach.clone(),
                Some(previous) => previous.intersection(&reach).copied().collect(),
            });
            users[label].push((role, iface, reach));
        }
    }
    let net_names = |nets: &BTreeSet<NetId>| -> Vec<String> {
        nets.iter()
            .map(|&net| problem.networks[net].clone())
            .collect()
    };
    let mut constrained_labels: Vec<LabelId> = Vec::new();
    for (label, nets) in served.iter().enumerate() {
        let Some(nets) = nets else { continue };
        if nets.is_empty() {
            findings.push(Finding::LabelUnservable {
                label: problem.labels[label].clone(),
                users: users[label]
                    .iter()
                    .map(|(role, iface, reach)| LabelUse {
                        role: problem.roles[*role].name().to_string(),
                        interface: problem.roles[*role].ifaces[*iface].source.role.clone(),
                        networks: net_names(reach),
                    })
                    .collect(),
            });
        } else {
            constrained_labels.push(label);
        }
    }
    let allowed: Vec<Vec<usize>> = constrained_labels
        .iter()
        .map(|&label| served[label].iter().flatten().copied().collect())
        .collect();
    if let Some((violators, nets)) = hall_violator(&allowed, problem.networks.len()) {
        let labels: Vec<LabelId> = violators
            .iter()
            .map(|&index| constrained_labels[index])
            .collect();
        let mut roles: Vec<usize> = labels
            .iter()
            .flat_map(|&label| users[label].iter().map(|(role, _, _)| *role))
            .collect();
        roles.sort_unstable();
        roles.dedup();
        findings.push(Finding::LabelConflict {
            labels: labels
                .iter()
                .map(|&label| problem.labels[label].clone())
                .collect(),
            roles: roles
                .iter()
                .map(|&role| problem.roles[role].name().to_string())
                .collect(),
            networks: nets
                .iter()
                .map(|&net| problem.networks[net].clone())
                .collect(),
        });
    }
    findings
}
