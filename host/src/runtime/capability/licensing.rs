//! The `licensing` import: the tenant's license seats, read-only.

use anyhow::Result;
use wasmtime::component::Linker;

use super::{link_import, Contract, PluginHost};
use crate::runtime::wit;

/// The tenant's license seats, during a read.
pub trait Seats: Send {
    /// License seats: (kind, total, used).
    fn seats(&mut self) -> Vec<(String, u32, u32)>;
}

pub(super) fn add_to_linker(linker: &mut Linker<PluginHost>, contract: Contract) -> Result<()> {
    link_import!(linker, contract, licensing)
}

impl PluginHost {
    /// (kind, total, used) per seat kind; none outside `read`.
    fn seats(&mut self) -> Vec<(String, u32, u32)> {
        self.with_sink(|s| Ok(s.seats())).unwrap_or_default()
    }
}

/// The import in the contract versions where it has 0.1's shape.
macro_rules! licensing_import {
    ($($version:ident),*) => {$(
        impl wit::$version::licensing::Host for PluginHost {
            fn seats(&mut self) -> Vec<wit::$version::licensing::SeatCount> {
                PluginHost::seats(self).into_iter().map(Into::into).collect()
            }
        }
    )*};
}
licensing_import!(v0_1, v0_2);
