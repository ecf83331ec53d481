//! Conformance: API Priority and Fairness (upstream
//! test/e2e/apimachinery/flowcontrol.go): the flowcontrol.apiserver.k8s.io
//! group in discovery, the FlowSchema and PriorityLevelConfiguration API
//! operations with `/status`, the bootstrap configuration, and the
//! classification headers; the same API-operations walk for
//! ValidatingAdmissionPolicy and its bindings, and the policy's denials
//! (upstream validatingadmissionpolicy.go).

use std::time::Duration;

use corten_e2e::TestCluster;
use futures::{StreamExt, TryStreamExt};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};

const GROUP: &str = "flowcontrol.apiserver.k8s.io";

fn api(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    api_in(client, GROUP, kind, plural)
}

fn api_in(client: &Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::all_with(client.clone(), &ar)
}

async fn get_json(client: &Client, path: &str) -> Value {
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    client.request::<Value>(req).await.unwrap()
}

fn rv(o: &DynamicObject) -> i64 {
    o.metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// Discovery as the upstream test reads it: the group in /apis, v1 in
/// the group document, the resource (and its status) in the v1 list.
async fn check_discovery(client: &Client, group_name: &str, plural: &str, status: bool) {
    let groups = get_json(client, "/apis").await;
    let found = groups["groups"].as_array().unwrap().iter().any(|g| {
        g["name"] == GROUP
            && g["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["version"] == "v1")
    });
    assert!(found, "{groups}");
    let group = get_json(client, &format!("/apis/{group_name}")).await;
    assert_eq!(group["preferredVersion"]["version"], "v1", "{group}");
    let resources = get_json(client, &format!("/apis/{group_name}/v1")).await;
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&plural), "{names:?}");
    if status {
        assert!(
            names.contains(&format!("{plural}/status").as_str()),
            "{names:?}"
        );
    }
}

/// What [`api_operations`] exercises.
struct Kind {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    status: bool,
}

const FLOW_SCHEMA: Kind = Kind {
    group: GROUP,
    kind: "FlowSchema",
    plural: "flowschemas",
    status: true,
};
const PRIORITY_LEVEL: Kind = Kind {
    group: GROUP,
    kind: "PriorityLevelConfiguration",
    plural: "prioritylevelconfigurations",
    status: true,
};

/// The steps of upstream's "should support ... API operations": three
/// creates from one generateName template, get, list, watch, patch,
/// update, status get/patch/update, delete, deletecollection.
async fn api_operations(
    c: &TestCluster,
    k: Kind,
    spec: Value,
    patched_spec: Value,
    update_spec: fn(&mut Value),
    spec_field: fn(&Value) -> Value,
) {
    let Kind {
        group,
        kind,
        plural,
        status: has_status,
    } = k;
    let client = c.client().await.unwrap();
    check_discovery(&client, group, plural, has_status).await;
    let objects = api_in(&client, group, kind, plural);
    let label = format!("example-e2e-{plural}-label=abcdefgh");
    let template: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{group}/v1"), "kind": kind,
        "metadata": {"generateName": "e2e-example-", "labels": {format!("example-e2e-{plural}-label"): "abcdefgh"}},
        "spec": spec,
    }))
    .unwrap();
    let pp = PostParams::default();
    objects.create(&pp, &template).await.unwrap();
    objects.create(&pp, &template).await.unwrap();
    let created = objects.create(&pp, &template).await.unwrap();
    let name = created.metadata.name.clone().unwrap();

    let read = objects.get(&name).await.unwrap();
    assert_eq!(read.metadata.uid, created.metadata.uid);
    assert!(rv(&read) > 0);

    let lp = ListParams::default().labels(&label);
    let list = objects.list(&lp).await.unwrap();
    assert_eq!(list.items.len(), 3);

    let wp = WatchParams::default().labels(&label);
    let mut watch = objects
        .watch(&wp, list.metadata.resource_version.as_deref().unwrap())
        .await
        .unwrap()
        .boxed();

    let patch = json!({"metadata": {"annotations": {"patched": "true"}}, "spec": patched_spec});
    let patched = objects
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.annotations.as_ref().unwrap()["patched"],
        "true"
    );
    assert!(rv(&patched) > rv(&created));
    let patched_value = spec_field(&patched.data["spec"]);

    let mut current = objects.get(&name).await.unwrap();
    current
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    update_spec(&mut current.data["spec"]);
    let updated = objects.replace(&name, &pp, &current).await.unwrap();
    assert_eq!(
        updated.metadata.annotations.as_ref().unwrap()["updated"],
        "true"
    );
    assert_ne!(spec_field(&updated.data["spec"]), patched_value);

    // Every event is a modification; one carries the patch's annotation.
    let mut saw = false;
    while !saw {
        let ev = tokio::time::timeout(Duration::from_secs(30), watch.try_next())
            .await
            .expect("watch event")
            .unwrap()
            .expect("watch open");
        match ev {
            WatchEvent::Modified(o) => {
                saw = o
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.get("patched").map(String::as_str) == Some("true"))
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    drop(watch);

    if has_status {
        status_operations(&objects, &name, &created, group, kind).await;
    }

    objects
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    match objects.get(&name).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404),
        other => panic!("expected 404, got {other:?}"),
    }
    assert_eq!(objects.list(&lp).await.unwrap().items.len(), 2);
    objects
        .delete_collection(&DeleteParams::default(), &lp)
        .await
        .unwrap();
    assert!(objects.list(&lp).await.unwrap().items.is_empty());
}

