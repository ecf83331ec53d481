//! Upstream's API-only conformance entries of the resource groups
//! (storage, node, network, auth, instrumentation, scheduling, apps), each
//! replayed as the requests the upstream e2e test sends, with its
//! expectations, against a real etcd and apiserver through kube-rs.

use std::fmt::Debug;

use corten_e2e::TestCluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use kube::Api;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::core::Resource;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Whether an error is the API answer `code`.
fn is_code(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

/// Names of the items a list answer holds.
fn names<K: Resource>(items: &[K]) -> Vec<String> {
    items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect()
}

/// Reads a watch until `done` says it saw what it waited for, or fails
/// when the stream ends first.
async fn watch_until<K, F>(api: &Api<K>, selector: &str, rv: &str, mut done: F)
where
    K: Resource + Clone + DeserializeOwned + Debug,
    F: FnMut(&WatchEvent<K>) -> bool,
{
    let wp = WatchParams::default().labels(selector).timeout(20);
    let mut stream = api.watch(&wp, rv).await.unwrap().boxed();
    while let Some(ev) = stream.try_next().await.unwrap() {
        if done(&ev) {
            return;
        }
    }
    panic!("watch ended before the expected events");
}

/// "CSIStorageCapacity API": discovery, create (and 409 on a repeat),
/// watch in and across namespaces, get, list in and across namespaces,
/// merge patch, update, delete and deletecollection by label.
#[tokio::test]
async fn csi_storage_capacity_api() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        c.kubectl_ok(&["create", "namespace", "csc"]).await.unwrap();

        let groups = corten_e2e::fixtures::get_raw(&c, "/apis/storage.k8s.io").await;
        assert!(
            groups["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["version"] == "v1")
        );
        let res = corten_e2e::fixtures::get_raw(&c, "/apis/storage.k8s.io/v1").await;
        let row = res["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "csistoragecapacities")
            .expect("csistoragecapacities in discovery")
            .clone();
        assert_eq!(row["namespaced"], true);
        assert_eq!(row["kind"], "CSIStorageCapacity");

        // OpenAPI follows the table: kubectl can explain the kind.
        let explained = c
            .kubectl_ok(&["explain", "csistoragecapacities.storageClassName"])
            .await
            .unwrap();
        assert!(
            explained.contains("KIND:") && explained.contains("CSIStorageCapacity"),
            "{explained}"
        );

        let api: Api<CSIStorageCapacity> = Api::namespaced(client.clone(), "csc");
        let all: Api<CSIStorageCapacity> = Api::all(client.clone());
        let csc = |n: &str| -> CSIStorageCapacity {
            serde_json::from_value(json!({
                "metadata": {"name": n, "labels": {"test": "csc"}},
                "storageClassName": "e2e.example.com",
                "capacity": "1024Mi",
            }))
            .unwrap()
        };
        let pp = PostParams::default();
        let created = api.create(&pp, &csc("csc1")).await.unwrap();
        assert_eq!(created.capacity.as_ref().map(|q| q.0.as_str()), Some("1Gi"));
        let err = api.create(&pp, &csc("csc1")).await.unwrap_err();
        assert!(is_code(&err, 409), "{err:?}");
        api.create(&pp, &csc("csc2")).await.unwrap();
        let rv = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        api.create(&pp, &csc("csc3")).await.unwrap();

        let got = api.get("csc1").await.unwrap();
        assert_eq!(got.metadata.uid, created.metadata.uid);
        let lp = ListParams::default().labels("test=csc");
        assert_eq!(api.list(&lp).await.unwrap().items.len(), 3);
        assert_eq!(all.list(&lp).await.unwrap().items.len(), 3);

        let patched = api
            .patch(
                "csc1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"patched": "true"}}})),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()["patched"],
            "true"
        );
        let mut to_update = patched.clone();
        to_update
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert("updated".into(), "true".into());
        let updated = api.replace("csc1", &pp, &to_update).await.unwrap();
        assert_eq!(
            updated.metadata.annotations.as_ref().unwrap()["updated"],
            "true"
        );

        // Both watches (from before csc3) see the added object and the
        // annotation changes.
        for w in [&api, &all] {
            let (mut added, mut patched, mut updated) = (false, false, false);
            watch_until(w, "test=csc", &rv, |ev| {
                match ev {
                    WatchEvent::Added(o) if o.metadata.name.as_deref() == Some("csc3") => {
                        added = true
                    }
                    WatchEvent::Modified(o) => {
                        let a = o.metadata.annotations.clone().unwrap_or_default();
                        patched |= a.get("patched").is_some_and(|v| v == "true");
                        updated |= a.get("updated").is_some_and(|v| v == "true");
                    }
                    _ => {}
                }
                added && patched && updated
            })
            .await;
        }

        // The storage class and topology are what the driver was asked
        // about: immutable.
        let err = api
            .patch(
                "csc1",
                &PatchParams::default(),
                &Patch::Merge(json!({"storageClassName": "other"})),
            )
            .await
            .unwrap_err();
        assert!(is_code(&err, 422), "{err:?}");

        // Server-side printing has upstream's columns.
        let table = c
            .kubectl_ok(&["get", "csistoragecapacities", "-n", "csc", "csc2"])
            .await
            .unwrap();
        let words: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            words,
            vec![
                vec!["NAME", "STORAGECLASSNAME", "CAPACITY"],
                vec!["csc2", "e2e.example.com", "1Gi"]
            ]
        );

        api.delete("csc1", &DeleteParams::default()).await.unwrap();
        let err = api.get("csc1").await.unwrap_err();
        assert!(is_code(&err, 404), "{err:?}");
        assert_eq!(
            names(&api.list(&lp).await.unwrap().items),
            vec!["csc2", "csc3"]
        );
        api.delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert!(api.list(&lp).await.unwrap().items.is_empty());
    });
}

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

fn label<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata.labels.as_ref()?.get(key).map(String::as_str)
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

