//! Pools from other tools: a directory of LNST agent-machine XML files, and a CSIT
//! topology YAML file. Both become the same [`Pool`] a labdeck TOML pool gives.
//!
//! LNST: one `<agentmachine>` per file, machine name = file name without `.xml`;
//! `hostname` → SSH address (`rpc_port` is ignored: labdeck speaks SSH), optional
//! `ssh_port`, `ssh_user`, `ssh_identity`; every other `<param>` is a property; each
//! `<eth id= label=>` is an interface (device name = its `name` param, else the id; `label`
//! → network; `hwaddr`, `driver` params; others → properties).
//! CSIT: `nodes.<NAME>` with `host`, `port`, `username`, `priv_key` (a path, or an inline
//! key, which is written to a private 0600 file and never logged), `type`/`arch`/`model` →
//! properties, `interfaces.<port>` with `name` (else the port key), `mac_address`, `driver`,
//! `link` → network, other scalars → properties. A plaintext `password` is refused with a hint
//! to use `password_env` in a labdeck pool. Invariants: errors are located (file:line:column);
//! nothing here panics on any input.

use super::{Interface, Machine, Pool, PoolError, SshSpec, TransportSpec, VppSpec};
use crate::diag::ConfigError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn located(
    path: &Path,
    text: &str,
    at: usize,
    message: impl Into<String>,
    help: Option<String>,
) -> PoolError {
    PoolError::from(Box::new(ConfigError::at(path, text, at..at, message, help)))
}

fn ssh_machine(
    name: String,
    spec: SshSpec,
    properties: BTreeMap<String, String>,
    interfaces: Vec<Interface>,
) -> Machine {
    Machine {
        name,
        transport: TransportSpec::Ssh(spec),
        properties,
        interfaces,
        vpp: VppSpec::default(),
    }
}

fn plain_spec(host: String, port: u16, user: String, identity: Option<PathBuf>) -> SshSpec {
    SshSpec {
        host,
        port,
        user,
        identity,
        password_env: None,
        ssh_config: None,
        proxy_jump: None,
    }
}

/// Loads every `*.xml` in `dir` as an LNST agent machine, in file-name order.
pub fn load_lnst_dir(dir: &Path) -> Result<Pool, PoolError> {
    let read_err = |source| PoolError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut machines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| PoolError::Read {
            path: file.clone(),
            source,
        })?;
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        machines.push(parse_lnst_machine(&file, &text, name)?);
    }
    Ok(Pool {
        path: dir.to_owned(),
        known_hosts: None,
        accept_new_hostkeys: false,
        machines,
    })
}

/// An `<eth>` as read, before it becomes an [`Interface`].
struct LnstEth {
    id: String,
    label: Option<String>,
    params: Vec<(String, String)>,
}

