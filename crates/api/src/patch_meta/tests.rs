//! Tests of the built-in metadata: the table is consistent, the merge keys
//! and strategies of the fields that matter match upstream's struct tags,
//! and realistic patches (as kubectl and the kubelet send them) give the
//! same objects upstream's apiserver produces.

use corten_apimachinery::strategic::{
    ListStrategy, PatchMeta, SmpError, apply_strategic_merge_patch, lookup_path,
};
use serde_json::{Value, json};

use super::table::Type;
use super::table_generated::{KINDS, TYPES};
use super::{derived_strategy, for_gvk, for_kind, kinds, overrides, version_priority};

fn meta(group: &str, kind: &str) -> &'static dyn PatchMeta {
    for_kind(group, kind).unwrap_or_else(|| panic!("no metadata for {group}/{kind}"))
}

#[track_caller]
fn patch(group: &str, kind: &str, original: Value, patch: Value) -> Value {
    apply_strategic_merge_patch(&original, &patch, meta(group, kind))
        .unwrap_or_else(|e| panic!("patch failed: {e:?}"))
}

// --- The table --------------------------------------------------------------

#[test]
fn every_reference_in_the_table_is_in_range() {
    let n = TYPES.len() as u32;
    for t in TYPES {
        match t {
            Type::Struct { fields, .. } => {
                assert!(fields.windows(2).all(|w| w[0].json < w[1].json), "{t:?}");
                assert!(fields.iter().all(|f| f.ty < n));
            }
            Type::List(i) | Type::Map(i) => assert!(*i < n),
            Type::Scalar(_) => {}
        }
    }
    assert!(
        KINDS
            .iter()
            .all(|k| matches!(TYPES[k.root as usize], Type::Struct { .. }))
    );
}

