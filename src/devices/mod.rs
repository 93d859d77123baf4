//! Network devices of a host, discovered in one command and parsed from `ip`'s JSON.
//!
//! One exec per host runs [`DISCOVERY_SCRIPT`]: `ip -j -d -s link show`, `ip -j addr show`
//! and each device's driver (from `/sys/class/net/*/device/driver`, else `ethtool -i`),
//! as sections separated by marker lines. [`parse_discovery`] is pure, so it is tested on
//! captured output. Invariants: parsing never panics and reports the section that was
//! malformed; devices come back in kernel index order; rates are computed only from two
//! snapshots of the same device, and counters that went backwards (a reset) give no rate.

pub mod apply;
pub mod ops;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The command that prints everything [`parse_discovery`] reads.
pub const DISCOVERY_SCRIPT: &str = r#"printf '\036links\n'; ip -j -d -s link show; printf '\n\036addrs\n'; ip -j addr show; printf '\n\036drivers\n'; for d in /sys/class/net/*; do n=${d##*/}; drv=; if [ -e "$d/device/driver" ]; then drv=$(basename "$(readlink "$d/device/driver")"); elif command -v ethtool >/dev/null 2>&1; then drv=$(ethtool -i "$n" 2>/dev/null | sed -n 's/^driver: //p'); fi; printf '%s %s\n' "$n" "$drv"; done"#;

/// One network device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, `vlan`, … (`linkinfo.info_kind`), else the link type (`ether`, `loopback`).
    pub kind: String,
    pub hwaddr: Option<String>,
    /// The operational state (`UP`, `DOWN`, `UNKNOWN`, …).
    pub state: String,
    pub flags: Vec<String>,
    pub mtu: u32,
    pub driver: Option<String>,
    pub master: Option<String>,
    pub addresses: Vec<Address>,
    pub stats: LinkStats,
}

/// An address on a device, `local/prefix_len`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub family: String,
    pub local: String,
    pub prefix_len: u8,
    pub scope: String,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.local, self.prefix_len)
    }
}

/// Link counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Rates between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    pub rx_bits_per_sec: f64,
    pub tx_bits_per_sec: f64,
    pub rx_packets_per_sec: f64,
    pub tx_packets_per_sec: f64,
}

/// Rates from `before` to `after` over `elapsed`; `None` when a counter went backwards or
/// no time passed.
pub fn rates(before: &LinkStats, after: &LinkStats, elapsed: Duration) -> Option<Rates> {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    let per_sec = |a: u64, b: u64| b.checked_sub(a).map(|d| d as f64 / secs);
    Some(Rates {
        rx_bits_per_sec: per_sec(before.rx_bytes, after.rx_bytes)? * 8.0,
        tx_bits_per_sec: per_sec(before.tx_bytes, after.tx_bytes)? * 8.0,
        rx_packets_per_sec: per_sec(before.rx_packets, after.rx_packets)?,
        tx_packets_per_sec: per_sec(before.tx_packets, after.tx_packets)?,
    })
}

/// Why discovery output could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("device discovery printed no `{0}` section (is iproute2 installed on the host?)")]
    MissingSection(&'static str),
    #[error("cannot read the `{section}` section: {cause}")]
    Malformed {
        section: &'static str,
        cause: String,
    },
}

#[derive(Deserialize)]
struct IpLink {
    ifindex: u32,
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    mtu: u32,
    #[serde(default)]
    operstate: Option<String>,
    #[serde(default)]
    link_type: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    master: Option<String>,
    #[serde(default)]
    linkinfo: Option<IpLinkInfo>,
    #[serde(default)]
    stats64: Option<IpStats>,
}

#[derive(Deserialize)]
struct IpLinkInfo {
    #[serde(default)]
    info_kind: Option<String>,
}

#[derive(Deserialize, Default)]
struct IpStats {
    #[serde(default)]
    rx: IpCounters,
    #[serde(default)]
    tx: IpCounters,
}

#[derive(Deserialize, Default)]
struct IpCounters {
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    packets: u64,
    #[serde(default)]
    errors: u64,
    #[serde(default)]
    dropped: u64,
}

#[derive(Deserialize)]
struct IpAddrLink {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<IpAddrInfo>,
}

#[derive(Deserialize)]
struct IpAddrInfo {
    #[serde(default)]
    family: String,
    #[serde(default)]
    local: Option<String>,
    #[serde(default)]
    prefixlen: u8,
    #[serde(default)]
    scope: String,
}

