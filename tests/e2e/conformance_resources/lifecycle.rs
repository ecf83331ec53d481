//! The generic walk most "<Kind> API" and "<Kind>, lifecycle" entries
//! share (create, get, patch, list, /status, delete, deletecollection),
//! run over the storage and the other resource kinds.

use super::*;
use corten_e2e::TestCluster;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};

/// A merge patch of `/status` and the check its answer must pass.
type StatusPatch = (Value, fn(&Value) -> bool);

/// One kind for [`lifecycle`]: where it lives and a valid new object.
struct Kind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    /// The object without metadata; `{name}` is not substituted.
    body: Value,
    /// A merge patch of `/status` and a check of its answer.
    status_patch: Option<StatusPatch>,
    /// Whether a `/status` update keeps the old labels and annotations
    /// (upstream `ResetObjectMetaForStatus`).
    status_resets_meta: bool,
}

fn dynamic_api(client: &kube::Client, k: &Kind, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(k.group, k.version, k.kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, k.plural);
    if k.namespaced {
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    }
}

fn new_object(k: &Kind, name: &str) -> DynamicObject {
    let mut o = k.body.clone();
    let api_version = if k.group.is_empty() {
        k.version.to_string()
    } else {
        format!("{}/{}", k.group, k.version)
    };
    o["apiVersion"] = json!(api_version);
    o["kind"] = json!(k.kind);
    o["metadata"] = json!({"name": name, "labels": {"e2e": k.plural}});
    serde_json::from_value(o).unwrap()
}

/// The lifecycle the upstream "<Kind>, lifecycle" entries walk through:
/// create, get, merge-patch a label, list by it, delete and confirm,
/// create a replacement, update a label, read, patch and update `/status`
/// where the kind has one, deletecollection by label and confirm.
async fn lifecycle(c: &TestCluster, k: &Kind) {
    let client = c.client().await.unwrap();
    let api = dynamic_api(&client, k, "default");
    let pp = PostParams::default();
    let first = format!("{}-1", k.plural);
    let created = api.create(&pp, &new_object(k, &first)).await.unwrap();
    let got = api.get(&first).await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid, "{}", k.kind);
    let patched = api
        .patch(
            &first,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {first.clone(): "patched"}}})),
        )
        .await
        .unwrap();
    assert_eq!(label(&patched, &first), Some("patched"));
    let by_patch = ListParams::default().labels(&format!("{first}=patched"));
    assert_eq!(
        names(&api.list(&by_patch).await.unwrap().items),
        vec![first.clone()]
    );
    if let Some((body, check)) = &k.status_patch {
        let status = api.get_status(&first).await.unwrap();
        assert_eq!(status.metadata.uid, created.metadata.uid);
        let patched = api
            .patch_status(&first, &PatchParams::default(), &Patch::Merge(body.clone()))
            .await
            .unwrap();
        assert!(check(&patched.data), "{}: {:?}", k.kind, patched.data);
        // An update of `/status` keeps what the patch set and ignores a
        // label change (status updates only write status).
        let mut again = api.get(&first).await.unwrap();
        again
            .metadata
            .labels
            .get_or_insert_default()
            .insert("ignored".into(), "by-status".into());
        let updated = api.replace_status(&first, &pp, &again).await.unwrap();
        assert!(check(&updated.data), "{}: {:?}", k.kind, updated.data);
        let expected = (!k.status_resets_meta).then_some("by-status");
        assert_eq!(label(&updated, "ignored"), expected, "{}", k.kind);
    }
    api.delete(&first, &DeleteParams::default()).await.unwrap();
    let err = api.get(&first).await.unwrap_err();
    assert!(is_code(&err, 404), "{}: {err:?}", k.kind);
    assert!(api.list(&by_patch).await.unwrap().items.is_empty());

    for n in ["2", "3"] {
        let name = format!("{}-{n}", k.plural);
        api.create(&pp, &new_object(k, &name)).await.unwrap();
        let mut cur = api.get(&name).await.unwrap();
        cur.metadata
            .labels
            .get_or_insert_default()
            .insert("updated".into(), "true".into());
        let updated = api.replace(&name, &pp, &cur).await.unwrap();
        assert_eq!(label(&updated, "updated"), Some("true"), "{}", k.kind);
    }
    let by_update = ListParams::default().labels("updated=true");
    assert_eq!(api.list(&by_update).await.unwrap().items.len(), 2);
    api.delete_collection(&DeleteParams::default(), &by_update)
        .await
        .unwrap();
    assert!(
        api.list(&by_update).await.unwrap().items.is_empty(),
        "{}",
        k.kind
    );
}

