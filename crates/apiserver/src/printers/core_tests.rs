//! Rows of the core kinds (other than Pod) and of Events.

use serde_json::{Value, json};

use super::test_support::{ago, cells, column_names};

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(3 * 3600 + 120)})
}

fn service(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("svc"),
        "spec": spec, "status": status})
}

#[test]
fn service_cluster_ip() {
    let svc = service(
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            "selector": {"k8s-app": "kube-dns"}}),
        json!({}),
    );
    assert_eq!(
        cells("", "Service", &svc),
        json!([
            "svc",
            "ClusterIP",
            "10.96.0.10",
            "<none>",
            "53/UDP,53/TCP",
            "3h2m",
            "k8s-app=kube-dns"
        ])
    );
    assert_eq!(
        column_names("", "Service"),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
}

#[test]
fn service_node_port_and_external_ips() {
    let svc = service(
        json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                {"port": 443, "protocol": "TCP"}]}),
        json!({}),
    );
    let c = cells("", "Service", &svc);
    assert_eq!(c[3], "1.2.3.4");
    assert_eq!(c[4], "80:30080/TCP,443/TCP");
    assert_eq!(c[6], "<none>");
}

#[test]
fn service_load_balancer() {
    let pending = service(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.96.1.2"],
            "ports": [{"port": 80, "nodePort": 31000}]}),
        json!({"loadBalancer": {}}),
    );
    let c = cells("", "Service", &pending);
    assert_eq!(c[3], "<pending>");
    assert_eq!(c[4], "80:31000/TCP");

    let ready = service(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.96.1.2"], "externalIPs": ["9.9.9.9"]}),
        json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"},
            {"ip": "5.6.7.8"}]}}),
    );
    let c = cells("", "Service", &ready);
    assert_eq!(c[3], "5.6.7.8,lb.example.com,9.9.9.9");
    assert_eq!(c[4], "<none>");
}

#[test]
fn service_external_name_and_headless() {
    let ext = service(
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
    let c = cells("", "Service", &ext);
    assert_eq!(c[2], "<none>");
    assert_eq!(c[3], "db.example.com");

    let headless = service(
        json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
        json!({}),
    );
    assert_eq!(cells("", "Service", &headless)[2], "None");
}

#[test]
fn endpoints() {
    let ep = |subsets: Value| json!({"metadata": meta("ep"), "subsets": subsets});
    assert_eq!(cells("", "Endpoints", &ep(json!([])))[1], "<none>");
    assert_eq!(
        cells("", "Endpoints", &json!({"metadata": meta("ep")}))[1],
        "<none>"
    );
    assert_eq!(
        cells(
            "",
            "Endpoints",
            &ep(
                json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"port": 80}]}])
            )
        ),
        json!(["ep", "10.0.0.1:80,10.0.0.2:80", "3h2m"])
    );
    let many = ep(
        json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"},
        {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}, {"ip": "10.0.0.5"}, {"ip": "10.0.0.6"}],
        "ports": [{"port": 80}]}]),
    );
    assert_eq!(
        cells("", "Endpoints", &many)[1],
        "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more..."
    );
    let two_ports = ep(json!([{"addresses": [{"ip": "fd00::1"}, {"ip": "fd00::2"}],
        "ports": [{"port": 80}, {"port": 443}]}]));
    assert_eq!(
        cells("", "Endpoints", &two_ports)[1],
        "[fd00::1]:80,[fd00::2]:80,[fd00::1]:443 + 1 more..."
    );
    let headless = ep(json!([{"addresses": [{"ip": "10.0.0.7"}]}]));
    assert_eq!(cells("", "Endpoints", &headless)[1], "10.0.0.7");
}

fn node(labels: Value, spec: Value, conditions: Value) -> Value {
    json!({"metadata": {"name": "node-1", "labels": labels, "creationTimestamp": ago(2 * 86400 + 4 * 3600)},
        "spec": spec,
        "status": {"conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                {"type": "Hostname", "address": "node-1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12",
                "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.24"}}})
}

