//! Backtracking search for testbeds: lazy enumeration of all matches without symmetric
//! duplicates, and K machine-disjoint testbeds.
//!
//! The search assigns variables in a fixed order: for each role position (most constrained
//! role first: fewest candidate machines, then declaration order) its machine, then its
//! interface requirements in twin-class order. Candidates are tried in ascending index, so
//! complete assignments are visited in lexicographic order of the assignment vector
//! `[machine(pos 0), ifaces(pos 0)…, machine(pos 1), …]`.
//!
//! Invariants maintained at every search node:
//! - machines are used at most once; interfaces at most once per machine;
//! - `label_net` / `net_label` form a partial bijection between recipe labels and pool
//!   networks, and `label_uses[l]` counts assigned interfaces carrying label `l` (a label is
//!   unmapped exactly when its count drops to zero);
//! - roles with identical requirements take ascending machines and twin interface
//!   requirements take ascending interfaces (symmetry breaking, see `symmetry`);
//! - after each role is complete, the remaining roles can still be given distinct, unused
//!   machines compatible with the current label mapping (bipartite matching, forward check),
//!   and enough unmapped pool networks remain for the unmapped labels.
//!
//! A complete assignment is reported only if it is the lex-leader of its symmetry orbit.
//! Because the visit order is lexicographic, the first complete assignment found is always
//! reported, so `first_match` does no wasted work on symmetry.

use super::compile::{LabelId, MachineId, NetId, Problem};
use super::model::Testbed;
use super::symmetry::{self, Symmetries};

/// One search variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    /// The machine of the role at this position.
    Machine(usize),
    /// Interface requirement `k` of the role at this position.
    Iface(usize, usize),
}

/// The action of one symmetry on role positions.
#[derive(Debug, Clone)]
struct PositionImage {
    /// `source_position[p]`: position whose assignment position `p` takes in the image.
    source_position: Vec<usize>,
    /// `source_iface[p][k]`: interface requirement of `source_position[p]` that requirement
    /// `k` of position `p` takes in the image.
    source_iface: Vec<Vec<usize>>,
}

/// Everything about the search order and symmetry that depends only on the problem.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Position → role.
    pub(crate) order: Vec<usize>,
    /// Position → the nearest earlier position holding a role with identical requirements.
    previous_identical: Vec<Option<usize>>,
    /// Positions (ascending) of each class of ≥ 2 identical roles.
    identical_groups: Vec<Vec<usize>>,
    vars: Vec<Var>,
    /// Position → offset of its block in the assignment vector.
    block_offset: Vec<usize>,
    vector_len: usize,
    images: Vec<PositionImage>,
    pub(crate) symmetry: Symmetries,
}

impl Plan {
    pub(crate) fn new(problem: &Problem) -> Plan {
        let role_count = problem.roles.len();
        let mut order: Vec<usize> = (0..role_count).collect();
        order.sort_by_key(|&role| (problem.candidates[role].machines.len(), role));
        let mut position_of = vec![0; role_count];
        for (position, &role) in order.iter().enumerate() {
            position_of[role] = position;
        }

        let symmetry = symmetry::analyse(problem, &position_of);

        let mut previous_identical = vec![None; role_count];
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for position in 0..role_count {
            let class = symmetry.role_class[order[position]];
            previous_identical[position] = (0..position)
                .rev()
                .find(|&earlier| symmetry.role_class[order[earlier]] == class);
            if previous_identical[position].is_none() {
                let members: Vec<usize> = (position..role_count)
                    .filter(|&later| symmetry.role_class[order[later]] == class)
                    .collect();
                if members.len() > 1 {
                    groups.push(members);
                }
            }
        }

        let mut vars = Vec::new();
        let mut block_offset = Vec::with_capacity(role_count);
        let mut vector_len = 0;
        for (position, &role) in order.iter().enumerate() {
            block_offset.push(vector_len);
            let iface_count = problem.roles[role].ifaces.len();
            vector_len += 1 + iface_count;
            vars.push(Var::Machine(position));
            vars.extend((0..iface_count).map(|k| Var::Iface(position, k)));
        }

        let images = symmetry
            .automorphisms
            .iter()
            .map(|automorphism| PositionImage {
                source_position: order
                    .iter()
                    .map(|&role| position_of[automorphism.role_image[role]])
                    .collect(),
                source_iface: order
                    .iter()
                    .map(|&role| automorphism.iface_image[role].clone())
                    .collect(),
            })
            .collect();

        Plan {
            order,
            previous_identical,
            identical_groups: groups,
            vars,
            block_offset,
            vector_len,
            images,
            symmetry,
        }
    }
}

