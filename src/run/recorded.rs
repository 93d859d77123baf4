//! A recorded walk read back from a trace (through its index): the run's header, the
//! testbed the walk ran on, each step's outcome and how the walk ended. Replay, rerun and
//! shrink start from this.

use crate::walk::{Header, Outcome, TraceIndex, TraceRecord, WalkId};
use std::collections::BTreeMap;
use std::path::Path;

/// A recorded walk: the run's header, where it ran and what each step did.
pub struct Recorded {
    pub header: Header,
    pub testbed: usize,
    pub outcome: Option<Outcome>,
    pub failed_action: Option<String>,
    /// action name → outcome.
    pub steps: BTreeMap<String, Outcome>,
}

pub fn load_recorded(trace: &Path, walk: WalkId) -> Result<Recorded, String> {
    let (index, _) = TraceIndex::open(trace).map_err(|e| e.to_string())?;
    let records = index.walk_records(walk).map_err(|e| e.to_string())?;
    if records.is_empty() {
        return Err(format!("walk {walk} is not in {}", trace.display()));
    }
    let first = crate::walk::TraceReader::open(trace)
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{} is empty", trace.display()))?
        .map_err(|e| e.to_string())?;
    let TraceRecord::Header(header) = first.record else {
        return Err(format!("{} does not start with a header", trace.display()));
    };
    let mut recorded = Recorded {
        header,
        testbed: 0,
        outcome: None,
        failed_action: None,
        steps: BTreeMap::new(),
    };
    for record in records {
        match record {
            TraceRecord::Step(step) => {
                recorded.testbed = step.testbed;
                recorded.steps.insert(step.action, step.outcome);
            }
            TraceRecord::WalkEnd(end) => {
                recorded.testbed = end.testbed;
                recorded.outcome = Some(end.outcome);
                recorded.failed_action = end.failed_action;
            }
            _ => {}
        }
    }
    Ok(recorded)
}