#[test]
fn every_override_names_a_field_and_changes_something() {
    for o in overrides::OVERRIDES {
        let field = TYPES
            .iter()
            .find_map(|t| match t {
                Type::Struct { def, fields, .. } if *def == o.def => {
                    fields.iter().find(|f| f.json == o.field)
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("override for unknown field {}.{}", o.def, o.field));
        if let Some(strategy) = o.strategy {
            assert_ne!(
                strategy,
                derived_strategy(field.lists),
                "override of {}.{} changes nothing",
                o.def,
                o.field
            );
        } else {
            assert!(o.retain_keys, "{}.{} overrides nothing", o.def, o.field);
        }
    }
}

#[test]
fn kinds_and_versions() {
    assert!(for_kind("", "Pod").is_some());
    assert!(for_kind("example.com", "Widget").is_none());
    assert!(for_gvk("apps", "v1", "Deployment").is_some());
    assert!(for_gvk("apps", "v1beta1", "Deployment").is_none());
    assert!(kinds().any(|k| k == ("apiregistration.k8s.io", "v1", "APIService")));
    // The most stable version wins: autoscaling/v2 has status.conditions.
    let hpa = meta("autoscaling", "HorizontalPodAutoscaler");
    assert!(lookup_path(hpa, &["status", "conditions"]).is_some());
    assert!(version_priority("v2") > version_priority("v1"));
    assert!(version_priority("v1") > version_priority("v2beta2"));
    assert!(version_priority("v1beta2") > version_priority("v1beta1"));
    assert!(version_priority("v1beta1") > version_priority("v1alpha3"));
}

// --- Merge keys and strategies ----------------------------------------------

#[test]
fn merge_keys_match_upstream_struct_tags() {
    use ListStrategy::*;
    let by = |key| Merge { key };
    // (group, kind, path, strategy, retainKeys)
    #[rustfmt::skip]
    let cases: &[(&str, &str, &[&str], ListStrategy<'static>, bool)] = &[
        ("", "Pod", &["metadata", "finalizers"], MergePrimitives, false),
        ("", "Pod", &["metadata", "ownerReferences"], by("uid"), false),
        ("", "Pod", &["metadata", "managedFields"], Replace, false),
        ("", "Pod", &["spec", "containers"], by("name"), false),
        ("", "Pod", &["spec", "initContainers"], by("name"), false),
        ("", "Pod", &["spec", "ephemeralContainers"], by("name"), false),
        ("", "Pod", &["spec", "containers", "ports"], by("containerPort"), false),
        ("", "Pod", &["spec", "containers", "env"], by("name"), false),
        ("", "Pod", &["spec", "containers", "envFrom"], Replace, false),
        ("", "Pod", &["spec", "containers", "volumeMounts"], by("mountPath"), false),
        ("", "Pod", &["spec", "containers", "volumeDevices"], by("devicePath"), false),
        ("", "Pod", &["spec", "containers", "args"], Replace, false),
        ("", "Pod", &["spec", "containers", "resizePolicy"], Replace, false),
        ("", "Pod", &["spec", "containers", "resources", "claims"], Replace, false),
        ("", "Pod", &["spec", "ephemeralContainers", "env"], by("name"), false),
        ("", "Pod", &["spec", "volumes"], by("name"), true),
        ("", "Pod", &["spec", "imagePullSecrets"], by("name"), false),
        ("", "Pod", &["spec", "hostAliases"], by("ip"), false),
        ("", "Pod", &["spec", "tolerations"], Replace, false),
        ("", "Pod", &["spec", "readinessGates"], Replace, false),
        ("", "Pod", &["spec", "topologySpreadConstraints"], by("topologyKey"), false),
        ("", "Pod", &["spec", "resourceClaims"], by("name"), true),
        ("", "Pod", &["spec", "schedulingGates"], by("name"), false),
        ("", "Pod", &["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"], Replace, false),
        ("", "Pod", &["status", "conditions"], by("type"), false),
        ("", "Pod", &["status", "podIPs"], by("ip"), false),
        ("", "Pod", &["status", "hostIPs"], by("ip"), false),
        ("", "Pod", &["status", "containerStatuses"], Replace, false),
        ("", "Pod", &["status", "containerStatuses", "volumeMounts"], by("mountPath"), false),
        ("", "Pod", &["status", "resourceClaimStatuses"], by("name"), true),
        ("", "Node", &["spec", "taints"], Replace, false),
        ("", "Node", &["spec", "podCIDRs"], MergePrimitives, false),
        ("", "Node", &["status", "addresses"], by("type"), false),
        ("", "Node", &["status", "conditions"], by("type"), false),
        ("", "Node", &["status", "images"], Replace, false),
        ("", "Service", &["spec", "ports"], by("port"), false),
        ("", "Service", &["spec", "externalIPs"], Replace, false),
        ("", "Service", &["status", "conditions"], by("type"), false),
        ("", "ServiceAccount", &["secrets"], by("name"), false),
        ("", "ServiceAccount", &["imagePullSecrets"], Replace, false),
        ("", "Endpoints", &["subsets"], Replace, false),
        ("", "Namespace", &["status", "conditions"], by("type"), false),
        ("", "PersistentVolumeClaim", &["status", "conditions"], by("type"), false),
        ("", "ReplicationController", &["spec", "template", "spec", "containers"], by("name"), false),
        ("apps", "Deployment", &["spec", "template", "spec", "containers", "ports"], by("containerPort"), false),
        ("apps", "Deployment", &["spec", "strategy"], Replace, true),
        ("apps", "Deployment", &["status", "conditions"], by("type"), false),
        ("apps", "DaemonSet", &["spec", "updateStrategy"], Replace, false),
        ("apps", "StatefulSet", &["spec", "volumeClaimTemplates"], Replace, false),
        ("apps", "StatefulSet", &["status", "conditions"], by("type"), false),
        ("apps", "ReplicaSet", &["status", "conditions"], by("type"), false),
        ("batch", "Job", &["status", "conditions"], by("type"), false),
        ("batch", "Job", &["status", "uncountedTerminatedPods", "failed"], Replace, false),
        ("batch", "CronJob", &["spec", "jobTemplate", "spec", "template", "spec", "volumes"], by("name"), true),
        ("autoscaling", "HorizontalPodAutoscaler", &["status", "conditions"], by("type"), false),
        ("autoscaling", "HorizontalPodAutoscaler", &["spec", "metrics"], Replace, false),
        ("policy", "PodDisruptionBudget", &["status", "conditions"], by("type"), false),
        ("discovery.k8s.io", "EndpointSlice", &["endpoints"], Replace, false),
        ("discovery.k8s.io", "EndpointSlice", &["endpoints", "addresses"], Replace, false),
        ("networking.k8s.io", "ServiceCIDR", &["status", "conditions"], by("type"), false),
        ("storage.k8s.io", "CSINode", &["spec", "drivers"], by("name"), false),
        ("storage.k8s.io", "CSIDriver", &["spec", "volumeLifecycleModes"], Replace, false),
        ("certificates.k8s.io", "CertificateSigningRequest", &["status", "conditions"], Replace, false),
        ("apiextensions.k8s.io", "CustomResourceDefinition", &["status", "conditions"], Replace, false),
        ("apiextensions.k8s.io", "CustomResourceDefinition", &["spec", "versions", "schema", "openAPIV3Schema", "x-kubernetes-validations"], by("rule"), false),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration", &["webhooks"], by("name"), false),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", &["webhooks", "matchConditions"], by("name"), false),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy", &["status", "conditions"], Replace, false),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema", &["status", "conditions"], Replace, false),
        ("resource.k8s.io", "ResourceClaim", &["status", "reservedFor"], by("uid"), false),
        ("resource.k8s.io", "ResourceClaim", &["status", "devices"], Replace, false),
        ("resource.k8s.io", "ResourceClaim", &["status", "devices", "conditions"], Replace, false),
        ("apiregistration.k8s.io", "APIService", &["status", "conditions"], by("type"), false),
        ("", "ConfigMap", &["data", "any-key"], Replace, false),
    ];
    for (group, kind, path, strategy, retain) in cases {
        let f = lookup_path(meta(group, kind), path)
            .unwrap_or_else(|| panic!("{group}/{kind}: no field at {path:?}"));
        assert_eq!(f.strategy, *strategy, "{group}/{kind} {path:?}");
        assert_eq!(f.retain_keys, *retain, "{group}/{kind} {path:?} retainKeys");
        assert!(!f.replace);
    }
}

// --- Patches as clients send them -------------------------------------------

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": 3,
                     "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1",
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                        {"name": "sidecar", "image": "busybox:1", "args": ["sleep", "3600"]}
                    ],
                    "volumes": [
                        {"name": "data", "emptyDir": {}},
                        {"name": "cache", "emptyDir": {"medium": "Memory"}}
                    ]
                }
            }
        },
        "status": {"replicas": 2}
    })
}