/// One level of the explicit backtracking stack.
#[derive(Debug, Clone, Copy)]
struct Frame {
    var: Var,
    /// Next candidate index to try.
    cursor: usize,
    /// Whether the variable currently holds a value.
    assigned: bool,
}

/// A complete assignment, by role position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// Machine per position.
    pub(crate) machines: Vec<MachineId>,
    /// Interface index per position and interface requirement.
    pub(crate) ifaces: Vec<Vec<usize>>,
}

/// Resumable depth-first search state over one problem.
#[derive(Debug, Clone)]
pub(crate) struct Search<'p> {
    problem: &'p Problem,
    plan: &'p Plan,
    /// Machines the search may use.
    allowed: Vec<bool>,
    /// The machine of position 0 must have a larger index than this.
    first_machine_floor: Option<MachineId>,
    frames: Vec<Frame>,
    /// Per position: (candidate index, machine) while assigned.
    machine_of: Vec<Option<(usize, MachineId)>>,
    iface_of: Vec<Vec<usize>>,
    used_machine: Vec<bool>,
    label_net: Vec<Option<NetId>>,
    label_uses: Vec<u32>,
    net_label: Vec<Option<LabelId>>,
    visit_stamp: Vec<u32>,
    current_stamp: u32,
    vector: Vec<usize>,
    image_vector: Vec<usize>,
    started: bool,
    exhausted: bool,
    /// Search nodes (candidate assignments) visited so far.
    pub(crate) nodes: u64,
}

impl<'p> Search<'p> {
    pub(crate) fn new(
        problem: &'p Problem,
        plan: &'p Plan,
        allowed: Vec<bool>,
        first_machine_floor: Option<MachineId>,
    ) -> Self {
        let role_count = plan.order.len();
        Search {
            problem,
            plan,
            allowed,
            first_machine_floor,
            frames: Vec::with_capacity(plan.vars.len()),
            machine_of: vec![None; role_count],
            iface_of: plan
                .order
                .iter()
                .map(|&role| vec![0; problem.roles[role].ifaces.len()])
                .collect(),
            used_machine: vec![false; problem.machines.len()],
            label_net: vec![None; problem.labels.len()],
            label_uses: vec![0; problem.labels.len()],
            net_label: vec![None; problem.networks.len()],
            visit_stamp: vec![0; problem.machines.len()],
            current_stamp: 0,
            vector: vec![0; plan.vector_len],
            image_vector: vec![0; plan.vector_len],
            started: false,
            exhausted: false,
            nodes: 0,
        }
    }

    /// Advances to the next reported (lex-leader) complete assignment.
    pub(crate) fn next_assignment(&mut self) -> Option<Assignment> {
        if self.exhausted {
            return None;
        }
        if !self.started {
            self.started = true;
            if !self.remaining_roles_fit(0) {
                self.exhausted = true;
                return None;
            }
            match self.plan.vars.first() {
                Some(&var) => self.frames.push(Frame {
                    var,
                    cursor: 0,
                    assigned: false,
                }),
                None => return Some(self.assignment()),
            }
        }
        loop {
            let Some(top) = self.frames.len().checked_sub(1) else {
                self.exhausted = true;
                return None;
            };
            if self.frames[top].assigned {
                self.undo(top);
            }
            if !self.assign_next_candidate(top) {
                self.frames.pop();
                continue;
            }
            let var = self.frames[top].var;
            if self.completes_role(var) {
                let position = match var {
                    Var::Machine(position) | Var::Iface(position, _) => position,
                };
                if !self.remaining_roles_fit(position + 1) {
                    continue;
                }
            }
            match self.plan.vars.get(top + 1) {
                Some(&next) => self.frames.push(Frame {
                    var: next,
                    cursor: 0,
                    assigned: false,
                }),
                None => {
                    if self.is_lex_leader() {
                        return Some(self.assignment());
                    }
                }
            }
        }
    }