#[test]
fn nodes() {
    let ready = json!([{"type": "MemoryPressure", "status": "False"},
        {"type": "Ready", "status": "True"}]);
    let n = node(
        json!({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"}),
        json!({}),
        ready.clone(),
    );
    assert_eq!(
        cells("", "Node", &n),
        json!([
            "node-1",
            "Ready",
            "control-plane",
            "2d4h",
            "v1.33.1",
            "172.18.0.2",
            "<none>",
            "Debian GNU/Linux 12",
            "6.1.0",
            "containerd://1.7.24"
        ])
    );
    let cordoned = node(json!({}), json!({"unschedulable": true}), ready);
    let c = cells("", "Node", &cordoned);
    assert_eq!(c[1], "Ready,SchedulingDisabled");
    assert_eq!(c[2], "<none>");

    let not_ready = node(
        json!({"kubernetes.io/role": "worker", "node-role.kubernetes.io/infra": "x",
            "node-role.kubernetes.io/": ""}),
        json!({}),
        json!([{"type": "Ready", "status": "Unknown"}]),
    );
    let c = cells("", "Node", &not_ready);
    assert_eq!(c[1], "NotReady");
    assert_eq!(c[2], "infra,worker");

    let unknown = node(json!({}), json!({}), json!([]));
    assert_eq!(cells("", "Node", &unknown)[1], "Unknown");
    let bare = json!({"metadata": {"name": "n"}});
    let c = cells("", "Node", &bare);
    assert_eq!(
        c,
        json!([
            "n",
            "Unknown",
            "<none>",
            "<unknown>",
            "",
            "<none>",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>"
        ])
    );
}

#[test]
fn namespaces_config_maps_secrets_service_accounts() {
    let ns = json!({"metadata": meta("dev"), "status": {"phase": "Terminating"}});
    assert_eq!(
        cells("", "Namespace", &ns),
        json!(["dev", "Terminating", "3h2m"])
    );
    assert_eq!(column_names("", "Namespace"), ["Name", "Status", "Age"]);

    let cm = json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"},
        "binaryData": {"c": "AA=="}});
    assert_eq!(cells("", "ConfigMap", &cm), json!(["cfg", 3, "3h2m"]));
    assert_eq!(
        cells("", "ConfigMap", &json!({"metadata": meta("e")}))[1],
        0
    );

    let secret = json!({"metadata": meta("tls"), "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(
        cells("", "Secret", &secret),
        json!(["tls", "kubernetes.io/tls", 2, "3h2m"])
    );
    assert_eq!(column_names("", "Secret"), ["Name", "Type", "Data", "Age"]);

    let sa = json!({"metadata": meta("default"), "secrets": [{"name": "t"}]});
    assert_eq!(
        cells("", "ServiceAccount", &sa),
        json!(["default", 1, "3h2m"])
    );
    let sa = json!({"metadata": meta("default")});
    assert_eq!(
        cells("", "ServiceAccount", &sa),
        json!(["default", 0, "3h2m"])
    );
}

#[test]
fn persistent_volumes() {
    let pv = json!({"metadata": meta("pv1"),
        "spec": {"capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
            "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    assert_eq!(
        cells("", "PersistentVolume", &pv),
        json!([
            "pv1",
            "10Gi",
            "RWO,RWX",
            "Delete",
            "Bound",
            "default/data",
            "standard",
            "<unset>",
            "",
            "3h2m",
            "Filesystem"
        ])
    );
    assert_eq!(
        column_names("", "PersistentVolume"),
        [
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age",
            "VolumeMode"
        ]
    );
    let mut deleting = pv.clone();
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    deleting["metadata"]["annotations"] =
        json!({"volume.beta.kubernetes.io/storage-class": "legacy"});
    let c = cells("", "PersistentVolume", &deleting);
    assert_eq!(c[4], "Terminating");
    assert_eq!(c[6], "legacy");
}

#[test]
fn persistent_volume_claims() {
    let bound = json!({"metadata": meta("data"),
        "spec": {"volumeName": "pv1", "storageClassName": "standard",
            "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Block"},
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce", "ReadWriteOncePod"]}});
    assert_eq!(
        cells("", "PersistentVolumeClaim", &bound),
        json!([
            "data", "Bound", "pv1", "10Gi", "RWO,RWOP", "standard", "<unset>", "3h2m", "Block"
        ])
    );
    let pending = json!({"metadata": meta("wait"),
        "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"}});
    assert_eq!(
        cells("", "PersistentVolumeClaim", &pending),
        json!([
            "wait",
            "Pending",
            "",
            "",
            "",
            "",
            "<unset>",
            "3h2m",
            "Filesystem"
        ])
    );
}

#[test]
fn resource_quota() {
    let rq = json!({"metadata": meta("quota"),
        "status": {"hard": {"requests.cpu": "1", "limits.memory": "2Gi", "pods": "10",
            "limits.cpu": "2", "requests.memory": "1Gi"},
            "used": {"requests.cpu": "500m", "pods": "3", "limits.cpu": "0"}}});
    assert_eq!(
        cells("", "ResourceQuota", &rq),
        json!([
            "quota",
            "pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi",
            "limits.cpu: 0/2, limits.memory: 0/2Gi",
            "3h2m"
        ])
    );
    assert_eq!(
        cells("", "ResourceQuota", &json!({"metadata": meta("q")})),
        json!(["q", "", "", "3h2m"])
    );
}

#[test]
fn pod_templates_and_replication_controllers() {
    let pt = json!({"metadata": meta("tpl"),
        "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
            "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]}}});
    assert_eq!(
        cells("", "PodTemplate", &pt),
        json!(["tpl", "a,b", "nginx,redis", "app=web,tier=fe"])
    );
    let rc = json!({"metadata": meta("rc"), "spec": {"replicas": 3, "selector": {"app": "web"},
        "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}},
        "status": {"replicas": 3, "readyReplicas": 2}});
    assert_eq!(
        cells("", "ReplicationController", &rc),
        json!(["rc", 3, 3, 2, "3h2m", "a", "nginx", "app=web"])
    );
}

#[test]
fn limit_range_uses_default_table() {
    assert_eq!(column_names("", "LimitRange"), ["Name", "Created At"]);
    let lr = json!({"metadata": {"name": "limits", "creationTimestamp": "2024-05-01T10:00:00Z"}});
    assert_eq!(
        cells("", "LimitRange", &lr),
        json!(["limits", "2024-05-01T10:00:00Z"])
    );
    assert_eq!(
        cells("", "LimitRange", &json!({})),
        json!(["", "0001-01-01T00:00:00Z"])
    );
    assert_eq!(
        super::column_definitions("", "LimitRange")[1]["type"],
        "date"
    );
}

#[test]
fn core_events() {
    let ev = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "message": "Back-off restarting failed container\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 7, "type": "Warning"});
    assert_eq!(
        cells("", "Event", &ev),
        json!([
            "30s",
            "Warning",
            "BackOff",
            "pod/web",
            "spec.containers{app}",
            "kubelet, node-1",
            "Back-off restarting failed container",
            "10m",
            7,
            "web.17a"
        ])
    );
    assert_eq!(
        column_names("", "Event"),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    let defs = super::column_definitions("", "Event");
    assert_eq!(defs[9]["priority"], 1);
    assert_eq!(defs[9]["format"], "name");
    assert_eq!(defs[6]["priority"], 0);
}

#[test]
fn new_style_events() {
    // An events.k8s.io/v1 event: eventTime, series, reporting fields.
    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e1"},
        "regarding": {"kind": "Deployment", "name": "web"},
        "reason": "ScalingReplicaSet", "note": "Scaled up", "type": "Normal",
        "eventTime": "2024-06-01T11:50:00.000000Z",
        "reportingController": "deployment-controller", "reportingInstance": "",
        "series": {"count": 4, "lastObservedTime": "2024-06-01T11:59:00.000000Z"}});
    assert_eq!(
        cells("events.k8s.io", "Event", &ev),
        json!([
            "60s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller",
            "Scaled up",
            "10m",
            4,
            "e1"
        ])
    );
    // The same event in the core shape prints the same.
    let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Deployment", "name": "web"},
        "reason": "ScalingReplicaSet", "message": "Scaled up", "type": "Normal",
        "eventTime": "2024-06-01T11:50:00.000000Z", "reportingComponent": "deployment-controller",
        "series": {"count": 4, "lastObservedTime": "2024-06-01T11:59:00.000000Z"}});
    assert_eq!(
        cells("", "Event", &core),
        cells("events.k8s.io", "Event", &ev)
    );

    // A singleton without counts or times.
    let bare = json!({"apiVersion": "events.k8s.io/v1", "metadata": {"name": "b"},
        "regarding": {"kind": "Node"}});
    assert_eq!(
        cells("events.k8s.io", "Event", &bare),
        json!(["<unknown>", "", "", "node", "", "", "", "<unknown>", 1, "b"])
    );
}
