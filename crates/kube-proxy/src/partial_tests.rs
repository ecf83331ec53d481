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
    let gone = naming::nft_endpoint_chain(&name("web"), &ep("10.244.1.6", true, false));
    let new = naming::nft_endpoint_chain(&name("web"), &ep("10.244.1.7", true, false));
    let expected_order = [
        format!("add chain ip kube-proxy {new}"),
        format!("flush chain ip kube-proxy {web}"),
        format!("add rule ip kube-proxy {web} numgen random mod 2 == 0 goto"),
        format!("add rule ip kube-proxy {new} ip saddr 10.244.1.7 jump mark-for-masquerade"),
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
    assert!(
        !script.contains("api"),
        "the other Service is untouched:\n{script}"
    );
    assert!(
        !script.contains("element"),
        "the maps still point to the same chains:\n{script}"
    );
    assert!(!script.contains("flush table"));
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