    fn completes_role(&self, var: Var) -> bool {
        match var {
            Var::Machine(position) => self.problem.roles[self.plan.order[position]]
                .ifaces
                .is_empty(),
            Var::Iface(position, k) => k + 1 == self.iface_of[position].len(),
        }
    }

    /// Whether interface option on `net` can carry `label` under the current label mapping.
    fn label_fits(&self, label: LabelId, net: NetId) -> bool {
        match self.label_net[label] {
            Some(mapped) => mapped == net,
            None => self.net_label[net].is_none(),
        }
    }

    /// Whether candidate `candidate` of the role at `position` has, for every interface
    /// requirement, some interface whose network fits the current label mapping.
    fn candidate_fits_labels(&self, position: usize, candidate: usize) -> bool {
        let role = self.plan.order[position];
        let spec = &self.problem.roles[role];
        self.problem.candidates[role]
            .all_options(candidate)
            .zip(&spec.ifaces)
            .all(|(options, iface)| {
                options
                    .iter()
                    .any(|option| self.label_fits(iface.label, option.net))
            })
    }

    fn machine_available(&self, position: usize, machine: MachineId) -> bool {
        if !self.allowed.get(machine).copied().unwrap_or(false) || self.used_machine[machine] {
            return false;
        }
        if position == 0
            && self
                .first_machine_floor
                .is_some_and(|floor| machine <= floor)
        {
            return false;
        }
        true
    }

    /// Tries candidates of frame `index` from its cursor; assigns the first valid one.
    fn assign_next_candidate(&mut self, index: usize) -> bool {
        let frame = self.frames[index];
        match frame.var {
            Var::Machine(position) => {
                let role = self.plan.order[position];
                let candidates = &self.problem.candidates[role].machines;
                let floor = self.plan.previous_identical[position]
                    .and_then(|earlier| self.machine_of[earlier])
                    .map(|(_, machine)| machine);
                let mut cursor = frame.cursor;
                while let Some(&machine) = candidates.get(cursor) {
                    let candidate = cursor;
                    cursor += 1;
                    if floor.is_some_and(|floor| machine <= floor)
                        || !self.machine_available(position, machine)
                        || !self.candidate_fits_labels(position, candidate)
                    {
                        continue;
                    }
                    self.nodes += 1;
                    self.machine_of[position] = Some((candidate, machine));
                    self.used_machine[machine] = true;
                    self.frames[index].cursor = cursor;
                    self.frames[index].assigned = true;
                    return true;
                }
                self.frames[index].cursor = cursor;
                false
            }
            Var::Iface(position, k) => {
                let Some((candidate, _)) = self.machine_of[position] else {
                    return false;
                };
                let role = self.plan.order[position];
                let spec = &self.problem.roles[role];
                let label = spec.ifaces[k].label;
                let twin_floor = (k > 0 && spec.iface_class[k - 1] == spec.iface_class[k])
                    .then(|| self.iface_of[position][k - 1]);
                let options = self.problem.candidates[role].options(candidate, k);
                let mut cursor = frame.cursor;
                while let Some(&option) = options.get(cursor) {
                    cursor += 1;
                    if twin_floor.is_some_and(|floor| option.iface <= floor)
                        || self.iface_of[position][..k].contains(&option.iface)
                        || !self.label_fits(label, option.net)
                    {
                        continue;
                    }
                    self.nodes += 1;
                    self.iface_of[position][k] = option.iface;
                    if self.label_uses[label] == 0 {
                        self.label_net[label] = Some(option.net);
                        self.net_label[option.net] = Some(label);
                    }
                    self.label_uses[label] += 1;
                    self.frames[index].cursor = cursor;
                    self.frames[index].assigned = true;
                    return true;
                }
                self.frames[index].cursor = cursor;
                false
            }
        }
    }

    fn undo(&mut self, index: usize) {
        let frame = self.frames[index];
        self.frames[index].assigned = false;
        match frame.var {
            Var::Machine(position) => {
                if let Some((_, machine)) = self.machine_of[position].take() {
                    self.used_machine[machine] = false;
                }
            }
            Var::Iface(position, k) => {
                let label = self.problem.roles[self.plan.order[position]].ifaces[k].label;
                self.label_uses[label] = self.label_uses[label].saturating_sub(1);
                if self.label_uses[label] == 0
                    && let Some(net) = self.label_net[label].take()
                {
                    self.net_label[net] = None;
                }
            }
        }
    }

