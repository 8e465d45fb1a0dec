//! Log setup: the filter comes from `USERSYNC_LOG` or, as most Rust tools
//! read it, `RUST_LOG` (e.g. `RUST_LOG=debug`, `RUST_LOG=usersync_host=debug`);
//! logs go to stderr, coloured only when stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The variables read for the filter, the first one set wins.
pub const LOG_VARIABLES: [&str; 2] = ["USERSYNC_LOG", "RUST_LOG"];

/// Installs the global subscriber; `default` when no variable is set.
pub fn init(default: &str) {
    let (filter, problem) = filter(default);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
}

/// The filter to use, and what was wrong with a variable that was set but
/// could not be used (then `default` applies).
fn filter(default: &str) -> (EnvFilter, Option<String>) {
    let Some((name, value)) = LOG_VARIABLES.iter().find_map(|name| {
        let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
        Some((*name, value))
    }) else {
        return (EnvFilter::new(default), None);
    };
    match EnvFilter::try_new(&value) {
        Ok(f) => (f, None),
        Err(e) => (
            EnvFilter::new(default),
            Some(format!(
                "{name}={value:?} is not a log filter ({e}); logging at {default:?}. \
                 Use a level such as `debug` or `usersync_host=debug,info`"
            )),
        ),
    }
}
