//! End-to-end tests: the real host loads the real plugins (built for
//! wasm32-wasip2 by scripts/build-plugins.sh) and syncs into a real SQLite
//! store in a temporary folder.

mod crash;
mod csv_sync;
mod env;
mod hostile;
mod notify;
mod validation;
