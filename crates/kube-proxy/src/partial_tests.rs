//! Tests of partial syncs: after a change, only what differs is written, and
//! the proxier falls back to a full sync when it cannot trust what it wrote.

use crate::model::{IpFamily, ProxyState};
use crate::naming;
use crate::nftables::{self, transaction};
use crate::proxier::{NftablesProxier, Proxier};
use crate::rules_tests::{cfg, ep, name, port, state};
use crate::runner::{FakeRunner, RunError};

/// Both rulesets rendered from scratch: every Service part is compared.
fn partial(before: &ProxyState, after: &ProxyState) -> String {
    let prev = nftables::ruleset(before, &cfg(), IpFamily::V4);
    transaction::partial(&prev, &nftables::ruleset(after, &cfg(), IpFamily::V4))
}

#[test]
fn unchanged_services_are_reused_not_rendered_again() {
    let before = two_services();
    let prev = nftables::ruleset(&before, &cfg(), IpFamily::V4);
    let mut after = before.clone();
    after
        .endpoints
        .insert(name("api"), vec![ep("10.244.2.9", true, false)]);
    let next = nftables::ruleset_reusing(&after, &cfg(), IpFamily::V4, Some(&prev));
    let shared =
        |svc: &str| std::sync::Arc::ptr_eq(&prev.services[&name(svc)], &next.services[&name(svc)]);
    assert!(shared("web"), "web did not change: its part is shared");
    assert!(!shared("api"), "api changed: rendered again");
    let script = transaction::partial(&prev, &next);
    assert!(
        script.contains("10.244.2.9") && !script.contains("ns/web/"),
        "{script}"
    );
    // The reused ruleset is the one a fresh render gives.
    assert_eq!(next, nftables::ruleset(&after, &cfg(), IpFamily::V4));
}

fn two_services() -> ProxyState {
    state(vec![
        (
            port("web", "10.96.0.10"),
            vec![ep("10.244.1.5", true, false), ep("10.244.1.6", true, false)],
        ),
        (
            port("api", "10.96.0.11"),
            vec![ep("10.244.2.5", true, false)],
        ),
    ])
}

#[test]
fn nothing_changed_writes_nothing() {
    assert_eq!(partial(&two_services(), &two_services()), "");
}

#[test]
fn an_endpoint_change_rewrites_only_that_services_chains() {
    let before = two_services();
    let mut after = before.clone();
    after.endpoints.insert(
        name("web"),
        vec![ep("10.244.1.5", true, false), ep("10.244.1.7", true, false)],
    );
    let script = partial(&before, &after);
    let web = naming::nft_service_chain("service", &name("web"));
    let expected_order = [
        format!("flush chain ip kube-proxy {web}"),
        format!(
            "add rule ip kube-proxy {web} numgen random mod 2 == 0 meta l4proto tcp dnat to 10.244.1.5:8080"
        ),
        format!("add rule ip kube-proxy {web} meta l4proto tcp dnat to 10.244.1.7:8080"),
        "delete element ip kube-proxy hairpin-endpoints { 10.244.1.6 . 10.244.1.6 }".to_string(),
        "add element ip kube-proxy hairpin-endpoints { 10.244.1.7 . 10.244.1.7 }".to_string(),
    ];
    let mut at = 0;
    for line in &expected_order {
        let found = script[at..]
            .find(line.as_str())
            .unwrap_or_else(|| panic!("{line:?} after byte {at} in:\n{script}"));
        at += found + line.len();
    }
    assert_eq!(script.lines().count(), 6, "{script}");
    assert!(
        !script.contains("api"),
        "the other Service is untouched:\n{script}"
    );
    assert!(!script.contains("flush table"));

    // With ClientIP affinity each endpoint has a chain (it records the
    // client): a new endpoint's chain comes, the old one goes.
    let sticky = |mut st: ProxyState| {
        st.services.get_mut(&name("web")).unwrap().affinity_seconds = Some(60);
        st
    };
    let script = partial(&sticky(before), &sticky(after));
    let gone = naming::nft_endpoint_chain(&name("web"), &ep("10.244.1.6", true, false));
    let new = naming::nft_endpoint_chain(&name("web"), &ep("10.244.1.7", true, false));
    let expected_order = [
        format!("add chain ip kube-proxy {new}"),
        format!("flush chain ip kube-proxy {web}"),
        format!("add rule ip kube-proxy {web} numgen random mod 2 == 0 goto"),
        format!("add rule ip kube-proxy {new} update @"),
        format!("flush chain ip kube-proxy {gone}"),
        format!("delete chain ip kube-proxy {gone}"),
    ];
    let mut at = 0;
    for line in &expected_order {
        let found = script[at..]
            .find(line.as_str())
            .unwrap_or_else(|| panic!("{line:?} after byte {at} in:\n{script}"));
        at += found + line.len();
    }
}

