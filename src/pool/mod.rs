//! The pool: the machines a lab engineer may use, loaded from labdeck's TOML pool file.
//!
//! A pool file names machines (`[machines.NAME]`) with an SSH address or the local
//! transport, free properties, interfaces with network labels, and optional VPP API sockets.
//! Invariants after [`Pool::load`]: machine names are unique and non-empty, interface names
//! are unique per machine, relative paths are resolved against the pool file's directory,
//! every `proxy_jump` names an SSH machine of the pool and the jumps form no loop, the pool
//! holds only the *name* of a password's environment variable (never a password), and every
//! error names `file:line:column` (unknown keys come with the nearest valid key).

pub mod sources;

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
    /// Name of the environment variable that holds the login password (`password_env`).
    /// Only the name is ever stored; the password is read when authenticating.
    pub password_env: Option<String>,
    /// Resolve the address through OpenSSH's `ssh -G` (`ssh_config`); `None` when off.
    pub ssh_config: Option<SshConfigSpec>,
    /// The pool machine to connect through first (`proxy_jump`), already resolved; it may
    /// have its own jump, which makes a chain. Never cyclic.
    pub proxy_jump: Option<Box<JumpSpec>>,
}

/// How to consult OpenSSH's client configuration for a machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SshConfigSpec {
    /// `ssh -F FILE`; `None` reads the user's `~/.ssh/config` as `ssh` does.
    pub file: Option<PathBuf>,
    /// The port the pool set explicitly (passed as `-p`, so it wins over the config).
    pub port: Option<u16>,
    /// The user the pool set explicitly (passed as `-l`).
    pub user: Option<String>,
}

