//! Device and system-config changes, each with the command that undoes it.
//!
//! [`plan`] turns a [`DeviceOp`] and the host's current devices into the command to run
//! and the [`UndoStep`]s that restore the previous state; [`UndoLog`] keeps those steps
//! (in memory and, when given a file, as fsynced JSON lines) and replays them newest first.
//! Invariants: every value put into a command is shell-quoted; a device that the testbed
//! does not map is never changed (the management path stays untouched) unless labdeck
//! created it; an op that would lose information it cannot restore (destroying a device
//! labdeck did not create) is refused; undo steps are recorded before the change runs, so a
//! crash between the two at worst undoes a change that did not happen (each undo is
//! idempotent or harmless: `|| true` where the state may already be restored).

use super::Device;
use crate::quote::quote;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A change to a host's network devices or kernel settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DeviceOp {
    Up {
        dev: String,
    },
    Down {
        dev: String,
    },
    AddrAdd {
        dev: String,
        addr: String,
    },
    AddrDel {
        dev: String,
        addr: String,
    },
    AddrFlush {
        dev: String,
    },
    Mtu {
        dev: String,
        mtu: u32,
    },
    CreateVeth {
        name: String,
        peer: String,
    },
    CreateBridge {
        name: String,
    },
    CreateVlan {
        name: String,
        parent: String,
        id: u16,
    },
    CreateBond {
        name: String,
        mode: String,
    },
    Enslave {
        dev: String,
        master: String,
    },
    Destroy {
        dev: String,
    },
    MoveToNetns {
        dev: String,
        netns: String,
    },
    /// `sysctl -w key=value`.
    Sysctl {
        key: String,
        value: String,
    },
    /// A write to a file under /sys or /proc.
    WriteFile {
        path: String,
        value: String,
    },
}

/// One recorded way back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndoStep {
    pub host: String,
    pub description: String,
    pub command: String,
}

/// What to run for an op, and how to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub command: String,
    pub undo: Vec<UndoStep>,
    /// Devices this op creates (they become changeable).
    pub creates: Vec<String>,
}

/// Why an op was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpError {
    #[error(
        "{dev} is not mapped by the testbed; labdeck never changes unmapped devices (the management path)"
    )]
    NotMapped { dev: String },
    #[error("no device {dev} on {host}")]
    NoDevice { host: String, dev: String },
    #[error("device {dev} already exists on {host}")]
    Exists { host: String, dev: String },
    #[error("refusing to destroy {dev}: labdeck did not create it, so it could not be restored")]
    NotOurs { dev: String },
    #[error("invalid {what} `{value}`")]
    Invalid { what: &'static str, value: String },
    #[error("{0} needs the current value, read it first")]
    NeedsCurrentValue(String),
}

/// Which devices may be changed on a host.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Devices the testbed maps; `None` allows every device (no testbed, e.g. the CLI on a lab).
    pub mapped: Option<BTreeSet<String>>,
    /// Devices labdeck created in this run.
    pub created: BTreeSet<String>,
}

