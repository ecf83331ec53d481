//! DNS (`network/dns.go`): cluster names, Services (headless and not, A,
//! SRV and PTR), partially qualified names through the pod's search path,
//! pod hostname/subdomain records and `/etc/hosts`, ExternalName CNAMEs and
//! their change to ClusterIP, and a custom `dnsConfig`.
//!
//! Upstream's probe pods run `dig`/`getent` in loops and write marker
//! files; here busybox `nslookup` in the shared client pod asks the same
//! names until the answer is right.

use serde_json::{Value, json};

use super::{Cluster, get, testserver_pod};
use crate::control_plane::kubectl_ok;

const ZONE: &str = "default.svc.cluster.local";

pub async fn checks(c: &Cluster<'_>) {
    cluster_names(c).await;
    services_and_pods(c).await;
    external_name(c).await;
    custom_dns_config(c).await;
}

/// `nslookup [-type=T] name` in the client pod until its output contains
/// `want`. busybox's nslookup ignores the search path, so partially
/// qualified names are resolved by `ping` (the C library's resolver) and
/// `want` (`Address: IP`) is looked for as ping prints it.
async fn lookup(c: &Cluster<'_>, kind: &str, name: &str, want: &str) -> String {
    let (script, want) = if kind == "A" && !name.ends_with(".cluster.local") {
        let ip = want.trim_start_matches("Address: ");
        (
            format!("timeout 3 ping -c 1 -W 1 {name}"),
            format!("PING {name} ({ip})"),
        )
    } else if kind == "A" {
        (format!("nslookup {name}"), want.to_string())
    } else {
        (format!("nslookup -type={kind} {name}"), want.to_string())
    };
    let want = want.as_str();
    c.exec_until(&format!("{kind} {name} answers {want:?}"), &script, |out| {
        out.contains(want)
    })
    .await
}

/// "DNS should provide DNS for the cluster": `kubernetes.default` in all
/// its forms, and the client pod's own `<dashed-ip>.<ns>.pod` record.
async fn cluster_names(c: &Cluster<'_>) {
    let kubernetes: Value = c.get(&["service", "kubernetes"]).await;
    let ip = kubernetes["spec"]["clusterIP"].as_str().expect("clusterIP");
    for name in [
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        lookup(c, "A", name, &format!("Address: {ip}")).await;
    }
    let dashed = c.client_ip.replace('.', "-");
    lookup(
        c,
        "A",
        &format!("{dashed}.default.pod.cluster.local"),
        &format!("Address: {}", c.client_ip),
    )
    .await;
}

/// "DNS should provide DNS for services", "... for pods for Hostname",
/// "... for pods for Subdomain", "... partial qualified names for
/// services" and "should provide /etc/hosts entries for the cluster".
async fn services_and_pods(c: &Cluster<'_>) {
    let service = |name: &str, headless: bool, selector: Value| {
        let mut spec = json!({
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        });
        if headless {
            spec["clusterIP"] = json!("None");
        }
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
    };
    for svc in [
        service("dns-test-service", true, json!({"dns-test": "true"})),
        service("test-service-2", false, json!({"dns-test": "true"})),
        service("dns-test-service-2", true, json!({"dns-test-2": "true"})),
    ] {
        c.apply(&svc.to_string()).await;
    }
    let mut querier1 = testserver_pod("dns-querier-1", json!({"dns-test": "true"}), json!([]));
    querier1["spec"]["hostname"] = json!("dns-querier-1");
    querier1["spec"]["subdomain"] = json!("dns-test-service");
    let mut querier2 = testserver_pod("dns-querier-2", json!({"dns-test-2": "true"}), json!([]));
    querier2["spec"]["hostname"] = json!("dns-querier-2");
    querier2["spec"]["subdomain"] = json!("dns-test-service-2");
    let ips = c.run_pods(&[querier1, querier2]).await;
    let (ip1, ip2) = (&ips[0], &ips[1]);
    let svc2: Value = c.get(&["service", "test-service-2"]).await;
    let svc2_ip = svc2["spec"]["clusterIP"]
        .as_str()
        .expect("clusterIP")
        .to_string();

    // Services: the headless one answers with its pod, the other with its
    // ClusterIP; SRV per named port; PTR for the ClusterIP.
    lookup(
        c,
        "A",
        &format!("dns-test-service.{ZONE}"),
        &format!("Address: {ip1}"),
    )
    .await;
    lookup(
        c,
        "A",
        &format!("test-service-2.{ZONE}"),
        &format!("Address: {svc2_ip}"),
    )
    .await;
    lookup(
        c,
        "SRV",
        &format!("_http._tcp.dns-test-service.{ZONE}"),
        &format!("80 dns-querier-1.dns-test-service.{ZONE}"),
    )
    .await;
    lookup(
        c,
        "SRV",
        &format!("_http._tcp.test-service-2.{ZONE}"),
        &format!("80 test-service-2.{ZONE}"),
    )
    .await;
    let reverse: Vec<&str> = svc2_ip.split('.').rev().collect();
    let reverse = format!("{}.in-addr.arpa", reverse.join("."));
    lookup(c, "PTR", &reverse, &format!("name = test-service-2.{ZONE}")).await;

    // Partially qualified names go through the pod's search path.
    for name in [
        "dns-test-service",
        "dns-test-service.default",
        "dns-test-service.default.svc",
    ] {
        lookup(c, "A", name, &format!("Address: {ip1}")).await;
    }
    for name in [
        "test-service-2",
        "test-service-2.default",
        "test-service-2.default.svc",
    ] {
        lookup(c, "A", name, &format!("Address: {svc2_ip}")).await;
    }

    // Hostname and subdomain records of the pods.
    lookup(
        c,
        "A",
        &format!("dns-querier-1.dns-test-service.{ZONE}"),
        &format!("Address: {ip1}"),
    )
    .await;
    lookup(
        c,
        "A",
        &format!("dns-querier-2.dns-test-service-2.{ZONE}"),
        &format!("Address: {ip2}"),
    )
    .await;
    lookup(
        c,
        "A",
        &format!("dns-test-service-2.{ZONE}"),
        &format!("Address: {ip2}"),
    )
    .await;

    // The kubelet-managed /etc/hosts names the pod by its FQDN and hostname.
    let (code, hosts) = get(ip1, "/file?path=/etc/hosts").await;
    assert_eq!(code, 200, "{hosts}");
    let line = hosts
        .lines()
        .find(|l| l.starts_with(ip1.as_str()))
        .unwrap_or_else(|| panic!("no /etc/hosts line for {ip1}:\n{hosts}"));
    let names: Vec<&str> = line.split_whitespace().skip(1).collect();
    assert_eq!(
        names,
        [
            format!("dns-querier-1.dns-test-service.{ZONE}").as_str(),
            "dns-querier-1"
        ],
        "{hosts}"
    );
    assert!(hosts.contains("localhost"), "{hosts}");
    c.delete_pods(&["dns-querier-1", "dns-querier-2"]).await;
    kubectl_ok(
        c.node,
        &[
            "delete",
            "service",
            "dns-test-service",
            "test-service-2",
            "dns-test-service-2",
        ],
    )
    .await;
}

