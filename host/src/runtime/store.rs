//! A plugin's store: its [`PluginHost`], memory limiter and CPU deadline.
//! Below the instance and the loader, which both make stores.

use anyhow::Result;
use wasmtime::{Engine, Store, UpdateDeadline};

use super::capability::PluginHost;
use super::job::{CallContext, Grant, InstanceLimits};

/// Raised from the epoch callback when a plugin computes too long.
#[derive(Debug)]
pub(super) struct CpuLimitExceeded;

impl std::fmt::Display for CpuLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CPU time limit exceeded")
    }
}
impl std::error::Error for CpuLimitExceeded {}

pub(super) fn new_store(
    engine: &Engine,
    limits: &InstanceLimits,
    ctx: CallContext,
    grant: &Grant,
) -> Result<Store<PluginHost>> {
    let mut store = Store::new(engine, PluginHost::new(limits, ctx, grant)?);
    store.limiter(|h| &mut h.limits);
    // Checked every epoch tick: trap once the guest has computed longer
    // than its limit since it last returned to the host.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        if ctx.data().must_stop() {
            Err(CpuLimitExceeded.into())
        } else {
            Ok(UpdateDeadline::Continue(1))
        }
    });
    Ok(store)
}

/// A store for `describe` at load time: no grants, small limits.
pub(super) fn probe_store(engine: &Engine, limits: &InstanceLimits) -> Store<PluginHost> {
    new_store(engine, limits, CallContext::default(), &Grant::default())
        .expect("a store without grants cannot fail")
}
