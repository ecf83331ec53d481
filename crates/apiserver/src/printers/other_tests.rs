//! Rows of the networking, storage, autoscaling, rbac and other kinds.

use serde_json::{Value, json};

use super::test_support::{ago, cells, column_names, now};
use super::{IncludeObject, table};

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": ago(8 * 86400)})
}

#[test]
fn ingresses() {
    let ing = json!({"metadata": meta("web"),
        "spec": {"ingressClassName": "nginx",
            "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"}],
            "tls": [{"hosts": ["a.example.com"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.5"}]}}});
    assert_eq!(
        cells("networking.k8s.io", "Ingress", &ing),
        json!([
            "web",
            "nginx",
            "a.example.com,b.example.com",
            "172.18.0.5",
            "80, 443",
            "8d"
        ])
    );
    let many = json!({"metadata": meta("many"), "spec": {"rules": [
        {"host": "a"}, {"host": "b"}, {"host": "c"}, {"host": "d"}, {"host": "e"}]}});
    assert_eq!(
        cells("networking.k8s.io", "Ingress", &many),
        json!(["many", "<none>", "a,b,c + 2 more...", "", "80", "8d"])
    );
    let catch_all = json!({"metadata": meta("all"), "spec": {"defaultBackend": {}}});
    assert_eq!(cells("networking.k8s.io", "Ingress", &catch_all)[2], "*");
}

#[test]
fn ingress_classes_and_network_policies() {
    let ic = json!({"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
    assert_eq!(
        cells("networking.k8s.io", "IngressClass", &ic),
        json!([
            "nginx",
            "k8s.io/ingress-nginx",
            "IngressParameters.k8s.example.com/p",
            "8d"
        ])
    );
    let plain = json!({"metadata": meta("x"), "spec": {"controller": "c"}});
    assert_eq!(
        cells("networking.k8s.io", "IngressClass", &plain)[2],
        "<none>"
    );

    let np = json!({"metadata": meta("deny"), "spec": {"podSelector": {}}});
    assert_eq!(
        cells("networking.k8s.io", "NetworkPolicy", &np),
        json!(["deny", "<none>", "8d"])
    );
    let np = json!({"metadata": meta("db"),
        "spec": {"podSelector": {"matchLabels": {"role": "db"}}}});
    assert_eq!(
        cells("networking.k8s.io", "NetworkPolicy", &np)[1],
        "role=db"
    );
    assert_eq!(
        column_names("networking.k8s.io", "NetworkPolicy"),
        ["Name", "Pod-Selector", "Age"]
    );
}

#[test]
fn endpoint_slices() {
    let es = json!({"metadata": meta("web-abc"), "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}, {"port": 9000}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]},
            {"addresses": ["10.0.0.4"]}]});
    assert_eq!(
        cells("discovery.k8s.io", "EndpointSlice", &es),
        json!([
            "web-abc",
            "IPv4",
            "80,named,* + 1 more...",
            "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
            "8d"
        ])
    );
    let empty = json!({"metadata": meta("e"), "addressType": "IPv6"});
    assert_eq!(
        cells("discovery.k8s.io", "EndpointSlice", &empty),
        json!(["e", "IPv6", "<unset>", "<unset>", "8d"])
    );
}

#[test]
fn storage_classes() {
    let sc = json!({"metadata": {"name": "standard", "creationTimestamp": ago(60),
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        cells("storage.k8s.io", "StorageClass", &sc),
        json!([
            "standard (default)",
            "rancher.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            false,
            "60s"
        ])
    );
    let beta_default = json!({"metadata": {"name": "old",
        "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "true"}},
        "provisioner": "p", "allowVolumeExpansion": true});
    let c = cells("storage.k8s.io", "StorageClass", &beta_default);
    assert_eq!(c[0], "old (default)");
    assert_eq!(c[2], "Delete");
    assert_eq!(c[3], "Immediate");
    assert_eq!(c[4], true);
    let not_default = json!({"metadata": {"name": "x",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "false"}}});
    assert_eq!(
        cells("storage.k8s.io", "StorageClass", &not_default)[0],
        "x"
    );
}

#[test]
fn csi_and_attachments() {
    let driver = json!({"metadata": meta("csi.example.com"),
        "spec": {"attachRequired": false, "podInfoOnMount": true,
            "tokenRequests": [{"audience": "a"}, {"audience": "b"}],
            "volumeLifecycleModes": ["Persistent", "Ephemeral"]}});
    assert_eq!(
        cells("storage.k8s.io", "CSIDriver", &driver),
        json!([
            "csi.example.com",
            false,
            true,
            false,
            "a,b",
            false,
            "Persistent,Ephemeral",
            "8d"
        ])
    );
    let bare = json!({"metadata": meta("d"), "spec": {}});
    assert_eq!(
        cells("storage.k8s.io", "CSIDriver", &bare),
        json!([
            "d",
            true,
            false,
            false,
            "<unset>",
            false,
            "Persistent",
            "8d"
        ])
    );
    let node = json!({"metadata": meta("n1"), "spec": {"drivers": [{"name": "a"}]}});
    assert_eq!(
        cells("storage.k8s.io", "CSINode", &node),
        json!(["n1", 1, "8d"])
    );
    let va = json!({"metadata": meta("csi-123"),
        "spec": {"attacher": "csi.example.com", "nodeName": "n1",
            "source": {"persistentVolumeName": "pv1"}},
        "status": {"attached": true}});
    assert_eq!(
        cells("storage.k8s.io", "VolumeAttachment", &va),
        json!(["csi-123", "csi.example.com", "pv1", "n1", true, "8d"])
    );
}

fn hpa(metrics: Value, current: Value) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": meta("web"),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 10, "metrics": metrics},
        "status": {"currentReplicas": 3, "currentMetrics": current}})
}

fn cpu(target: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": target}}})
}

#[test]
fn horizontal_pod_autoscalers() {
    let h = hpa(
        json!([cpu(80)]),
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 40, "averageValue": "200m"}}}]),
    );
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", &h),
        json!(["web", "Deployment/web", "cpu: 40%/80%", "2", 10, 3, "8d"])
    );
    assert_eq!(
        column_names("autoscaling", "HorizontalPodAutoscaler"),
        [
            "Name",
            "Reference",
            "Targets",
            "MinPods",
            "MaxPods",
            "Replicas",
            "Age"
        ]
    );
    let targets = |h: &Value| cells("autoscaling", "HorizontalPodAutoscaler", h)[2].clone();
    assert_eq!(
        targets(&hpa(json!([cpu(80)]), json!(null))),
        "cpu: <unknown>/80%"
    );
    // Storage defaulting gives an HPA without metrics 80% CPU.
    assert_eq!(
        targets(&hpa(json!(null), json!(null))),
        "cpu: <unknown>/80%"
    );
    let memory = json!({"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "AverageValue", "averageValue": "512Mi"}}});
    let pods = json!({"type": "Pods", "pods": {"metric": {"name": "qps"},
        "target": {"type": "AverageValue", "averageValue": "1k"}}});
    let external = json!({"type": "External", "external": {"metric": {"name": "queue"},
        "target": {"type": "Value", "value": "30"}}});
    assert_eq!(
        targets(&hpa(
            json!([memory, pods]),
            json!([{"type": "Resource", "resource": {"name": "memory",
                "current": {"averageValue": "100Mi"}}}])
        )),
        "memory: 100Mi/512Mi, <unknown>/1k"
    );
    assert_eq!(
        targets(&hpa(json!([cpu(50), memory, external]), json!([]))),
        "cpu: <unknown>/50%, memory: <unknown>/512Mi + 1 more..."
    );
    let object_avg = json!({"type": "Object", "object": {"metric": {"name": "rps"},
        "target": {"type": "AverageValue", "averageValue": "10"}}});
    assert_eq!(
        targets(&hpa(
            json!([object_avg]),
            json!([{"type": "Object", "object": {"current": {"averageValue": "7"}}}])
        )),
        "7/10 (avg)"
    );
    assert_eq!(
        targets(&hpa(json!([{"type": "Bogus"}]), json!([]))),
        "<unknown type>"
    );
}

#[test]
fn autoscaling_v1_shape() {
    let h = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": meta("php"),
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "php"}, "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 1, "currentCPUUtilizationPercentage": 12}});
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", &h),
        json!(["php", "Deployment/php", "cpu: 12%/50%", "1", 5, 1, "8d"])
    );
}

