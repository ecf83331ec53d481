//! disruption-controller: PodDisruptionBudget status from the pods and
//! their controller's scale, and the eviction subresource honouring it.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, EvictParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::fake_kubelet::set_pod_status;
use crate::support::{
    events_for, object, start_manager, wait_for, wait_for_default_service_account, wait_for_pods,
};

const NS: &str = "default";

async fn wait_for_pdb(
    client: &Client,
    what: &str,
    check: impl Fn(&PodDisruptionBudgetStatus) -> bool,
) -> PodDisruptionBudget {
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    wait_for(what, Duration::from_secs(30), || async {
        let pdb = api.get("web").await.unwrap();
        pdb.status.as_ref().filter(|s| check(s))?;
        Some(pdb)
    })
    .await
}

#[tokio::test]
async fn budget_status_and_evictions() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &["--controllers=disruption,replicaset,serviceaccount"],
        )
        .await;
        wait_for_default_service_account(&client, NS).await;
        let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
        sets.create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "web"},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}},
                         "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
            })),
        )
        .await
        .unwrap();
        let pods = wait_for_pods(&client, NS, "app=web", 3).await;
        for pod in &pods {
            set_pod_status(&client, pod, true, 0).await;
        }
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
        pdbs.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "web"},
                           "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})),
        )
        .await
        .unwrap();
        let pdb = wait_for_pdb(&client, "one disruption allowed", |s| {
            s.current_healthy == 3 && s.disruptions_allowed == 1
        })
        .await;
        let status = pdb.status.unwrap();
        assert_eq!((status.expected_pods, status.desired_healthy), (3, 2));
        assert_eq!(status.observed_generation, pdb.metadata.generation);
        let condition = &status.conditions.unwrap()[0];
        assert_eq!(
            (
                condition.type_.as_str(),
                condition.status.as_str(),
                condition.reason.as_str()
            ),
            ("DisruptionAllowed", "True", "SufficientPods")
        );
        let out = cluster
            .kubectl_ok(&["get", "pdb", "web", "-n", NS])
            .await
            .unwrap();
        assert!(out.contains("ALLOWED DISRUPTIONS"), "{out}");

        // One eviction is allowed, the next is refused with 429.
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), NS);
        pod_api
            .evict(&pods[0].name_any(), &EvictParams::default())
            .await
            .unwrap();
        // kube-rs retries 429s by itself; kubectl shows the refusal.
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": pods[1].name_any(), "namespace": NS}})
        .to_string();
        let path = format!(
            "/api/v1/namespaces/{NS}/pods/{}/eviction",
            pods[1].name_any()
        );
        let out = cluster
            .kubectl_stdin(&["create", "--raw", &path, "-f", "-"], Some(&body))
            .await
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("disruption budget"), "{stderr}");
        // The replacement pod is not ready yet: nothing may go.
        wait_for_pdb(&client, "no disruption allowed", |s| {
            s.current_healthy == 2 && s.disruptions_allowed == 0 && s.expected_pods == 3
        })
        .await;

        // maxUnavailable as a percentage uses the ReplicaSet's scale.
        pdbs.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": null, "maxUnavailable": "34%"}})),
        )
        .await
        .unwrap();
        let pdb = wait_for_pdb(&client, "maxUnavailable applied", |s| {
            s.desired_healthy == 1
        })
        .await;
        let status = pdb.status.unwrap();
        assert_eq!((status.expected_pods, status.disruptions_allowed), (3, 1));
        assert_eq!(status.observed_generation, pdb.metadata.generation);

        // A pod without a controller is left out of the percentage (its
        // labels match the budget but not the ReplicaSet, which would
        // otherwise adopt it) and reported, as upstream since 1.22.
        pod_api
            .create(
                &PostParams::default(),
                &object(
                    json!({"metadata": {"name": "stray", "labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
                ),
            )
            .await
            .unwrap();
        let (_, message, source) = wait_for_event(&client, "web", "UnmanagedPods").await;
        assert_eq!(source, "controllermanager");
        assert!(
            message.starts_with(
                "Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:map[string]string{app: web,},"
            ),
            "{message}"
        );
        assert!(
            message.ends_with("field of the PDB to an integer value."),
            "{message}"
        );
        let pdb = pdbs.get("web").await.unwrap();
        let status = pdb.status.unwrap();
        // maxUnavailable 34% of the ReplicaSet's 3, as before the stray.
        assert_eq!((status.expected_pods, status.desired_healthy), (3, 1));
        assert!(
            !status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.reason == "SyncFailed"),
            "{:?}",
            status.conditions
        );

        // A second budget over the same pods: each pod is warned about.
        pdbs.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "web-2"},
                           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"tier": "fe"}}}})),
        )
        .await
        .unwrap();
        // Only a pod event warns (as upstream): the controller must know
        // the second budget before the pod changes, or the change finds one.
        wait_for_named_pdb(&client, "web-2", "web-2 synced", |s| {
            s.observed_generation.is_some()
        })
        .await;
        set_pod_status(&client, &pods[2], true, 0).await;
        let (_, message, _) =
            wait_for_event(&client, &pods[2].name_any(), "MultiplePodDisruptionBudgets").await;
        assert_eq!(
            message,
            format!(
                "Pod \"{NS}\"/\"{}\" matches multiple PodDisruptionBudgets.  Chose \"web\" arbitrarily.",
                pods[2].name_any()
            )
        );
    });
}

