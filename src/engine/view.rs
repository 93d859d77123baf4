//! Pure views built from engine events (reducers), shared by every front end.
//!
//! Invariant: these functions only read events; applying the same events in the same order
//! (live or from a recording) always gives the same view.

use super::Event;
use std::collections::HashMap;
use std::time::Duration;

/// Per-host summary built from events, for tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostView {
    pub state: HostViewState,
    pub latency: Option<Duration>,
    pub error: Option<String>,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostViewState {
    #[default]
    Idle,
    Connecting,
    Up,
    Failed,
    Down,
}

impl HostViewState {
    pub fn label(self) -> &'static str {
        match self {
            HostViewState::Idle => "idle",
            HostViewState::Connecting => "connecting",
            HostViewState::Up => "up",
            HostViewState::Failed => "FAILED",
            HostViewState::Down => "down",
        }
    }
}

/// Applies one event to the per-host view.
pub fn apply_host_event(views: &mut HashMap<String, HostView>, event: &Event) {
    let (host, update): (&str, fn(&mut HostView, &Event)) = match event {
        Event::HostConnecting { host } => (host, |v, _| v.state = HostViewState::Connecting),
        Event::HostConnected { host, .. } => (host, |v, e| {
            if let Event::HostConnected { latency, .. } = e {
                *v = HostView {
                    state: HostViewState::Up,
                    latency: Some(*latency),
                    ..HostView::default()
                };
            }
        }),
        Event::HostFailed { host, .. } => (host, |v, e| {
            if let Event::HostFailed { error, hint, .. } = e {
                v.state = HostViewState::Failed;
                v.error = Some(error.clone());
                v.hint = Some(hint.clone());
            }
        }),
        Event::HostDisconnected { host } => (host, |v, _| v.state = HostViewState::Down),
        _ => return,
    };
    update(views.entry(host.to_owned()).or_default(), event);
}

/// A machine's devices as last discovered, with rates since the discovery before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DevicesView {
    pub at_ms: u64,
    pub devices: Vec<crate::devices::Device>,
    /// Rates per device name, when an earlier snapshot of it exists.
    pub rates: std::collections::BTreeMap<String, crate::devices::Rates>,
    pub error: Option<String>,
}

/// Applies a `Devices` event; rates come from the previous snapshot of the same device.
pub fn apply_devices_event(views: &mut HashMap<String, DevicesView>, event: &Event) {
    let Event::Devices {
        host,
        at_ms,
        devices,
    } = event
    else {
        return;
    };
    let view = views.entry(host.clone()).or_default();
    match devices {
        Err(e) => view.error = Some(e.clone()),
        Ok(now) => {
            let elapsed = Duration::from_millis(at_ms.saturating_sub(view.at_ms));
            view.rates = now
                .iter()
                .filter_map(|d| {
                    let before = view.devices.iter().find(|p| p.name == d.name)?;
                    let r = crate::devices::rates(&before.stats, &d.stats, elapsed)?;
                    Some((d.name.clone(), r))
                })
                .collect();
            view.devices = now.clone();
            view.at_ms = *at_ms;
            view.error = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{Device, LinkStats};

    fn snapshot(at_ms: u64, rx_bytes: u64) -> Event {
        Event::Devices {
            host: "h1".into(),
            at_ms,
            devices: Ok(vec![Device {
                index: 2,
                name: "eth1".into(),
                kind: "veth".into(),
                hwaddr: None,
                state: "UP".into(),
                flags: vec![],
                mtu: 1500,
                driver: None,
                master: None,
                addresses: vec![],
                stats: LinkStats {
                    rx_bytes,
                    ..LinkStats::default()
                },
            }]),
        }
    }

    #[test]
    fn rates_come_from_consecutive_snapshots() {
        let mut views = HashMap::new();
        apply_devices_event(&mut views, &snapshot(1_000, 0));
        assert!(views["h1"].rates.is_empty());
        apply_devices_event(&mut views, &snapshot(3_000, 1_000));
        assert_eq!(views["h1"].rates["eth1"].rx_bits_per_sec, 4_000.0);
        let failed = Event::Devices {
            host: "h1".into(),
            at_ms: 4_000,
            devices: Err("lost".into()),
        };
        apply_devices_event(&mut views, &failed);
        assert_eq!(views["h1"].error.as_deref(), Some("lost"));
        assert_eq!(views["h1"].devices.len(), 1, "the last good snapshot stays");
    }
}