#[test]
fn rbac() {
    let rb = json!({"metadata": meta("admins"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "ops"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
            {"kind": "User", "name": "bob"}]});
    assert_eq!(
        cells("rbac.authorization.k8s.io", "RoleBinding", &rb),
        json!([
            "admins",
            "ClusterRole/admin",
            "8d",
            "alice, bob",
            "ops",
            "tools/ci"
        ])
    );
    assert_eq!(
        cells(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            &json!({"metadata": meta("x")})
        ),
        json!(["x", "/", "8d", "", "", ""])
    );
    assert_eq!(
        column_names("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]
    );
    assert_eq!(
        column_names("rbac.authorization.k8s.io", "Role"),
        ["Name", "Created At"]
    );
    assert_eq!(
        column_names("rbac.authorization.k8s.io", "ClusterRole"),
        ["Name", "Created At"]
    );
}

#[test]
fn certificate_signing_requests() {
    let csr = json!({"metadata": meta("csr-1"),
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice",
            "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}],
            "certificate": "LS0t"}});
    assert_eq!(
        cells("certificates.k8s.io", "CertificateSigningRequest", &csr),
        json!([
            "csr-1",
            "8d",
            "kubernetes.io/kube-apiserver-client",
            "alice",
            "24h",
            "Approved,Issued"
        ])
    );
    let pending = json!({"metadata": meta("csr-2"), "spec": {}});
    assert_eq!(
        cells("certificates.k8s.io", "CertificateSigningRequest", &pending),
        json!(["csr-2", "8d", "<none>", "", "<none>", "Pending"])
    );
    let denied = json!({"metadata": meta("csr-3"), "spec": {},
        "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}});
    assert_eq!(
        cells("certificates.k8s.io", "CertificateSigningRequest", &denied)[5],
        "Denied,Failed"
    );
}

#[test]
fn small_kinds() {
    let lease = json!({"metadata": meta("kube-scheduler"),
        "spec": {"holderIdentity": "node-1_abc"}});
    assert_eq!(
        cells("coordination.k8s.io", "Lease", &lease),
        json!(["kube-scheduler", "node-1_abc", "8d"])
    );
    assert_eq!(
        cells(
            "coordination.k8s.io",
            "Lease",
            &json!({"metadata": meta("l")})
        ),
        json!(["l", "", "8d"])
    );
    let pc = json!({"metadata": meta("system-cluster-critical"), "value": 2000000000,
        "globalDefault": false});
    assert_eq!(
        cells("scheduling.k8s.io", "PriorityClass", &pc),
        json!([
            "system-cluster-critical",
            2000000000,
            false,
            "8d",
            "PreemptLowerPriority"
        ])
    );
    let rc = json!({"metadata": meta("gvisor"), "handler": "runsc"});
    assert_eq!(
        cells("node.k8s.io", "RuntimeClass", &rc),
        json!(["gvisor", "runsc", "8d"])
    );
    let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": 2},
        "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        cells("policy", "PodDisruptionBudget", &pdb),
        json!(["web", "2", "N/A", 1, "8d"])
    );
    let pdb = json!({"metadata": meta("db"), "spec": {"maxUnavailable": "25%"}});
    assert_eq!(
        cells("policy", "PodDisruptionBudget", &pdb),
        json!(["db", "N/A", "25%", 0, "8d"])
    );
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let wh = json!({"metadata": meta("hooks"), "webhooks": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            cells("admissionregistration.k8s.io", kind, &wh),
            json!(["hooks", 2, "8d"])
        );
        assert_eq!(
            column_names("admissionregistration.k8s.io", kind),
            ["Name", "Webhooks", "Age"]
        );
    }
    let vap = json!({"metadata": meta("p"), "spec": {"validations": [{}, {}, {}],
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}}});
    assert_eq!(
        cells(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy",
            &vap
        ),
        json!(["p", 3, "v1/ConfigMap", "8d"])
    );
}

