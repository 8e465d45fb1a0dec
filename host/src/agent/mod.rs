//! Agent mode: `usersync agent` runs a tenant's agent jobs' connectors
//! inside the directory's network and sends what they read to a hosted
//! `usersync serve` over HTTPS (see docs/ARCHITECTURE.md, "Agent mode").

pub mod protocol;