    /// Forward check: can positions `from..` still be completed?
    fn remaining_roles_fit(&mut self, from: usize) -> bool {
        let role_count = self.plan.order.len();
        if from >= role_count {
            return true;
        }
        let unmapped_labels = self.label_net.iter().filter(|net| net.is_none()).count();
        let free_networks = self
            .net_label
            .iter()
            .filter(|label| label.is_none())
            .count();
        if unmapped_labels > free_networks {
            return false;
        }
        let mut owners: Vec<(MachineId, usize)> = Vec::with_capacity(role_count - from);
        for position in from..role_count {
            if self.current_stamp == u32::MAX {
                self.visit_stamp.iter_mut().for_each(|stamp| *stamp = 0);
                self.current_stamp = 0;
            }
            self.current_stamp += 1;
            if !self.augment(position, &mut owners) {
                return false;
            }
        }
        true
    }

    /// Kuhn's augmenting path step for bipartite matching of positions to machines.
    fn augment(&mut self, position: usize, owners: &mut Vec<(MachineId, usize)>) -> bool {
        let role = self.plan.order[position];
        let candidate_count = self.problem.candidates[role].machines.len();
        for candidate in 0..candidate_count {
            let machine = self.problem.candidates[role].machines[candidate];
            if self.visit_stamp[machine] == self.current_stamp
                || !self.machine_available(position, machine)
                || !self.candidate_fits_labels(position, candidate)
            {
                continue;
            }
            self.visit_stamp[machine] = self.current_stamp;
            match owners.iter().position(|&(owned, _)| owned == machine) {
                None => {
                    owners.push((machine, position));
                    return true;
                }
                Some(slot) => {
                    let holder = owners[slot].1;
                    if self.augment(holder, owners) {
                        owners[slot] = (machine, position);
                        return true;
                    }
                }
            }
        }
        false
    }

    fn fill_vector(&mut self) {
        for position in 0..self.plan.order.len() {
            let offset = self.plan.block_offset[position];
            self.vector[offset] = self.machine_of[position].map_or(0, |(_, machine)| machine);
            for (k, &iface) in self.iface_of[position].iter().enumerate() {
                self.vector[offset + 1 + k] = iface;
            }
        }
    }

    /// Whether the current complete assignment is the lex-leader of its symmetry orbit.
    fn is_lex_leader(&mut self) -> bool {
        if self.plan.images.is_empty() {
            return true;
        }
        self.fill_vector();
        for image in &self.plan.images {
            for position in 0..self.plan.order.len() {
                let offset = self.plan.block_offset[position];
                let source = image.source_position[position];
                let source_offset = self.plan.block_offset[source];
                self.image_vector[offset] = self.vector[source_offset];
                for (k, &source_k) in image.source_iface[position].iter().enumerate() {
                    self.image_vector[offset + 1 + k] = self.vector[source_offset + 1 + source_k];
                }
            }
            // Apply the S-sorting: blocks of identical roles in ascending order.
            for group in &self.plan.identical_groups {
                let block_len = self.plan.block_offset.get(group[0] + 1).map_or(
                    self.plan.vector_len - self.plan.block_offset[group[0]],
                    |next| next - self.plan.block_offset[group[0]],
                );
                let mut blocks: Vec<Vec<usize>> = group
                    .iter()
                    .map(|&position| {
                        let offset = self.plan.block_offset[position];
                        self.image_vector[offset..offset + block_len].to_vec()
                    })
                    .collect();
                blocks.sort();
                for (&position, block) in group.iter().zip(blocks) {
                    let offset = self.plan.block_offset[position];
                    self.image_vector[offset..offset + block_len].copy_from_slice(&block);
                }
            }
            if self.image_vector < self.vector {
                return false;
            }
        }
        true
    }

    fn assignment(&self) -> Assignment {
        Assignment {
            machines: self
                .machine_of
                .iter()
                .map(|slot| slot.map_or(0, |(_, machine)| machine))
                .collect(),
            ifaces: self.iface_of.clone(),
        }
    }
}