/// A namespaced or cluster-scoped [`Kind`] without `/status` checks.
const fn plain(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    body: Value,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        plural,
        namespaced,
        body,
        status_patch: None,
        status_resets_meta: false,
    }
}

/// "CSIDriver, lifecycle", "CSINode, lifecycle", "StorageClass,
/// lifecycle", "VolumeAttachment, lifecycle" and "VolumeAttachment, apply
/// changes to a volumeattachment status", "PersistentVolumes(Claims),
/// lifecycle" and "apply changes to a pv/pvc status".
#[tokio::test]
async fn storage_lifecycles() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let kinds = [
            Kind {
                group: "storage.k8s.io",
                version: "v1",
                kind: "CSIDriver",
                plural: "csidrivers",
                namespaced: false,
                body: json!({"spec": {"attachRequired": true, "podInfoOnMount": true, "volumeLifecycleModes": ["Ephemeral"]}}),
                status_patch: None,
                status_resets_meta: false,
            },
            Kind {
                group: "storage.k8s.io",
                version: "v1",
                kind: "CSINode",
                plural: "csinodes",
                namespaced: false,
                body: json!({"spec": {"drivers": []}}),
                status_patch: None,
                status_resets_meta: false,
            },
            Kind {
                group: "storage.k8s.io",
                version: "v1",
                kind: "StorageClass",
                plural: "storageclasses",
                namespaced: false,
                body: json!({"provisioner": "e2e-fake-provisioner"}),
                status_patch: None,
                status_resets_meta: false,
            },
            Kind {
                group: "storage.k8s.io",
                version: "v1",
                kind: "VolumeAttachment",
                plural: "volumeattachments",
                namespaced: false,
                body: json!({"spec": {"attacher": "e2e-test.storage.k8s.io", "nodeName": "node-1",
                    "source": {"persistentVolumeName": "pv-e2e"}}, "status": {"attached": false}}),
                status_patch: Some((json!({"status": {"attached": true}}), |o| {
                    o["status"]["attached"] == true
                })),
                status_resets_meta: true,
            },
            Kind {
                group: "",
                version: "v1",
                kind: "PersistentVolume",
                plural: "persistentvolumes",
                namespaced: false,
                body: json!({"spec": {"capacity": {"storage": "3M"}, "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                    "hostPath": {"path": "/tmp/e2e"}}}),
                status_patch: Some((
                    json!({"status": {"message": "StatusPatched", "reason": "E2E"}}),
                    |o| o["status"]["reason"] == "E2E" && o["status"]["phase"] == "Pending",
                )),
                status_resets_meta: false,
            },
            Kind {
                group: "",
                version: "v1",
                kind: "PersistentVolumeClaim",
                plural: "persistentvolumeclaims",
                namespaced: true,
                body: json!({"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                    "resources": {"requests": {"storage": "1M"}}}}),
                status_patch: Some((
                    json!({"status": {"conditions": [{"type": "StatusPatched", "status": "True",
                        "reason": "E2E", "message": "Set from e2e test"}]}}),
                    |o| {
                        o["status"]["conditions"][0]["type"] == "StatusPatched"
                            && o["status"]["phase"] == "Pending"
                    },
                )),
                status_resets_meta: false,
            },
        ];
        for k in &kinds {
            lifecycle(&c, k).await;
        }
    });
}

/// The lifecycles of the sig-node, sig-network, sig-auth,
/// sig-instrumentation, sig-scheduling and sig-apps entries that are
/// plain API operations: "ConfigMap lifecycle", "lease API should be
/// available", "Node, resource lifecycle", "PodTemplate lifecycle /
/// replace / delete a collection", "RuntimeClass API", "LimitRange, list,
/// patch and delete a LimitRange by collection", "Scheduler, Verify
/// PriorityClass endpoints", "EndpointSlice API", "IngressClass API",
/// "Ingress API" (with status), "Endpoint resource lifecycle", "Service,
/// deletes a collection of services", "Event, manage lifecycle of an
/// Event" / "delete a collection", "New Event resource lifecycle",
/// "ServiceAccount lifecycle", "CronJob API Operations" (with status),
/// "Jobs, manage lifecycle", "PodDisruptionBudget" (with status).
#[tokio::test]
async fn api_lifecycles() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let job_template = json!({"spec": {"template": {"spec": container_spec()}}});
        let mut kinds = vec![
            plain(
                "",
                "v1",
                "ConfigMap",
                "configmaps",
                true,
                json!({"data": {"a": "b"}}),
            ),
            plain(
                "",
                "v1",
                "Secret",
                "secrets",
                true,
                json!({"data": {"a": "Yg=="}}),
            ),
            plain(
                "coordination.k8s.io",
                "v1",
                "Lease",
                "leases",
                true,
                json!({"spec": {"holderIdentity": "holder", "leaseDurationSeconds": 30}}),
            ),
            plain("", "v1", "Node", "nodes", false, json!({"spec": {}})),
            plain(
                "",
                "v1",
                "PodTemplate",
                "podtemplates",
                true,
                json!({"template": {"spec": container_spec()}}),
            ),
            plain(
                "node.k8s.io",
                "v1",
                "RuntimeClass",
                "runtimeclasses",
                false,
                json!({"handler": "e2e-handler"}),
            ),
            plain(
                "",
                "v1",
                "LimitRange",
                "limitranges",
                true,
                json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"},
                    "defaultRequest": {"cpu": "100m"}}]}}),
            ),
            plain(
                "scheduling.k8s.io",
                "v1",
                "PriorityClass",
                "priorityclasses",
                false,
                json!({"value": 1000, "description": "e2e"}),
            ),
            plain(
                "discovery.k8s.io",
                "v1",
                "EndpointSlice",
                "endpointslices",
                true,
                json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.24"]}],
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
            ),
            plain(
                "networking.k8s.io",
                "v1",
                "IngressClass",
                "ingressclasses",
                false,
                json!({"spec": {"controller": "example.com/controller"}}),
            ),
            plain(
                "",
                "v1",
                "Endpoints",
                "endpoints",
                true,
                json!({"subsets": [{"addresses": [{"ip": "10.0.0.24"}],
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}),
            ),
            plain(
                "",
                "v1",
                "Event",
                "events",
                true,
                json!({"involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                    "reason": "Test", "message": "hello", "type": "Normal", "count": 1,
                    "source": {"component": "e2e"}}),
            ),
            plain(
                "events.k8s.io",
                "v1",
                "Event",
                "events",
                true,
                json!({"eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "e2e.io/controller",
                    "reportingInstance": "node-1", "action": "Do", "reason": "Test", "type": "Normal",
                    "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}, "note": "hello"}),
            ),
            plain(
                "",
                "v1",
                "ServiceAccount",
                "serviceaccounts",
                true,
                json!({}),
            ),
            plain(
                "batch",
                "v1",
                "Job",
                "jobs",
                true,
                json!({"spec": {"suspend": true, "template": {"spec": container_spec()}}}),
            ),
        ];
        kinds.push(Kind {
            status_patch: Some((
                json!({"status": {"loadBalancer": {"ingress": [{"ip": "169.1.1.1"}]}}}),
                |o| o["status"]["loadBalancer"]["ingress"][0]["ip"] == "169.1.1.1",
            )),
            ..plain("networking.k8s.io", "v1", "Ingress", "ingresses", true,
                json!({"spec": {"defaultBackend": {"service": {"name": "default-backend", "port": {"number": 8080}}}}}))
        });
        kinds.push(Kind {
            status_patch: Some((
                json!({"status": {"conditions": [{"type": "StatusUpdate", "status": "True",
                    "reason": "E2E", "message": "Set from an e2e test",
                    "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}),
                |o| o["status"]["conditions"][0]["type"] == "StatusUpdate",
            )),
            ..plain(
                "",
                "v1",
                "Service",
                "services",
                true,
                json!({"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
            )
        });
        kinds.push(Kind {
            status_patch: Some((
                json!({"status": {"lastScheduleTime": "2024-01-01T00:00:00Z"}}),
                |o| o["status"]["lastScheduleTime"] == "2024-01-01T00:00:00Z",
            )),
            ..plain(
                "batch",
                "v1",
                "CronJob",
                "cronjobs",
                true,
                json!({"spec": {"schedule": "*/1 * * * ?", "jobTemplate": job_template}}),
            )
        });
        kinds.push(Kind {
            status_patch: Some((
                json!({"status": {"conditions": [{"type": "StatusUpdate", "status": "True",
                    "reason": "E2E", "message": "Set from an e2e test",
                    "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 1}]}}),
                |o| o["status"]["conditions"][0]["type"] == "StatusUpdate",
            )),
            ..plain(
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                true,
                json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"foo": "bar"}}}}),
            )
        });
        kinds.push(Kind {
            status_patch: Some((
                json!({"status": {"conditions": [{"type": "StatusUpdate", "status": "True",
                    "reason": "E2E", "message": "Set from an e2e test",
                    "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}),
                |o| o["status"]["conditions"][0]["type"] == "StatusUpdate",
            )),
            ..plain(
                "",
                "v1",
                "ReplicationController",
                "replicationcontrollers",
                true,
                json!({"spec": {"replicas": 0, "selector": {"app": "rc"},
                    "template": {"metadata": {"labels": {"app": "rc"}}, "spec": rc_pod_spec()}}}),
            )
        });
        for k in &kinds {
            lifecycle(&c, k).await;
        }
    });
}