/// The `/status` steps: get (kind and UID), merge-patch a condition,
/// update with one more; the spec never changes through `/status`.
async fn status_operations(
    objects: &Api<DynamicObject>,
    name: &str,
    created: &DynamicObject,
    group: &str,
    kind: &str,
) {
    let status = objects.get_status(name).await.unwrap();
    assert_eq!(status.types.as_ref().unwrap().kind, kind);
    assert_eq!(
        status.types.as_ref().unwrap().api_version,
        format!("{group}/v1")
    );
    assert_eq!(status.metadata.uid, created.metadata.uid);

    let status_patch = json!({"status": {"conditions": [{"type": "PatchStatusFailed", "status": "False", "reason": "e2e",
        "message": "Set from an e2e test", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}});
    let patched = objects
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status_patch))
        .await
        .unwrap();
    let has = |o: &DynamicObject, t: &str| {
        o.data["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == t))
    };
    assert!(has(&patched, "PatchStatusFailed"), "{:?}", patched.data);

    let mut current = objects.get(name).await.unwrap();
    let conditions = current.data["status"]["conditions"].as_array_mut().unwrap();
    conditions.push(
        json!({"type": "StatusUpdateFailed", "status": "False", "reason": "E2E",
        "message": "Set from an e2e test", "lastTransitionTime": "2024-01-02T00:00:00Z"}),
    );
    let updated = objects
        .replace_status(name, &PostParams::default(), &current)
        .await
        .unwrap();
    assert!(has(&updated, "StatusUpdateFailed"), "{:?}", updated.data);
    // The status write kept the spec.
    assert_eq!(updated.data["spec"], current.data["spec"]);
}

#[tokio::test]
async fn flow_schema_api_operations() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        api_operations(
            &c,
            FLOW_SCHEMA,
            json!({
                "matchingPrecedence": 10000,
                "priorityLevelConfiguration": {"name": "global-default"},
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [{
                    "subjects": [{"kind": "User", "user": {"name": "example-e2e-non-existent-user"}}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }],
            }),
            json!({"matchingPrecedence": 9999}),
            |spec| spec["matchingPrecedence"] = json!(9000),
            |spec| spec["matchingPrecedence"].clone(),
        )
        .await;
    })
}

#[tokio::test]
async fn priority_level_configuration_api_operations() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        api_operations(
            &c,
            PRIORITY_LEVEL,
            json!({"type": "Limited", "limited": {"nominalConcurrencyShares": 2, "limitResponse": {"type": "Reject"}}}),
            json!({"limited": {"nominalConcurrencyShares": 4}}),
            |spec| spec["limited"]["nominalConcurrencyShares"] = json!(6),
            |spec| spec["limited"]["nominalConcurrencyShares"].clone(),
        )
        .await;
    })
}

/// Sends GET `path` as the admin impersonating `user`; returns the
/// FlowSchema and priority level UID headers.
async fn classified_as(client: &Client, user: &str, path: &str) -> (String, String) {
    let req = http::Request::get(path)
        .header("Impersonate-User", user)
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    (
        header("X-Kubernetes-PF-FlowSchema-UID"),
        header("X-Kubernetes-PF-PriorityLevel-UID"),
    )
}

