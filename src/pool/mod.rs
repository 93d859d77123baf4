//! The pool: the machines a lab engineer may use, loaded from labdeck's TOML pool file.
//!
//! A pool file names machines (`[machines.NAME]`) with an SSH address or the local
//! transport, free properties, interfaces with network labels, and optional VPP API sockets.
//! Invariants after [`Pool::load`]: machine names are unique and non-empty, interface names
//! are unique per machine, relative paths are resolved against the pool file's directory,
//! and every error names `file:line:column` (unknown keys come with the nearest valid key).

use crate::diag::{self, ConfigError};
use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Errors loading a pool.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PoolError {
    #[error("cannot read pool file {path}: {source}")]
    #[diagnostic(help("pass an existing pool file with --pool; `labdeck lab up` writes one"))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] Box<ConfigError>),
}

/// A loaded, validated pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// labdeck's own known_hosts file (checked before `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// Record unknown host keys in `known_hosts` instead of refusing them.
    pub accept_new_hostkeys: bool,
    /// Machines in file order.
    pub machines: Vec<Machine>,
}

/// One machine of the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub name: String,
    pub transport: TransportSpec,
    pub properties: BTreeMap<String, String>,
    pub interfaces: Vec<Interface>,
    pub vpp: VppSpec,
}

/// How labdeck reaches a machine.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportSpec {
    /// Commands run on this machine through `tokio::process`; no SSH.
    Local,
    Ssh(SshSpec),
}

/// Where and as whom to log in over SSH.
#[derive(Debug, Clone, PartialEq)]
pub struct SshSpec {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity: Option<PathBuf>,
}

impl SshSpec {
    /// `user@host:port`, as shown in tables.
    pub fn display_address(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// A network interface the pool declares on a machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub name: String,
    pub hwaddr: Option<String>,
    /// The pool's network label: interfaces with equal labels share a network.
    pub network: Option<String>,
    pub driver: Option<String>,
    pub properties: BTreeMap<String, String>,
}

/// VPP binary-API endpoints of a machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VppSpec {
    pub api_sockets: Vec<String>,
    pub restart_command: Option<String>,
}

impl Pool {
    /// Reads and validates a pool file.
    pub fn load(path: &Path) -> Result<Pool, PoolError> {
        let text = std::fs::read_to_string(path).map_err(|source| PoolError::Read {
            path: path.to_owned(),
            source,
        })?;
        Pool::parse(path, &text)
    }