/// "DNS should provide DNS for ExternalName services": a CNAME that follows
/// the `externalName`, then A records once the type is ClusterIP (the test
/// leaves `externalName` set, as upstream's does).
async fn external_name(c: &Cluster<'_>) {
    let name = "dns-test-service-3";
    let fqdn = format!("{name}.{ZONE}");
    c.apply(
        &json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "ExternalName", "externalName": "foo.example.com"}
        })
        .to_string(),
    )
    .await;
    lookup(c, "CNAME", &fqdn, "canonical name = foo.example.com").await;
    update_service(c, name, |s| {
        s["spec"]["externalName"] = json!("bar.example.com");
    })
    .await;
    lookup(c, "CNAME", &fqdn, "canonical name = bar.example.com").await;
    let svc = update_service(c, name, |s| {
        s["spec"]["type"] = json!("ClusterIP");
        s["spec"]["ports"] = json!([{"port": 80, "name": "http", "protocol": "TCP"}]);
    })
    .await;
    let ip = svc["spec"]["clusterIP"]
        .as_str()
        .expect("a ClusterIP is allocated");
    lookup(c, "A", &fqdn, &format!("Address: {ip}")).await;
    kubectl_ok(c.node, &["delete", "service", name]).await;
}

/// "DNS should support configurable pod DNS nameservers": `dnsPolicy: None`
/// with a `dnsConfig` is the pod's whole resolv.conf.
async fn custom_dns_config(c: &Cluster<'_>) {
    let mut pod = testserver_pod("dns-custom", json!({}), json!([]));
    pod["spec"]["dnsPolicy"] = json!("None");
    pod["spec"]["dnsConfig"] =
        json!({"nameservers": ["1.1.1.1"], "searches": ["resolv.conf.local"]});
    let ip = c.run_pods(&[pod]).await.remove(0);
    let (code, conf) = get(&ip, "/file?path=/etc/resolv.conf").await;
    assert_eq!(code, 200, "{conf}");
    let lines: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(lines.contains(&"nameserver 1.1.1.1"), "{conf}");
    assert!(lines.contains(&"search resolv.conf.local"), "{conf}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("nameserver")).count(),
        1,
        "only the configured nameserver:\n{conf}"
    );
    c.delete_pods(&["dns-custom"]).await;
}

/// Reads the Service, changes it and writes it back whole (upstream's
/// `UpdateService`); the stored result.
pub async fn update_service(c: &Cluster<'_>, name: &str, change: impl Fn(&mut Value)) -> Value {
    let mut svc: Value = c.get(&["service", name]).await;
    change(&mut svc);
    let out = c
        .node
        .cluster
        .kubectl_stdin(
            &["replace", "-o", "json", "-f", "-"],
            Some(&svc.to_string()),
        )
        .await
        .expect("kubectl replace");
    assert!(
        out.status.success(),
        "updating service {name}: {}\n{svc}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("service json")
}