#[test]
fn flow_schemas_are_sorted() {
    let fs = |name: &str, precedence: i64| {
        json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
            "metadata": meta(name),
            "spec": {"matchingPrecedence": precedence,
                "priorityLevelConfiguration": {"name": "workload-low"},
                "distinguisherMethod": {"type": "ByUser"}},
            "status": {"conditions": [{"type": "Dangling", "status": "False"}]}})
    };
    let t = table(
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        &[
            fs("b", 500),
            fs("exempt", 1),
            fs("a", 500),
            fs("catch-all", 10000),
        ],
        IncludeObject::None,
        None,
        now(),
    );
    let names: Vec<&str> = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"][0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["exempt", "a", "b", "catch-all"]);
    assert_eq!(
        t["rows"][1]["cells"],
        json!(["a", "workload-low", 500, "ByUser", "8d", "False"])
    );
}

#[test]
fn priority_levels_and_claims() {
    let pl = json!({"metadata": meta("workload-low"), "spec": {"type": "Limited",
        "limited": {"nominalConcurrencyShares": 100,
            "limitResponse": {"type": "Queue", "queuing": {"queues": 128, "handSize": 6,
                "queueLengthLimit": 50}}}}});
    assert_eq!(
        cells(
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            &pl
        ),
        json!(["workload-low", "Limited", 100, 128, 6, 50, "8d"])
    );
    let exempt = json!({"metadata": meta("exempt"), "spec": {"type": "Exempt"}});
    assert_eq!(
        cells(
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            &exempt
        ),
        json!([
            "exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "8d"
        ])
    );
    let claim = json!({"metadata": meta("gpu"), "status": {"allocation": {},
        "reservedFor": [{"name": "pod"}]}});
    assert_eq!(
        cells("resource.k8s.io", "ResourceClaim", &claim),
        json!(["gpu", "allocated,reserved", "8d"])
    );
    let mut deleting = json!({"metadata": meta("old")});
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(
        cells("resource.k8s.io", "ResourceClaim", &deleting)[1],
        "deleted"
    );
    assert_eq!(
        cells(
            "resource.k8s.io",
            "ResourceClaim",
            &json!({"metadata": meta("new")})
        )[1],
        "pending"
    );
}

#[test]
fn api_services_and_ip_addresses() {
    let local = json!({"metadata": meta("v1."), "spec": {},
        "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}});
    assert_eq!(
        cells("apiregistration.k8s.io", "APIService", &local),
        json!(["v1.", "Local", "True", "8d"])
    );
    let remote = json!({"metadata": meta("v1beta1.metrics.k8s.io"),
        "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
        "status": {"conditions": [{"type": "Available", "status": "False",
            "reason": "MissingEndpoints"}]}});
    assert_eq!(
        cells("apiregistration.k8s.io", "APIService", &remote),
        json!([
            "v1beta1.metrics.k8s.io",
            "kube-system/metrics-server",
            "False (MissingEndpoints)",
            "8d"
        ])
    );
    let ip = json!({"metadata": meta("10.96.0.1"), "spec": {"parentRef": {"group": "",
        "resource": "services", "namespace": "default", "name": "kubernetes"}}});
    assert_eq!(
        cells("networking.k8s.io", "IPAddress", &ip),
        json!(["10.96.0.1", "services/default/kubernetes", "8d"])
    );
}
