//! Binding the DNS sockets, optionally with `IP_FREEBIND`.
//!
//! `corten up` serves DNS on the pod bridge's gateway address, which only
//! exists once the first pod sandbox created the bridge; `--freebind` lets
//! the sockets bind it before (the kernel delivers to them as soon as the
//! address appears).

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use anyhow::Context;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt, socket,
    sockopt,
};

fn raw(addr: SocketAddr, kind: SockType, freebind: bool) -> anyhow::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(
        family,
        kind,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .context("creating a socket")?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).context("SO_REUSEADDR")?;
    if freebind {
        anyhow::ensure!(
            addr.is_ipv4(),
            "--freebind supports IPv4 listen addresses only"
        );
        setsockopt(&fd, sockopt::IpFreebind, &true).context("IP_FREEBIND")?;
    }
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )
    .with_context(|| format!("binding {addr}"))?;
    Ok(fd)
}

/// A UDP socket bound to `addr`.
pub fn udp(addr: SocketAddr, freebind: bool) -> anyhow::Result<tokio::net::UdpSocket> {
    let fd = raw(addr, SockType::Datagram, freebind)?;
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(fd))
        .with_context(|| format!("registering udp {addr}"))
}

/// A TCP listener bound to `addr`.
pub fn tcp(addr: SocketAddr, freebind: bool) -> anyhow::Result<tokio::net::TcpListener> {
    let fd = raw(addr, SockType::Stream, freebind)?;
    listen(&fd, Backlog::new(1024).unwrap_or(Backlog::MAXCONN))
        .with_context(|| format!("listening on {addr}"))?;
    tokio::net::TcpListener::from_std(std::net::TcpListener::from(fd))
        .with_context(|| format!("registering tcp {addr}"))
}

/// The UDP socket and TCP listener of one DNS address. With port 0 the
/// kernel picks the UDP port, which another program may hold for TCP: a
/// few other ports are tried before giving up.
pub fn udp_and_tcp(
    addr: SocketAddr,
    freebind: bool,
) -> anyhow::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let attempts = if addr.port() == 0 { 8 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = udp(addr, freebind)?;
        match tcp(udp.local_addr()?, freebind) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("binding {addr}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn freebind_binds_an_address_the_host_does_not_have() {
        // TEST-NET-1: never configured here; nothing is sent to it.
        let addr: SocketAddr = "192.0.2.53:0".parse().unwrap();
        assert!(udp(addr, false).is_err());
        let socket = udp(addr, true).unwrap();
        let bound = socket.local_addr().unwrap();
        assert_eq!(bound.ip(), addr.ip());
        let listener = tcp(bound, true).unwrap();
        assert_eq!(listener.local_addr().unwrap(), bound);
        assert!(udp("[::1]:0".parse().unwrap(), true).is_err(), "IPv4 only");
    }

    #[tokio::test]
    async fn an_ephemeral_port_avoids_one_taken_for_tcp() {
        let (udp, tcp) = udp_and_tcp("127.0.0.1:0".parse().unwrap(), false).unwrap();
        assert_eq!(udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        // A fixed port whose TCP side is taken fails at once.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = udp_and_tcp(taken.local_addr().unwrap(), false).unwrap_err();
        assert!(
            format!("{err:#}").contains("Address already in use"),
            "{err:#}"
        );
    }
}
