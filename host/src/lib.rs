//! usersync host library: the runtime, engine, store and sync orchestration.
//! The `usersync` binary (CLI) is a thin shell over it.

pub mod agent;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod model;
pub mod notify;
pub mod one_shot;
pub mod registry;
pub mod runtime;
pub mod secret;
pub mod store;
pub mod sync;
