//! The command line: a clap parser, then the `--smoke` adjustments (which depend on whether
//! `--users` was given, so they read the matches rather than the parsed values alone).

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};

use crate::store::StoreChoice;

/// The repository root (bench/'s parent): the default paths below point into it, so the bench
/// finds the release build wherever it is started from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// usersync against ldapsearch and ldap2pg, as ratios measured in one run
#[derive(Debug, Clone, Parser)]
#[command(
    name = "usersync-bench",
    override_usage = "bash bench/run.sh [options]   (builds the plugins and the release host first)
       usersync-bench [options]"
)]
pub struct Args {
    /// Directory size
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub users: usize,
    /// Groups
    #[arg(long, value_name = "G", default_value_t = 5_000)]
    pub groups: usize,
    /// Changes for the incremental sync
    #[arg(long, value_name = "K", default_value_t = 1_000)]
    pub changes: usize,
    /// Samples of each timed step, side by side with the floor (at least 1)
    #[arg(long, value_name = "R", default_value_t = 3)]
    pub repeat: usize,
    /// Generator seed
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Tiny and quick: 1000 users, 50 groups, 100 changes, 1 sample, no ldap2pg, no scaling;
    /// fails unless the store equals the directory
    #[arg(long)]
    pub smoke: bool,
    /// Leave out the ldap2pg comparison
    #[arg(long)]
    pub skip_ldap2pg: bool,
    /// ldap2pg comparison size (groups N/20)
    #[arg(long = "ldap2pg-users", value_name = "N", default_value_t = 10_000)]
    pub ldap2pg_users: usize,
    /// Also time ldap2pg --dry (reads and diffs, changes nothing) at the main size
    #[arg(long = "ldap2pg-dry-100k")]
    pub ldap2pg_dry_main: bool,
    /// Leave out the 10k (and 1M) scaling points
    #[arg(long)]
    pub skip_scaling: bool,
    /// Add a 1,000,000-user scaling point (slow: minutes, ~2 GB of disk)
    #[arg(long = "with-1m")]
    pub with_1m: bool,
    /// Only time ldap2pg at --ldap2pg-users (no usersync, no plugins needed)
    #[arg(long = "ldap2pg-only")]
    pub ldap2pg_only: bool,
    /// Measure nothing: serve the generated directory, with a usersync config and the changes'
    /// LDIF beside it, until stdin closes (for profiling one step by hand)
    #[arg(long)]
    pub serve: bool,
    /// Where to write the figures
    #[arg(long, value_name = "PATH", default_value_os_t = repo_root().join("bench/results.json"))]
    pub json: PathBuf,
    /// The usersync binary
    #[arg(long, value_name = "PATH", default_value_os_t = repo_root().join("target/release/usersync"))]
    pub usersync: PathBuf,
    /// Store of the main directory's syncs: sqlite, postgres (a throwaway cluster on loopback),
    /// or both side by side on the same directory
    #[arg(long, value_enum, default_value_t = StoreChoice::Sqlite)]
    pub store: StoreChoice,
    /// Folder with ldap.wasm and default-mapper.wasm
    #[arg(long, value_name = "DIR", default_value_os_t = repo_root().join("target/plugins"))]
    pub plugins: PathBuf,
}

impl Args {
    /// The process's own arguments; prints help or the error and exits on `--help` or a bad
    /// option, as clap does.
    pub fn from_command_line() -> Args {
        Args::from_matches(&Args::command().get_matches()).unwrap_or_else(|e| e.exit())
    }

    /// The parsed options with `--repeat` at least 1 and `--smoke` applied on top.
    fn from_matches(matches: &ArgMatches) -> Result<Args, clap::Error> {
        let mut a = Args::from_arg_matches(matches)?;
        a.repeat = a.repeat.max(1);
        if a.smoke {
            // an explicit --users keeps its size (and the default groups, as before)
            if matches.value_source("users") != Some(ValueSource::CommandLine) {
                a.users = 1_000;
                a.groups = 50;
            }
            a.changes = a.changes.min(100);
            a.repeat = 1;
            a.skip_ldap2pg = true;
            a.skip_scaling = true;
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Args {
        let matches = Args::command()
            .try_get_matches_from(std::iter::once("usersync-bench").chain(argv.iter().copied()))
            .expect("valid arguments");
        Args::from_matches(&matches).expect("valid arguments")
    }

    #[test]
    fn the_parser_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        assert_eq!(
            (a.users, a.groups, a.changes, a.repeat, a.seed),
            (100_000, 5_000, 1_000, 3, 1)
        );
        assert_eq!(a.ldap2pg_users, 10_000);
        assert!(!a.smoke && !a.skip_ldap2pg && !a.skip_scaling && !a.with_1m);
        assert_eq!(a.json, repo_root().join("bench/results.json"));
        assert_eq!(a.usersync, repo_root().join("target/release/usersync"));
        assert_eq!(a.plugins, repo_root().join("target/plugins"));
        assert_eq!(a.store, StoreChoice::Sqlite);
        assert_eq!(parse(&["--store", "both"]).store, StoreChoice::Both);
    }

    #[test]
    fn repeat_is_at_least_one() {
        assert_eq!(parse(&["--repeat", "0"]).repeat, 1);
    }

    #[test]
    fn smoke_shrinks_unless_users_is_given() {
        let a = parse(&["--smoke", "--changes", "500", "--repeat", "5"]);
        assert_eq!(
            (a.users, a.groups, a.changes, a.repeat),
            (1_000, 50, 100, 1)
        );
        assert!(a.skip_ldap2pg && a.skip_scaling);
        let a = parse(&["--smoke", "--users", "2000"]);
        assert_eq!((a.users, a.groups, a.changes), (2_000, 5_000, 100));
        // given explicitly, even at the default, --users is kept
        let a = parse(&["--users", "100000", "--smoke"]);
        assert_eq!(a.users, 100_000);
    }

    #[test]
    fn options_with_digits_keep_their_names() {
        let a = parse(&[
            "--ldap2pg-users",
            "20",
            "--ldap2pg-dry-100k",
            "--with-1m",
            "--ldap2pg-only",
        ]);
        assert_eq!(a.ldap2pg_users, 20);
        assert!(a.ldap2pg_dry_main && a.with_1m && a.ldap2pg_only);
    }
}