/// Parses one LNST agent-machine file.
pub fn parse_lnst_machine(path: &Path, text: &str, name: String) -> Result<Machine, PoolError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<String> = Vec::new();
    let mut params: Vec<(String, String, usize)> = Vec::new();
    let mut eths: Vec<LnstEth> = Vec::new();
    loop {
        let at = usize::try_from(reader.buffer_position()).unwrap_or(0);
        let event = reader.read_event().map_err(|e| {
            let pos = usize::try_from(reader.error_position()).unwrap_or(at);
            located(path, text, pos, format!("malformed XML: {e}"), None)
        })?;
        let (element, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        // The element's own start: the reader stands just after its `>`.
        let end = usize::try_from(reader.buffer_position()).unwrap_or(at);
        let at = end.saturating_sub(element.len() + if empty { 3 } else { 2 });
        let tag = String::from_utf8_lossy(element.name().as_ref().as_bytes()).into_owned();
        let mut attrs = BTreeMap::new();
        for attr in element.attributes() {
            let attr = attr
                .map_err(|e| located(path, text, at, format!("malformed attribute: {e}"), None))?;
            let key = String::from_utf8_lossy(attr.key.as_ref().as_bytes()).into_owned();
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| {
                    located(
                        path,
                        text,
                        at,
                        format!("malformed attribute value: {e}"),
                        None,
                    )
                })?
                .into_owned();
            attrs.insert(key, value);
        }
        let parent = stack.last().map(String::as_str);
        let grandparent = stack
            .len()
            .checked_sub(2)
            .and_then(|i| stack.get(i))
            .map(String::as_str);
        match (tag.as_str(), parent, grandparent) {
            ("agentmachine", None, _)
            | ("params", Some("agentmachine"), _)
            | ("interfaces", Some("agentmachine"), _) => {}
            ("params", Some("eth"), _) => {}
            ("param", Some("params"), Some(owner)) => {
                let (Some(n), Some(v)) = (attrs.get("name"), attrs.get("value")) else {
                    return Err(located(
                        path,
                        text,
                        at,
                        "a <param> needs `name` and `value` attributes",
                        None,
                    ));
                };
                match owner {
                    "agentmachine" => params.push((n.clone(), v.clone(), at)),
                    "eth" => {
                        if let Some(eth) = eths.last_mut() {
                            eth.params.push((n.clone(), v.clone()));
                        }
                    }
                    _ => {}
                }
            }
            ("eth", Some("interfaces"), _) => {
                let Some(id) = attrs.get("id") else {
                    return Err(located(
                        path,
                        text,
                        at,
                        "an <eth> needs an `id` attribute",
                        None,
                    ));
                };
                eths.push(LnstEth {
                    id: id.clone(),
                    label: attrs.get("label").cloned(),
                    params: Vec::new(),
                });
            }
            (other, _, _) => {
                return Err(located(
                    path,
                    text,
                    at,
                    format!("unexpected <{other}> here"),
                    Some("an LNST machine is <agentmachine><params><param name= value=/>…</params><interfaces><eth id= label=>…</eth></interfaces></agentmachine>".into()),
                ));
            }
        }
        if !empty {
            stack.push(tag);
        }
    }
    let mut address = None;
    let (mut port, mut user, mut identity) = (22u16, "root".to_owned(), None);
    let mut properties = BTreeMap::new();
    for (n, v, at) in params {
        match n.as_str() {
            "hostname" => address = Some(v),
            "rpc_port" => {}
            "ssh_port" => {
                port = v.parse().map_err(|_| {
                    located(
                        path,
                        text,
                        at,
                        format!("ssh_port `{v}` is not a port"),
                        None,
                    )
                })?;
            }
            "ssh_user" => user = v,
            "ssh_identity" => identity = Some(resolve(path, &v)),
            _ => {
                properties.insert(n, v);
            }
        }
    }
    let address = address.ok_or_else(|| {
        located(
            path,
            text,
            0,
            format!("machine `{name}` has no `hostname` param"),
            Some("add <param name=\"hostname\" value=\"ADDRESS\"/>".into()),
        )
    })?;
    let mut interfaces = Vec::new();
    for LnstEth {
        id,
        label,
        params: eth_params,
    } in eths
    {
        let mut iface = Interface {
            name: id,
            hwaddr: None,
            network: label,
            driver: None,
            properties: BTreeMap::new(),
        };
        for (n, v) in eth_params {
            match n.as_str() {
                "hwaddr" => iface.hwaddr = Some(v.to_ascii_lowercase()),
                "driver" => iface.driver = Some(v),
                "name" => iface.name = v,
                _ => {
                    iface.properties.insert(n, v);
                }
            }
        }
        interfaces.push(iface);
    }
    Ok(ssh_machine(
        name,
        plain_spec(address, port, user, identity),
        properties,
        interfaces,
    ))
}