#[tokio::test]
async fn bootstrap_configuration_and_classification() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let schemas = api(&client, "FlowSchema", "flowschemas");
        let levels = api(
            &client,
            "PriorityLevelConfiguration",
            "prioritylevelconfigurations",
        );

        // Upstream's mandatory and suggested objects, annotated for
        // automatic updates.
        let names = |l: &kube::api::ObjectList<DynamicObject>| -> Vec<String> {
            l.items
                .iter()
                .map(|o| o.metadata.name.clone().unwrap())
                .collect()
        };
        let fs_list = schemas.list(&ListParams::default()).await.unwrap();
        for want in [
            "exempt",
            "catch-all",
            "probes",
            "system-nodes",
            "system-node-high",
            "system-leader-election",
            "endpoint-controller",
            "workload-leader-election",
            "kube-controller-manager",
            "kube-scheduler",
            "kube-system-service-accounts",
            "service-accounts",
            "global-default",
        ] {
            assert!(
                names(&fs_list).contains(&want.to_string()),
                "{want} missing"
            );
        }
        let pl_list = levels.list(&ListParams::default()).await.unwrap();
        for want in [
            "exempt",
            "catch-all",
            "system",
            "node-high",
            "leader-election",
            "workload-high",
            "workload-low",
            "global-default",
        ] {
            assert!(
                names(&pl_list).contains(&want.to_string()),
                "{want} missing"
            );
        }
        let exempt = levels.get("exempt").await.unwrap();
        assert_eq!(
            exempt.metadata.annotations.as_ref().unwrap()["apf.kubernetes.io/autoupdate-spec"],
            "true"
        );
        assert_eq!(exempt.data["spec"]["type"], "Exempt");

        // The mandatory specs are fixed.
        let patch = json!({"spec": {"matchingPrecedence": 9000}});
        match schemas
            .patch("catch-all", &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422);
                assert!(
                    s.message
                        .ends_with("spec of 'catch-all' must equal the fixed value"),
                    "{}",
                    s.message
                );
            }
            other => panic!("expected 422, got {other:?}"),
        }

        // kubectl's columns come from the server.
        let out = c
            .kubectl_ok(&["get", "prioritylevelconfigurations", "catch-all"])
            .await
            .unwrap();
        assert!(out.contains("NOMINALCONCURRENCYSHARES"), "{out}");

        // A schema for one user, first dangling, then matched once its level exists.
        let fs: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "FlowSchema",
            "metadata": {"name": "e2e-testing-flowschema"},
            "spec": {
                "matchingPrecedence": 1000,
                "priorityLevelConfiguration": {"name": "e2e-testing-prioritylevel"},
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [{
                    "subjects": [{"kind": "User", "user": {"name": "noxu"}}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }],
            },
        }))
        .unwrap();
        let fs = schemas.create(&PostParams::default(), &fs).await.unwrap();
        let dangling = |want: &'static str| {
            let schemas = schemas.clone();
            async move {
                for _ in 0..100 {
                    let o = schemas.get("e2e-testing-flowschema").await.unwrap();
                    let status = o.data["status"]["conditions"].as_array().and_then(|cs| {
                        cs.iter()
                            .find(|c| c["type"] == "Dangling")
                            .map(|c| (c["status"].clone(), c["reason"].clone()))
                    });
                    if status.as_ref().is_some_and(|(s, _)| *s == want) {
                        return status.unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                panic!("Dangling never became {want}");
            }
        };
        assert_eq!(dangling("True").await.1, "NotFound");
        let pl: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "e2e-testing-prioritylevel"},
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 1, "limitResponse": {"type": "Reject"}}},
        }))
        .unwrap();
        let pl = levels.create(&PostParams::default(), &pl).await.unwrap();
        assert_eq!(dangling("False").await.1, "Found");

        let (fs_uid, pl_uid) = classified_as(&client, "noxu", "/version").await;
        assert_eq!(fs_uid, fs.metadata.uid.clone().unwrap());
        assert_eq!(pl_uid, pl.metadata.uid.clone().unwrap());
        // Someone else lands elsewhere, but still somewhere.
        let (fs_uid, pl_uid) = classified_as(&client, "foo", "/version").await;
        assert!(!fs_uid.is_empty() && !pl_uid.is_empty());
        assert_ne!(fs_uid, fs.metadata.uid.clone().unwrap());
        let global = schemas.get("global-default").await.unwrap();
        assert_eq!(fs_uid, global.metadata.uid.unwrap());
        // The admin itself is exempt (system:masters).
        let exempt_fs = schemas.get("exempt").await.unwrap();
        let req = http::Request::get("/version")
            .body(kube::client::Body::empty())
            .unwrap();
        let resp = client.send(req).await.unwrap();
        assert_eq!(
            resp.headers()["X-Kubernetes-PF-FlowSchema-UID"],
            exempt_fs.metadata.uid.unwrap().as_str()
        );

        // A deleted mandatory object is restored: delete and wait for it.
        levels
            .delete("catch-all", &DeleteParams::default())
            .await
            .unwrap();
        let mut back = false;
        for _ in 0..40 {
            if levels.get_opt("catch-all").await.unwrap().is_some() {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(back, "catch-all was not restored");
    })
}

