//! Throwaway directory servers for usersync's tests and benchmarks: an OpenLDAP server
//! ([`Slapd`]) and a Samba Active Directory domain controller ([`SambaDc`]), both on loopback,
//! with TLS certificates made at start, plus a deterministic generator of realistic directories
//! ([`DirectorySpec`]), and a throwaway PostgreSQL cluster ([`Postgres`]) for the store. Missing Debian packages are installed with apt-get (as root).
//!
//! See README.md beside this crate for usage and timings.

mod gen;
mod postgres;
mod samba;
mod slapd;
mod tls;
mod util;

pub use gen::{
    generate_directory, write_directory, ChangeSet, DirectoryPlan, DirectorySpec, DirectoryStats,
    GenUser,
};
pub use postgres::{ensure_postgres_installed, shared_database, Postgres, PG_USER};
pub use samba::{ensure_samba_installed, SambaDc, SambaOptions, SambaTimings};
pub use slapd::{base_ldif, ensure_slapd_installed, Slapd, SlapdOptions};
pub use tls::TlsFiles;
pub use util::{
    base64_decode, base64_encode, dn_parent, ensure_packages, escape_dn_value, ldif_line,
    parse_ldif, unused_loopback_port, LdifEntry,
};
