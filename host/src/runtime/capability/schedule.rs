//! The `schedule` import: a connector asks for its next run; it goes on
//! the run report and the daemon plans the job's next run from it.

use anyhow::Result;
use wasmtime::component::Linker;

use super::{link_import, Contract, PluginHost};
use crate::runtime::wit;

/// Receives a connector's wish for its next run, during a read.
pub trait Schedule: Send {
    /// The connector asks for its next run in `seconds`.
    fn run_again_in(&mut self, seconds: u32);
}

pub(super) fn add_to_linker(linker: &mut Linker<PluginHost>, contract: Contract) -> Result<()> {
    link_import!(linker, contract, schedule)
}

impl PluginHost {
    fn schedule_run_in(&mut self, seconds: u32) {
        let _ = self.with_sink(|s| {
            s.run_again_in(seconds);
            Ok(())
        });
    }
}

/// The import in the contract versions where it has 0.1's shape.
macro_rules! schedule_import {
    ($($version:ident),*) => {$(
        impl wit::$version::schedule::Host for PluginHost {
            fn run_again_in(&mut self, seconds: u32) {
                self.schedule_run_in(seconds)
            }
        }
    )*};
}
schedule_import!(v0_1, v0_2);