fn container_spec() -> Value {
    json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], "restartPolicy": "Never"})
}

/// A pod spec a ReplicationController accepts (restartPolicy Always).
fn rc_pod_spec() -> Value {
    let mut spec = container_spec();
    spec["restartPolicy"] = json!("Always");
    spec
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

/// POSTs `body` to `path` and returns the answer's code.
async fn create_code(client: &kube::Client, path: &str, body: Value) -> (u16, Value) {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    match client.request::<Value>(req).await {
        Ok(v) => (201, v),
        Err(kube::Error::Api(s)) => (s.code, json!({"message": s.message, "reason": s.reason})),
        Err(e) => panic!("{e:?}"),
    }
}

/// "ConfigMap, with empty-key", "Secrets, with empty-key", "ConfigMap
/// Volume, immutability", "Secrets Volume, immutability", "Secret
/// patching".
#[tokio::test]
async fn config_keys_and_immutability() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        for (path, kind, data) in [
            (
                "/api/v1/namespaces/default/configmaps",
                "ConfigMap",
                json!({"": "value-1"}),
            ),
            (
                "/api/v1/namespaces/default/secrets",
                "Secret",
                json!({"": "dmFsdWUtMQo="}),
            ),
        ] {
            let (code, status) = create_code(
                &client,
                path,
                json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "empty-key"}, "data": data}),
            )
            .await;
            assert_eq!(code, 422, "{kind}: {status}");
        }

        for (plural, kind, data, changed) in [
            (
                "configmaps",
                "ConfigMap",
                json!({"data-1": "value-1"}),
                json!({"data-1": "value-2"}),
            ),
            (
                "secrets",
                "Secret",
                json!({"data-1": "dmFsdWUtMQo="}),
                json!({"data-1": "dmFsdWUtMgo="}),
            ),
        ] {
            let gvk = GroupVersionKind::gvk("", "v1", kind);
            let api: Api<DynamicObject> = Api::default_namespaced_with(
                client.clone(),
                &ApiResource::from_gvk_with_plural(&gvk, plural),
            );
            let pp = PostParams::default();
            let obj: DynamicObject =
                serde_json::from_value(json!({"apiVersion": "v1", "kind": kind,
                "metadata": {"name": "immutable"}, "data": data}))
                .unwrap();
            let mut cur = api.create(&pp, &obj).await.unwrap();
            cur.data["data"] = changed.clone();
            let mut cur = api.replace("immutable", &pp, &cur).await.unwrap();
            assert_eq!(cur.data["data"], changed);
            cur.data["immutable"] = json!(true);
            let mut cur = api.replace("immutable", &pp, &cur).await.unwrap();
            let mut bad = cur.clone();
            bad.data["data"] = data.clone();
            let err = api.replace("immutable", &pp, &bad).await.unwrap_err();
            assert!(is_code(&err, 422), "{kind}: {err:?}");
            let mut bad = cur.clone();
            bad.data["immutable"] = json!(false);
            let err = api.replace("immutable", &pp, &bad).await.unwrap_err();
            assert!(is_code(&err, 422), "{kind}: {err:?}");
            cur.metadata
                .labels
                .get_or_insert_default()
                .insert("label1".into(), "value1".into());
            let cur = api.replace("immutable", &pp, &cur).await.unwrap();
            assert_eq!(label(&cur, "label1"), Some("value1"));
            api.delete("immutable", &DeleteParams::default())
                .await
                .unwrap();
        }

        // Secret patching: a patch of data with a label, found by label.
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::default_namespaced(client.clone());
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "patch-me", "labels": {"testsecret-constant": "true"}},
                    "data": {"key": "dmFsdWU="}, "type": "Opaque"}))
                .unwrap(),
            )
            .await
            .unwrap();
        let lp = ListParams::default().labels("testsecret-constant=true");
        assert_eq!(secrets.list(&lp).await.unwrap().items.len(), 1);
        let patched = secrets
            .patch(
                "patch-me",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"testsecret": "true"}}, "data": {"key": "cGF0Y2hlZA=="}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.data.as_ref().unwrap()["key"].0, b"patched".to_vec());
        secrets
            .delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert!(secrets.list(&lp).await.unwrap().items.is_empty());
    });
}

