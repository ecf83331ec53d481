use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

use super::predicate::{NodeFacts, Rejection, admit, host_ports, insufficient_resources};
use corten_scheduler::framework::resource::Resource;

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": spec
    }))
    .unwrap()
}

fn requesting(name: &str, requests: serde_json::Value) -> Pod {
    pod(
        name,
        json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": requests}}]}),
    )
}

fn node(labels: serde_json::Value, taints: serde_json::Value) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": labels},
        "spec": {"taints": taints}
    }))
    .unwrap()
}

fn allocatable() -> Resource {
    Resource::from_list(
        &serde_json::from_value(json!({
            "cpu": "2", "memory": "4Gi", "ephemeral-storage": "10Gi", "pods": "3",
            "example.com/gpu": "1"
        }))
        .unwrap(),
    )
}

fn check(p: &Pod, others: &[Pod], node: &Node) -> Result<(), Rejection> {
    let others: Vec<&Pod> = others.iter().collect();
    admit(
        p,
        &others,
        &NodeFacts {
            node,
            allocatable: allocatable(),
        },
        false,
    )
}

fn plain_node() -> Node {
    node(json!({"kubernetes.io/os": "linux", "zone": "a"}), json!([]))
}

#[test]
fn resources_count_the_admitted_pods_like_the_scheduler() {
    let n = plain_node();
    // 1800m used: an init container (1500m) beside a sidecar (300m) wins
    // over the app containers; plus 100m overhead.
    let busy = pod(
        "busy",
        json!({
            "initContainers": [
                {"name": "side", "image": "i", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
                {"name": "init", "image": "i", "resources": {"requests": {"cpu": "1500m"}}}
            ],
            "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}}],
            "overhead": {"cpu": "100m"}
        }),
    );
    let fits = requesting("fits", json!({"cpu": "100m"}));
    assert_eq!(check(&fits, std::slice::from_ref(&busy), &n), Ok(()));
    let big = requesting("big", json!({"cpu": "500m"}));
    assert_eq!(
        check(&big, std::slice::from_ref(&busy), &n),
        Err(Rejection::new(
            "OutOfcpu",
            "Node didn't have enough resource: cpu, requested: 500, used: 1900, capacity: 2000"
        ))
    );
    // 3 GiB are left: one byte more does not fit.
    let exact = requesting("exact", json!({"memory": "3Gi"}));
    assert_eq!(check(&exact, std::slice::from_ref(&busy), &n), Ok(()));
    let mem = requesting("mem", json!({"memory": "3221225473"}));
    assert_eq!(
        check(&mem, std::slice::from_ref(&busy), &n).unwrap_err(),
        Rejection::new(
            "OutOfmemory",
            "Node didn't have enough resource: memory, requested: 3221225473, used: 1073741824, capacity: 4294967296"
        )
    );
    let disk = requesting("disk", json!({"ephemeral-storage": "11Gi"}));
    assert_eq!(
        check(&disk, &[], &n).unwrap_err().reason,
        "OutOfephemeral-storage"
    );
}

#[test]
fn the_pod_count_is_checked_first_and_reported_alone() {
    let n = plain_node();
    let others = vec![
        requesting("a", json!({})),
        requesting("b", json!({})),
        requesting("c", json!({})),
    ];
    let p = requesting("d", json!({"cpu": "3"}));
    let all: Vec<&Pod> = others.iter().collect();
    let insufficient = insufficient_resources(&p, &all, &allocatable());
    assert_eq!(
        insufficient
            .iter()
            .map(|i| i.resource.as_str())
            .collect::<Vec<_>>(),
        ["pods", "cpu"]
    );
    assert_eq!(
        check(&p, &others, &n),
        Err(Rejection::new(
            "OutOfpods",
            "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"
        ))
    );
    // A best-effort pod is only counted.
    let empty = requesting("e", json!({}));
    assert_eq!(check(&empty, &others[..2], &n), Ok(()));
}

#[test]
fn extended_resources_unknown_to_the_node_are_ignored() {
    let n = plain_node();
    let cluster = requesting("cluster", json!({"example.com/fpga": "4"}));
    assert_eq!(check(&cluster, &[], &n), Ok(()));
    let two = requesting("two", json!({"example.com/gpu": "2"}));
    assert_eq!(
        check(&two, &[], &n),
        Err(Rejection::new(
            "OutOfexample.com/gpu",
            "Node didn't have enough resource: example.com/gpu, requested: 2, used: 0, capacity: 1"
        ))
    );
}

#[test]
fn node_selector_and_required_affinity_must_match() {
    let n = plain_node();
    let selector = pod(
        "s",
        json!({"nodeSelector": {"zone": "b"}, "containers": [{"name": "c", "image": "i"}]}),
    );
    assert_eq!(
        check(&selector, &[], &n),
        Err(Rejection::new(
            "NodeAffinity",
            "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
        ))
    );
    let affinity = pod(
        "a",
        json!({
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
            }}},
            "containers": [{"name": "c", "image": "i"}]
        }),
    );
    assert_eq!(check(&affinity, &[], &n), Ok(()));
    let other_node = pod(
        "o",
        json!({"nodeName": "n2", "containers": [{"name": "c", "image": "i"}]}),
    );
    assert_eq!(check(&other_node, &[], &n).unwrap_err().reason, "NodeName");
}

