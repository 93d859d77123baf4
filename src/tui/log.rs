//! Tracing events for the Log pane: a `tracing-subscriber` layer that formats each event
//! into a line and pushes it into a shared, bounded inbox the UI drains on every tick.
//!
//! Invariants: while the TUI runs, this layer is the only place tracing events go (nothing
//! is written to the terminal); the inbox never holds more than [`INBOX_KEPT`] lines (the
//! oldest are dropped and counted), so a flood of events cannot grow memory.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Lines the inbox holds between two UI ticks.
pub const INBOX_KEPT: usize = 10_000;

/// A log line for the Log pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: tracing::Level,
    pub target: String,
    pub message: String,
}

#[derive(Debug, Default)]
struct Inbox {
    lines: VecDeque<LogLine>,
    dropped: u64,
}

/// The shared inbox: the layer pushes, the UI drains.
#[derive(Debug, Clone, Default)]
pub struct LogInbox {
    inner: Arc<Mutex<Inbox>>,
}

impl LogInbox {
    pub fn push(&self, line: LogLine) {
        if let Ok(mut inbox) = self.inner.lock() {
            if inbox.lines.len() == INBOX_KEPT {
                inbox.lines.pop_front();
                inbox.dropped += 1;
            }
            inbox.lines.push_back(line);
        }
    }

    /// Takes every queued line and the number dropped since the last drain.
    pub fn drain(&self) -> (Vec<LogLine>, u64) {
        match self.inner.lock() {
            Ok(mut inbox) => {
                let dropped = std::mem::take(&mut inbox.dropped);
                (inbox.lines.drain(..).collect(), dropped)
            }
            Err(_) => (Vec::new(), 0),
        }
    }

    /// The layer that feeds this inbox.
    pub fn layer(&self) -> RingLayer {
        RingLayer {
            inbox: self.clone(),
        }
    }
}

/// The tracing layer writing into a [`LogInbox`].
#[derive(Debug, Clone)]
pub struct RingLayer {
    inbox: LogInbox,
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let meta = event.metadata();
        self.inbox.push(LogLine {
            level: *meta.level(),
            target: meta.target().to_owned(),
            message: format!("{}{}", visitor.message, visitor.fields),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_land_in_the_inbox_not_on_the_terminal() {
        let inbox = LogInbox::default();
        let subscriber = tracing_subscriber::registry().with(inbox.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(host = "h1", "connection lost");
        });
        let (lines, dropped) = inbox.drain();
        assert_eq!(dropped, 0);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].level, tracing::Level::WARN);
        assert_eq!(lines[0].message, "connection lost host=h1");
        assert!(inbox.drain().0.is_empty(), "drained once");
    }

    #[test]
    fn the_inbox_is_bounded() {
        let inbox = LogInbox::default();
        for i in 0..INBOX_KEPT + 5 {
            inbox.push(LogLine {
                level: tracing::Level::INFO,
                target: "t".into(),
                message: i.to_string(),
            });
        }
        let (lines, dropped) = inbox.drain();
        assert_eq!((lines.len(), dropped), (INBOX_KEPT, 5));
        assert_eq!(lines[0].message, "5");
    }
}