/// "Pods, QOS", "Pod with the non-existing RuntimeClass is rejected.",
/// "Pod with the deleted RuntimeClass is rejected.", "Scheduler, Verify
/// PriorityClass endpoints" (immutable value), "Replication Controller,
/// get and update ReplicationController scale", "Find Kubernetes Service
/// in default Namespace".
#[tokio::test]
async fn pod_admission_scale_and_immutable_fields() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let pods = "/api/v1/namespaces/default/pods";
        let pod = |name: &str, extra: Value| {
            let mut spec = container_spec();
            for (k, v) in extra.as_object().unwrap() {
                spec[k] = v.clone();
            }
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
        };

        let mut qos = pod("qos", json!({}));
        qos["spec"]["containers"][0]["resources"] = json!({
            "requests": {"cpu": "100m", "memory": "100Mi"},
            "limits": {"cpu": "100m", "memory": "100Mi"}});
        let (code, created) = create_code(&client, pods, qos).await;
        assert_eq!(code, 201, "{created}");
        let got = corten_e2e::fixtures::get_raw(&c, &format!("{pods}/qos")).await;
        assert_eq!(got["status"]["qosClass"], "Guaranteed");

        let (code, status) = create_code(
            &client,
            pods,
            pod("no-class", json!({"runtimeClassName": "does-not-exist"})),
        )
        .await;
        assert_eq!(code, 403, "{status}");
        let (code, _) = create_code(
            &client,
            "/apis/node.k8s.io/v1/runtimeclasses",
            json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": "gone"}, "handler": "runc"}),
        )
        .await;
        assert_eq!(code, 201);
        c.kubectl_ok(&["delete", "runtimeclass", "gone"])
            .await
            .unwrap();
        let (code, status) = create_code(
            &client,
            pods,
            pod("gone-class", json!({"runtimeClassName": "gone"})),
        )
        .await;
        assert_eq!(code, 403, "{status}");

        // PriorityClass: the description may change, the value may not.
        let pcs: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(client.clone());
        pcs.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "p1"}, "value": 1})).unwrap(),
        )
        .await
        .unwrap();
        let err = pcs
            .patch(
                "p1",
                &PatchParams::default(),
                &Patch::Merge(json!({"value": 2})),
            )
            .await
            .unwrap_err();
        assert!(is_code(&err, 422), "{err:?}");
        let p = pcs
            .patch(
                "p1",
                &PatchParams::default(),
                &Patch::Merge(json!({"description": "updated"})),
            )
            .await
            .unwrap();
        assert_eq!(p.description.as_deref(), Some("updated"));
        let mut p = pcs.get("p1").await.unwrap();
        p.value = 3;
        let err = pcs
            .replace("p1", &PostParams::default(), &p)
            .await
            .unwrap_err();
        assert!(is_code(&err, 422), "{err:?}");
        let listed = names(&pcs.list(&ListParams::default()).await.unwrap().items);
        assert!(
            listed.contains(&"system-node-critical".to_string()),
            "{listed:?}"
        );

        // ReplicationController /scale: read, then replace the replicas.
        let rcs: Api<k8s_openapi::api::core::v1::ReplicationController> =
            Api::default_namespaced(client.clone());
        rcs.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "rc"}, "spec": {"replicas": 1,
                "selector": {"app": "rc"}, "template": {"metadata": {"labels": {"app": "rc"}},
                "spec": rc_pod_spec()}}}))
            .unwrap(),
        )
        .await
        .unwrap();
        let scale = rcs.get_scale("rc").await.unwrap();
        assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(1));
        let mut scale = scale;
        scale.spec.as_mut().unwrap().replicas = Some(2);
        let updated = rcs
            .replace_scale("rc", &PostParams::default(), &scale)
            .await
            .unwrap();
        assert_eq!(updated.spec.as_ref().unwrap().replicas, Some(2));
        assert_eq!(rcs.get("rc").await.unwrap().spec.unwrap().replicas, Some(2));

        // The `kubernetes` Service in `default`, found by listing all.
        let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::all(client.clone());
        let all = svcs.list(&ListParams::default()).await.unwrap();
        assert!(
            all.items
                .iter()
                .any(|s| s.metadata.name.as_deref() == Some("kubernetes")
                    && s.metadata.namespace.as_deref() == Some("default"))
        );
    });
}

/// Sends a plain HTTP/1.0 GET over `stream` and returns the whole answer.
async fn http_get<S>(mut stream: S, path: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

/// Starts `kubectl proxy` with `args` (killed when dropped) and returns
/// the child and its first stdout line.
async fn kubectl_proxy(c: &TestCluster, args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(corten_e2e::KUBECTL)
        .arg(format!("--kubeconfig={}", c.kubeconfig.display()))
        .arg("proxy")
        .args(args)
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = lines.next_line().await.unwrap().unwrap_or_default();
    (child, line)
}

/// "Kubectl, version", "Kubectl, check version v1", "Kubectl, cluster
/// info", "Kubectl, run pod", "Kubectl, proxy port zero", "Kubectl, proxy
/// socket", with the real /usr/bin/kubectl.
#[tokio::test]
async fn kubectl_conformance_commands() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = c.kubectl_ok(&["version"]).await.unwrap();
        assert!(
            out.contains("Client Version") && out.contains("Server Version"),
            "{out}"
        );
        let versions = c.kubectl_ok(&["api-versions"]).await.unwrap();
        assert!(versions.lines().any(|l| l == "v1"), "{versions}");
        let out = c.kubectl_ok(&["cluster-info"]).await.unwrap();
        assert!(out.contains("Kubernetes control plane"), "{out}");

        c.kubectl_ok(&[
            "run",
            "e2e-test-httpd-pod",
            "--restart=Never",
            "--pod-running-timeout=2m0s",
            "--image=registry.k8s.io/e2e-test-images/httpd:2.4.38-4",
        ])
        .await
        .unwrap();
        let image = c
            .kubectl_ok(&[
                "get",
                "pod",
                "e2e-test-httpd-pod",
                "-o",
                "jsonpath={.spec.containers[0].image}",
            ])
            .await
            .unwrap();
        assert_eq!(image, "registry.k8s.io/e2e-test-images/httpd:2.4.38-4");

        let (_proxy, line) = kubectl_proxy(&c, &["-p", "0", "--disable-filter"]).await;
        let addr = line
            .strip_prefix("Starting to serve on ")
            .unwrap_or_else(|| panic!("{line}"))
            .to_string();
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let answer = http_get(tcp, "/api/").await;
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "{answer}"
        );
        assert!(answer.contains("\"APIVersions\""), "{answer}");

        let socket = c.dir().join("proxy.sock");
        let socket_arg = format!("--unix-socket={}", socket.display());
        let (_proxy, line) = kubectl_proxy(&c, &[&socket_arg]).await;
        assert!(line.contains("Starting to serve on"), "{line}");
        let unix = tokio::net::UnixStream::connect(&socket).await.unwrap();
        let answer = http_get(unix, "/api/").await;
        assert!(answer.contains("\"APIVersions\""), "{answer}");
    });
}