/// Waits for an event with `reason` about the object `name` in [`NS`].
async fn wait_for_event(client: &Client, name: &str, reason: &str) -> (String, String, String) {
    wait_for(
        &format!("a {reason} event about {name}"),
        Duration::from_secs(30),
        || async {
            events_for(client, NS, name)
                .await
                .into_iter()
                .find(|(r, _, _)| r == reason)
        },
    )
    .await
}

const SCALED_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: databases.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: databases, singular: database, kind: Database}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

/// A ready pod labelled `app` whose controller is `owner`.
async fn owned_pod(client: &Client, name: &str, app: &str, owner: serde_json::Value) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    let pod = api
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": name, "labels": {"app": app}, "ownerReferences": [owner]},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            })),
        )
        .await
        .unwrap();
    set_pod_status(client, &pod, true, 0).await;
    pod
}

fn controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> serde_json::Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true})
}

#[tokio::test]
async fn scale_subresource_stale_disruptions_and_lapsed_evictions() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(&cluster, &["--controllers=disruption,serviceaccount"]).await;
        wait_for_default_service_account(&client, NS).await;
        corten_e2e::fixtures::install_crd(&cluster, SCALED_CRD, "databases.example.com").await;

        // A custom resource with a scale subresource: its spec.replicas is
        // the expected count.
        let resource = kube::api::ApiResource {
            group: "example.com".into(),
            version: "v1".into(),
            api_version: "example.com/v1".into(),
            kind: "Database".into(),
            plural: "databases".into(),
        };
        let databases: Api<kube::api::DynamicObject> =
            Api::namespaced_with(client.clone(), NS, &resource);
        let db = databases
            .create(
                &PostParams::default(),
                &object(json!({"apiVersion": "example.com/v1", "kind": "Database",
                               "metadata": {"name": "db"}, "spec": {"replicas": 4}})),
            )
            .await
            .unwrap();
        let db_uid = db.uid().unwrap();
        let owner = controller_ref("example.com/v1", "Database", "db", &db_uid);
        let db_pods = [
            owned_pod(&client, "db-0", "db", owner.clone()).await,
            owned_pod(&client, "db-1", "db", owner.clone()).await,
            owned_pod(&client, "db-2", "db", owner).await,
        ];
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
        pdbs.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "db"},
                           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "db"}}}})),
        )
        .await
        .unwrap();
        let pdb = wait_for_named_pdb(&client, "db", "the Database's scale", |s| {
            s.expected_pods == 4 && s.current_healthy == 3
        })
        .await;
        let status = pdb.status.unwrap();
        assert_eq!((status.desired_healthy, status.disruptions_allowed), (3, 0));
        let condition = &status.conditions.unwrap()[0];
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("False", "InsufficientPods")
        );
        // Scaled down to 2: one must stay, the 3 ready pods allow 2.
        databases
            .patch(
                "db",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 2}})),
            )
            .await
            .unwrap();
        // The controller does not watch custom resources: a pod change
        // brings the budget up to date, as upstream.
        set_pod_status(&client, &db_pods[0], true, 1).await;
        wait_for_named_pdb(&client, "db", "the new scale", |s| {
            s.expected_pods == 2 && s.desired_healthy == 1 && s.disruptions_allowed == 2
        })
        .await;

        // A controller kind without a scale subresource fails the sync.
        let owner = controller_ref("v1", "ConfigMap", "settings", "cm-uid");
        owned_pod(&client, "cm-0", "cm", owner).await;
        pdbs.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "cm"},
                           "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "cm"}}}})),
        )
        .await
        .unwrap();
        let pdb = wait_for_named_pdb(&client, "cm", "SyncFailed", |s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| c.reason == "SyncFailed")
        })
        .await;
        let status = pdb.status.unwrap();
        let condition = &status.conditions.unwrap()[0];
        assert_eq!(
            (condition.status.as_str(), condition.message.as_str()),
            (
                "False",
                "configmaps does not implement the scale subresource"
            )
        );
        assert_eq!(status.disruptions_allowed, 0);
        let (_, message, _) =
            wait_for_event(&client, "cm", "CalculateExpectedPodCountFailed").await;
        assert_eq!(
            message,
            "Failed to calculate the number of expected pods: configmaps does not implement the scale subresource"
        );

        // A DisruptionTarget condition on a pod that was not deleted is
        // reset once two minutes have passed since it was set.
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), NS);
        let long_ago = (Timestamp::now() - SignedDuration::from_secs(300)).to_string();
        pod_api
            .patch_status(
                "db-1",
                &PatchParams::default(),
                &Patch::Strategic(json!({"status": {"conditions": [
                    {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                     "message": "Eviction API: evicting", "lastTransitionTime": long_ago}
                ]}})),
            )
            .await
            .unwrap();
        let reset = wait_for(
            "the DisruptionTarget condition reset",
            Duration::from_secs(30),
            || {
                let pod_api = pod_api.clone();
                async move {
                    let pod = pod_api.get("db-1").await.unwrap();
                    pod.status?
                        .conditions?
                        .into_iter()
                        .find(|c| c.type_ == "DisruptionTarget" && c.status == "False")
                }
            },
        )
        .await;
        assert_eq!(reset.reason, None);
        let pod = pod_api.get("db-1").await.unwrap();
        assert!(crate::fake_kubelet::is_ready(&pod), "other conditions kept");

        // An eviction recorded long ago whose pod is still there lapses,
        // with a NotDeleted warning on the pod.
        pdbs.patch_status(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"disruptedPods": {"db-2": long_ago}}})),
        )
        .await
        .unwrap();
        let (_, message, _) = wait_for_event(&client, "db-2", "NotDeleted").await;
        assert_eq!(
            message,
            format!("Pod was expected by PDB {NS}/{NS} to be deleted but it wasn't")
        );
        wait_for_named_pdb(&client, "db", "the lapsed entry dropped", |s| {
            s.disrupted_pods.is_none() && s.current_healthy == 3
        })
        .await;
    });
}