#[test]
fn services_coming_and_going_change_map_elements() {
    let before = two_services();
    let mut after = before.clone();
    after.services.remove(&name("api"));
    after.endpoints.remove(&name("api"));
    // web loses every endpoint: its entry moves to the reject map.
    after.endpoints.insert(name("web"), vec![]);
    let (svc, eps) = (
        port("db", "10.96.0.12"),
        vec![ep("10.244.3.5", true, false)],
    );
    after.endpoints.insert(svc.name.clone(), eps);
    after.services.insert(svc.name.clone(), svc);
    let script = partial(&before, &after);
    let db = naming::nft_service_chain("service", &name("db"));
    let api = naming::nft_service_chain("service", &name("api"));
    let lines: Vec<&str> = script.lines().collect();
    let index = |wanted: &str| {
        lines
            .iter()
            .position(|l| *l == wanted)
            .unwrap_or_else(|| panic!("{wanted:?} in:\n{script}"))
    };
    let del_web = index(
        "delete element ip kube-proxy service-ips { 10.96.0.10 . tcp . 80, 10.96.0.11 . tcp . 80 }",
    );
    let add_db = index(&format!(
        "add element ip kube-proxy service-ips {{ 10.96.0.12 . tcp . 80 : goto {db} }}"
    ));
    let reject = index(
        "add element ip kube-proxy no-endpoint-services { 10.96.0.10 . tcp . 80 : goto reject-chain }",
    );
    let cluster_ips_del = index("delete element ip kube-proxy cluster-ips { 10.96.0.11 }");
    let delete_api = index(&format!("delete chain ip kube-proxy {api}"));
    assert!(index(&format!("add chain ip kube-proxy {db}")) < add_db);
    assert!(del_web < add_db && add_db < delete_api && reject < delete_api);
    assert!(cluster_ips_del < delete_api);
}

#[test]
fn affinity_sets_are_added_updated_and_deleted() {
    let before = two_services();
    let mut after = before.clone();
    let mut web = port("web", "10.96.0.10");
    web.affinity_seconds = Some(60);
    after.services.insert(web.name.clone(), web.clone());
    let script = partial(&before, &after);
    let set = naming::nft_affinity_set(&web.name, &ep("10.244.1.5", true, false));
    assert!(
        script.contains(&format!(
            "add set ip kube-proxy {set} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }}"
        )),
        "{script}"
    );
    // A changed timeout re-declares the set (nft updates it in place).
    let mut longer = after.clone();
    web.affinity_seconds = Some(90);
    longer.services.insert(web.name.clone(), web);
    assert!(partial(&after, &longer).contains("timeout 90s"));
    // Affinity off: the sets go, after the chains that used them.
    let script = partial(&after, &before);
    let delete = script
        .find(&format!("delete set ip kube-proxy {set}"))
        .unwrap();
    assert!(script.find("flush chain").unwrap() < delete, "{script}");
}

#[test]
fn the_proxier_syncs_partially_and_falls_back_to_full_syncs() {
    let runner = FakeRunner::default();
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    let applied = |runner: &FakeRunner| -> Vec<String> {
        runner
            .calls()
            .into_iter()
            .filter(|c| c.args == ["-f", "-"])
            .filter_map(|c| c.stdin)
            .collect()
    };
    let st = two_services();
    proxier.sync(&st).unwrap();
    assert!(
        applied(&runner)[0].contains("flush table"),
        "the first sync is full"
    );
    runner.clear();

    proxier.sync(&st).unwrap();
    assert!(
        applied(&runner).is_empty(),
        "nothing changed, nothing written"
    );
    let mut changed = st.clone();
    changed
        .endpoints
        .insert(name("api"), vec![ep("10.244.2.9", true, false)]);
    proxier.sync(&changed).unwrap();
    let scripts = applied(&runner);
    assert_eq!(scripts.len(), 1);
    assert!(!scripts[0].contains("flush table") && scripts[0].contains("10.244.2.9"));
    assert!(
        !runner
            .calls()
            .iter()
            .any(|c| c.args.first().is_some_and(|a| a == "list")
                && c.args.get(1).is_some_and(|a| a == "table")),
        "partial syncs do not list the table"
    );
}