/// "ServiceAccount lifecycle test" (watched from creation to deletion),
/// "ServiceAccount, update a ServiceAccount", "SubjectReview, API
/// Operations" (a review's answer matches an impersonated request) and
/// "Service account tokens auto mount optionally" (with the
/// ServiceAccount admission plugin on).
#[tokio::test]
async fn service_accounts_and_subject_reviews() {
    crate::with_timeout!(async {
        let c = TestCluster::start_with(&[
            "--disable-admission-plugins=TaintNodesByCondition,StorageObjectInUseProtection",
        ])
        .await
        .unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::ServiceAccount;
        let sas: Api<ServiceAccount> = Api::default_namespaced(client.clone());
        let rv = sas
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let sa: ServiceAccount = serde_json::from_value(
            json!({"metadata": {"name": "testserviceaccount", "labels": {"test-serviceaccount-static": "true"}}}),
        )
        .unwrap();
        sas.create(&PostParams::default(), &sa).await.unwrap();
        let patched = sas
            .patch(
                "testserviceaccount",
                &PatchParams::default(),
                &Patch::Merge(json!({"automountServiceAccountToken": false})),
            )
            .await
            .unwrap();
        assert_eq!(patched.automount_service_account_token, Some(false));
        let lp = ListParams::default().labels("test-serviceaccount-static=true");
        let listed = sas.list(&lp).await.unwrap();
        assert_eq!(listed.items[0].automount_service_account_token, Some(false));
        // Update: a replaced field comes back.
        let mut cur = sas.get("testserviceaccount").await.unwrap();
        cur.automount_service_account_token = Some(true);
        let updated = sas
            .replace("testserviceaccount", &PostParams::default(), &cur)
            .await
            .unwrap();
        assert_eq!(updated.automount_service_account_token, Some(true));
        sas.delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        let (mut added, mut deleted) = (false, false);
        watch_until(&sas, "test-serviceaccount-static=true", &rv, |ev| {
            match ev {
                WatchEvent::Added(_) => added = true,
                WatchEvent::Deleted(_) => deleted = true,
                _ => {}
            }
            added && deleted
        })
        .await;

        // SubjectReview: the review and the impersonated request agree.
        sas.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "e2e"}})).unwrap(),
        )
        .await
        .unwrap();
        let uid = sas.get("e2e").await.unwrap().metadata.uid.unwrap();
        let user = "system:serviceaccount:default:e2e";
        let groups = [
            "system:authenticated",
            "system:serviceaccounts",
            "system:serviceaccounts:default",
        ];
        let spec = json!({"resourceAttributes": {"verb": "list", "resource": "configmaps",
            "namespace": "default", "version": "v1"}, "user": user, "groups": groups, "uid": uid});
        let (code, sar) = create_code(
            &client,
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}),
        )
        .await;
        assert_eq!(code, 201, "{sar}");
        let mut req = http::Request::get("/api/v1/namespaces/default/configmaps")
            .header("Impersonate-User", user)
            .header("Impersonate-Uid", uid.as_str());
        for g in groups {
            req = req.header("Impersonate-Group", g);
        }
        let allowed = match client.request::<Value>(req.body(Vec::new()).unwrap()).await {
            Ok(_) => true,
            Err(e) if is_code(&e, 403) => false,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(
            sar["status"]["allowed"].as_bool().unwrap_or(false),
            allowed,
            "{sar}"
        );
        let mut local_spec = spec.clone();
        local_spec["user"] = json!("e2e");
        let (code, lsar) = create_code(
            &client,
            "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews",
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
                "metadata": {"namespace": "default"}, "spec": local_spec}),
        )
        .await;
        assert_eq!(code, 201, "{lsar}");
        assert_eq!(
            lsar["status"]["allowed"].as_bool().unwrap_or(false),
            allowed,
            "{lsar}"
        );

        // Token automount: the pod's setting wins, then the account's,
        // then mounting.
        let sa_settings = [
            ("nomount-default", None),
            ("nomount-true", Some(true)),
            ("nomount-false", Some(false)),
        ];
        for (name, automount) in sa_settings {
            let mut body = json!({"metadata": {"name": name}});
            if let Some(a) = automount {
                body["automountServiceAccountToken"] = json!(a);
            }
            sas.create(
                &PostParams::default(),
                &serde_json::from_value(body).unwrap(),
            )
            .await
            .unwrap();
        }
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(client.clone());
        let mut i = 0;
        for (sa_name, sa_auto) in sa_settings {
            for pod_auto in [None, Some(true), Some(false)] {
                i += 1;
                let mut spec = container_spec();
                spec["serviceAccountName"] = json!(sa_name);
                if let Some(a) = pod_auto {
                    spec["automountServiceAccountToken"] = json!(a);
                }
                let pod = pods
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(
                            json!({"metadata": {"name": format!("pod-{i}")}, "spec": spec}),
                        )
                        .unwrap(),
                    )
                    .await
                    .unwrap();
                let mounted = pod.spec.unwrap().containers[0]
                    .volume_mounts
                    .iter()
                    .flatten()
                    .any(|m| m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount");
                let expected = pod_auto.or(sa_auto).unwrap_or(true);
                assert_eq!(mounted, expected, "sa {sa_name:?}, pod {pod_auto:?}");
            }
        }
    });
}