fn section<'a>(text: &'a str, name: &'static str) -> Result<&'a str, DeviceError> {
    let marker = format!("\x1e{name}\n");
    let start = text
        .find(&marker)
        .ok_or(DeviceError::MissingSection(name))?
        + marker.len();
    let rest = &text[start..];
    Ok(rest.find('\x1e').map_or(rest, |end| &rest[..end]))
}

/// Parses the output of [`DISCOVERY_SCRIPT`].
pub fn parse_discovery(output: &str) -> Result<Vec<Device>, DeviceError> {
    let links: Vec<IpLink> =
        serde_json::from_str(section(output, "links")?.trim()).map_err(|e| {
            DeviceError::Malformed {
                section: "links",
                cause: e.to_string(),
            }
        })?;
    let addrs: Vec<IpAddrLink> =
        serde_json::from_str(section(output, "addrs")?.trim()).map_err(|e| {
            DeviceError::Malformed {
                section: "addrs",
                cause: e.to_string(),
            }
        })?;
    let drivers: BTreeMap<&str, &str> = section(output, "drivers")?
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(2, ' ');
            let name = parts.next()?;
            let driver = parts.next().unwrap_or("").trim();
            (!name.is_empty() && !driver.is_empty()).then_some((name, driver))
        })
        .collect();
    let mut by_name: BTreeMap<String, Vec<Address>> = BTreeMap::new();
    for link in addrs {
        let list = by_name.entry(link.ifname).or_default();
        for a in link.addr_info {
            if let Some(local) = a.local {
                list.push(Address {
                    family: a.family,
                    local,
                    prefix_len: a.prefixlen,
                    scope: a.scope,
                });
            }
        }
    }
    let mut devices: Vec<Device> = links
        .into_iter()
        .map(|l| {
            let stats = l.stats64.unwrap_or_default();
            Device {
                index: l.ifindex,
                kind: l
                    .linkinfo
                    .and_then(|i| i.info_kind)
                    .or(l.link_type)
                    .unwrap_or_else(|| "unknown".into()),
                hwaddr: l.address.filter(|a| !a.is_empty()),
                state: l.operstate.unwrap_or_else(|| "UNKNOWN".into()),
                flags: l.flags,
                mtu: l.mtu,
                driver: drivers.get(l.ifname.as_str()).map(|d| (*d).to_owned()),
                master: l.master,
                addresses: by_name.remove(&l.ifname).unwrap_or_default(),
                stats: LinkStats {
                    rx_bytes: stats.rx.bytes,
                    rx_packets: stats.rx.packets,
                    rx_errors: stats.rx.errors,
                    rx_dropped: stats.rx.dropped,
                    tx_bytes: stats.tx.bytes,
                    tx_packets: stats.tx.packets,
                    tx_errors: stats.tx.errors,
                    tx_dropped: stats.tx.dropped,
                },
                name: l.ifname,
            }
        })
        .collect();
    devices.sort_by_key(|d| d.index);
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = "\x1elinks\n[{\"ifindex\":1,\"ifname\":\"lo\",\"flags\":[\"LOOPBACK\",\"UP\",\"LOWER_UP\"],\"mtu\":65536,\"operstate\":\"UNKNOWN\",\"link_type\":\"loopback\",\"address\":\"00:00:00:00:00:00\",\"stats64\":{\"rx\":{\"bytes\":10,\"packets\":1,\"errors\":0,\"dropped\":0},\"tx\":{\"bytes\":10,\"packets\":1,\"errors\":0,\"dropped\":0}}},{\"ifindex\":3,\"ifname\":\"br0\",\"flags\":[\"BROADCAST\"],\"mtu\":1500,\"operstate\":\"DOWN\",\"link_type\":\"ether\",\"address\":\"02:00:00:00:00:09\",\"linkinfo\":{\"info_kind\":\"bridge\"}},{\"ifindex\":2,\"ifname\":\"eth1\",\"flags\":[\"UP\"],\"mtu\":9000,\"operstate\":\"UP\",\"link_type\":\"ether\",\"address\":\"02:ee:a2:52:01:01\",\"master\":\"br0\",\"linkinfo\":{\"info_kind\":\"veth\"},\"stats64\":{\"rx\":{\"bytes\":1000,\"packets\":10,\"errors\":1,\"dropped\":2},\"tx\":{\"bytes\":2000,\"packets\":20,\"errors\":3,\"dropped\":4}}}]\n\x1eaddrs\n[{\"ifindex\":2,\"ifname\":\"eth1\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"198.18.1.1\",\"prefixlen\":24,\"scope\":\"global\"},{\"family\":\"inet6\",\"local\":\"fe80::1\",\"prefixlen\":64,\"scope\":\"link\"}]},{\"ifindex\":1,\"ifname\":\"lo\",\"addr_info\":[]}]\n\x1edrivers\nbr0 bridge\neth1 veth\nlo \n";

    #[test]
    fn parses_links_addresses_drivers_and_masters() {
        let devices = parse_discovery(CAPTURED).expect("parses");
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["lo", "eth1", "br0"]);
        let eth1 = &devices[1];
        assert_eq!(eth1.kind, "veth");
        assert_eq!(eth1.mtu, 9000);
        assert_eq!(eth1.driver.as_deref(), Some("veth"));
        assert_eq!(eth1.master.as_deref(), Some("br0"));
        assert_eq!(
            eth1.addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["198.18.1.1/24", "fe80::1/64"]
        );
        assert_eq!(eth1.stats.tx_dropped, 4);
        assert_eq!(devices[0].kind, "loopback");
        assert_eq!(devices[0].driver, None);
        assert_eq!(devices[2].kind, "bridge");
    }

    #[test]
    fn missing_and_malformed_sections_are_named() {
        assert_eq!(
            parse_discovery("nothing"),
            Err(DeviceError::MissingSection("links"))
        );
        let broken = "\x1elinks\n[{]\n\x1eaddrs\n[]\n\x1edrivers\n";
        assert!(matches!(
            parse_discovery(broken),
            Err(DeviceError::Malformed {
                section: "links",
                ..
            })
        ));
    }

    #[test]
    fn rates_need_time_and_monotonic_counters() {
        let a = LinkStats {
            rx_bytes: 1000,
            tx_bytes: 0,
            rx_packets: 10,
            ..LinkStats::default()
        };
        let b = LinkStats {
            rx_bytes: 3000,
            tx_bytes: 500,
            rx_packets: 30,
            ..LinkStats::default()
        };
        let r = rates(&a, &b, Duration::from_secs(2)).expect("rates");
        assert_eq!(r.rx_bits_per_sec, 8000.0);
        assert_eq!(r.tx_bits_per_sec, 2000.0);
        assert_eq!(r.rx_packets_per_sec, 10.0);
        assert_eq!(rates(&b, &a, Duration::from_secs(1)), None);
        assert_eq!(rates(&a, &b, Duration::ZERO), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_output_never_panics(text in "\\PC{0,300}") {
            let _ = parse_discovery(&text);
            let _ = parse_discovery(&format!("\x1elinks\n{text}\n\x1eaddrs\n{text}\n\x1edrivers\n{text}"));
        }
    }
}