    /// Parses pool text; `path` names the file in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Pool, PoolError> {
        let file: PoolFile =
            toml::from_str(text).map_err(|e| Box::new(diag::from_toml_error(path, text, &e)))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| -> PathBuf {
            let p = expand_home(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let mut machines = Vec::with_capacity(file.machines.len());
        for (name, spanned) in &file.machines {
            let span = spanned.span();
            let m = spanned.get_ref();
            let err = |msg: String, help: Option<String>, span: std::ops::Range<usize>| {
                PoolError::from(Box::new(ConfigError::at(path, text, span, msg, help)))
            };
            if !valid_name(name) {
                return Err(err(
                    format!("invalid machine name `{name}`"),
                    Some("use letters, digits, `-`, `_` and `.`".into()),
                    span,
                ));
            }
            let transport = match (m.transport, &m.address) {
                (Some(TransportKind::Local), Some(addr)) => {
                    return Err(err(
                        format!("machine `{name}` has transport \"local\" and address `{addr}`"),
                        Some("remove `address`, or use transport = \"ssh\"".into()),
                        addr.span(),
                    ));
                }
                (Some(TransportKind::Local), None) => TransportSpec::Local,
                (Some(TransportKind::Ssh) | None, None) => {
                    if m.transport == Some(TransportKind::Ssh) {
                        return Err(err(
                            format!("machine `{name}` uses ssh but has no `address`"),
                            Some("add address = \"HOST\"".into()),
                            span,
                        ));
                    }
                    TransportSpec::Local
                }
                (Some(TransportKind::Ssh) | None, Some(addr)) => {
                    let port = m.port.or(file.defaults.port).unwrap_or(22);
                    if port == 0 {
                        return Err(err("port 0 is not a valid SSH port".into(), None, span));
                    }
                    TransportSpec::Ssh(SshSpec {
                        host: addr.get_ref().clone(),
                        port,
                        user: m
                            .user
                            .clone()
                            .or_else(|| file.defaults.user.clone())
                            .unwrap_or_else(|| "root".into()),
                        identity: m
                            .identity
                            .as_deref()
                            .or(file.defaults.identity.as_deref())
                            .map(resolve),
                    })
                }
            };
            let mut interfaces: Vec<Interface> = Vec::with_capacity(m.interfaces.len());
            for iface in &m.interfaces {
                let iname = iface.name.get_ref();
                if iname.is_empty() || iname.len() > 15 || iname.contains(['/', ' ']) {
                    return Err(err(
                        format!("invalid interface name `{iname}`"),
                        Some("Linux interface names are 1–15 characters, no `/` or spaces".into()),
                        iface.name.span(),
                    ));
                }
                if interfaces.iter().any(|i| &i.name == iname) {
                    return Err(err(
                        format!("interface `{iname}` is declared twice on machine `{name}`"),
                        None,
                        iface.name.span(),
                    ));
                }
                if let Some(hw) = &iface.hwaddr
                    && !valid_mac(hw.get_ref())
                {
                    return Err(err(
                        format!("invalid hardware address `{}`", hw.get_ref()),
                        Some("write it as six hex pairs, e.g. 02:00:00:00:00:01".into()),
                        hw.span(),
                    ));
                }
                interfaces.push(Interface {
                    name: iname.clone(),
                    hwaddr: iface
                        .hwaddr
                        .as_ref()
                        .map(|h| h.get_ref().to_ascii_lowercase()),
                    network: iface.network.clone(),
                    driver: iface.driver.clone(),
                    properties: stringify(&iface.properties),
                });
            }
            machines.push(Machine {
                name: name.clone(),
                transport,
                properties: stringify(&m.properties),
                interfaces,
                vpp: VppSpec {
                    api_sockets: m.vpp_api_sockets.clone(),
                    restart_command: m.vpp_restart_command.clone(),
                },
            });
        }
        Ok(Pool {
            path: path.to_owned(),
            known_hosts: file.known_hosts.as_deref().map(resolve),
            accept_new_hostkeys: file.accept_new_hostkeys,
            machines,
        })
    }

    /// The machine called `name`.
    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.name == name)
    }

    /// The machine names, for "did you mean" hints.
    pub fn machine_names(&self) -> impl Iterator<Item = &str> {
        self.machines.iter().map(|m| m.name.as_str())
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn stringify(props: &BTreeMap<String, PropertyValue>) -> BTreeMap<String, String> {
    props
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    known_hosts: Option<String>,
    #[serde(default)]
    accept_new_hostkeys: bool,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    machines: IndexMap<String, Spanned<MachineFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    user: Option<String>,
    port: Option<u16>,
    identity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TransportKind {
    Ssh,
    Local,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineFile {
    transport: Option<TransportKind>,
    address: Option<Spanned<String>>,
    port: Option<u16>,
    user: Option<String>,
    identity: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, PropertyValue>,
    #[serde(default)]
    interfaces: Vec<InterfaceFile>,
    #[serde(default)]
    vpp_api_sockets: Vec<String>,
    vpp_restart_command: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterfaceFile {
    name: Spanned<String>,
    hwaddr: Option<Spanned<String>>,
    network: Option<String>,
    driver: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, PropertyValue>,
}

/// A property value: any TOML scalar, compared as its string form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropertyValue::Text(s) => f.write_str(s),
            PropertyValue::Integer(i) => write!(f, "{i}"),
            PropertyValue::Float(x) => write!(f, "{x}"),
            PropertyValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
known_hosts = "known_hosts"
[defaults]
user = "root"
identity = "id_ed25519"

[machines.h1]
address = "127.0.0.1"
port = 2201
properties = { arch = "x86_64", cores = 2 }
vpp_api_sockets = ["/run/vpp/api.sock"]
[[machines.h1.interfaces]]
name = "eth1"
hwaddr = "02:AA:00:00:01:01"
network = "net1"
driver = "veth"

[machines.local]
transport = "local"
"#;

    #[test]
    fn loads_machines_in_file_order_with_defaults() {
        let pool = Pool::parse(Path::new("/lab/pool.toml"), GOOD).expect("valid pool");
        assert_eq!(pool.known_hosts, Some(PathBuf::from("/lab/known_hosts")));
        let names: Vec<_> = pool.machine_names().collect();
        assert_eq!(names, ["h1", "local"]);
        let h1 = pool.machine("h1").expect("h1");
        let TransportSpec::Ssh(ssh) = &h1.transport else {
            panic!("h1 is ssh")
        };
        assert_eq!(ssh.port, 2201);
        assert_eq!(ssh.user, "root");
        assert_eq!(ssh.identity, Some(PathBuf::from("/lab/id_ed25519")));
        assert_eq!(h1.properties["cores"], "2");
        assert_eq!(
            h1.interfaces[0].hwaddr.as_deref(),
            Some("02:aa:00:00:01:01")
        );
        assert_eq!(
            pool.machine("local").map(|m| &m.transport),
            Some(&TransportSpec::Local)
        );
    }

    #[test]
    fn unknown_key_is_located_and_suggested() {
        let text = "[machines.h1]\naddress = \"x\"\nprot = 22\n";
        let err = Pool::parse(Path::new("p.toml"), text).expect_err("unknown key");
        let PoolError::Config(e) = err else {
            panic!("config error")
        };
        assert_eq!(e.to_string(), "p.toml:3:1: unknown field `prot`");
        assert!(
            e.help
                .as_deref()
                .unwrap_or("")
                .starts_with("did you mean `port`?")
        );
    }
}