/// `deployment()` with `f` applied to its pod template spec.
fn with_template_spec(f: impl FnOnce(&mut Value)) -> Value {
    let mut d = deployment();
    f(&mut d["spec"]["template"]["spec"]);
    d
}

#[test]
fn kubectl_set_image_single_container() {
    let original = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"}]}}}
    });
    let got = patch(
        "apps",
        "Deployment",
        original,
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"image":"nginx:2","name":"web"}]}}}}),
    );
    assert_eq!(
        got,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2", "imagePullPolicy": "IfNotPresent"}]}}}
        })
    );
}

#[test]
fn kubectl_set_image_keeps_the_other_containers_in_order() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
                                           "containers":[{"image":"busybox:2","name":"sidecar"}]}}}}),
    );
    let expected = with_template_spec(|s| s["containers"][1]["image"] = json!("busybox:2"));
    assert_eq!(got, expected);
}

#[test]
fn kubectl_apply_removes_an_env_var() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
            "containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":"delete","name":"B"}],"name":"web"}]}}}}),
    );
    let expected =
        with_template_spec(|s| s["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]));
    assert_eq!(got, expected);
}

#[test]
fn kubectl_apply_adds_a_port_and_an_env_var_in_order() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
            "containers":[{"$setElementOrder/env":[{"name":"A"},{"name":"NEW"},{"name":"B"}],
                           "$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],
                           "env":[{"name":"NEW","value":"x"}],
                           "name":"web",
                           "ports":[{"containerPort":443,"protocol":"TCP"}]}]}}}}),
    );
    let expected = with_template_spec(|s| {
        s["containers"][0]["env"] = json!([{"name": "A", "value": "1"}, {"name": "NEW", "value": "x"}, {"name": "B", "value": "2"}]);
        s["containers"][0]["ports"] = json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}]);
    });
    assert_eq!(got, expected);
}