/// "Endpoint resource lifecycle": watched from creation, labelled, patched
/// with a new address and port, deleted by label with a DELETED event.
/// "Event, delete a collection" and "New Event resource lifecycle, testing
/// a list of events": events found by label across namespaces, deleted by
/// collection.
#[tokio::test]
async fn endpoints_and_event_collections() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Endpoints;
        let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
        let rv = eps
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        eps.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "testservice", "labels": {"test-endpoint-static": "true"}},
                "subsets": [{"addresses": [{"ip": "10.0.0.24"}], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}))
            .unwrap(),
        )
        .await
        .unwrap();
        let mut cur = eps.get("testservice").await.unwrap();
        cur.metadata
            .labels
            .get_or_insert_default()
            .insert("test-service".into(), "updated".into());
        eps.replace("testservice", &PostParams::default(), &cur)
            .await
            .unwrap();
        let patched = eps
            .patch(
                "testservice",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"test-service": "patched"}},
                    "subsets": [{"addresses": [{"ip": "10.0.0.25"}], "ports": [{"name": "http-test", "port": 8080}]}]})),
            )
            .await
            .unwrap();
        let subset = &patched.subsets.unwrap()[0];
        assert_eq!(subset.addresses.as_ref().unwrap()[0].ip, "10.0.0.25");
        assert_eq!(subset.ports.as_ref().unwrap()[0].port, 8080);
        assert_eq!(
            subset.ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
        eps.delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("test-endpoint-static=true"),
        )
        .await
        .unwrap();
        let mut deleted = false;
        watch_until(&eps, "test-endpoint-static=true", &rv, |ev| {
            if let WatchEvent::Deleted(e) = ev {
                deleted = e.metadata.labels.as_ref().unwrap()["test-service"] == "patched";
            }
            deleted
        })
        .await;

        // Events in two namespaces, listed by label across namespaces.
        c.kubectl_ok(&["create", "namespace", "other"])
            .await
            .unwrap();
        use k8s_openapi::api::events::v1::Event;
        for ns in ["default", "other"] {
            let api: Api<Event> = Api::namespaced(client.clone(), ns);
            for i in 0..2 {
                api.create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": format!("ev-{i}"), "labels": {"testevent-set": "true"}},
                        "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "e2e.io/test",
                        "reportingInstance": "i", "action": "Do", "reason": "Test", "type": "Normal",
                        "regarding": {"kind": "Pod", "name": "p", "namespace": ns}, "note": "n"}))
                    .unwrap(),
                )
                .await
                .unwrap();
            }
        }
        let lp = ListParams::default().labels("testevent-set=true");
        let all: Api<Event> = Api::all(client.clone());
        assert_eq!(all.list(&lp).await.unwrap().items.len(), 4);
        let core_all: Api<k8s_openapi::api::core::v1::Event> = Api::all(client.clone());
        assert_eq!(core_all.list(&lp).await.unwrap().items.len(), 4);
        let default_events: Api<k8s_openapi::api::core::v1::Event> =
            Api::default_namespaced(client.clone());
        default_events
            .delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert_eq!(all.list(&lp).await.unwrap().items.len(), 2);
    });
}

/// "Service, complete ServiceStatus lifecycle": a LoadBalancer Service
/// watched by label while its `/status` is read, patched (with an
/// annotation in the same patch), updated with a condition that has no
/// transition time (the Go client sends `null`), then strategic-merge
/// patched and deleted.
#[tokio::test]
async fn service_status_lifecycle() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Service;
        let svcs: Api<Service> = Api::default_namespaced(client.clone());
        let rv = Api::<Service>::all(client.clone())
            .list(&ListParams::default().labels("test-service-static=true"))
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        svcs.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "test-service", "labels": {"test-service-static": "true"}},
                "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 80}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
        let status = svcs.get_status("test-service").await.unwrap();
        assert_eq!(status.metadata.name.as_deref(), Some("test-service"));
        let patched = svcs
            .patch_status(
                "test-service",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"patchedstatus": "true"}},
                    "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()["patchedstatus"],
            "true"
        );
        let ingress = &patched
            .status
            .as_ref()
            .unwrap()
            .load_balancer
            .as_ref()
            .unwrap()
            .ingress
            .as_ref()
            .unwrap()[0];
        assert_eq!(ingress.ip.as_deref(), Some("203.0.113.1"));

        let mut cur = serde_json::to_value(svcs.get("test-service").await.unwrap()).unwrap();
        cur["status"]["conditions"] = json!([{"type": "StatusUpdate", "status": "True",
            "reason": "E2E", "message": "Set from e2e test", "lastTransitionTime": null}]);
        let req = http::Request::put("/api/v1/namespaces/default/services/test-service/status")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&cur).unwrap())
            .unwrap();
        let updated: Value = client.request(req).await.unwrap();
        assert_eq!(updated["status"]["conditions"][0]["type"], "StatusUpdate");

        svcs.patch(
            "test-service",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"test-service": "patched"}}})),
        )
        .await
        .unwrap();
        svcs.delete("test-service", &DeleteParams::default())
            .await
            .unwrap();

        let (mut annotated, mut conditioned, mut labelled, mut deleted) =
            (false, false, false, false);
        watch_until(&svcs, "test-service-static=true", &rv, |ev| {
            match ev {
                WatchEvent::Modified(s) => {
                    let a = s.metadata.annotations.clone().unwrap_or_default();
                    annotated |= a.get("patchedstatus").is_some_and(|v| v == "true");
                    conditioned |= s
                        .status
                        .as_ref()
                        .and_then(|st| st.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| {
                                c.type_ == "StatusUpdate" && c.message == "Set from e2e test"
                            })
                        });
                    labelled |= s
                        .metadata
                        .labels
                        .as_ref()
                        .unwrap()
                        .get("test-service")
                        .is_some_and(|v| v == "patched");
                }
                WatchEvent::Deleted(_) => deleted = true,
                _ => {}
            }
            annotated && conditioned && labelled && deleted
        })
        .await;
    });
}

