//! Shared plumbing: running tools, installing Debian packages, picking ports, managing server
//! processes, base64 and LDIF helpers.

mod apt;
mod base64;
mod files;
mod ldif;
mod leftovers;
mod net;
mod parse;
mod process;
pub(crate) mod search;

pub use self::base64::{base64_decode, base64_encode};
pub use apt::ensure_packages;
pub(crate) use files::{copy_tree, ensure_dir, set_mode, write_private};
pub use ldif::{dn_parent, escape_dn_value, ldif_line};
pub(crate) use leftovers::sweep_leftovers;
pub use net::unused_loopback_port;
pub(crate) use net::{free_port, port_open};
pub(crate) use parse::count_dns;
pub use parse::{parse_ldif, LdifEntry};
pub(crate) use process::{read_tail, run, run_stdout, tail, tool, wait_until, ServerProcess};

/// A 64-bit FNV-1a hash: stable across Rust versions (used for cache keys).
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
