//! Input and output types of the mapper: a plain, owned view of the pool, the recipe's host
//! and interface requirements, and the resulting [`Testbed`].
//!
//! Invariants and conventions:
//! - These are plain data: nothing here is validated on construction. [`crate::mapper::Mapper::new`]
//!   validates them (unique role names, unique interface-role names per role, unique machine
//!   names, unique interface names per machine, regexes that compile) and reports a
//!   [`crate::mapper::MapperError`] otherwise.
//! - Machine order in [`PoolView::machines`] and interface order in [`Machine::interfaces`]
//!   is the preference order: when several testbeds exist, the mapper returns them in
//!   lexicographic order of (machine position, interface position), so earlier machines are
//!   used first.
//! - An interface requirement always names a recipe network label; a pool interface with
//!   `network: None` can never satisfy an interface requirement.
//! - All types deserialize with serde (matchers as `{"equals": "x"}`, `{"regex": "x86.*"}`,
//!   `{"not": {...}}`, `"present"`, `"absent"`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The machines the mapper may choose from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    /// Machines in preference order.
    pub machines: Vec<Machine>,
}

/// One machine of the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Unique machine name (LNST: the pool file name).
    pub name: String,
    /// Free-form properties such as `arch`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Network interfaces in preference order.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
}

/// One network interface of a pool machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name, unique within its machine (e.g. `eth1`).
    pub name: String,
    /// Pool network the interface is cabled to (e.g. `A`); `None` = not usable by a recipe.
    #[serde(default)]
    pub network: Option<String>,
    /// Kernel driver, e.g. `ice`.
    #[serde(default)]
    pub driver: Option<String>,
    /// Hardware address.
    #[serde(default)]
    pub hwaddr: Option<String>,
    /// Further free-form properties (speed, …).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// What a recipe needs: one entry per host role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// Host roles in declaration order.
    pub hosts: Vec<HostReq>,
}

/// Requirements of one host role (LNST `HostReq`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReq {
    /// Role name, unique within the recipe (e.g. `dut`).
    pub role: String,
    /// Constraints on machine properties; all must hold.
    #[serde(default)]
    pub properties: Vec<PropertyReq>,
    /// Interface roles the host must provide, each on a distinct interface.
    #[serde(default)]
    pub interfaces: Vec<InterfaceReq>,
}

/// Requirements of one interface role (LNST `DeviceReq`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceReq {
    /// Interface role name, unique within its host role (e.g. `eth0`).
    pub role: String,
    /// Recipe network label (e.g. `net1`). Interfaces with the same label must sit on the
    /// same pool network; different labels must sit on different pool networks.
    pub network: String,
    /// Constraint on the interface driver, if any.
    #[serde(default)]
    pub driver: Option<Matcher>,
    /// Constraints on interface properties; all must hold.
    #[serde(default)]
    pub properties: Vec<PropertyReq>,
}

/// A constraint on one property.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PropertyReq {
    /// Property name.
    pub key: String,
    /// What the property value must satisfy.
    pub matcher: Matcher,
}

impl PropertyReq {
    /// `key` must equal `value`.
    pub fn equals(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            matcher: Matcher::Equals(value.into()),
        }
    }

    /// `key` must fully match the regular expression `pattern`.
    pub fn regex(key: impl Into<String>, pattern: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            matcher: Matcher::Regex(pattern.into()),
        }
    }

    /// `key` must be present (any value).
    pub fn present(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            matcher: Matcher::Present,
        }
    }

    /// `key` must be absent.
    pub fn absent(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            matcher: Matcher::Absent,
        }
    }

    /// `matcher` must not hold for `key`.
    pub fn not(key: impl Into<String>, matcher: Matcher) -> Self {
        Self {
            key: key.into(),
            matcher: Matcher::Not(Box::new(matcher)),
        }
    }
}

impl fmt::Display for PropertyReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_constraint(f, &self.key, &self.matcher)
    }
}

/// How a property value (or its absence) is tested.
///
/// `Equals` and `Regex` fail on an absent property; `Not(m)` holds exactly when `m` does not,
/// so `Not(Equals("x"))` holds for an absent property.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matcher {
    /// The value equals this string exactly.
    Equals(String),
    /// The value fully matches this regular expression (implicitly anchored at both ends).
    Regex(String),
    /// The inner matcher does not hold.
    Not(Box<Matcher>),
    /// The property exists, whatever its value.
    Present,
    /// The property does not exist.
    Absent,
}

impl Matcher {
    /// Negates this matcher.
    pub fn negate(self) -> Matcher {
        Matcher::Not(Box::new(self))
    }
}

/// Writes `key<op>value` in the notation used by explanations: `arch=x86_64`,
/// `arch~/x86.*/`, `!(arch=x86_64)`, `arch present`, `arch absent`.
pub(crate) fn write_constraint(
    f: &mut impl fmt::Write,
    key: &str,
    matcher: &Matcher,
) -> fmt::Result {
    match matcher {
        Matcher::Equals(value) => write!(f, "{key}={value}"),
        Matcher::Regex(pattern) => write!(f, "{key}~/{pattern}/"),
        Matcher::Not(inner) => match inner.as_ref() {
            Matcher::Equals(value) => write!(f, "{key}!={value}"),
            Matcher::Regex(pattern) => write!(f, "{key}!~/{pattern}/"),
            Matcher::Present => write!(f, "{key} absent"),
            Matcher::Absent => write!(f, "{key} present"),
            Matcher::Not(_) => {
                write!(f, "not(")?;
                write_constraint(f, key, inner)?;
                write!(f, ")")
            }
        },
        Matcher::Present => write!(f, "{key} present"),
        Matcher::Absent => write!(f, "{key} absent"),
    }
}

/// One match of the requirements in the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Testbed {
    /// Host role → machine name.
    pub hosts: BTreeMap<String, String>,
    /// (host role, interface role) → interface name on that role's machine.
    #[serde(serialize_with = "serialize_interfaces")]
    pub interfaces: BTreeMap<(String, String), String>,
    /// Recipe network label → pool network.
    pub networks: BTreeMap<String, String>,
}

/// Serializes the tuple-keyed interface map as `{role: {iface_role: interface}}`, which every
/// serde format (JSON included) can represent.
fn serialize_interfaces<S: serde::Serializer>(
    interfaces: &BTreeMap<(String, String), String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut nested: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for ((role, iface_role), name) in interfaces {
        nested
            .entry(role.as_str())
            .or_default()
            .insert(iface_role.as_str(), name.as_str());
    }
    nested.serialize(serializer)
}

impl fmt::Display for Testbed {
    /// LNST-style match description, roles in name order:
    ///
    /// ```text
    /// host "dut" uses "m1"
    ///   interface "eth0" uses "ens1f0"
    /// networks: net1 -> A
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (role, machine) in &self.hosts {
            writeln!(f, "host \"{role}\" uses \"{machine}\"")?;
            for ((iface_owner, iface_role), iface_name) in &self.interfaces {
                if iface_owner != role {
                    continue;
                }
                writeln!(f, "  interface \"{iface_role}\" uses \"{iface_name}\"")?;
            }
        }
        if !self.networks.is_empty() {
            let mapping: Vec<String> = self
                .networks
                .iter()
                .map(|(label, network)| format!("{label} -> {network}"))
                .collect();
            writeln!(f, "networks: {}", mapping.join(", "))?;
        }
        Ok(())
    }
}
