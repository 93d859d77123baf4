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