/// Why discovering a host's devices failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoverError {
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("device discovery on {host} failed: {cause}")]
    Job { host: String, cause: String },
    #[error("device discovery on {host}: {source}")]
    Parse { host: String, source: DeviceError },
}

/// Discovers `host`'s devices with one job through the engine (its output is read from
/// the job's events, so it is never cut to the in-memory tail).
pub async fn discover(
    engine: &crate::engine::EngineHandle,
    host: &str,
) -> Result<Vec<Device>, DiscoverError> {
    use crate::engine::{Ending, Event, JobSpec, JobState};
    let mut events = engine.subscribe()?;
    let job = engine
        .exec(JobSpec {
            host: host.to_owned(),
            command: DISCOVERY_SCRIPT.to_owned(),
            desc: Some("discover devices".into()),
            ..JobSpec::default()
        })
        .await?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::JobOutput {
                job: j,
                stream,
                data,
            } if j == job => match stream {
                crate::transport::Stream::Stdout => stdout.extend_from_slice(&data),
                crate::transport::Stream::Stderr => stderr.extend_from_slice(&data),
            },
            Event::JobFinished {
                job: j,
                state,
                ending,
                ..
            } if j == job => {
                if state != JobState::Passed {
                    let cause = match ending {
                        Ending::TransportError { error, .. } => error,
                        Ending::Exited(o) => format!(
                            "exit {:?}: {}",
                            o.code,
                            String::from_utf8_lossy(&stderr).trim()
                        ),
                    };
                    return Err(DiscoverError::Job {
                        host: host.to_owned(),
                        cause,
                    });
                }
                return parse_discovery(&String::from_utf8_lossy(&stdout)).map_err(|source| {
                    DiscoverError::Parse {
                        host: host.to_owned(),
                        source,
                    }
                });
            }
            _ => {}
        }
    }
    Err(DiscoverError::Engine(crate::engine::EngineError::Stopped))
}
