//! The server side of agent mode: the hub where agent runs wait for an
//! agent (`hub.rs`), the endpoints agents call (`routes.rs`, `plugin.rs`),
//! while the admin API's enrolment codes, agent list and revocation are in
//! `api/agents.rs`.

mod hub;
mod plugin;
mod routes;

pub use hub::{AgentId, Hub};
pub use routes::{hex_digest, random_secret, routes};
