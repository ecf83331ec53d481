//! Cleanup of stale UDP conntrack entries.
//!
//! UDP has no connection close: a client that keeps sending to a service
//! keeps hitting the conntrack entry that NATed it to an endpoint that is
//! gone, or the entry created while the service had no endpoint. After each
//! successful sync the proxier deletes those entries with the `conntrack`
//! tool, as upstream does.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::model::{IpFamily, Protocol, ProxyState};
use crate::runner::{CommandRunner, RunError};
use crate::topology::EndpointSets;

fn family_args(ip: &IpAddr) -> Vec<String> {
    match IpFamily::of(ip) {
        IpFamily::V4 => vec![],
        IpFamily::V6 => vec!["-f".into(), "ipv6".into()],
    }
}

/// The `conntrack` invocations (argument lists) that remove the entries made
/// stale by going from `old` to `new`.
pub fn stale_udp_deletions(old: &ProxyState, new: &ProxyState) -> Vec<Vec<String>> {
    let mut out = BTreeSet::new();
    for (name, service) in &new.services {
        if name.protocol != Protocol::Udp {
            continue;
        }
        let old_eps = old.services.get(name).map(|_| {
            EndpointSets::categorize(old.endpoints_of(name), &old.node.zone)
                .cluster
                .into_iter()
                .map(|e| e.ip)
                .collect::<BTreeSet<_>>()
        });
        let new_eps: BTreeSet<IpAddr> =
            EndpointSets::categorize(new.endpoints_of(name), &new.node.zone)
                .cluster
                .into_iter()
                .map(|e| e.ip)
                .collect();
        let old_eps = old_eps.unwrap_or_default();
        // Entries pointing at endpoints that are gone.
        // Every service IP that NATs to the endpoint (as upstream: cluster,
        // external and load-balancer IPs).
        let service_ips: Vec<&IpAddr> = service
            .cluster_ips
            .iter()
            .chain(&service.external_ips)
            .chain(&service.load_balancer_ips)
            .collect();
        for gone in old_eps.difference(&new_eps) {
            for cip in service_ips.iter().copied() {
                if IpFamily::of(cip) != IpFamily::of(gone) {
                    continue;
                }
                let mut args = vec!["-D".to_string()];
                args.extend(family_args(cip));
                args.extend(
                    [
                        "--orig-dst",
                        &cip.to_string(),
                        "--dst-nat",
                        &gone.to_string(),
                        "-p",
                        "udp",
                    ]
                    .map(String::from),
                );
                out.insert(args);
            }
            if let Some(node_port) = service.node_port {
                let mut args = vec!["-D".to_string()];
                args.extend(family_args(gone));
                args.extend(
                    [
                        "-p",
                        "udp",
                        "--dport",
                        &node_port.to_string(),
                        "--dst-nat",
                        &gone.to_string(),
                    ]
                    .map(String::from),
                );
                out.insert(args);
            }
        }
        // Entries made while the service had no endpoint (they were never
        // NATed and would keep blackholing the client).
        if old_eps.is_empty() && !new_eps.is_empty() {
            for cip in &service.cluster_ips {
                let mut args = vec!["-D".to_string()];
                args.extend(family_args(cip));
                args.extend(
                    [
                        "--orig-dst",
                        &cip.to_string(),
                        "-p",
                        "udp",
                        "--dport",
                        &service.port.to_string(),
                    ]
                    .map(String::from),
                );
                out.insert(args);
            }
        }
    }
    out.into_iter().collect()
}

/// Runs the deletions. "0 flow entries" (exit status 1) is not an error.
/// Returns how many invocations failed otherwise (they are logged).
pub fn run_deletions(runner: &dyn CommandRunner, deletions: &[Vec<String>]) -> usize {
    let mut failures = 0;
    for args in deletions {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        match runner.run("conntrack", &refs, None) {
            Ok(_) => {}
            Err(RunError::Failed { stderr, .. }) if stderr.contains("0 flow entries") => {}
            Err(err) => {
                failures += 1;
                tracing::warn!(error = %err, args = ?args, "clearing stale conntrack entries");
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, ServicePort, ServicePortName};

    fn state(eps: &[&str]) -> ProxyState {
        let name = ServicePortName {
            namespace: "kube-system".into(),
            name: "kube-dns".into(),
            port_name: "dns".into(),
            protocol: Protocol::Udp,
        };
        let mut st = ProxyState::default();
        st.services.insert(
            name.clone(),
            ServicePort {
                name: name.clone(),
                cluster_ips: vec!["10.96.0.10".parse().unwrap()],
                port: 53,
                node_port: None,
                external_ips: vec![],
                affinity_seconds: None,
                external_policy_local: false,
                internal_policy_local: false,
                ..ServicePort::default()
            },
        );
        st.endpoints.insert(
            name,
            eps.iter()
                .map(|ip| Endpoint {
                    ip: ip.parse().unwrap(),
                    port: 53,
                    ready: true,
                    serving: true,
                    terminating: false,
                    local: false,
                    zone_hints: Vec::new(),
                })
                .collect(),
        );
        st
    }

    #[test]
    fn removed_udp_endpoints_and_first_endpoints_clear_entries() {
        let deletions =
            stale_udp_deletions(&state(&["10.0.0.1", "10.0.0.2"]), &state(&["10.0.0.2"]));
        assert_eq!(
            deletions,
            vec![
                vec![
                    "-D",
                    "--orig-dst",
                    "10.96.0.10",
                    "--dst-nat",
                    "10.0.0.1",
                    "-p",
                    "udp"
                ]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
            ]
        );
        let deletions = stale_udp_deletions(&state(&[]), &state(&["10.0.0.2"]));
        assert_eq!(deletions.len(), 1);
        assert!(deletions[0].contains(&"--dport".to_string()));
        assert!(stale_udp_deletions(&state(&["10.0.0.2"]), &state(&["10.0.0.2"])).is_empty());
    }

    #[test]
    fn zero_entries_is_not_a_failure() {
        let runner = crate::runner::FakeRunner::new(|_| {
            Err(RunError::Failed {
                program: "conntrack".into(),
                code: Some(1),
                stderr: "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted."
                    .into(),
            })
        });
        assert_eq!(run_deletions(&runner, &[vec!["-D".into()]]), 0);
    }
}