async fn wait_for_named_pdb(
    client: &Client,
    name: &str,
    what: &str,
    check: impl Fn(&PodDisruptionBudgetStatus) -> bool,
) -> PodDisruptionBudget {
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    wait_for(what, Duration::from_secs(30), || async {
        let pdb = api.get(name).await.unwrap();
        pdb.status.as_ref().filter(|s| check(s))?;
        Some(pdb)
    })
    .await
}

/// A pod matching two budgets syncs only the first (by name), as upstream's
/// `getPdbForPod`: the other budget does not see the pod's add, readiness
/// or delete until it is itself synced again.
#[tokio::test]
async fn pod_matching_several_budgets_syncs_only_the_first() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(&cluster, &["--controllers=disruption"]).await;
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
        for name in ["alpha", "beta"] {
            pdbs.create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": name},
                               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "multi"}}}})),
            )
            .await
            .unwrap();
            wait_for_named_pdb(&client, name, "no pods yet", |s| {
                s.observed_generation.is_some() && s.expected_pods == 0
            })
            .await;
        }

        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let pod = pods
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": "multi-0", "labels": {"app": "multi"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                })),
            )
            .await
            .unwrap();
        let (_, message, _) =
            wait_for_event(&client, "multi-0", "MultiplePodDisruptionBudgets").await;
        assert_eq!(
            message,
            format!(
                "Pod \"{NS}\"/\"multi-0\" matches multiple PodDisruptionBudgets.  Chose \"alpha\" arbitrarily."
            )
        );
        wait_for_named_pdb(&client, "alpha", "alpha counts the pod", |s| {
            s.expected_pods == 1 && s.current_healthy == 0
        })
        .await;
        set_pod_status(&client, &pod, true, 0).await;
        wait_for_named_pdb(&client, "alpha", "alpha sees it ready", |s| {
            s.current_healthy == 1 && s.disruptions_allowed == 0
        })
        .await;
        // beta was not synced for the pod's add nor its update.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let beta = pdbs.get("beta").await.unwrap().status.unwrap();
        assert_eq!((beta.expected_pods, beta.current_healthy), (0, 0));

        // Any change of beta syncs it, and it catches up.
        pdbs.patch(
            "beta",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .unwrap();
        wait_for_named_pdb(&client, "beta", "beta catches up", |s| {
            s.expected_pods == 1 && s.current_healthy == 1
        })
        .await;

        // The delete also syncs alpha only.
        pods.delete("multi-0", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        wait_for_named_pdb(&client, "alpha", "alpha drops the pod", |s| {
            s.expected_pods == 0 && s.current_healthy == 0
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let beta = pdbs.get("beta").await.unwrap().status.unwrap();
        assert_eq!((beta.expected_pods, beta.current_healthy), (1, 1));
    });
}
