//! Two different Services claiming one external or load-balancer IP and
//! port (the apiserver allows it): one owns the destination, the same one in
//! full and partial syncs and in both modes, and when it goes the other
//! takes over in the same sync.

use std::collections::BTreeMap;

use crate::iptables;
use crate::model::{IpFamily, ProxyState, ServicePort};
use crate::naming;
use crate::nftables;
use crate::proxier::{NftablesProxier, Proxier};
use crate::rules_tests::{cfg, ep, name, port, state};
use crate::runner::{FakeRunner, RunError};

const SHARED: &str = "192.0.2.7";

fn with_external_ip(svc: &str, cluster_ip: &str) -> ServicePort {
    let mut p = port(svc, cluster_ip);
    p.external_ips = vec![SHARED.parse().unwrap()];
    p
}

fn external_chain(svc: &str) -> String {
    naming::nft_service_chain("external", &name(svc))
}

/// The verdict maps as the kernel holds them, fed with our transactions:
/// like nft, adding a key that is already there with another verdict and
/// deleting a missing key fail the transaction (and change nothing).
#[derive(Clone, Debug, Default, PartialEq)]
struct Maps(BTreeMap<(String, String), String>);

impl Maps {
    fn apply(&mut self, script: &str) -> Result<(), RunError> {
        let fail = |why: String| RunError::Failed {
            program: "nft".into(),
            code: Some(1),
            stderr: why,
        };
        let mut next = self.clone();
        for line in script.lines() {
            if line.starts_with("flush table") {
                next.0.clear();
                continue;
            }
            let words: Vec<&str> = line.splitn(6, ' ').collect();
            let [verb, "element", _, _, map, rest] = words[..] else {
                continue;
            };
            let items = rest.trim_start_matches("{ ").trim_end_matches(" }");
            for item in items.split(", ") {
                let (key, value) = item.split_once(" : ").unwrap_or((item, ""));
                let slot = (map.to_string(), key.to_string());
                match verb {
                    "add" => match next.0.get(&slot) {
                        Some(old) if old != value => {
                            return Err(fail(format!("File exists: {map} {key}")));
                        }
                        _ => {
                            next.0.insert(slot, value.to_string());
                        }
                    },
                    "delete" if next.0.remove(&slot).is_none() => {
                        return Err(fail(format!("No such file or directory: {map} {key}")));
                    }
                    _ => {}
                }
            }
        }
        *self = next;
        Ok(())
    }

    fn get(&self, map: &str, key: &str) -> Option<&str> {
        self.0
            .get(&(map.to_string(), key.to_string()))
            .map(String::as_str)
    }
}

/// A proxier whose runner keeps [`Maps`] up to date, counting the
/// transactions nft would have refused.
fn proxier() -> (
    NftablesProxier<FakeRunner>,
    std::sync::Arc<std::sync::Mutex<Maps>>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let maps = std::sync::Arc::new(std::sync::Mutex::new(Maps::default()));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (m, r) = (maps.clone(), refused.clone());
    let runner = FakeRunner::new(move |call| {
        if call.args != ["-f", "-"] {
            return Ok(String::new());
        }
        let script = call.stdin.clone().unwrap_or_default();
        m.lock().unwrap().apply(&script).inspect_err(|_| {
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })?;
        Ok(String::new())
    });
    (
        NftablesProxier::new(runner, cfg(), vec![IpFamily::V4]),
        maps,
        refused,
    )
}

fn keys(names: &[&str]) -> crate::model::Changes {
    crate::model::Changes::Services(
        names
            .iter()
            .map(|n| ("ns".to_string(), n.to_string()))
            .collect(),
    )
}

/// What a full sync of `st` from scratch leaves in the maps.
fn from_scratch(st: &ProxyState) -> Maps {
    let mut maps = Maps::default();
    maps.apply(&crate::rules_tests::nft(st)).unwrap();
    maps
}

fn key() -> String {
    format!("{SHARED} . tcp . 80")
}