#[test]
fn host_ports_conflict_with_admitted_pods() {
    let n = plain_node();
    let web = |name: &str, ip: Option<&str>, protocol: &str| {
        let mut port = json!({"containerPort": 80, "hostPort": 8080, "protocol": protocol});
        if let Some(ip) = ip {
            port["hostIP"] = json!(ip);
        }
        pod(
            name,
            json!({"containers": [{"name": "c", "image": "i", "ports": [port]}]}),
        )
    };
    let first = web("first", None, "TCP");
    assert_eq!(host_ports(&first).len(), 1);
    assert_eq!(
        check(
            &web("second", Some("10.0.0.1"), "TCP"),
            std::slice::from_ref(&first),
            &n
        ),
        Err(Rejection::new(
            "NodePorts",
            "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
        ))
    );
    assert_eq!(
        check(&web("udp", None, "UDP"), std::slice::from_ref(&first), &n),
        Ok(())
    );
}

#[test]
fn only_untolerated_no_execute_taints_reject_and_not_for_static_pods() {
    let tainted = node(
        json!({}),
        json!([
            {"key": "dedicated", "value": "db", "effect": "NoExecute"},
            {"key": "other", "effect": "NoSchedule"}
        ]),
    );
    let plain = pod("p", json!({"containers": [{"name": "c", "image": "i"}]}));
    assert_eq!(
        check(&plain, &[], &tainted),
        Err(Rejection::new(
            "TaintToleration",
            "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"
        ))
    );
    let tolerating = pod(
        "t",
        json!({
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoExecute"}],
            "containers": [{"name": "c", "image": "i"}]
        }),
    );
    assert_eq!(check(&tolerating, &[], &tainted), Ok(()));
    let facts = NodeFacts {
        node: &tainted,
        allocatable: allocatable(),
    };
    assert_eq!(admit(&plain, &[], &facts, true), Ok(()));
}

#[test]
fn other_operating_systems_are_rejected() {
    let n = plain_node();
    let mut labelled = pod("w", json!({"containers": [{"name": "c", "image": "i"}]}));
    labelled.metadata.labels = Some([("kubernetes.io/os".into(), "windows".into())].into());
    assert_eq!(
        check(&labelled, &[], &n).unwrap_err().reason,
        "PodOSSelectorNodeLabelDoesNotMatch"
    );
    let os = pod(
        "o",
        json!({"os": {"name": "windows"}, "containers": [{"name": "c", "image": "i"}]}),
    );
    assert_eq!(
        check(&os, &[], &n),
        Err(Rejection::new(
            "PodOSNotSupported",
            "Failed to admit pod as the OS field doesn't match node OS"
        ))
    );
}

fn with_priority(mut p: Pod, priority: i32) -> Pod {
    p.spec.as_mut().unwrap().priority = Some(priority);
    p
}

fn guaranteed(name: &str, cpu: &str) -> Pod {
    pod(
        name,
        json!({"containers": [{"name": "c", "image": "i", "resources": {
            "requests": {"cpu": cpu, "memory": "100Mi"}, "limits": {"cpu": cpu, "memory": "100Mi"}
        }}]}),
    )
}

#[test]
fn critical_pods_preempt_the_lesser_pods_closest_to_what_is_missing() {
    use super::predicate::{Failure, failures};
    use super::preemption::pods_to_preempt;
    let n = plain_node();
    let admitted = [
        requesting("burst-big", json!({"cpu": "900m"})),
        requesting("burst-small", json!({"cpu": "300m"})),
        guaranteed("guaranteed", "500m"),
        with_priority(
            requesting("critical", json!({"cpu": "200m"})),
            2_000_000_000,
        ),
    ];
    let critical = with_priority(requesting("new", json!({"cpu": "400m"})), 2_000_000_000);
    let others: Vec<&Pod> = admitted.iter().collect();
    let facts = NodeFacts {
        node: &n,
        allocatable: allocatable(),
    };
    // 1900m of 2000m used: 300m missing; 4 pods of 3: 2 must go.
    let found = failures(&critical, &others, &facts, false).unwrap();
    let insufficient: Vec<_> = found
        .into_iter()
        .map(|f| match f {
            Failure::Insufficient(i) => i,
            Failure::Predicate(r) => panic!("unexpected {r:?}"),
        })
        .collect();
    assert_eq!(
        insufficient
            .iter()
            .map(|i| (i.resource.as_str(), i.missing()))
            .collect::<Vec<_>>(),
        [("pods", 2), ("cpu", 300)]
    );
    // Burstable pods before the Guaranteed one, never the critical one;
    // the closer (then smaller) first.
    let victims = pods_to_preempt(&critical, &others, &insufficient).unwrap();
    let names: Vec<_> = victims
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["burst-small", "burst-big"]);
    // Needing more CPU than all preemptable pods hold: upstream's error.
    let huge = with_priority(requesting("huge", json!({"cpu": "3"})), 2_000_000_000);
    let missing = super::predicate::insufficient_resources(&huge, &others, &allocatable());
    let err = pods_to_preempt(&huge, &others, &missing).unwrap_err();
    assert_eq!(
        err,
        "no set of running pods found to reclaim resources: [(res: cpu, q: 1200), ]"
    );
}