#[test]
fn a_failure_or_a_missing_table_forces_a_full_sync() {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let table_there = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (f, t) = (fail.clone(), table_there.clone());
    let runner = FakeRunner::new(move |call| {
        use std::sync::atomic::Ordering::SeqCst;
        if call.args.first().is_some_and(|a| a == "list") && !t.load(SeqCst) {
            return Err(RunError::Failed {
                program: "nft".into(),
                code: Some(1),
                stderr: "Error: No such file or directory".into(),
            });
        }
        if call.args == ["-f", "-"] && f.load(SeqCst) {
            return Err(RunError::Failed {
                program: "nft".into(),
                code: Some(1),
                stderr: "Error: Could not process rule".into(),
            });
        }
        Ok(String::new())
    });
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    let last_script = |runner: &FakeRunner| {
        runner
            .calls()
            .into_iter()
            .rev()
            .find(|c| c.args == ["-f", "-"])
            .and_then(|c| c.stdin)
            .unwrap_or_default()
    };
    let mut st = two_services();
    proxier.sync(&st).unwrap();

    st.endpoints
        .insert(name("api"), vec![ep("10.244.2.9", true, false)]);
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(proxier.sync(&st).is_err());
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    proxier.sync(&st).unwrap();
    assert!(
        last_script(&runner).contains("flush table"),
        "full after a failure"
    );

    // Someone flushed the ruleset: the table is gone, the next sync is full
    // even though nothing changed.
    table_there.store(false, std::sync::atomic::Ordering::SeqCst);
    runner.clear();
    proxier.sync(&st).unwrap();
    assert!(
        last_script(&runner).contains("flush table"),
        "full when the table went missing"
    );
}

#[test]
fn iptables_partial_syncs_rewrite_fixed_chains_and_changed_service_chains() {
    use crate::iptables;
    let before = two_services();
    let prev = iptables::ruleset(&before, &cfg(), IpFamily::V4).written();
    let same = iptables::partial(&prev, &iptables::ruleset(&before, &cfg(), IpFamily::V4));
    assert!(
        !same.contains(":KUBE-SVC-") && !same.contains(":KUBE-SEP-"),
        "{same}"
    );
    assert!(
        same.contains(":KUBE-SERVICES - [0:0]"),
        "fixed chains are always written"
    );

    let mut after = before.clone();
    after.endpoints.insert(
        name("web"),
        vec![ep("10.244.1.5", true, false), ep("10.244.1.7", true, false)],
    );
    let input = iptables::partial(&prev, &iptables::ruleset(&after, &cfg(), IpFamily::V4));
    let svc = naming::iptables_service_chain("KUBE-SVC-", &name("web"));
    let api = naming::iptables_service_chain("KUBE-SVC-", &name("api"));
    let new = naming::iptables_endpoint_chain(&name("web"), &ep("10.244.1.7", true, false));
    let kept = naming::iptables_endpoint_chain(&name("web"), &ep("10.244.1.5", true, false));
    let gone = naming::iptables_endpoint_chain(&name("web"), &ep("10.244.1.6", true, false));
    for wanted in [
        format!(":{svc} - [0:0]"),
        format!(":{new} - [0:0]"),
        format!(":{gone} - [0:0]"),
        format!("-X {gone}"),
    ] {
        assert!(
            input.lines().any(|l| l == wanted),
            "{wanted:?} in:\n{input}"
        );
    }
    assert!(
        !input.contains(&format!(":{kept} ")),
        "unchanged endpoint chain:\n{input}"
    );
    assert!(
        !input.contains(&format!(":{api} ")),
        "unchanged Service:\n{input}"
    );
    assert!(
        input.contains(&format!("-j {api}")),
        "KUBE-SERVICES still jumps to every Service:\n{input}"
    );
}

#[test]
fn a_failed_partial_sync_is_redone_as_a_full_sync_at_once() {
    // Partial transactions fail (as when someone flushed our table); full
    // ones succeed.
    let runner = FakeRunner::new(|call| {
        let partial = call
            .stdin
            .as_ref()
            .is_some_and(|script| !script.contains("flush table"));
        if call.args == ["-f", "-"] && partial {
            return Err(RunError::Failed {
                program: "nft".into(),
                code: Some(1),
                stderr: "Error: No such file or directory".into(),
            });
        }
        Ok(String::new())
    });
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    let mut st = two_services();
    proxier.sync(&st).unwrap();
    runner.clear();
    st.endpoints
        .insert(name("api"), vec![ep("10.244.2.9", true, false)]);
    proxier
        .sync(&st)
        .expect("the full sync repairs it in the same call");
    let scripts: Vec<String> = runner
        .calls()
        .into_iter()
        .filter(|c| c.args == ["-f", "-"])
        .filter_map(|c| c.stdin)
        .collect();
    assert_eq!(scripts.len(), 2, "a partial, then a full transaction");
    assert!(scripts[1].contains("flush table") && scripts[1].contains("10.244.2.9"));
}

