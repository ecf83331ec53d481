//! Names of the chains and sets the proxiers create.
//!
//! Like upstream, names carry a hash of what they stand for, so they are
//! stable across restarts and never collide: iptables chains are
//! `KUBE-SVC-<16 base32 chars>` (iptables allows 28 characters), nftables
//! chains add a readable suffix after a short hash.

use sha2::{Digest, Sha256};

use crate::model::{Endpoint, ServicePortName};

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The first `len` base32 characters of SHA-256 over `input`.
pub fn hash(input: &str, len: usize) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(len);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in digest.iter() {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 && out.len() < len {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
        if out.len() >= len {
            break;
        }
    }
    out
}

fn service_key(name: &ServicePortName) -> String {
    format!("{}{}", name, name.protocol.lower())
}

fn endpoint_key(name: &ServicePortName, endpoint: &Endpoint) -> String {
    format!("{}{}{}", name, name.protocol.lower(), endpoint.address())
}

/// iptables chain names (`prefix` is `KUBE-SVC-`, `KUBE-EXT-`, `KUBE-SVL-` ...).
pub fn iptables_service_chain(prefix: &str, name: &ServicePortName) -> String {
    format!("{prefix}{}", hash(&service_key(name), 16))
}

/// `KUBE-SEP-<hash>` for one endpoint of one service port.
pub fn iptables_endpoint_chain(name: &ServicePortName, endpoint: &Endpoint) -> String {
    format!("KUBE-SEP-{}", hash(&endpoint_key(name, endpoint), 16))
}

/// The readable part of nftables names: `ns/name/proto/port-name`.
fn readable(name: &ServicePortName) -> String {
    let port = if name.port_name.is_empty() {
        "_".to_string()
    } else {
        name.port_name.clone()
    };
    format!(
        "{}/{}/{}/{}",
        name.namespace,
        name.name,
        name.protocol.lower(),
        port
    )
}

/// nftables chain for a service port (`prefix` is `service`, `external`, `local`).
pub fn nft_service_chain(prefix: &str, name: &ServicePortName) -> String {
    format!(
        "{prefix}-{}-{}",
        hash(&service_key(name), 8),
        readable(name)
    )
}

/// nftables chain for one endpoint of a service port.
pub fn nft_endpoint_chain(name: &ServicePortName, endpoint: &Endpoint) -> String {
    // ':' is not allowed in nft identifiers; IPv6 addresses use '.' instead.
    let address = endpoint.ip.to_string().replace(':', ".");
    format!(
        "endpoint-{}-{}__{}/{}",
        hash(&endpoint_key(name, endpoint), 8),
        readable(name),
        address,
        endpoint.port
    )
}

/// The dynamic set remembering clients of one endpoint (ClientIP affinity).
pub fn nft_affinity_set(name: &ServicePortName, endpoint: &Endpoint) -> String {
    format!(
        "affinity-{}",
        nft_endpoint_chain(name, endpoint).trim_start_matches("endpoint-")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    #[test]
    fn names_are_stable_short_and_distinct() {
        let a = ServicePortName {
            namespace: "ns".into(),
            name: "web".into(),
            port_name: "http".into(),
            protocol: Protocol::Tcp,
        };
        let mut b = a.clone();
        b.protocol = Protocol::Udp;
        let svc = iptables_service_chain("KUBE-SVC-", &a);
        assert_eq!(svc.len(), 25);
        assert!(svc.len() <= 28);
        assert_eq!(svc, iptables_service_chain("KUBE-SVC-", &a));
        assert_ne!(svc, iptables_service_chain("KUBE-SVC-", &b));
        assert!(nft_service_chain("service", &a).ends_with("-ns/web/tcp/http"));
        let ep = Endpoint {
            ip: "fd00::1".parse().unwrap(),
            port: 80,
            ready: true,
            serving: true,
            terminating: false,
            local: false,
            zone_hints: Vec::new(),
        };
        assert!(nft_endpoint_chain(&a, &ep).ends_with("__fd00..1/80"));
        assert!(hash("x", 16).chars().all(|c| BASE32.contains(&(c as u8))));
    }
}