#[test]
fn the_first_service_owns_a_shared_external_ip_in_full_syncs_of_both_modes() {
    let st = state(vec![
        (
            with_external_ip("beta", "10.96.0.11"),
            vec![ep("10.244.2.5", true, false)],
        ),
        (
            with_external_ip("alpha", "10.96.0.10"),
            vec![ep("10.244.1.5", true, false)],
        ),
    ]);
    let maps = from_scratch(&st);
    let alpha = format!("goto {}", external_chain("alpha"));
    assert_eq!(maps.get("service-ips", &key()), Some(alpha.as_str()));

    let rules = iptables::ruleset(&st, &cfg(), IpFamily::V4);
    let input = iptables::full(&rules, &Default::default());
    let shared: Vec<&str> = input
        .lines()
        .filter(|l| l.contains(&format!("-d {SHARED}/32")))
        .collect();
    let alpha_ext = naming::iptables_service_chain("KUBE-EXT-", &name("alpha"));
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert!(
        shared[0].ends_with(&format!("-j {alpha_ext}")),
        "{shared:?}"
    );
}

#[test]
fn a_service_with_endpoints_owns_a_shared_ip_over_one_without() {
    // alpha sorts first but has no endpoints: beta answers, in both modes
    // (in iptables mode beta's DNAT would come before alpha's reject anyway).
    let mut st = state(vec![
        (with_external_ip("alpha", "10.96.0.10"), vec![]),
        (
            with_external_ip("beta", "10.96.0.11"),
            vec![ep("10.244.2.5", true, false)],
        ),
    ]);
    let maps = from_scratch(&st);
    let beta = format!("goto {}", external_chain("beta"));
    assert_eq!(maps.get("service-ips", &key()), Some(beta.as_str()));
    assert_eq!(maps.get("no-endpoint-services", &key()), None);
    let input = iptables::full(
        &iptables::ruleset(&st, &cfg(), IpFamily::V4),
        &Default::default(),
    );
    let shared: Vec<&str> = input
        .lines()
        .filter(|l| l.contains(&format!("-d {SHARED}/32")))
        .collect();
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert!(!shared[0].contains("REJECT"), "{shared:?}");

    // Partially: beta loses its endpoints, alpha's reject takes the key;
    // beta gets them back and takes it again.
    let (mut proxier, maps, refused) = proxier();
    proxier.sync(&st).unwrap();
    st.endpoints.insert(name("beta"), vec![]);
    proxier.sync_changes(&st, &keys(&["beta"])).unwrap();
    assert_eq!(*maps.lock().unwrap(), from_scratch(&st));
    assert_eq!(
        maps.lock().unwrap().get("no-endpoint-services", &key()),
        Some("goto reject-chain")
    );
    st.endpoints
        .insert(name("beta"), vec![ep("10.244.2.6", true, false)]);
    proxier.sync_changes(&st, &keys(&["beta"])).unwrap();
    assert_eq!(*maps.lock().unwrap(), from_scratch(&st));
    assert_eq!(
        maps.lock().unwrap().get("service-ips", &key()),
        Some(beta.as_str())
    );
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn partial_syncs_agree_with_full_ones_and_hand_a_shared_ip_over_at_once() {
    let (mut proxier, maps, refused) = proxier();
    let mut st = state(vec![(
        with_external_ip("beta", "10.96.0.11"),
        vec![ep("10.244.2.5", true, false)],
    )]);
    proxier.sync(&st).unwrap();
    let beta = format!("goto {}", external_chain("beta"));
    let alpha = format!("goto {}", external_chain("alpha"));
    let gamma = format!("goto {}", external_chain("gamma"));

    // gamma (sorting last) arrives: beta keeps the key.
    let gamma_port = with_external_ip("gamma", "10.96.0.12");
    st.endpoints
        .insert(gamma_port.name.clone(), vec![ep("10.244.3.5", true, false)]);
    st.services.insert(gamma_port.name.clone(), gamma_port);
    proxier.sync_changes(&st, &keys(&["gamma"])).unwrap();
    assert_eq!(
        maps.lock().unwrap().get("service-ips", &key()),
        Some(beta.as_str())
    );

    // alpha (sorting first) arrives: it takes the key over.
    let alpha_port = with_external_ip("alpha", "10.96.0.10");
    st.endpoints
        .insert(alpha_port.name.clone(), vec![ep("10.244.1.5", true, false)]);
    st.services.insert(alpha_port.name.clone(), alpha_port);
    proxier.sync_changes(&st, &keys(&["alpha"])).unwrap();
    assert_eq!(
        maps.lock().unwrap().get("service-ips", &key()),
        Some(alpha.as_str())
    );
    assert_eq!(*maps.lock().unwrap(), from_scratch(&st));

    // alpha goes: beta's element is back in the same transaction.
    st.services.remove(&name("alpha"));
    st.endpoints.remove(&name("alpha"));
    proxier.sync_changes(&st, &keys(&["alpha"])).unwrap();
    assert_eq!(
        maps.lock().unwrap().get("service-ips", &key()),
        Some(beta.as_str())
    );

    // beta drops the IP (an update, not a deletion): gamma takes over.
    st.services
        .get_mut(&name("beta"))
        .unwrap()
        .external_ips
        .clear();
    proxier.sync_changes(&st, &keys(&["beta"])).unwrap();
    assert_eq!(
        maps.lock().unwrap().get("service-ips", &key()),
        Some(gamma.as_str())
    );
    assert_eq!(*maps.lock().unwrap(), from_scratch(&st));

    // Both change in one sync (the unhinted form compares every Service):
    // beta claims the IP again and gamma goes.
    st.services
        .get_mut(&name("beta"))
        .unwrap()
        .external_ips
        .push(SHARED.parse().unwrap());
    st.services.remove(&name("gamma"));
    st.endpoints.remove(&name("gamma"));
    proxier.sync(&st).unwrap();
    assert_eq!(
        maps.lock().unwrap().get("service-ips", &key()),
        Some(beta.as_str())
    );
    assert_eq!(*maps.lock().unwrap(), from_scratch(&st));

    // nft never refused a transaction (which would have meant a full sync
    // and, for a deletion, a lost element), and what the proxier keeps is
    // what a fresh render gives.
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        proxier.written(IpFamily::V4).unwrap(),
        &nftables::ruleset(&st, &cfg(), IpFamily::V4)
    );
}