/// "lease API should be available": a Lease's spec (with microsecond
/// times) reads back exactly as written through create, update and a
/// strategic merge patch; deletecollection by label removes only the
/// labelled lease.
#[tokio::test]
async fn lease_api() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::coordination::v1::Lease;
        let leases: Api<Lease> = Api::default_namespaced(client.clone());
        let spec = json!({"holderIdentity": "holder", "leaseDurationSeconds": 30,
            "acquireTime": "2024-01-02T03:04:05.123456Z", "renewTime": "2024-01-02T03:04:05.654321Z",
            "leaseTransitions": 0});
        let created = leases
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "lease"}, "spec": spec}))
                    .unwrap(),
            )
            .await
            .unwrap();
        let got = leases.get("lease").await.unwrap();
        assert_eq!(serde_json::to_value(&got.spec).unwrap(), spec);
        assert_eq!(got.spec, created.spec);

        let mut cur = got.clone();
        let new_spec = json!({"holderIdentity": "holder2", "leaseDurationSeconds": 30,
            "acquireTime": "2024-01-02T03:05:05.000001Z", "renewTime": "2024-01-02T03:05:06.000002Z",
            "leaseTransitions": 1});
        cur.spec = serde_json::from_value(new_spec.clone()).unwrap();
        leases
            .replace("lease", &PostParams::default(), &cur)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(leases.get("lease").await.unwrap().spec).unwrap(),
            new_spec
        );

        let patch = json!({"spec": {"holderIdentity": "holder3", "leaseTransitions": 2,
            "acquireTime": "2024-01-02T03:06:05.000003Z"}});
        leases
            .patch("lease", &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .unwrap();
        let patched = serde_json::to_value(leases.get("lease").await.unwrap().spec).unwrap();
        assert_eq!(patched["holderIdentity"], "holder3");
        assert_eq!(patched["acquireTime"], "2024-01-02T03:06:05.000003Z");
        assert_eq!(patched["renewTime"], "2024-01-02T03:05:06.000002Z");

        leases
            .create(
                &PostParams::default(),
                &serde_json::from_value(
                    json!({"metadata": {"name": "lease2", "labels": {"deletecollection": "true"}},
                    "spec": spec}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            leases
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
            2
        );
        leases
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels("deletecollection=true"),
            )
            .await
            .unwrap();
        assert_eq!(
            names(&leases.list(&ListParams::default()).await.unwrap().items),
            vec!["lease"]
        );
        leases
            .delete("lease", &DeleteParams::default())
            .await
            .unwrap();
        let err = leases.get("lease").await.unwrap_err();
        assert!(is_code(&err, 404), "{err:?}");
    });
}

/// "CertificateSigningRequest API": discovery of the subresources, the
/// main resource's verbs, and get/patch/update of `/approval` and
/// `/status` as the upstream test sends them (a custom condition type
/// patched into approval, then Approved; a certificate patched into
/// status, then a custom condition).
#[tokio::test]
async fn certificate_signing_request_api() {
    crate::with_timeout!(async {
        use base64::Engine;
        use k8s_openapi::api::certificates::v1::CertificateSigningRequest as Csr;
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let res = corten_e2e::fixtures::get_raw(&c, "/apis/certificates.k8s.io/v1").await;
        let served: Vec<&str> = res["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        for r in [
            "certificatesigningrequests",
            "certificatesigningrequests/approval",
            "certificatesigningrequests/status",
        ] {
            assert!(served.contains(&r), "{served:?}");
        }

        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "e2e.example.com");
        let request = params.serialize_request(&key).unwrap().pem().unwrap();
        let cert = params.self_signed(&key).unwrap().pem();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);

        let csrs: Api<Csr> = Api::all(client.clone());
        let pp = PostParams::default();
        let new_csr = |name: &str| -> Csr {
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"e2e": "csr"}},
                "spec": {"request": b64(&request), "signerName": "example.com/e2e-signer",
                    "usages": ["digital signature", "key encipherment", "server auth"]}}))
            .unwrap()
        };
        let created = csrs.create(&pp, &new_csr("csr-1")).await.unwrap();
        assert_eq!(
            csrs.get("csr-1").await.unwrap().metadata.uid,
            created.metadata.uid
        );
        let by_name = ListParams::default().fields("metadata.name=csr-1");
        assert_eq!(csrs.list(&by_name).await.unwrap().items.len(), 1);
        let patched = csrs
            .patch(
                "csr-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"patched": "true"}}})),
            )
            .await
            .unwrap();
        let mut upd = patched.clone();
        upd.metadata
            .annotations
            .get_or_insert_default()
            .insert("updated".into(), "true".into());
        csrs.replace("csr-1", &pp, &upd).await.unwrap();

        // /approval
        let gvk = GroupVersionKind::gvk("certificates.k8s.io", "v1", "CertificateSigningRequest");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "certificatesigningrequests");
        let dynamic: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let approval: Value = client
            .request(
                http::Request::get(
                    "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
                )
                .body(Vec::new())
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(approval["metadata"]["name"], "csr-1");
        let patch_approval = |body: Value| {
            http::Request::patch(
                "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
            )
            .header("content-type", "application/merge-patch+json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap()
        };
        let patched: Value = client
            .request(patch_approval(json!({"metadata": {"annotations": {"patchedapproval": "true"}},
                "status": {"conditions": [{"type": "ApprovalPatch", "status": "True", "reason": "e2e"}]}})))
            .await
            .unwrap();
        assert_eq!(
            patched["metadata"]["annotations"]["patchedapproval"],
            "true"
        );
        assert_eq!(patched["status"]["conditions"].as_array().unwrap().len(), 1);
        let mut to_approve: Csr = serde_json::from_value(patched).unwrap();
        let mut conds = to_approve.status.clone().unwrap().conditions.unwrap();
        conds.push(serde_json::from_value(json!({"type": "Approved", "status": "True", "reason": "E2E", "message": "Set from an e2e test"})).unwrap());
        to_approve.status.as_mut().unwrap().conditions = Some(conds);
        let put = http::Request::put(
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
        )
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&to_approve).unwrap())
        .unwrap();
        let approved: Csr = client.request(put).await.unwrap();
        let conds = approved.status.unwrap().conditions.unwrap();
        assert_eq!(conds.len(), 2);
        assert_eq!(conds[1].type_, "Approved");

        // /status
        let status = csrs.get_status("csr-1").await.unwrap();
        assert_eq!(status.metadata.uid, created.metadata.uid);
        let patched = dynamic
            .patch_status(
                "csr-1",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"patchedstatus": "true"}},
                    "status": {"certificate": b64(&cert)}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(patched.data["status"]["certificate"], b64(&cert));
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()["patchedstatus"],
            "true"
        );
        let mut cur = csrs.get("csr-1").await.unwrap();
        let st = cur.status.as_mut().unwrap();
        st.conditions.as_mut().unwrap().push(
            serde_json::from_value(json!({"type": "StatusUpdate", "status": "True", "reason": "E2E", "message": "Set from an e2e test"})).unwrap(),
        );
        let updated = csrs.replace_status("csr-1", &pp, &cur).await.unwrap();
        assert_eq!(updated.status.unwrap().conditions.unwrap().len(), 3);

        // delete, deletecollection
        csrs.create(&pp, &new_csr("csr-2")).await.unwrap();
        csrs.delete("csr-1", &DeleteParams::default())
            .await
            .unwrap();
        assert!(is_code(&csrs.get("csr-1").await.unwrap_err(), 404));
        let lp = ListParams::default().labels("e2e=csr");
        assert_eq!(csrs.list(&lp).await.unwrap().items.len(), 1);
        csrs.delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert!(csrs.list(&lp).await.unwrap().items.is_empty());
    });
}

