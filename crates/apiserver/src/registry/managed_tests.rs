//! The create shortcut of managedFields gives, byte for byte, what the
//! general path (compare with the zero object, then settle ownership)
//! gives, on the kinds' real schemas.

use corten_apimachinery::managedfields::{
    ManagerId, Managers, Operation, Set, created_fields_v1, managers,
};
use serde_json::{Value, json};

use super::schema_of;

fn me() -> ManagerId {
    ManagerId {
        manager: "kubectl-create".into(),
        operation: Operation::Update,
        api_version: "v1".into(),
        subresource: String::new(),
    }
}

const NOW: &str = "2026-01-02T03:04:05Z";

/// Both paths' `metadata.managedFields`, serialized.
fn both(
    schema: &corten_apimachinery::managedfields::Schema,
    obj: &Value,
    ignored: &Set,
) -> (String, String) {
    let general = managers::update(schema, None, obj, Managers::default(), &me(), ignored, NOW)
        .expect("general path")
        .encode();
    let fast = created_fields_v1(schema, obj, ignored).expect("fast path");
    let fast = Value::Array(
        fast.map(|f| managers::encode_entry(&me(), Some(NOW), f))
            .into_iter()
            .collect(),
    );
    (fast.to_string(), general.to_string())
}

fn assert_same(group: &str, version: &str, kind: &str, obj: &Value) {
    let schema = schema_of(group, version, kind);
    for ignored in [
        managers::reset_fields("", true),
        managers::reset_fields("status", true),
        managers::reset_fields("", false),
    ] {
        let (fast, general) = both(&schema, obj, &ignored);
        assert_eq!(fast, general, "{kind}: {obj}");
    }
}

fn container(name: &str) -> Value {
    json!({
        "name": name, "image": "registry.local/app:1.0", "imagePullPolicy": "IfNotPresent",
        "args": ["--port=8080", "--verbose"], "command": ["/app"],
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"},
                  {"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53, "protocol": "TCP"},
                  {"containerPort": 9090}],
        "env": [{"name": "MODE", "value": "bench"},
                {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
            "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
        "securityContext": {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"], "add": []},
            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": true,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
            {"name": "data", "mountPath": "/data", "subPath": "a"}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    })
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "bench-000001", "namespace": "bench", "uid": "0b5c", "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "bench", "tier": "backend", "shard": "s1"},
            "annotations": {"bench.corten.dev/note": "xxxx"},
            "finalizers": ["a/b", "c/d"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                "uid": "u-1", "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {
            "containers": [container("app"), container("sidecar"), {"name": "app", "image": "dup"}],
            "initContainers": [{"name": "init", "image": "busybox", "resources": {}}],
            "volumes": [
                {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}]}},
                {"name": "data", "emptyDir": {}},
            ],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                "effect": "NoExecute", "tolerationSeconds": 300}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}]}}},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "bench"}}}],
            "imagePullSecrets": [{"name": "regcred"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a", "b"]}],
            "readinessGates": [{"conditionType": "x/ready"}],
            "securityContext": {},
            "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "schedulerName": "default-scheduler",
            "enableServiceLinks": true, "priority": 0, "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {"phase": "Pending", "qosClass": "Burstable",
            "conditions": [{"type": "PodScheduled", "status": "False"}]},
    })
}

#[test]
fn pods_match_the_general_path() {
    assert_same("", "v1", "Pod", &pod());
    assert_same(
        "",
        "v1",
        "Pod",
        &json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    );
    // Shapes the schema does not expect are leaves, as in the general path.
    assert_same(
        "",
        "v1",
        "Pod",
        &json!({"metadata": {"labels": "x"}, "spec": {"containers": {"a": 1}, "volumes": null}}),
    );
}

#[test]
fn workloads_match_the_general_path() {
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "a", "operator": "Exists"}]},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {"containers": [container("web")], "restartPolicy": "Always"}},
        },
        "status": {"replicas": 3},
    });
    assert_same("apps", "v1", "Deployment", &deployment);
    let statefulset = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [container("db")]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}}]},
    });
    assert_same("apps", "v1", "StatefulSet", &statefulset);
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"containers": [container("j")], "restartPolicy": "Never"}},
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}});
    assert_same("batch", "v1", "Job", &job);
}

#[test]
fn services_and_other_kinds_match_the_general_path() {
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
                      {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
                      {"name": "dns-tcp", "port": 53, "targetPort": 53}],
            "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {}},
    });
    assert_same("", "v1", "Service", &service);
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        "data": {"a": "1", "b.conf": "x=y"}, "binaryData": {"z": "AAE="}});
    assert_same("", "v1", "ConfigMap", &configmap);
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]});
    assert_same("rbac.authorization.k8s.io", "v1", "Role", &role);
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]});
    assert_same("discovery.k8s.io", "v1", "EndpointSlice", &slice);
}

#[test]
fn custom_resources_match_the_general_path() {
    let crd = json!({"spec": {"group": "example.com", "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "protocol"],
                "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "protocol": {"type": "string"},
                    "port": {"type": "integer"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                "properties": {"app": {"type": "string"}}},
            "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                "x-kubernetes-preserve-unknown-fields": true}}},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}});
    let schema = crate::crd::ownership::compile(&crd, "v1");
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "d", "labels": {"a": "b"}, "finalizers": ["x"]},
        "spec": {"ports": [{"name": "a", "protocol": "TCP", "port": 1}, {"name": "b", "protocol": "UDP"},
                           {"name": "a", "protocol": "TCP", "port": 2}],
            "tags": ["z", "a", "z"], "args": ["1"], "selector": {"app": "x"},
            "config": {"nested": {"x": [1, 2]}, "empty": {}},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t", "labels": {"x": "y"}},
                "spec": {"a": 1}}},
        "status": {"ready": true}});
    for ignored in [
        managers::reset_fields("", true),
        managers::reset_fields("", false),
    ] {
        let (fast, general) = both(&schema, &cr, &ignored);
        assert_eq!(fast, general);
    }
}