fn resolve(file: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        p
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

#[derive(serde::Deserialize)]
struct CsitTopology {
    nodes: indexmap::IndexMap<String, CsitNode>,
}

#[derive(serde::Deserialize)]
struct CsitNode {
    #[serde(rename = "type")]
    kind: Option<String>,
    host: String,
    port: Option<u16>,
    username: Option<String>,
    priv_key: Option<String>,
    password: Option<serde::de::IgnoredAny>,
    arch: Option<String>,
    model: Option<String>,
    #[serde(default)]
    interfaces: indexmap::IndexMap<String, BTreeMap<String, CsitScalar>>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum CsitScalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Other(serde::de::IgnoredAny),
}

impl CsitScalar {
    fn text(&self) -> Option<String> {
        match self {
            CsitScalar::Text(s) => Some(s.clone()),
            CsitScalar::Int(i) => Some(i.to_string()),
            CsitScalar::Float(f) => Some(f.to_string()),
            CsitScalar::Bool(b) => Some(b.to_string()),
            CsitScalar::Other(_) => None,
        }
    }
}

/// Loads a CSIT topology file. Inline private keys are written under `key_dir` (0600).
pub fn load_csit(path: &Path, key_dir: &Path) -> Result<Pool, PoolError> {
    let text = std::fs::read_to_string(path).map_err(|source| PoolError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_csit(path, &text, key_dir)
}

pub fn parse_csit(path: &Path, text: &str, key_dir: &Path) -> Result<Pool, PoolError> {
    let topo: CsitTopology = serde_saphyr::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| offset_of(text, l.line(), l.column()))
            .unwrap_or(0);
        let message = e.to_string();
        let first = message.lines().next().unwrap_or("invalid YAML").to_owned();
        located(
            path,
            text,
            at,
            first,
            Some(
                "a CSIT topology has `nodes:` with host, port, username, priv_key and interfaces"
                    .into(),
            ),
        )
    })?;
    let mut machines = Vec::new();
    for (name, node) in topo.nodes {
        let at = text.find(&format!("{name}:")).unwrap_or(0);
        if node.password.is_some() {
            return Err(located(
                path,
                &mask_passwords(text),
                at,
                format!("node `{name}` has a plaintext password"),
                Some("labdeck never reads secrets from pool files: use a key (priv_key), ssh-agent, or a labdeck pool with password_env".into()),
            ));
        }
        let identity = match node.priv_key {
            Some(key) if key.trim_start().starts_with("-----BEGIN") => {
                Some(write_key(key_dir, &name, &key).map_err(|e| {
                    located(
                        path,
                        text,
                        at,
                        format!("cannot store the inline key of `{name}`: {e}"),
                        None,
                    )
                })?)
            }
            Some(p) => Some(resolve(path, p.trim())),
            None => None,
        };
        let mut properties = BTreeMap::new();
        for (k, v) in [
            ("type", node.kind),
            ("arch", node.arch),
            ("model", node.model),
        ] {
            if let Some(v) = v {
                properties.insert(k.to_owned(), v);
            }
        }
        let mut interfaces = Vec::new();
        for (port_key, fields) in node.interfaces {
            let get = |k: &str| fields.get(k).and_then(CsitScalar::text);
            let mut props: BTreeMap<String, String> = fields
                .iter()
                .filter(|(k, _)| !["name", "mac_address", "driver", "link"].contains(&k.as_str()))
                .filter_map(|(k, v)| Some((k.clone(), v.text()?)))
                .collect();
            props.insert("port".into(), port_key.clone());
            interfaces.push(Interface {
                name: get("name").unwrap_or_else(|| port_key.clone()),
                hwaddr: get("mac_address").map(|m| m.to_ascii_lowercase()),
                network: get("link"),
                driver: get("driver"),
                properties: props,
            });
        }
        let spec = plain_spec(
            node.host,
            node.port.unwrap_or(22),
            node.username.unwrap_or_else(|| "root".into()),
            identity,
        );
        machines.push(ssh_machine(name, spec, properties, interfaces));
    }
    Ok(Pool {
        path: path.to_owned(),
        known_hosts: None,
        accept_new_hostkeys: false,
        machines,
    })
}

/// The text with every `password:` value replaced by `*`s of the same length, so an error
/// excerpt never shows it and offsets stay valid.
fn mask_passwords(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.find("password:") {
            Some(i) => {
                let (head, value) = line.split_at(i + "password:".len());
                let masked: String = value
                    .chars()
                    .map(|c| if c.is_whitespace() { c } else { '*' })
                    .collect();
                format!("{head}{masked}")
            }
            None => line.to_owned(),
        })
        .collect()
}

fn write_key(dir: &Path, node: &str, key: &str) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let safe: String = node
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{safe}.key"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(key.as_bytes())?;
    if !key.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    Ok(path)
}

/// Byte offset of 1-based `line`/`column` in `text`.
fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if (i as u64) + 1 == line {
            let col = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
            return offset + l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}
