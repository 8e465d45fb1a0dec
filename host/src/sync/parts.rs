//! What one run carries from its read to its apply.

use std::sync::{Arc, Mutex};

use super::{Collected, SyncRequest};
use crate::config::{Config, JobConfig};
use crate::engine::Plan;
use crate::model::{ReadMode, ReadSummary};
use crate::runtime::LoadedPlugin;
use crate::store::{ApplyContext, Phases};

/// A run read and planned; `apply` is `None` for a dry run or a stop.
pub(super) struct Planned {
    pub(super) read: ReadSummary,
    pub(super) plan: Plan,
    pub(super) run_again_in: Option<u32>,
    pub(super) apply: Option<ApplyContext>,
    pub(super) phases: Phases,
}

/// Everything one run works with, from its read to its apply.
#[derive(Clone, Copy)]
pub(super) struct RunParts<'a> {
    pub(super) config: &'a Config,
    pub(super) job: &'a JobConfig,
    pub(super) req: &'a SyncRequest,
    pub(super) connector: &'a LoadedPlugin,
    pub(super) mappers: &'a [LoadedPlugin],
    pub(super) mode: &'a ReadMode,
    pub(super) run_id: &'a str,
    pub(super) shared: &'a Arc<Mutex<Collected>>,
}