// ---- ValidatingAdmissionPolicy (upstream validatingadmissionpolicy.go) ----

/// Creates the policy (with `extra` validations/variables) bound to the
/// namespaces labelled `unique=true`, then waits until a one-replica
/// Deployment is denied (the marker), as upstream does.
async fn vap_denies_single_replica(c: &TestCluster, name: &str, extra: Value) {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::Namespace;
    let client = c.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {name: "true"}}}))
            .unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let selector = json!({"namespaceSelector": {"matchLabels": {name: "true"}}});
    let mut spec = json!({
        "matchConstraints": {
            "namespaceSelector": selector["namespaceSelector"],
            "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                               "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}],
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(
        json!({"metadata": {"name": format!("{name}.policy.example.com")}, "spec": spec}),
    )
    .unwrap();
    Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}.binding.example.com")},
        "spec": {"policyName": format!("{name}.policy.example.com"), "validationActions": ["Deny"],
                 "matchResources": selector},
    }))
    .unwrap();
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let deployment = |n: &str, replicas: i32| -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": n},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": n}},
                     "template": {"metadata": {"labels": {"app": n}},
                                  "spec": {"containers": [{"name": "c", "image": "pause"}]}}},
        }))
        .unwrap()
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), name);
    let mut denied = false;
    for _ in 0..100 {
        match deployments
            .create(&PostParams::default(), &deployment("marker", 1))
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 422 && s.reason == "Invalid" => {
                denied = true;
                break;
            }
            Err(e) => panic!("unexpected {e:?}"),
            Ok(_) => {
                deployments
                    .delete("marker", &DeleteParams::default())
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(denied, "the marker Deployment was never denied");
    deployments
        .create(&PostParams::default(), &deployment("replicated", 3))
        .await
        .unwrap();
    // ReplicaSets are not matched.
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "non-replicated"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                 "template": {"metadata": {"labels": {"app": "x"}},
                              "spec": {"containers": [{"name": "c", "image": "pause"}]}}},
    }))
    .unwrap();
    Api::<ReplicaSet>::namespaced(client.clone(), name)
        .create(&PostParams::default(), &rs)
        .await
        .unwrap();
    // Other namespaces are not matched.
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment("elsewhere", 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn validating_admission_policy_against_a_deployment() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        // The message expression adds an int to a string: it fails to
        // evaluate, and the denial still stands as 422 Invalid.
        vap_denies_single_replica(
            &c,
            "vap-deployment",
            json!({"validations": [
                {"expression": "object.spec.replicas > 1",
                 "messageExpression": "'wants replicas > 1, got ' + object.spec.replicas"},
                {"expression": "namespaceObject.metadata.name == 'vap-deployment'",
                 "message": "Internal error! Other namespace should not be allowed."},
            ]}),
        )
        .await;
    })
}

#[tokio::test]
async fn validating_admission_policy_variables() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        vap_denies_single_replica(
            &c,
            "vap-variables",
            json!({
                "variables": [
                    {"name": "replicas", "expression": "object.spec.replicas"},
                    {"name": "oddReplicas", "expression": "variables.replicas % 2 == 1"},
                ],
                "validations": [
                    {"expression": "variables.replicas > 1"},
                    {"expression": "variables.oddReplicas"},
                ],
            }),
        )
        .await;
    })
}

#[tokio::test]
async fn validating_admission_policy_api_operations() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        api_operations(
            &c,
            Kind {
                group: "admissionregistration.k8s.io",
                kind: "ValidatingAdmissionPolicy",
                plural: "validatingadmissionpolicies",
                status: true,
            },
            json!({
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]},
                "validations": [{"expression": "object.spec.replicas <= 100"}],
            }),
            json!({"failurePolicy": "Ignore"}),
            |spec| spec["failurePolicy"] = json!("Fail"),
            |spec| spec["failurePolicy"].clone(),
        )
        .await;
    })
}

#[tokio::test]
async fn validating_admission_policy_binding_api_operations() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        api_operations(
            &c,
            Kind {
                group: "admissionregistration.k8s.io",
                kind: "ValidatingAdmissionPolicyBinding",
                plural: "validatingadmissionpolicybindings",
                status: false,
            },
            json!({"policyName": "replicalimit-policy.example.com", "validationActions": ["Deny"]}),
            json!({"validationActions": ["Warn"]}),
            |spec| spec["validationActions"] = json!(["Deny"]),
            |spec| spec["validationActions"].clone(),
        )
        .await;
    })
}