/// The object as JSON without what the control plane changes on every
/// write (resourceVersion, managedFields).
fn without_write_meta<T: serde::Serialize>(o: &T) -> Value {
    let mut v = serde_json::to_value(o).unwrap();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

/// "New Event resource lifecycle, testing a single event" (events.k8s.io)
/// and "Event, manage lifecycle of an Event" (core/v1): found by field
/// selectors `source` / `reportingController`, a patched note or message
/// changes nothing else, an unconditional update adds a series, the
/// deleted event is gone.
#[tokio::test]
async fn event_lifecycles() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Event as CoreEvent;
        use k8s_openapi::api::events::v1::Event;
        let events: Api<Event> = Api::default_namespaced(client.clone());
        let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
        events
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "event-test", "labels": {"testevent-constant": "true"}},
                    "regarding": {"namespace": "default"}, "eventTime": "2017-09-19T13:49:16.000000Z",
                    "note": "This is event-test", "action": "Do", "reason": "Test", "type": "Normal",
                    "reportingController": "test-controller", "reportingInstance": "test-node"}))
                .unwrap(),
            )
            .await
            .unwrap();
        let by_source = core
            .list(&ListParams::default().fields("source=test-controller"))
            .await
            .unwrap();
        assert_eq!(names(&by_source.items), vec!["event-test"]);
        let by_controller = events
            .list(&ListParams::default().fields("reportingController=test-controller"))
            .await
            .unwrap();
        assert_eq!(names(&by_controller.items), vec!["event-test"]);

        let mut expected = events.get("event-test").await.unwrap();
        events
            .patch(
                "event-test",
                &PatchParams::default(),
                &Patch::Strategic(json!({"note": "This is a test event - patched"})),
            )
            .await
            .unwrap();
        expected.note = Some("This is a test event - patched".into());
        let got = events.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));

        expected.series = Some(
            serde_json::from_value(
                json!({"count": 100, "lastObservedTime": "2017-09-19T13:49:16.000000Z"}),
            )
            .unwrap(),
        );
        expected.metadata.resource_version = None;
        events
            .replace("event-test", &PostParams::default(), &expected)
            .await
            .unwrap();
        let got = events.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));
        events
            .delete("event-test", &DeleteParams::default())
            .await
            .unwrap();
        let lp = ListParams::default().labels("testevent-constant=true");
        assert!(
            Api::<Event>::all(client.clone())
                .list(&lp)
                .await
                .unwrap()
                .items
                .is_empty()
        );

        // core/v1: the same walk with `message` and a core series.
        core.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "event-test", "labels": {"testevent-constant": "true"}},
                "message": "This is a test event", "reason": "Test", "type": "Normal", "count": 1,
                "involvedObject": {"namespace": "default"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let all_core: Api<CoreEvent> = Api::all(client.clone());
        assert_eq!(all_core.list(&lp).await.unwrap().items.len(), 1);
        let mut expected = core.get("event-test").await.unwrap();
        core.patch(
            "event-test",
            &PatchParams::default(),
            &Patch::Strategic(json!({"message": "This is a test event - patched"})),
        )
        .await
        .unwrap();
        expected.message = Some("This is a test event - patched".into());
        let got = core.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));
        expected.series = Some(
            serde_json::from_value(
                json!({"count": 100, "lastObservedTime": "2017-09-19T13:49:16.000000Z"}),
            )
            .unwrap(),
        );
        expected.metadata.resource_version = None;
        core.replace("event-test", &PostParams::default(), &expected)
            .await
            .unwrap();
        let got = core.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));
        core.delete("event-test", &DeleteParams::default())
            .await
            .unwrap();
        assert!(all_core.list(&lp).await.unwrap().items.is_empty());
    });
}