impl Guard {
    fn check(&self, dev: &str) -> Result<(), OpError> {
        match &self.mapped {
            Some(mapped) if !mapped.contains(dev) && !self.created.contains(dev) => {
                Err(OpError::NotMapped {
                    dev: dev.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

fn valid_ifname(name: &str) -> Result<(), OpError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && !name.contains(['/', ' ', '\n', '\0'])
        && name != "."
        && name != "..";
    ok.then_some(()).ok_or_else(|| OpError::Invalid {
        what: "interface name",
        value: name.to_owned(),
    })
}

fn valid_path(path: &str) -> Result<(), OpError> {
    let ok = (path.starts_with("/sys/") || path.starts_with("/proc/sys/"))
        && !path.split('/').any(|c| c == "..");
    ok.then_some(()).ok_or_else(|| OpError::Invalid {
        what: "sysfs/procfs path (must be under /sys/ or /proc/sys/)",
        value: path.to_owned(),
    })
}

/// Plans `op` on `host` given its devices and, for sysctl/file writes, the current value.
pub fn plan(
    host: &str,
    op: &DeviceOp,
    devices: &[Device],
    guard: &Guard,
    current_value: Option<&str>,
) -> Result<Planned, OpError> {
    let find = |dev: &str| {
        devices
            .iter()
            .find(|d| d.name == dev)
            .ok_or_else(|| OpError::NoDevice {
                host: host.to_owned(),
                dev: dev.to_owned(),
            })
    };
    let absent = |dev: &str| {
        if devices.iter().any(|d| d.name == dev) {
            Err(OpError::Exists {
                host: host.to_owned(),
                dev: dev.to_owned(),
            })
        } else {
            valid_ifname(dev)
        }
    };
    let step = |description: String, command: String| UndoStep {
        host: host.to_owned(),
        description,
        command,
    };
    let q = |s: &str| quote(s);
    let planned = |command: String, undo: Vec<UndoStep>| Planned {
        command,
        undo,
        creates: vec![],
    };
    Ok(match op {
        DeviceOp::Up { dev } | DeviceOp::Down { dev } => {
            guard.check(dev)?;
            let was_up = find(dev)?.flags.iter().any(|f| f == "UP");
            let (now, before) = if matches!(op, DeviceOp::Up { .. }) {
                ("up", was_up)
            } else {
                ("down", was_up)
            };
            let restore = if before { "up" } else { "down" };
            planned(
                format!("ip link set dev {} {now}", q(dev)),
                vec![step(
                    format!("{dev} back {restore}"),
                    format!("ip link set dev {} {restore}", q(dev)),
                )],
            )
        }
        DeviceOp::AddrAdd { dev, addr } => {
            guard.check(dev)?;
            validate_cidr(addr)?;
            let had = find(dev)?.addresses.iter().any(|a| a.to_string() == *addr);
            let undo = if had {
                vec![]
            } else {
                vec![step(
                    format!("remove {addr} from {dev}"),
                    format!("ip addr del {} dev {} || true", q(addr), q(dev)),
                )]
            };
            planned(format!("ip addr add {} dev {}", q(addr), q(dev)), undo)
        }
        DeviceOp::AddrDel { dev, addr } => {
            guard.check(dev)?;
            validate_cidr(addr)?;
            let had = find(dev)?.addresses.iter().any(|a| a.to_string() == *addr);
            let undo = if had {
                vec![step(
                    format!("put {addr} back on {dev}"),
                    format!("ip addr add {} dev {} || true", q(addr), q(dev)),
                )]
            } else {
                vec![]
            };
            planned(format!("ip addr del {} dev {}", q(addr), q(dev)), undo)
        }
        DeviceOp::AddrFlush { dev } => {
            guard.check(dev)?;
            let undo = find(dev)?
                .addresses
                .iter()
                .filter(|a| a.scope != "link")
                .map(|a| {
                    step(
                        format!("put {a} back on {dev}"),
                        format!("ip addr add {} dev {} || true", q(&a.to_string()), q(dev)),
                    )
                })
                .collect();
            planned(format!("ip addr flush dev {}", q(dev)), undo)
        }
        DeviceOp::Mtu { dev, mtu } => {
            guard.check(dev)?;
            let before = find(dev)?.mtu;
            planned(
                format!("ip link set dev {} mtu {mtu}", q(dev)),
                vec![step(
                    format!("{dev} mtu back to {before}"),
                    format!("ip link set dev {} mtu {before}", q(dev)),
                )],
            )
        }
        DeviceOp::CreateVeth { name, peer } => {
            absent(name)?;
            absent(peer)?;
            Planned {
                command: format!("ip link add {} type veth peer name {}", q(name), q(peer)),
                undo: vec![step(
                    format!("delete veth {name}"),
                    format!("ip link del {} || true", q(name)),
                )],
                creates: vec![name.clone(), peer.clone()],
            }
        }
        DeviceOp::CreateBridge { name } => {
            absent(name)?;
            Planned {
                command: format!("ip link add {} type bridge", q(name)),
                undo: vec![step(
                    format!("delete bridge {name}"),
                    format!("ip link del {} || true", q(name)),
                )],
                creates: vec![name.clone()],
            }
        }
        DeviceOp::CreateVlan { name, parent, id } => {
            absent(name)?;
            guard.check(parent)?;
            find(parent)?;
            if *id == 0 || *id > 4094 {
                return Err(OpError::Invalid {
                    what: "VLAN id (1–4094)",
                    value: id.to_string(),
                });
            }
            Planned {
                command: format!(
                    "ip link add link {} name {} type vlan id {id}",
                    q(parent),
                    q(name)
                ),
                undo: vec![step(
                    format!("delete vlan {name}"),
                    format!("ip link del {} || true", q(name)),
                )],
                creates: vec![name.clone()],
            }
        }
        DeviceOp::CreateBond { name, mode } => {
            absent(name)?;
            Planned {
                command: format!("ip link add {} type bond mode {}", q(name), q(mode)),
                undo: vec![step(
                    format!("delete bond {name}"),
                    format!("ip link del {} || true", q(name)),
                )],
                creates: vec![name.clone()],
            }
        }
        DeviceOp::Enslave { dev, master } => {
            guard.check(dev)?;
            let before = find(dev)?.master.clone();
            find(master)?;
            let back = match &before {
                Some(m) => format!("ip link set dev {} master {}", q(dev), q(m)),
                None => format!("ip link set dev {} nomaster", q(dev)),
            };
            planned(
                format!("ip link set dev {} master {}", q(dev), q(master)),
                vec![step(
                    format!(
                        "{dev} back to master {}",
                        before.as_deref().unwrap_or("none")
                    ),
                    back,
                )],
            )
        }
        DeviceOp::Destroy { dev } => {
            if !guard.created.contains(dev) {
                return Err(OpError::NotOurs { dev: dev.clone() });
            }
            planned(format!("ip link del {}", q(dev)), vec![])
        }
        DeviceOp::MoveToNetns { dev, netns } => {
            guard.check(dev)?;
            find(dev)?;
            // `$$` in the undo shell is a process of this host's namespace.
            planned(
                format!("ip link set dev {} netns {}", q(dev), q(netns)),
                vec![step(
                    format!("move {dev} back from {netns}"),
                    format!(
                        "ip -n {} link set dev {} netns $$ || true",
                        q(netns),
                        q(dev)
                    ),
                )],
            )
        }
        DeviceOp::Sysctl { key, value } => {
            let valid = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
            if !valid {
                return Err(OpError::Invalid {
                    what: "sysctl key",
                    value: key.clone(),
                });
            }
            let before =
                current_value.ok_or_else(|| OpError::NeedsCurrentValue(format!("sysctl {key}")))?;
            planned(
                format!("sysctl -qw {}", q(&format!("{key}={value}"))),
                vec![step(
                    format!("sysctl {key} back to {before}"),
                    format!("sysctl -qw {}", q(&format!("{key}={before}"))),
                )],
            )
        }
        DeviceOp::WriteFile { path, value } => {
            valid_path(path)?;
            let before = current_value.ok_or_else(|| OpError::NeedsCurrentValue(path.clone()))?;
            planned(
                format!("printf '%s\\n' {} > {}", q(value), q(path)),
                vec![step(
                    format!("{path} back to {before}"),
                    format!("printf '%s\\n' {} > {}", q(before), q(path)),
                )],
            )
        }
    })
}

/// The command that reads the current value an op needs (sysctl and file writes).
pub fn read_command(op: &DeviceOp) -> Option<String> {
    match op {
        DeviceOp::Sysctl { key, .. } => Some(format!("sysctl -n {}", quote(key))),
        DeviceOp::WriteFile { path, .. } => Some(format!("cat {}", quote(path))),
        _ => None,
    }
}

fn validate_cidr(addr: &str) -> Result<(), OpError> {
    let invalid = || OpError::Invalid {
        what: "address (ADDR/PREFIX)",
        value: addr.to_owned(),
    };
    let (ip, prefix) = addr.split_once('/').ok_or_else(invalid)?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| invalid())?;
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some(()).ok_or_else(invalid)
}

/// The undo steps of a run, newest last; optionally mirrored to a JSON-lines file.
#[derive(Debug, Default)]
pub struct UndoLog {
    steps: Vec<UndoStep>,
    file: Option<PathBuf>,
}

impl UndoLog {
    /// A log that also appends every step to `file` (fsynced), for `labdeck undo` later.
    pub fn with_file(file: &Path) -> std::io::Result<UndoLog> {
        let steps = Self::read(file)?;
        Ok(UndoLog {
            steps,
            file: Some(file.to_owned()),
        })
    }

    /// Steps recorded in `file` (missing file = none; a torn last line is ignored).
    pub fn read(file: &Path) -> std::io::Result<Vec<UndoStep>> {
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    pub fn record(&mut self, steps: &[UndoStep]) -> std::io::Result<()> {
        if let Some(file) = &self.file {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)?;
            for s in steps {
                let line = serde_json::to_string(s).map_err(std::io::Error::other)?;
                writeln!(f, "{line}")?;
            }
            f.sync_all()?;
        }
        self.steps.extend_from_slice(steps);
        Ok(())
    }

    pub fn steps(&self) -> &[UndoStep] {
        &self.steps
    }

    /// Takes the steps recorded after the first `mark` ones, newest first, and keeps the
    /// log file in step (rewritten and fsynced).
    pub fn take_since(&mut self, mark: usize) -> std::io::Result<Vec<UndoStep>> {
        if mark >= self.steps.len() {
            return Ok(Vec::new());
        }
        let mut taken = self.steps.split_off(mark);
        taken.reverse();
        if let Some(file) = &self.file {
            let tmp = file.with_extension("jsonl.tmp");
            {
                let mut f = std::fs::File::create(&tmp)?;
                for s in &self.steps {
                    let line = serde_json::to_string(s).map_err(std::io::Error::other)?;
                    writeln!(f, "{line}")?;
                }
                f.sync_all()?;
            }
            std::fs::rename(&tmp, file)?;
        }
        Ok(taken)
    }

    /// Takes the steps newest first, and empties the log (and its file).
    pub fn drain_newest_first(&mut self) -> std::io::Result<Vec<UndoStep>> {
        let mut steps = std::mem::take(&mut self.steps);
        steps.reverse();
        if let Some(file) = &self.file {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{Address, LinkStats};

    fn dev(name: &str, mtu: u32, up: bool, addrs: &[&str]) -> Device {
        Device {
            index: 2,
            name: name.into(),
            kind: "veth".into(),
            hwaddr: None,
            state: if up { "UP".into() } else { "DOWN".into() },
            flags: if up { vec!["UP".into()] } else { vec![] },
            mtu,
            driver: Some("veth".into()),
            master: None,
            addresses: addrs
                .iter()
                .map(|a| {
                    let (local, p) = a.split_once('/').expect("cidr");
                    Address {
                        family: "inet".into(),
                        local: local.into(),
                        prefix_len: p.parse().expect("p"),
                        scope: "global".into(),
                    }
                })
                .collect(),
            stats: LinkStats::default(),
        }
    }

    #[test]
    fn mtu_and_state_undo_restore_the_previous_values() {
        let devices = [dev("eth1", 1500, false, &[])];
        let g = Guard::default();
        let p = plan(
            "h1",
            &DeviceOp::Mtu {
                dev: "eth1".into(),
                mtu: 9000,
            },
            &devices,
            &g,
            None,
        )
        .expect("plan");
        assert_eq!(p.command, "ip link set dev eth1 mtu 9000");
        assert_eq!(p.undo[0].command, "ip link set dev eth1 mtu 1500");
        let p = plan(
            "h1",
            &DeviceOp::Up { dev: "eth1".into() },
            &devices,
            &g,
            None,
        )
        .expect("plan");
        assert_eq!(p.undo[0].command, "ip link set dev eth1 down");
    }

    #[test]
    fn addresses_undo_only_what_changed() {
        let devices = [dev("eth1", 1500, true, &["198.18.1.1/24"])];
        let g = Guard::default();
        let add_existing = plan(
            "h1",
            &DeviceOp::AddrAdd {
                dev: "eth1".into(),
                addr: "198.18.1.1/24".into(),
            },
            &devices,
            &g,
            None,
        )
        .expect("plan");
        assert!(add_existing.undo.is_empty());
        let flush = plan(
            "h1",
            &DeviceOp::AddrFlush { dev: "eth1".into() },
            &devices,
            &g,
            None,
        )
        .expect("plan");
        assert_eq!(
            flush.undo[0].command,
            "ip addr add 198.18.1.1/24 dev eth1 || true"
        );
        assert!(matches!(
            plan(
                "h1",
                &DeviceOp::AddrAdd {
                    dev: "eth1".into(),
                    addr: "1.2.3.4/33".into()
                },
                &devices,
                &g,
                None
            ),
            Err(OpError::Invalid { .. })
        ));
    }

    #[test]
    fn the_guard_protects_unmapped_devices_but_not_created_ones() {
        let devices = [dev("eth0", 1500, true, &[]), dev("eth1", 1500, true, &[])];
        let mut g = Guard {
            mapped: Some(["eth1".to_owned()].into()),
            created: BTreeSet::new(),
        };
        assert_eq!(
            plan(
                "h1",
                &DeviceOp::Down { dev: "eth0".into() },
                &devices,
                &g,
                None
            ),
            Err(OpError::NotMapped { dev: "eth0".into() })
        );
        let created = plan(
            "h1",
            &DeviceOp::CreateBridge { name: "br0".into() },
            &devices,
            &g,
            None,
        )
        .expect("plan");
        g.created.extend(created.creates);
        assert!(
            plan(
                "h1",
                &DeviceOp::Destroy { dev: "br0".into() },
                &devices,
                &g,
                None
            )
            .is_ok()
        );
        assert_eq!(
            plan(
                "h1",
                &DeviceOp::Destroy { dev: "eth1".into() },
                &devices,
                &g,
                None
            ),
            Err(OpError::NotOurs { dev: "eth1".into() })
        );
    }

    #[test]
    fn values_are_quoted_and_paths_confined() {
        let g = Guard::default();
        let p = plan(
            "h1",
            &DeviceOp::WriteFile {
                path: "/proc/sys/net/ipv4/ip_forward".into(),
                value: "1; reboot".into(),
            },
            &[],
            &g,
            Some("0"),
        )
        .expect("plan");
        assert_eq!(
            p.command,
            "printf '%s\\n' '1; reboot' > /proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            p.undo[0].command,
            "printf '%s\\n' 0 > /proc/sys/net/ipv4/ip_forward"
        );
        assert!(
            plan(
                "h1",
                &DeviceOp::WriteFile {
                    path: "/etc/passwd".into(),
                    value: "x".into()
                },
                &[],
                &g,
                Some("")
            )
            .is_err()
        );
        assert!(
            plan(
                "h1",
                &DeviceOp::WriteFile {
                    path: "/sys/../etc/x".into(),
                    value: "x".into()
                },
                &[],
                &g,
                Some("")
            )
            .is_err()
        );
        assert!(
            plan(
                "h1",
                &DeviceOp::Sysctl {
                    key: "a;b".into(),
                    value: "1".into()
                },
                &[],
                &g,
                Some("0")
            )
            .is_err()
        );
        assert!(matches!(
            plan(
                "h1",
                &DeviceOp::Sysctl {
                    key: "net.ipv4.ip_forward".into(),
                    value: "1".into()
                },
                &[],
                &g,
                None
            ),
            Err(OpError::NeedsCurrentValue(_))
        ));
    }

    #[test]
    fn the_undo_log_survives_in_its_file_and_drains_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("undo.jsonl");
        let mut log = UndoLog::with_file(&file).expect("log");
        let s = |c: &str| UndoStep {
            host: "h1".into(),
            description: c.into(),
            command: c.into(),
        };
        log.record(&[s("a"), s("b")]).expect("record");
        log.record(&[s("c")]).expect("record");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(b"{\"torn"))
            .expect("tear");
        let reread = UndoLog::read(&file).expect("read");
        assert_eq!(reread.len(), 3);
        let drained = log.drain_newest_first().expect("drain");
        assert_eq!(
            drained
                .iter()
                .map(|s| s.command.as_str())
                .collect::<Vec<_>>(),
            ["c", "b", "a"]
        );
        assert!(!file.exists());
    }
}