#[test]
fn a_shared_load_balancer_ip_moves_with_its_firewall() {
    // Load-balancer IPs are captured like external IPs; with source ranges
    // the owner's firewall chain guards the key, the other's does not.
    let lb = |svc: &str, cluster_ip: &str, ranges: &[&str]| {
        let mut p = port(svc, cluster_ip);
        p.load_balancer_ips = vec![SHARED.parse().unwrap()];
        p.source_ranges = ranges.iter().map(|r| r.parse().unwrap()).collect();
        p
    };
    let (mut proxier, maps, refused) = proxier();
    let mut st = state(vec![
        (
            lb("alpha", "10.96.0.10", &["198.51.100.0/24"]),
            vec![ep("10.244.1.5", true, false)],
        ),
        (
            lb("beta", "10.96.0.11", &["203.0.113.0/24"]),
            vec![ep("10.244.2.5", true, false)],
        ),
    ]);
    proxier.sync(&st).unwrap();
    let firewall =
        |svc: &str| format!("goto {}", naming::nft_service_chain("firewall", &name(svc)));
    assert_eq!(
        maps.lock().unwrap().get("firewall-ips", &key()),
        Some(firewall("alpha").as_str())
    );
    st.services.remove(&name("alpha"));
    st.endpoints.remove(&name("alpha"));
    proxier.sync_changes(&st, &keys(&["alpha"])).unwrap();
    assert_eq!(
        maps.lock().unwrap().get("firewall-ips", &key()),
        Some(firewall("beta").as_str())
    );
    assert_eq!(*maps.lock().unwrap(), from_scratch(&st));
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 0);
}