#[test]
fn kubectl_patch_without_order_directive_puts_new_items_first() {
    // `kubectl patch --type strategic` with a hand-written patch: upstream
    // places an item the live list lacks before the existing ones.
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":"debug","image":"busybox"}]}}}}),
    );
    let expected = with_template_spec(|s| {
        let mut containers = vec![json!({"name": "debug", "image": "busybox"})];
        containers.extend(s["containers"].as_array().unwrap().iter().cloned());
        s["containers"] = Value::Array(containers);
    });
    assert_eq!(got, expected);
}

#[test]
fn patch_delete_removes_a_volume_and_its_mount() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"template":{"spec":{
            "$setElementOrder/volumes":[{"name":"data"}],
            "volumes":[{"$patch":"delete","name":"cache"}],
            "$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
            "containers":[{"name":"web","$setElementOrder/volumeMounts":[],"volumeMounts":[{"$patch":"delete","mountPath":"/data"}]}]}}}}),
    );
    let expected = with_template_spec(|s| {
        s["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
        s["containers"][0]["volumeMounts"] = json!([]);
    });
    assert_eq!(got, expected);
}

#[test]
fn kubectl_apply_switches_a_volume_source_with_retain_keys() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"template":{"spec":{
            "$setElementOrder/volumes":[{"name":"data"},{"name":"cache"}],
            "volumes":[{"$retainKeys":["configMap","name"],"configMap":{"name":"app-config"},"emptyDir":null,"name":"cache"}]}}}}),
    );
    let expected = with_template_spec(|s| {
        s["volumes"][1] = json!({"name": "cache", "configMap": {"name": "app-config"}});
    });
    assert_eq!(got, expected);
}

#[test]
fn retain_keys_switches_deployment_strategy_to_recreate() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}),
    );
    let mut expected = deployment();
    expected["spec"]["strategy"] = json!({"type": "Recreate"});
    assert_eq!(got, expected);
}

#[test]
fn finalizers_merge_as_a_set_and_are_removed_by_value() {
    let cm = |finalizers: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "finalizers": finalizers}, "data": {"k": "v"}})
    };
    let original = cm(json!(["example.com/a", "example.com/cleanup"]));
    assert_eq!(
        patch(
            "",
            "ConfigMap",
            original.clone(),
            json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["example.com/cleanup"]}}),
        ),
        cm(json!(["example.com/a"]))
    );
    // As kubectl apply sends it when the manifest drops one and adds one.
    assert_eq!(
        patch(
            "",
            "ConfigMap",
            original.clone(),
            json!({"metadata":{"$setElementOrder/finalizers":["example.com/a","example.com/b"],
                               "$deleteFromPrimitiveList/finalizers":["example.com/cleanup"],
                               "finalizers":["example.com/b"]}}),
        ),
        cm(json!(["example.com/a", "example.com/b"]))
    );
    // A bare addition goes first, as upstream.
    assert_eq!(
        patch(
            "",
            "ConfigMap",
            original,
            json!({"metadata":{"finalizers":["example.com/z"]}})
        ),
        cm(json!([
            "example.com/z",
            "example.com/a",
            "example.com/cleanup"
        ]))
    );
}

