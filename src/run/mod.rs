//! Running recipes: the walk executor (`labdeck run`), replay with step control, rerun of
//! failed walks and shrinking, with their events and the pure run view.
//!
//! - [`event`]: [`RunEvent`], published through the engine;
//! - [`view`]: [`RunView`], the pure reducer every front end renders;
//! - [`step`]: [`StepControl`] / [`StepDecision`], the step-through API.

pub mod action;
pub mod driver;
pub mod event;
pub mod exec;
pub mod expr;
pub mod prepare;
pub mod recorded;
pub mod results;
pub mod step;
pub mod view;
pub mod vpp_step;

pub use event::{RunEvent, RunMode, TestbedMap};
pub use step::{StepControl, StepDecision};
pub use view::{RunPhase, RunView};
