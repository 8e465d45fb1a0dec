//! The `state` import: a plugin's key/value store for this tenant + job +
//! plugin, read before the run and committed with the run's data.

use anyhow::Result;
use wasmtime::component::Linker;

use super::{link_import, truncate, Contract, PluginHost};
use crate::runtime::wit;

/// Plugin state (key/value) for this tenant + job + plugin, during a read.
pub trait PluginState: Send {
    fn state_get(&mut self, key: &str) -> Option<Vec<u8>>;
    fn state_set(&mut self, key: String, value: Option<Vec<u8>>);
}

pub(super) fn add_to_linker(linker: &mut Linker<PluginHost>, contract: Contract) -> Result<()> {
    link_import!(linker, contract, state)
}

impl PluginHost {
    fn state_get(&mut self, key: String) -> Option<Vec<u8>> {
        self.with_sink(|s| Ok(s.state_get(&key))).ok().flatten()
    }

    fn state_set(&mut self, key: String, value: Vec<u8>) {
        // The contract gives `set` no error, and dropping the value would
        // leave the plugin's state wrong: an oversized one stops the run.
        if let Err(e) = self.check_payload("state value", key.len() + value.len()) {
            let key = truncate(&key, 64);
            self.fatal
                .get_or_insert_with(|| anyhow::anyhow!("state key {key:?} not saved: {e}"));
            self.resume();
            return;
        }
        let _ = self.with_sink(|s| {
            s.state_set(key, Some(value));
            Ok(())
        });
    }

    fn state_delete(&mut self, key: String) {
        let _ = self.with_sink(|s| {
            s.state_set(key, None);
            Ok(())
        });
    }
}

/// The import in the contract versions where it has 0.1's shape.
macro_rules! state_import {
    ($($version:ident),*) => {$(
        impl wit::$version::state::Host for PluginHost {
            fn get(&mut self, key: String) -> Option<Vec<u8>> {
                self.state_get(key)
            }
            fn set(&mut self, key: String, value: Vec<u8>) {
                self.state_set(key, value)
            }
            fn delete(&mut self, key: String) {
                self.state_delete(key)
            }
        }
    )*};
}
state_import!(v0_1, v0_2);
