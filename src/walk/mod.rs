//! Walks: plans of combinatorial walks and the trace of a run.
//!
//! - [`plan`]: which walks exist, their ids (mixed-radix index in the full product, last
//!   action fastest) and the strategies that select walks (`full`, `pairwise`, `t=N`,
//!   `random:N:SEED`);
//! - [`covering`]: deterministic t-wise covering arrays (IPOG) and coverage checks;
//! - [`epoch`]: the pure scheduler model of serial actions (epochs and groups);
//! - [`trace`]: the JSON-lines trace format, its writer and reader;
//! - [`trace_index`]: the sidecar index for fast lookup of one walk's records.
//!
//! Invariant across the module: a walk id alone regenerates its walk for a given walk order,
//! whatever strategy selected it, and is the key that ties plan, schedule and trace together.

pub mod covering;
pub mod epoch;
pub mod plan;
pub mod trace;
pub mod trace_index;

pub use epoch::{Epoch, EpochGroup, epoch_segments, schedule_epochs};
pub use plan::{ActionDimension, Plan, PlanError, Strategy, StrategyParseError, Walk, WalkId};
pub use trace::{
    Footer, Header, Outcome, Step, TraceContents, TraceEntry, TraceError, TraceReader, TraceRecord,
    TraceWarning, TraceWriter, WalkEnd, read_trace,
};
pub use trace_index::{IndexStatus, RebuildReason, TraceIndex};