/// Turns an assignment into a named testbed.
pub(crate) fn testbed(problem: &Problem, plan: &Plan, assignment: &Assignment) -> Testbed {
    let mut testbed = Testbed::default();
    for (position, &role) in plan.order.iter().enumerate() {
        let spec = &problem.roles[role];
        let Some(machine) = assignment
            .machines
            .get(position)
            .and_then(|&machine| problem.machines.get(machine))
        else {
            continue;
        };
        testbed
            .hosts
            .insert(spec.name().to_string(), machine.name.clone());
        let Some(ifaces) = assignment.ifaces.get(position) else {
            continue;
        };
        for (iface_spec, &iface) in spec.ifaces.iter().zip(ifaces) {
            let Some(interface) = machine.interfaces.get(iface) else {
                continue;
            };
            testbed.interfaces.insert(
                (spec.name().to_string(), iface_spec.source.role.clone()),
                interface.name.clone(),
            );
            if let Some(network) = &interface.network {
                testbed
                    .networks
                    .insert(iface_spec.source.network.clone(), network.clone());
            }
        }
    }
    testbed
}

/// Lazy iterator over all testbeds, each symmetry orbit once, in lexicographic order of
/// (machine index, interface index) along the search order.
#[derive(Debug, Clone)]
pub struct Matches<'m> {
    problem: &'m Problem,
    plan: &'m Plan,
    search: Search<'m>,
}

impl<'m> Matches<'m> {
    pub(crate) fn new(problem: &'m Problem, plan: &'m Plan) -> Self {
        Matches {
            problem,
            plan,
            search: Search::new(problem, plan, vec![true; problem.machines.len()], None),
        }
    }
}

impl Iterator for Matches<'_> {
    type Item = Testbed;

    fn next(&mut self) -> Option<Testbed> {
        let assignment = self.search.next_assignment()?;
        Some(testbed(self.problem, self.plan, &assignment))
    }
}

/// Result of [`crate::mapper::Mapper::disjoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisjointTestbeds {
    /// Pairwise machine-disjoint testbeds found (at most `requested`).
    pub testbeds: Vec<Testbed>,
    /// How many were asked for.
    pub requested: usize,
    /// `true` if `testbeds.len()` is proven to be the most the pool allows (always true when
    /// all requested were found); `false` if the search budget ran out first, or if more than
    /// 4096 were requested and not found (then only the greedy pass runs).
    pub exhaustive: bool,
}

impl DisjointTestbeds {
    /// Whether all requested testbeds were found.
    pub fn is_complete(&self) -> bool {
        self.testbeds.len() >= self.requested
    }
}

impl std::fmt::Display for DisjointTestbeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let found = self.testbeds.len();
        if self.is_complete() {
            writeln!(f, "found {found} disjoint testbeds")?;
        } else if self.exhaustive {
            writeln!(
                f,
                "found {found} of {} requested disjoint testbeds; the pool cannot hold more",
                self.requested
            )?;
        } else {
            writeln!(
                f,
                "found {found} of {} requested disjoint testbeds; search budget exhausted",
                self.requested
            )?;
        }
        for (index, testbed) in self.testbeds.iter().enumerate() {
            writeln!(f, "testbed {}:", index + 1)?;
            for line in testbed.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}

/// Largest request for which greedy is followed by backtracking (bounds recursion depth).
pub(crate) const MAX_PACKING_DEPTH: usize = 4096;