fn keys(names: &[&str]) -> crate::model::Changes {
    crate::model::Changes::Services(
        names
            .iter()
            .map(|n| ("ns".to_string(), n.to_string()))
            .collect(),
    )
}

fn scripts(runner: &FakeRunner) -> Vec<String> {
    runner
        .calls()
        .into_iter()
        .filter(|c| c.args == ["-f", "-"])
        .filter_map(|c| c.stdin)
        .collect()
}

fn three_services() -> ProxyState {
    let mut st = two_services();
    let db = port("db", "10.96.0.12");
    st.endpoints
        .insert(db.name.clone(), vec![ep("10.244.3.5", true, false)]);
    st.services.insert(db.name.clone(), db);
    st
}

#[test]
fn a_hinted_partial_sync_looks_only_at_the_changed_services() {
    let runner = FakeRunner::default();
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    let mut st = three_services();
    proxier.sync_changes(&st, &keys(&[])).unwrap();
    runner.clear();

    // api and web both differ, but the hint names only api: the proxier
    // does not even look at web (which is what makes a sync O(changed)).
    st.endpoints
        .insert(name("api"), vec![ep("10.244.2.9", true, false)]);
    st.endpoints
        .insert(name("web"), vec![ep("10.244.1.99", true, false)]);
    proxier.sync_changes(&st, &keys(&["api"])).unwrap();
    let written = scripts(&runner);
    assert_eq!(written.len(), 1, "{written:?}");
    let script = &written[0];
    let api = naming::nft_service_chain("service", &name("api"));
    assert!(
        script.contains(&format!("flush chain ip kube-proxy {api}")),
        "{script}"
    );
    assert!(script.contains("10.244.2.9"), "{script}");
    for other in [
        "ns/web/",
        "ns/db/",
        "10.244.1.99",
        "flush table",
        "service-ips",
    ] {
        assert!(!script.contains(other), "{other:?} in:\n{script}");
    }

    // Naming web afterwards programs it; the kept ruleset then equals one
    // rendered from scratch.
    runner.clear();
    proxier.sync_changes(&st, &keys(&["web"])).unwrap();
    assert!(scripts(&runner)[0].contains("10.244.1.99"));
    assert_eq!(
        proxier.written(IpFamily::V4).unwrap(),
        &nftables::ruleset(&st, &cfg(), IpFamily::V4)
    );

    // A Service that goes and one that comes, in one hinted sync.
    runner.clear();
    st.services.remove(&name("db"));
    st.endpoints.remove(&name("db"));
    let cache = port("cache", "10.96.0.13");
    st.endpoints
        .insert(cache.name.clone(), vec![ep("10.244.4.5", true, false)]);
    st.services.insert(cache.name.clone(), cache);
    proxier.sync_changes(&st, &keys(&["db", "cache"])).unwrap();
    let script = &scripts(&runner)[0];
    assert!(
        script.contains("delete element ip kube-proxy cluster-ips { 10.96.0.12 }"),
        "{script}"
    );
    assert!(
        script.contains("add element ip kube-proxy cluster-ips { 10.96.0.13 }"),
        "{script}"
    );
    let db = naming::nft_service_chain("service", &name("db"));
    assert!(
        script.contains(&format!("delete chain ip kube-proxy {db}")),
        "{script}"
    );
    assert!(
        !script.contains("ns/api/") && !script.contains("ns/web/"),
        "{script}"
    );
    assert_eq!(
        proxier.written(IpFamily::V4).unwrap(),
        &nftables::ruleset(&st, &cfg(), IpFamily::V4)
    );

    // Nothing changed: nothing written.
    runner.clear();
    proxier.sync_changes(&st, &keys(&[])).unwrap();
    assert!(scripts(&runner).is_empty());
}

#[test]
fn a_port_removed_from_a_service_keeps_its_cluster_ip() {
    let runner = FakeRunner::default();
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    let mut st = two_services();
    let mut https = port("web", "10.96.0.10");
    https.name.port_name = "https".into();
    https.port = 443;
    st.endpoints
        .insert(https.name.clone(), vec![ep("10.244.1.5", true, false)]);
    st.services.insert(https.name.clone(), https.clone());
    proxier.sync(&st).unwrap();
    runner.clear();

    st.services.remove(&https.name);
    st.endpoints.remove(&https.name);
    proxier.sync_changes(&st, &keys(&["web"])).unwrap();
    let script = &scripts(&runner)[0];
    assert!(
        script.contains("delete element ip kube-proxy service-ips { 10.96.0.10 . tcp . 443 }"),
        "{script}"
    );
    assert!(
        !script.contains("cluster-ips"),
        "port 80 still uses 10.96.0.10:\n{script}"
    );
}