/// A jump host: another machine of the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct JumpSpec {
    pub machine: String,
    pub ssh: SshSpec,
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
    /// Loads a pool: a directory of LNST agent-machine XML files, a CSIT topology
    /// (`.yaml`/`.yml`), or a labdeck TOML pool (anything else).
    pub fn load(path: &Path) -> Result<Pool, PoolError> {
        if path.is_dir() {
            return sources::load_lnst_dir(path);
        }
        if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            let key_dir = std::env::temp_dir().join(format!("labdeck-keys-{}", std::process::id()));
            return sources::load_csit(path, &key_dir);
        }
        Self::load_toml(path)
    }

    /// Reads and validates a labdeck TOML pool file.
    pub fn load_toml(path: &Path) -> Result<Pool, PoolError> {
        let text = std::fs::read_to_string(path).map_err(|source| PoolError::Read {
            path: path.to_owned(),
            source,
        })?;
        Pool::parse(path, &text)
    }

    /// Parses pool text; `path` names the file in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Pool, PoolError> {
        let file: PoolFile = toml::from_str(text)
            .map_err(|e| Box::new(diag::from_toml_error(path, &redact_secrets(text, None), &e)))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| -> PathBuf {
            let p = expand_home(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let mut machines = Vec::with_capacity(file.machines.len());
        // (machine, the name of its jump machine as written), resolved once all are read.
        let mut jumps: Vec<(String, Spanned<String>)> = Vec::new();
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
                    let explicit_port = m.port.or(file.defaults.port);
                    let port = explicit_port.unwrap_or(22);
                    if port == 0 {
                        return Err(err("port 0 is not a valid SSH port".into(), None, span));
                    }
                    let explicit_user = m.user.clone().or_else(|| file.defaults.user.clone());
                    let password_env = m
                        .password_env
                        .as_ref()
                        .or(file.defaults.password_env.as_ref());
                    if let Some(var) = password_env
                        && !valid_env_name(var.get_ref())
                    {
                        // It may be a password put there by mistake: never echo it.
                        return Err(PoolError::from(Box::new(ConfigError::at(
                            path,
                            &redact_secrets(text, Some(var.span())),
                            var.span(),
                            "password_env is not an environment variable name",
                            Some(
                                "password_env names the variable that holds the password \
                                 (letters, digits and `_`, not starting with a digit); \
                                 never put the password itself in the pool"
                                    .into(),
                            ),
                        ))));
                    }
                    let ssh_config = match m
                        .ssh_config
                        .as_ref()
                        .or(file.defaults.ssh_config.as_ref())
                        .or(file.ssh_config.as_ref())
                    {
                        None | Some(SshConfigFile::Flag(false)) => None,
                        Some(SshConfigFile::Flag(true)) => Some(None),
                        Some(SshConfigFile::Path(p)) => Some(Some(resolve(p))),
                    }
                    .map(|file| SshConfigSpec {
                        file,
                        port: explicit_port,
                        user: explicit_user.clone(),
                    });
                    if let Some(jump) = &m.proxy_jump {
                        jumps.push((name.clone(), jump.clone()));
                    }
                    TransportSpec::Ssh(SshSpec {
                        host: addr.get_ref().clone(),
                        port,
                        user: explicit_user.unwrap_or_else(|| "root".into()),
                        identity: m
                            .identity
                            .as_deref()
                            .or(file.defaults.identity.as_deref())
                            .map(resolve),
                        password_env: password_env.map(|v| v.get_ref().clone()),
                        ssh_config,
                        proxy_jump: None,
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
        resolve_jumps(&mut machines, &jumps)
            .map_err(|(msg, help, span)| Box::new(ConfigError::at(path, text, span, msg, help)))?;
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

/// A located pool error before it is attached to the file: message, help, span.
type SpanError = (String, Option<String>, std::ops::Range<usize>);

/// Fills in every `proxy_jump` with the named machine's resolved spec. Refuses unknown and
/// local machines and cycles, located at the `proxy_jump` value.
fn resolve_jumps(
    machines: &mut [Machine],
    jumps: &[(String, Spanned<String>)],
) -> Result<(), SpanError> {
    let direct: BTreeMap<&str, &Spanned<String>> =
        jumps.iter().map(|(m, j)| (m.as_str(), j)).collect();
    let mut resolved: BTreeMap<String, JumpSpec> = BTreeMap::new();
    for (machine, _) in jumps {
        // Walk the chain from `machine`, checking each link.
        let mut chain: Vec<&str> = vec![machine.as_str()];
        let mut current = machine.as_str();
        while let Some(jump) = direct.get(current) {
            let target = jump.get_ref().as_str();
            let Some(jm) = machines.iter().find(|m| m.name == target) else {
                let help = crate::diag::nearest(target, machines.iter().map(|m| m.name.as_str()))
                    .map(|best| {
                        format!(
                            "did you mean `{best}`? proxy_jump names another machine of this pool"
                        )
                    })
                    .unwrap_or_else(|| "proxy_jump names another machine of this pool".into());
                return Err((
                    format!("proxy_jump of `{current}` names no machine: `{target}`"),
                    Some(help),
                    jump.span(),
                ));
            };
            if !matches!(jm.transport, TransportSpec::Ssh(_)) {
                return Err((
                    format!(
                        "proxy_jump of `{current}` names `{target}`, which is not reached over SSH"
                    ),
                    Some("a jump host must be an SSH machine with an `address`".into()),
                    jump.span(),
                ));
            }
            if chain.contains(&target) {
                chain.push(target);
                return Err((
                    format!("proxy_jump makes a loop: {}", chain.join(" → ")),
                    Some("a machine cannot be reached through itself".into()),
                    jump.span(),
                ));
            }
            chain.push(target);
            current = target;
        }
        // Build the spec innermost-last: the last machine of the chain has no jump.
        let mut spec: Option<Box<JumpSpec>> = None;
        for name in chain.iter().skip(1).rev() {
            let Some(TransportSpec::Ssh(ssh)) = machines
                .iter()
                .find(|m| m.name == *name)
                .map(|m| &m.transport)
            else {
                continue;
            };
            let mut ssh = ssh.clone();
            ssh.proxy_jump = spec.take();
            spec = Some(Box::new(JumpSpec {
                machine: (*name).to_owned(),
                ssh,
            }));
        }
        if let Some(spec) = spec {
            resolved.insert(machine.clone(), *spec);
        }
    }
    for m in machines.iter_mut() {
        if let (TransportSpec::Ssh(ssh), Some(jump)) = (&mut m.transport, resolved.remove(&m.name))
        {
            ssh.proxy_jump = Some(Box::new(jump));
        }
    }
    Ok(())
}

/// `text` for an error's source excerpt, with the values of `password`/`passphrase` keys
/// (which are not valid keys, but may be written by mistake) and the `also` span replaced
/// by `*`. Byte offsets are unchanged, so spans stay valid.
fn redact_secrets(text: &str, also: Option<std::ops::Range<usize>>) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some((key, value)) = line.split_once('=') {
            let key = key.trim().trim_matches('"').to_ascii_lowercase();
            if ["password", "passphrase", "passwd"].contains(&key.as_str()) {
                let start = offset + (line.len() - value.len());
                let end = offset + line.trim_end().len();
                star(&mut bytes, start..end);
            }
        }
        offset += line.len();
    }
    if let Some(span) = also {
        star(&mut bytes, span);
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// Overwrites `range` of `bytes` with `*`, keeping UTF-8 valid: every byte of a multi-byte
/// character in the range becomes one `*`.
fn star(bytes: &mut [u8], range: std::ops::Range<usize>) {
    let end = range.end.min(bytes.len());
    for b in bytes.iter_mut().take(end).skip(range.start) {
        if *b != b'\n' {
            *b = b'*';
        }
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
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
    /// Resolve every SSH machine through `ssh -G` (unless a machine says otherwise).
    ssh_config: Option<SshConfigFile>,
}

/// `ssh_config = true | false | "PATH"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SshConfigFile {
    Flag(bool),
    Path(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    user: Option<String>,
    port: Option<u16>,
    identity: Option<String>,
    password_env: Option<Spanned<String>>,
    ssh_config: Option<SshConfigFile>,
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
    password_env: Option<Spanned<String>>,
    ssh_config: Option<SshConfigFile>,
    proxy_jump: Option<Spanned<String>>,
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
        // File order, not name order.
        let reversed = Pool::parse(
            Path::new("p.toml"),
            "[machines.zz]\ntransport = \"local\"\n[machines.aa]\ntransport = \"local\"\n",
        )
        .expect("pool");
        assert_eq!(reversed.machine_names().collect::<Vec<_>>(), ["zz", "aa"]);
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

    const JUMPS: &str = r#"
ssh_config = "ssh.conf"
[defaults]
password_env = "LAB_PW"
[machines.h1]
address = "127.0.0.1"
port = 2201
ssh_config = false
[machines.far]
address = "198.18.2.3"
proxy_jump = "mid"
user = "admin"
[machines.mid]
address = "198.18.1.2"
proxy_jump = "h1"
password_env = "MID_PW"
"#;

    #[test]
    fn proxy_jumps_resolve_to_chains_and_new_fields_load() {
        let pool = Pool::parse(Path::new("/lab/pool.toml"), JUMPS).expect("valid pool");
        let ssh = |name: &str| match &pool.machine(name).expect(name).transport {
            TransportSpec::Ssh(s) => s.clone(),
            TransportSpec::Local => panic!("{name} is ssh"),
        };
        let far = ssh("far");
        let mid = far.proxy_jump.as_ref().expect("far jumps");
        assert_eq!(mid.machine, "mid");
        assert_eq!(mid.ssh.host, "198.18.1.2");
        assert_eq!(mid.ssh.password_env.as_deref(), Some("MID_PW"));
        let h1 = mid.ssh.proxy_jump.as_ref().expect("mid jumps");
        assert_eq!(h1.machine, "h1");
        assert_eq!(h1.ssh.port, 2201);
        assert!(h1.ssh.proxy_jump.is_none());
        assert_eq!(ssh("mid").proxy_jump.as_deref(), Some(h1.as_ref()));
        assert_eq!(far.password_env.as_deref(), Some("LAB_PW"));
        // Pool-level ssh_config applies unless the machine turns it off; explicit port and
        // user are kept apart so that they can be passed to `ssh -G`.
        assert_eq!(
            far.ssh_config,
            Some(SshConfigSpec {
                file: Some(PathBuf::from("/lab/ssh.conf")),
                port: None,
                user: Some("admin".into()),
            })
        );
        assert_eq!(h1.ssh.ssh_config, None);
    }

    #[test]
    fn bad_jumps_and_password_env_are_located() {
        let cases = [
            (
                "[machines.a]\naddress = \"x\"\nproxy_jump = \"bb\"\n[machines.b]\naddress = \"y\"\n",
                "p.toml:3:14: proxy_jump of `a` names no machine: `bb`",
                Some("did you mean `b`?"),
            ),
            (
                "[machines.a]\naddress = \"x\"\nproxy_jump = \"b\"\n[machines.b]\naddress = \"y\"\nproxy_jump = \"a\"\n",
                "p.toml:6:14: proxy_jump makes a loop: a → b → a",
                None,
            ),
            (
                "[machines.a]\naddress = \"x\"\nproxy_jump = \"a\"\n",
                "p.toml:3:14: proxy_jump makes a loop: a → a",
                None,
            ),
            (
                "[machines.a]\naddress = \"x\"\nproxy_jump = \"here\"\n[machines.here]\ntransport = \"local\"\n",
                "p.toml:3:14: proxy_jump of `a` names `here`, which is not reached over SSH",
                None,
            ),
            (
                "[machines.a]\naddress = \"x\"\npassword_env = \"hunter2 is my password\"\n",
                "p.toml:3:16: password_env is not an environment variable name",
                Some("never put the password itself in the pool"),
            ),
        ];
        for (text, expected, help) in cases {
            let PoolError::Config(e) = Pool::parse(Path::new("p.toml"), text).expect_err(text)
            else {
                panic!("config error for {text}")
            };
            assert_eq!(e.to_string(), expected);
            if let Some(help) = help {
                assert!(
                    e.help.as_deref().unwrap_or("").contains(help),
                    "{:?}",
                    e.help
                );
            }
        }
        // A password is never echoed, not even in the source excerpt of the error.
        for text in [
            "[machines.a]\naddress = \"x\"\npassword_env = \"hunter2 is my password\"\n",
            "[machines.a]\naddress = \"x\"\npassword = \"hunter2 is my password\"\n",
            "[machines.a]\naddress = \"x\"\n\"passphrase\" = \"hunter2 is my pässword\"\n",
        ] {
            let PoolError::Config(e) = Pool::parse(Path::new("p.toml"), text).expect_err(text)
            else {
                panic!("config error")
            };
            let rendered = format!(
                "{e} {:?} {:?}",
                e.help,
                miette::SourceCode::read_span(&e.source_code, &e.span, 2, 2)
                    .map(|c| String::from_utf8_lossy(c.data()).into_owned())
            );
            assert!(!rendered.contains("hunter2"), "{rendered}");
            assert!(!rendered.contains("password\""), "{rendered}");
        }
        // `password` is not a key: the nearest valid key is suggested.
        let err = Pool::parse(
            Path::new("p.toml"),
            "[machines.a]\naddress = \"x\"\npassword = \"s\"\n",
        )
        .expect_err("unknown key");
        let PoolError::Config(e) = err else {
            panic!("config error")
        };
        assert!(
            e.help
                .as_deref()
                .unwrap_or("")
                .starts_with("did you mean `password_env`?")
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Pool::parse(Path::new("fuzz.toml"), &text);
        }

        #[test]
        fn near_valid_pools_never_panic(
            key in "[a-z_]{1,12}",
            value in "(\"[^\"]{0,8}\"|[0-9]{1,6}|true|\\[\\]|\\{\\})",
        ) {
            let text = format!("[machines.h1]\naddress = \"x\"\n{key} = {value}\n[[machines.h1.interfaces]]\nname = \"e\"\n{key} = {value}\n");
            let _ = Pool::parse(Path::new("fuzz.toml"), &text);
        }
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
