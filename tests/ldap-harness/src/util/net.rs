//! Loopback ports: picking free ones, probing for listeners.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};

/// A TCP port that was free on `addr` a moment ago (there is a small race; callers retry).
pub(crate) fn free_port(addr: Ipv4Addr) -> Result<u16> {
    let l = TcpListener::bind(SocketAddrV4::new(addr, 0))
        .with_context(|| format!("cannot bind {addr}:0"))?;
    Ok(l.local_addr()?.port())
}

/// A loopback port nothing listens on (for "unreachable server" tests; racy in theory, fine in
/// practice: the kernel does not hand the same ephemeral port out again at once).
pub fn unused_loopback_port() -> u16 {
    free_port(Ipv4Addr::LOCALHOST).expect("bind 127.0.0.1:0")
}

pub(crate) fn port_open(addr: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddrV4::new(addr, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}