#[test]
fn kubectl_rollout_restart_annotates_the_template() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-05-01T10:00:00Z"}}}}}),
    );
    let mut expected = deployment();
    expected["spec"]["template"]["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/restartedAt": "2025-05-01T10:00:00Z"});
    assert_eq!(got, expected);
}

#[test]
fn kubectl_set_resources_and_scale() {
    let got = patch(
        "apps",
        "Deployment",
        deployment(),
        json!({"spec":{"replicas":5,"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],
            "containers":[{"name":"web","resources":{"limits":{"cpu":"200m"},"requests":{"memory":"64Mi"}}}]}}}}),
    );
    let mut expected = with_template_spec(|s| {
        s["containers"][0]["resources"] =
            json!({"limits": {"cpu": "200m"}, "requests": {"memory": "64Mi"}});
    });
    expected["spec"]["replicas"] = json!(5);
    assert_eq!(got, expected);

    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                       "metadata": {"name": "web"}, "spec": {"replicas": 2}, "status": {"replicas": 2, "selector": "app=web"}});
    let got = patch(
        "autoscaling",
        "Scale",
        scale.clone(),
        json!({"spec": {"replicas": 3}}),
    );
    let mut expected = scale;
    expected["spec"]["replicas"] = json!(3);
    assert_eq!(got, expected);
}

#[test]
fn kubelet_status_patch_merges_conditions_by_type() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u1"},
        "status": {"phase": "Pending",
                   "conditions": [{"type": "PodScheduled", "status": "True"},
                                  {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                   "podIPs": [{"ip": "10.0.0.5"}]}
    });
    let got = patch(
        "",
        "Pod",
        pod,
        json!({"metadata":{"uid":"u1"},"status":{
            "$setElementOrder/conditions":[{"type":"PodScheduled"},{"type":"Initialized"},{"type":"Ready"}],
            "conditions":[{"type":"Initialized","status":"True"},{"type":"Ready","status":"True","reason":null}],
            "phase":"Running",
            "containerStatuses":[{"name":"c","ready":true,"restartCount":0}]}}),
    );
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u1"},
            "status": {"phase": "Running",
                       "conditions": [{"type": "PodScheduled", "status": "True"},
                                      {"type": "Initialized", "status": "True"},
                                      {"type": "Ready", "status": "True"}],
                       "podIPs": [{"ip": "10.0.0.5"}],
                       "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0}]}
        })
    );
}

#[test]
fn node_status_merges_addresses_and_replaces_taints() {
    let node = json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}],
                 "podCIDRs": ["10.1.0.0/24"]},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.2"}, {"type": "Hostname", "address": "n1"}]}
    });
    let got = patch(
        "",
        "Node",
        node,
        json!({"spec": {"taints": [{"key": "c", "effect": "NoSchedule"}]},
               "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.3"}]}}),
    );
    assert_eq!(
        got["spec"]["taints"],
        json!([{"key": "c", "effect": "NoSchedule"}])
    );
    assert_eq!(
        got["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "192.168.1.3"}, {"type": "Hostname", "address": "n1"}])
    );
}

#[test]
fn ports_merge_on_the_strategic_key_only() {
    // Service ports merge by `port` alone: a UDP port with the same number
    // as a TCP one folds into it (server-side apply would keep both).
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
                     "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "TCP", "targetPort": 53}]}});
    let got = patch(
        "",
        "Service",
        svc,
        json!({"spec": {"$setElementOrder/ports": [{"port": 53}], "ports": [{"name": "dns-udp", "port": 53, "protocol": "UDP"}]}}),
    );
    assert_eq!(
        got["spec"]["ports"],
        json!([{"name": "dns-udp", "port": 53, "protocol": "UDP", "targetPort": 53}])
    );
}

