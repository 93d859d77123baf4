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

/// A trace as the run events that produced it (for read-only views of recorded runs):
/// `Started` from the header, each step as started and finished, each walk end, and
/// `Finished` from the footer (or the counts so far for an interrupted run).
pub fn trace_events(trace: &Path) -> Result<Vec<crate::run::RunEvent>, String> {
    use crate::run::{RunEvent, RunMode};
    let contents = crate::walk::read_trace(trace).map_err(|e| e.to_string())?;
    let header = &contents.header;
    let order: Vec<String> = crate::recipe::Recipe::parse(trace, &header.recipe_text)
        .map(|r| r.walk.order)
        .unwrap_or_default();
    let walks = contents
        .records
        .iter()
        .filter(|r| matches!(r, TraceRecord::WalkEnd(_)))
        .count() as u64;
    let mut events = vec![RunEvent::Started {
        mode: RunMode::Run,
        recipe: header.recipe_name.clone(),
        strategy: header.strategy.clone(),
        testbeds: header
            .testbeds
            .iter()
            .map(|t| t.iter().map(|(r, m)| (r.clone(), m.clone())).collect())
            .collect(),
        walks,
        epochs: 1,
        run_dir: trace.parent().map(|d| d.display().to_string()),
        at_ms: header.started_at,
    }];
    let mut totals = [0u64; 5];
    for record in &contents.records {
        match record {
            TraceRecord::Step(step) => {
                let index = order.iter().position(|a| *a == step.action).unwrap_or(0);
                let option = match &step.option {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                events.push(RunEvent::StepStarted {
                    walk_id: step.walk_id,
                    testbed: step.testbed,
                    index,
                    action: step.action.clone(),
                    option,
                    command: step.command.clone(),
                });
                events.push(RunEvent::StepFinished {
                    walk_id: step.walk_id,
                    testbed: step.testbed,
                    index,
                    action: step.action.clone(),
                    outcome: step.outcome,
                    exit_status: step.exit_status,
                    duration_ms: step.duration_ms,
                    excerpt: step.output_excerpt.clone(),
                    recorded: None,
                });
            }
            TraceRecord::WalkEnd(end) => {
                totals[end.outcome.slot()] += 1;
                events.push(RunEvent::WalkFinished {
                    walk_id: end.walk_id,
                    testbed: end.testbed,
                    outcome: end.outcome,
                    duration_ms: end.duration_ms,
                    failed_action: end.failed_action.clone(),
                    values: String::new(),
                });
            }
            _ => {}
        }
    }
    events.push(RunEvent::Finished {
        passed: totals[0],
        failed: totals[1],
        errors: totals[2],
        cancelled: totals[3],
        skipped: totals[4],
        elapsed_ms: contents.footer.as_ref().map_or(0, |f| f.elapsed_ms),
        stopped: contents
            .footer
            .is_none()
            .then(|| "interrupted (no footer)".to_owned()),
    });
    Ok(events)
}