/// Finds up to `requested` pairwise machine-disjoint testbeds: greedy first, then
/// branch-and-bound backtracking within `node_budget` search nodes.
pub(crate) fn disjoint(
    problem: &Problem,
    plan: &Plan,
    requested: usize,
    node_budget: u64,
) -> DisjointTestbeds {
    let machine_count = problem.machines.len();
    if plan.order.is_empty() {
        // An empty recipe uses no machine: its single (empty) testbed is the only one.
        let testbeds = Matches::new(problem, plan).take(requested.min(1)).collect();
        return DisjointTestbeds {
            testbeds,
            requested,
            exhaustive: true,
        };
    }
    let mut greedy: Vec<Assignment> = Vec::new();
    let mut allowed = vec![true; machine_count];
    let mut nodes = 0u64;
    while greedy.len() < requested {
        let mut search = Search::new(problem, plan, allowed.clone(), None);
        let found = search.next_assignment();
        nodes += search.nodes;
        let Some(assignment) = found else { break };
        for &machine in &assignment.machines {
            allowed[machine] = false;
        }
        greedy.push(assignment);
    }

    // Past the depth limit only the greedy answer is given, unproven.
    let mut exhaustive = greedy.len() >= requested || requested <= MAX_PACKING_DEPTH;
    let mut best = greedy;
    if best.len() < requested && requested <= MAX_PACKING_DEPTH {
        let mut packer = Packer {
            problem,
            plan,
            requested,
            node_budget,
            nodes,
            chosen: Vec::new(),
            best: std::mem::take(&mut best),
            out_of_budget: false,
        };
        packer.extend(vec![true; machine_count], None);
        exhaustive = !packer.out_of_budget;
        best = packer.best;
    }
    DisjointTestbeds {
        testbeds: best
            .iter()
            .map(|assignment| testbed(problem, plan, assignment))
            .collect(),
        requested,
        exhaustive,
    }
}

/// Branch-and-bound over sets of disjoint testbeds, testbeds ordered by the machine of
/// search position 0 (which breaks the symmetry between testbeds).
struct Packer<'p> {
    problem: &'p Problem,
    plan: &'p Plan,
    requested: usize,
    node_budget: u64,
    nodes: u64,
    chosen: Vec<Assignment>,
    best: Vec<Assignment>,
    out_of_budget: bool,
}

impl Packer<'_> {
    /// Upper bound on how many more disjoint testbeds fit in `allowed`.
    fn bound(&self, allowed: &[bool], floor: Option<MachineId>) -> usize {
        let role_count = self.plan.order.len();
        let usable = |machine: MachineId| allowed.get(machine).copied().unwrap_or(false);
        let mut any_role = vec![false; allowed.len()];
        let mut bound = usize::MAX;
        let mut class_counts: std::collections::BTreeMap<usize, (usize, usize)> =
            std::collections::BTreeMap::new();
        for (position, &role) in self.plan.order.iter().enumerate() {
            let candidates = &self.problem.candidates[role].machines;
            let available = candidates
                .iter()
                .filter(|&&machine| usable(machine))
                .inspect(|&&machine| any_role[machine] = true)
                .count();
            let class = self.plan.symmetry.role_class[role];
            let entry = class_counts.entry(class).or_insert((available, 0));
            entry.1 += 1;
            if position == 0 {
                let above_floor = candidates
                    .iter()
                    .filter(|&&machine| {
                        usable(machine) && floor.is_none_or(|floor| machine > floor)
                    })
                    .count();
                bound = bound.min(above_floor);
            }
        }
        for (available, members) in class_counts.values() {
            bound = bound.min(available / members.max(&1));
        }
        let usable_machines = any_role.iter().filter(|&&used| used).count();
        bound.min(usable_machines / role_count.max(1))
    }

    fn extend(&mut self, allowed: Vec<bool>, floor: Option<MachineId>) {
        if self.chosen.len() > self.best.len() {
            self.best = self.chosen.clone();
        }
        if self.best.len() >= self.requested || self.out_of_budget {
            return;
        }
        let ceiling = self.chosen.len() + self.bound(&allowed, floor);
        if ceiling <= self.best.len() {
            return;
        }
        let mut search = Search::new(self.problem, self.plan, allowed.clone(), floor);
        // Only the machine set of a testbed matters for disjointness: try each set once.
        let mut tried_sets: std::collections::BTreeSet<Vec<MachineId>> =
            std::collections::BTreeSet::new();
        loop {
            let before = search.nodes;
            let found = search.next_assignment();
            self.nodes += search.nodes - before;
            if self.nodes > self.node_budget {
                self.out_of_budget = true;
                return;
            }
            let Some(assignment) = found else { return };
            let mut machine_set = assignment.machines.clone();
            machine_set.sort_unstable();
            if !tried_sets.insert(machine_set) {
                continue;
            }
            let mut remaining = allowed.clone();
            for &machine in &assignment.machines {
                remaining[machine] = false;
            }
            let next_floor = assignment.machines.first().copied();
            self.chosen.push(assignment);
            self.extend(remaining, next_floor);
            self.chosen.pop();
            if self.best.len() >= self.requested || self.out_of_budget {
                return;
            }
        }
    }
}