#[test]
fn lists_without_patch_strategy_are_replaced() {
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                     "metadata": {"name": "widgets.example.com"},
                     "status": {"conditions": [{"type": "Established", "status": "True"},
                                               {"type": "NamesAccepted", "status": "True"}]}});
    let got = patch(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        crd,
        json!({"status": {"conditions": [{"type": "Terminating", "status": "True"}]}}),
    );
    assert_eq!(
        got["status"]["conditions"],
        json!([{"type": "Terminating", "status": "True"}])
    );
}

#[test]
fn errors_name_the_go_types() {
    // Merging a map into a field the Go struct lacks fails like upstream.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"bogus": {"a": 1}}});
    assert_eq!(
        apply_strategic_merge_patch(&pod, &json!({"spec": {"bogus": {"b": 2}}}), meta("", "Pod")),
        Err(SmpError::Internal(
            "unable to find api field in struct PodSpec for the json field \"bogus\"".into()
        ))
    );
    // A quantity is a struct without JSON fields in Go.
    let pod = json!({"spec": {"overhead": {"cpu": {"x": {"a": 1}}}}});
    assert_eq!(
        apply_strategic_merge_patch(
            &pod,
            &json!({"spec": {"overhead": {"cpu": {"x": {"b": 1}}}}}),
            meta("", "Pod")
        ),
        Err(SmpError::Internal(
            "unable to find api field in struct Quantity for the json field \"x\"".into()
        ))
    );
    // A container without its merge key.
    let d = deployment();
    assert_eq!(
        apply_strategic_merge_patch(
            &d,
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            meta("apps", "Deployment")
        ),
        Err(SmpError::Internal(
            "map: map[image:x] does not contain declared merge key: name".into()
        ))
    );
}

/// A small deterministic generator (xorshift), for the fuzz test below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    /// A random value built from the field names and directives of the
    /// Deployment schema, so the merge reaches deep into real metadata.
    fn object(&mut self, depth: u32) -> Value {
        match self.value(depth) {
            v @ Value::Object(_) => v,
            v => {
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "env": v}]}}}})
            }
        }
    }
    fn value(&mut self, depth: u32) -> Value {
        const KEYS: &[&str] = &[
            "spec",
            "template",
            "metadata",
            "containers",
            "name",
            "image",
            "ports",
            "containerPort",
            "env",
            "value",
            "volumes",
            "emptyDir",
            "strategy",
            "type",
            "rollingUpdate",
            "finalizers",
            "labels",
            "resources",
            "limits",
            "replicas",
            "status",
            "conditions",
            "$patch",
            "$retainKeys",
            "$setElementOrder/containers",
            "$setElementOrder/env",
            "$deleteFromPrimitiveList/finalizers",
            "bogus",
        ];
        const SCALARS: &[&str] = &["web", "delete", "replace", "merge", "a", "TCP"];
        match if depth == 0 {
            self.next() % 3
        } else {
            self.next() % 6
        } {
            0 => json!(self.pick(SCALARS)),
            1 => json!(self.next() % 3),
            2 => Value::Null,
            3 => Value::Array(
                (0..self.next() % 4)
                    .map(|_| self.value(depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..self.next() % 5)
                    .map(|_| (self.pick(KEYS).to_string(), self.value(depth - 1)))
                    .collect(),
            ),
        }
    }
}

#[test]
fn random_patches_on_real_metadata_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let kinds = [
        ("apps", "Deployment"),
        ("", "Pod"),
        ("", "Node"),
        ("batch", "CronJob"),
    ];
    for i in 0..3000 {
        let (group, kind) = kinds[i % kinds.len()];
        let original = if i % 2 == 0 {
            deployment()
        } else {
            rng.object(6)
        };
        let patch = rng.object(6);
        let result = apply_strategic_merge_patch(&original, &patch, meta(group, kind));
        if let Err(e) = result {
            assert!(matches!(e.status_code(), 400 | 422 | 500));
        }
    }
}