#[test]
fn an_external_flush_is_repaired_by_a_full_resync_of_every_service() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    // The kernel side: whether our table exists. A partial transaction
    // fails without it (as nft does: "No such file or directory"); a full
    // one creates it.
    let table = std::sync::Arc::new(AtomicBool::new(false));
    let t = table.clone();
    let runner = FakeRunner::new(move |call| {
        let missing = || RunError::Failed {
            program: "nft".into(),
            code: Some(1),
            stderr: "Error: No such file or directory".into(),
        };
        match call.args.first().map(String::as_str) {
            Some("list") if !t.load(SeqCst) => Err(missing()),
            Some("-f") => {
                let script = call.stdin.clone().unwrap_or_default();
                if script.contains("add table") {
                    t.store(true, SeqCst);
                } else if !t.load(SeqCst) {
                    return Err(missing());
                }
                Ok(String::new())
            }
            _ => Ok(String::new()),
        }
    });
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    let mut st = three_services();
    proxier.sync(&st).unwrap();
    assert!(table.load(SeqCst));

    // `nft flush ruleset` by someone else, then a one-Service change.
    table.store(false, SeqCst);
    runner.clear();
    st.endpoints
        .insert(name("api"), vec![ep("10.244.2.9", true, false)]);
    proxier.sync_changes(&st, &keys(&["api"])).unwrap();
    let written = scripts(&runner);
    assert_eq!(written.len(), 2, "the partial failed, a full one followed");
    let full = &written[1];
    assert!(full.contains("flush table ip kube-proxy"), "{full}");
    for svc in ["web", "api", "db"] {
        let chain = naming::nft_service_chain("service", &name(svc));
        assert!(
            full.contains(&format!("add chain ip kube-proxy {chain}")),
            "{svc} is restored:\n{full}"
        );
    }
    assert!(table.load(SeqCst));

    // Flushed again with nothing changed: the empty sync notices the
    // missing table and restores everything.
    table.store(false, SeqCst);
    runner.clear();
    proxier.sync_changes(&st, &keys(&[])).unwrap();
    let written = scripts(&runner);
    assert_eq!(written.len(), 1);
    assert!(written[0].contains("10.244.3.5") && written[0].contains("10.244.1.6"));
    assert_eq!(
        proxier.written(IpFamily::V4).unwrap(),
        &nftables::ruleset(&st, &cfg(), IpFamily::V4)
    );
}

#[test]
fn keys_claimed_twice_are_written_once_so_partial_transactions_stay_valid() {
    // Bad input the apiserver should have refused: two ports of one Service
    // with the same number, and an external IP listed twice. A partial
    // transaction must not add one map key twice (nft refuses the whole
    // transaction); it writes what a full one would, one element per key.
    let runner = FakeRunner::default();
    let mut proxier = NftablesProxier::new(runner.clone(), cfg(), vec![IpFamily::V4]);
    let mut st = two_services();
    proxier.sync(&st).unwrap();
    runner.clear();
    for port_name in ["a", "b"] {
        let mut svc = port("dup", "10.96.0.20");
        svc.name.port_name = port_name.into();
        svc.external_ips = vec!["192.0.2.7".parse().unwrap()];
        st.endpoints
            .insert(svc.name.clone(), vec![ep("10.244.5.5", true, false)]);
        st.services.insert(svc.name.clone(), svc);
    }
    proxier.sync_changes(&st, &keys(&["dup"])).unwrap();
    let script = &scripts(&runner)[0];
    for key in ["10.96.0.20 . tcp . 80 :", "192.0.2.7 . tcp . 80 :"] {
        assert_eq!(script.matches(key).count(), 1, "{key:?} once in:\n{script}");
    }
    // The Service goes: each key is deleted once.
    runner.clear();
    st.services.retain(|n, _| n.name != "dup");
    st.endpoints.retain(|n, _| n.name != "dup");
    proxier.sync_changes(&st, &keys(&["dup"])).unwrap();
    let script = &scripts(&runner)[0];
    assert_eq!(
        script.matches("192.0.2.7 . tcp . 80").count(),
        1,
        "{script}"
    );
    assert_eq!(
        proxier.written(IpFamily::V4).unwrap(),
        &nftables::ruleset(&st, &cfg(), IpFamily::V4)
    );
}
