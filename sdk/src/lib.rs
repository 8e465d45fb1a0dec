//! The usersync plugin SDK.
//!
//! A mapper is a type that implements [`Mapper`] plus one line,
//! `usersync_sdk::export_mapper!(MyMapper);`. A connector implements
//! [`Connector`] and calls `usersync_sdk::export_connector!(MyConnector);`.
//! Enable the cargo feature `mapper` or `connector` accordingly. wit-bindgen
//! stays inside this crate; plugin authors see plain Rust types.
//!
//! The default feature `fast-alloc` makes Talc the plugin's global
//! allocator (faster than Rust's default dlmalloc for the many small
//! strings every call carries); with `default-features = false` a plugin
//! brings its own `#[global_allocator]`.

#[cfg(feature = "connector")]
mod connector;
#[cfg(feature = "connector")]
mod ldap_page;
#[cfg(feature = "mapper")]
mod mapper;
mod packed;
mod records;

#[cfg(feature = "connector")]
pub use connector::{host, Check, CheckStatus, Connector, ReadMode, ReadSummary};
#[cfg(feature = "mapper")]
pub use mapper::Mapper;

#[cfg(all(
    feature = "fast-alloc",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The WIT contract version this SDK builds plugins for.
pub const WIT_VERSION: &str = "0.2.0";

#[cfg(feature = "connector")]
#[doc(hidden)]
pub mod connector_world {
    wit_bindgen::generate!({
        path: "../wit/v0.2",
        world: "connector",
        pub_export_macro: true,
        // The packed calls leave the record types unused in signatures;
        // the SDK's typed API is made of them.
        generate_unused_types: true,
        export_macro_name: "export_connector_world",
    });
}

#[cfg(all(feature = "mapper", feature = "connector"))]
#[doc(hidden)]
pub mod mapper_world {
    // Both features on (only when the whole workspace is checked natively):
    // share the connector world's types so the public API has one of each.
    wit_bindgen::generate!({
        path: "../wit/v0.2",
        world: "mapper",
        pub_export_macro: true,
        // The packed calls leave the record types unused in signatures;
        // the SDK's typed API is made of them.
        generate_unused_types: true,
        export_macro_name: "export_mapper_world",
        with: {
            "usersync:plugin/types@0.2.0": crate::connector_world::usersync::plugin::types,
            "usersync:plugin/log@0.2.0": crate::connector_world::usersync::plugin::log,
        },
    });
}

#[cfg(all(feature = "mapper", not(feature = "connector")))]
#[doc(hidden)]
pub mod mapper_world {
    wit_bindgen::generate!({
        path: "../wit/v0.2",
        world: "mapper",
        pub_export_macro: true,
        // The packed calls leave the record types unused in signatures;
        // the SDK's typed API is made of them.
        generate_unused_types: true,
        export_macro_name: "export_mapper_world",
    });
}

#[cfg(feature = "connector")]
use connector_world::usersync::plugin as wit;
#[cfg(all(feature = "mapper", not(feature = "connector")))]
use mapper_world::usersync::plugin as wit;

#[cfg(any(feature = "mapper", feature = "connector"))]
pub use wit::types::{
    AttrValue, Attribute, Manifest, ObjectKind, PluginKind, RecordError, SourceObject, TargetGroup,
    TargetUser,
};

/// Write to the host's log, tagged with tenant, job, run and plugin.
#[cfg(any(feature = "mapper", feature = "connector"))]
pub mod log {
    use super::wit::log::{log, Level};

    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// Parse the JSON configuration the host hands a plugin into its own type.
#[doc(hidden)]
pub fn parse_config<T: serde::de::DeserializeOwned>(json: &str, table: &str) -> Result<T, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| format!("invalid [{table}] configuration: {e}"))
}

#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "connector")]
    pub use crate::connector::glue as connector_glue;
    #[cfg(feature = "connector")]
    pub use crate::connector_world;
    #[cfg(feature = "connector")]
    pub use crate::connector_world::export_connector_world;
    #[cfg(feature = "mapper")]
    pub use crate::mapper::glue as mapper_glue;
    #[cfg(feature = "mapper")]
    pub use crate::mapper_world;
    #[cfg(feature = "mapper")]
    pub use crate::mapper_world::export_mapper_world;
}
