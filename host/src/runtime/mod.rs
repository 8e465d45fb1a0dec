//! The WebAssembly runtime: one wasmtime engine, compiled-artifact cache,
//! plugin validation and loading, and sandboxed instances.
//!
//! Plugins are loaded into an [`InstancePre`](wasmtime::component::InstancePre)
//! once; each run instantiates from it in microseconds with its own store,
//! memory limit, CPU deadline and WASI context (deny-by-default).
//!
//! Layers, each using only those below it:
//! - `job.rs` (what a job gives an instance), `contract.rs` (the served
//!   versions), `meter.rs`, `packed.rs`;
//! - `wit/`: per contract version, the bindings and the conversions of its
//!   types into host types;
//! - `capability/`: one module per import (`log`, `target`, `state`,
//!   `licensing`, `schedule`, `http`, `ldap`) with its state, limits and
//!   `Host` impls for every version; `PluginHost` (the store data) composes
//!   them;
//! - `store.rs`: a plugin's store (limiter, CPU deadline);
//! - `instance.rs` (calls into a plugin's exports), `loader.rs`
//!   (validation), `cache.rs`, `signature/`, and `Runtime` here.

mod cache;
mod capability;
mod contract;
mod instance;
mod job;
mod loader;
mod meter;
mod packed;
pub mod signature;
mod store;
mod wit;

pub use capability::{
    ldap, put_page_whole, PluginHost, PluginState, ReadSink, RunWarnings, Schedule, Seats,
    TargetSink,
};
pub use contract::Contract;
pub use instance::{ConnectorInstance, MapperInstance, ReadRefused};
pub use job::{CallContext, Grant};
pub use loader::{LoadedPlugin, Origin, PluginError};

pub use packed::{decode_objects, PackedUsers};
pub use wit::{WireAttribute, WireKind, WireObject, WireValue};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

/// How often the epoch ticks; CPU deadlines are checked at this granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);

pub struct Runtime {
    engine: Engine,
    cache: cache::ArtifactCache,
    connector_linker: Linker<PluginHost>,
    mapper_linker: Linker<PluginHost>,
    stop_ticker: Arc<AtomicBool>,
}

impl Runtime {
    pub fn new(cache_dir: &Path) -> Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // Plugins call synchronously; the async machinery costs 2-4x per call.
        config.concurrency_support(false);
        config.epoch_interruption(true);
        // `USERSYNC_PERF_MAP=1` names plugin code in `perf report` (the map
        // goes to /tmp/perf-PID.map); see bench/README.md.
        if std::env::var_os("USERSYNC_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticking, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("usersync-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })?;

        Ok(Runtime {
            cache: cache::ArtifactCache::new(cache_dir, &engine),
            connector_linker: connector_linker(&engine)?,
            mapper_linker: mapper_linker(&engine)?,
            engine,
            stop_ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Validate and load one `.wasm` file: it must be a component that
    /// exports a supported version of the connector or mapper API, link
    /// against what the host offers, and describe itself.
    pub fn load(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let bytes = loader::read(path)?;
        loader::load(self, path, &bytes, Origin::File)
    }

    /// [`Runtime::load`] for bytes already read (a file checked for its
    /// signature first, or a built-in); `path` names it in errors.
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        origin: Origin,
    ) -> Result<LoadedPlugin, PluginError> {
        loader::load(self, path, bytes, origin)
    }
}

/// One linker serves every contract version: their imports have distinct
/// versioned names, so a 0.1 and a 0.2 plugin link against the same one.
fn connector_linker(engine: &Engine) -> Result<Linker<PluginHost>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    for contract in Contract::ALL {
        capability::add_connector_imports(&mut linker, contract)?;
    }
    Ok(linker)
}

fn mapper_linker(engine: &Engine) -> Result<Linker<PluginHost>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    for contract in Contract::ALL {
        capability::add_mapper_imports(&mut linker, contract)?;
    }
    Ok(linker)
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}