/// "LimitRange, resources": a Container LimitRange fills in missing
/// requests and limits (from defaultRequest/default, a lone limit also
/// becoming the request) and rejects pods outside min/max with 403.
/// "PodDisruptionBudget: update and patch status": `disruptedPods` set by
/// an update of `/status` and emptied by a merge patch.
#[tokio::test]
async fn limit_range_resources_and_pdb_status() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let (code, lr) = create_code(
            &client,
            "/api/v1/namespaces/default/limitranges",
            json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limit-range"},
                "spec": {"limits": [{"type": "Container",
                    "min": {"cpu": "100m", "memory": "10Mi"}, "max": {"cpu": "500m", "memory": "500Mi"},
                    "defaultRequest": {"cpu": "200m", "memory": "200Mi"},
                    "default": {"cpu": "300m", "memory": "300Mi"}}]}}),
        )
        .await;
        assert_eq!(code, 201, "{lr}");
        let pods = "/api/v1/namespaces/default/pods";
        let pod = |name: &str, resources: Value| {
            let mut spec = container_spec();
            spec["containers"][0]["resources"] = resources;
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
        };
        let resources = |v: &Value| v["spec"]["containers"][0]["resources"].clone();

        let (code, p) = create_code(&client, pods, pod("no-resources", json!({}))).await;
        assert_eq!(code, 201, "{p}");
        assert_eq!(
            resources(&p),
            json!({"requests": {"cpu": "200m", "memory": "200Mi"}, "limits": {"cpu": "300m", "memory": "300Mi"}})
        );
        let (code, p) = create_code(
            &client,
            pods,
            pod(
                "partial-requests",
                json!({"requests": {"cpu": "300m", "memory": "150Mi"}}),
            ),
        )
        .await;
        assert_eq!(code, 201, "{p}");
        assert_eq!(
            resources(&p),
            json!({"requests": {"cpu": "300m", "memory": "150Mi"}, "limits": {"cpu": "300m", "memory": "300Mi"}})
        );
        let (code, p) = create_code(
            &client,
            pods,
            pod(
                "partial-limits",
                json!({"limits": {"cpu": "300m", "memory": "150Mi"}}),
            ),
        )
        .await;
        assert_eq!(code, 201, "{p}");
        assert_eq!(
            resources(&p),
            json!({"requests": {"cpu": "300m", "memory": "150Mi"}, "limits": {"cpu": "300m", "memory": "150Mi"}})
        );
        for (name, r) in [
            ("over-max", json!({"limits": {"cpu": "600m"}})),
            ("under-min", json!({"requests": {"cpu": "50m"}})),
        ] {
            let (code, status) = create_code(&client, pods, pod(name, r)).await;
            assert_eq!(code, 403, "{name}: {status}");
        }

        use k8s_openapi::api::policy::v1::PodDisruptionBudget;
        let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(client.clone());
        pdbs.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "foo", "labels": {"foo": "bar"}},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"foo": "bar"}}}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let mut cur = pdbs.get("foo").await.unwrap();
        let status = cur.status.get_or_insert_default();
        status.disrupted_pods =
            Some(serde_json::from_value(json!({"pod-0": "2024-01-01T00:00:00Z"})).unwrap());
        pdbs.replace_status("foo", &PostParams::default(), &cur)
            .await
            .unwrap();
        let got = pdbs.get_status("foo").await.unwrap();
        assert!(
            got.status
                .unwrap()
                .disrupted_pods
                .unwrap()
                .contains_key("pod-0")
        );
        let patched = pdbs
            .patch_status(
                "foo",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"disruptedPods": null}})),
            )
            .await
            .unwrap();
        assert!(
            patched
                .status
                .unwrap()
                .disrupted_pods
                .unwrap_or_default()
                .is_empty()
        );
    });
}

/// "CSIInlineVolumes should support Pods with inline volumes": a CSIDriver
/// for ephemeral volumes and a pod with an inline `csi` volume go through
/// create, get, list, patch and delete.
#[tokio::test]
async fn csi_inline_volume_pods() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Pod;
        use k8s_openapi::api::storage::v1::CSIDriver;
        let drivers: Api<CSIDriver> = Api::all(client.clone());
        let driver = drivers
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "e2e-inline.csi.example.com"},
                    "spec": {"volumeLifecycleModes": ["Ephemeral"]}}))
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            driver.spec.volume_lifecycle_modes,
            Some(vec!["Ephemeral".to_string()])
        );
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let mut spec = container_spec();
        spec["volumes"] = json!([{"name": "vol", "csi": {"driver": "e2e-inline.csi.example.com",
            "volumeAttributes": {"foo": "bar"}}}]);
        spec["containers"][0]["volumeMounts"] = json!([{"name": "vol", "mountPath": "/mnt/test"}]);
        let created = pods
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "inline", "labels": {"e2e": "inline"}}, "spec": spec}))
                    .unwrap(),
            )
            .await
            .unwrap();
        let vol = &created.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
        assert_eq!(
            vol.csi.as_ref().unwrap().driver,
            "e2e-inline.csi.example.com"
        );
        assert_eq!(
            pods.get("inline").await.unwrap().metadata.uid,
            created.metadata.uid
        );
        let listed = pods
            .list(&ListParams::default().labels("e2e=inline"))
            .await
            .unwrap();
        assert_eq!(names(&listed.items), vec!["inline"]);
        let patched = pods
            .patch(
                "inline",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"patched": "true"}}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.metadata.labels.unwrap()["patched"], "true");
        pods.delete("inline", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        drivers
            .delete("e2e-inline.csi.example.com", &DeleteParams::default())
            .await
            .unwrap();
    });
}

/// "Node, resource lifecycle": an unschedulable fake node created with a
/// Ready condition whose times are `null` (what a Go client sends for
/// unset times), strategic-merge patched, listed by the new label,
/// updated and deleted.
#[tokio::test]
async fn fake_node_lifecycle() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let (code, node) = create_code(
            &client,
            "/api/v1/nodes",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "e2e-fake-node-abcde"},
                "spec": {"unschedulable": true},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                    "reason": "E2E", "message": "Set from e2e test",
                    "lastHeartbeatTime": null, "lastTransitionTime": null}]}}),
        )
        .await;
        assert_eq!(code, 201, "{node}");
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(client.clone());
        let got = nodes.get("e2e-fake-node-abcde").await.unwrap();
        assert_eq!(got.status.unwrap().conditions.unwrap()[0].type_, "Ready");
        let patched = nodes
            .patch(
                "e2e-fake-node-abcde",
                &PatchParams::default(),
                &Patch::Strategic(
                    json!({"metadata": {"labels": {"e2e-fake-node-abcde": "patched"}}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.labels.as_ref().unwrap()["e2e-fake-node-abcde"],
            "patched"
        );
        let listed = nodes
            .list(&ListParams::default().labels("e2e-fake-node-abcde=patched"))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        let mut cur = nodes.get("e2e-fake-node-abcde").await.unwrap();
        cur.metadata
            .labels
            .get_or_insert_default()
            .insert("e2e-fake-node-abcde".into(), "updated".into());
        let updated = nodes
            .replace("e2e-fake-node-abcde", &PostParams::default(), &cur)
            .await
            .unwrap();
        assert_eq!(
            updated.metadata.labels.as_ref().unwrap()["e2e-fake-node-abcde"],
            "updated"
        );
        nodes
            .delete("e2e-fake-node-abcde", &DeleteParams::default())
            .await
            .unwrap();
        assert!(is_code(
            &nodes.get("e2e-fake-node-abcde").await.unwrap_err(),
            404
        ));
    });
}
