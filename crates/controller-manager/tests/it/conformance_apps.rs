//! sig-apps conformance entries whose steps no other test here follows,
//! replayed against the controllers (the test plays the kubelet by
//! patching pod status): the Job pod failure policy ignoring evicted pods
//! (DisruptionTarget), the ControllerRevision lifecycle of a DaemonSet,
//! DaemonSet revival of failed pods and a rollback that restarts nothing
//! needlessly, and a PodDisruptionBudget blocking an eviction until it is
//! updated or deleted.

use std::collections::BTreeSet;
use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, ReplicationController, ResourceQuota};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::fake_kubelet::{image, is_ready, set_pod_status, spawn_ready_loop};
use crate::job::{finish_pod, job, job_pods, wait_active, wait_condition};
use crate::support::{
    events_for, live_pods, object, start_manager, wait_for, wait_for_default_service_account,
};

const NS: &str = "default";

/// A kubelet that starts every pod except those of `bad_image` (an image
/// that cannot be pulled stays not ready).
fn spawn_ready_loop_except(
    client: Client,
    bad_image: &str,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let bad_image = bad_image.to_string();
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client.clone(), NS);
        loop {
            let pods = api.list(&ListParams::default()).await.map(|l| l.items);
            for pod in pods.unwrap_or_default().iter().filter(|p| {
                !is_ready(p) && p.metadata.deletion_timestamp.is_none() && image(p) != bad_image
            }) {
                set_pod_status(&client, pod, true, 0).await;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                () = stop.cancelled() => return,
            }
        }
    })
}

/// Reports a terminating pod as failed the way a kubelet does after it
/// killed the containers: phase Failed, the conditions kept (so the
/// apiserver's DisruptionTarget survives), the container terminated.
async fn kill_pod(client: &Client, pod: &Pod) {
    let now = Timestamp::from_second(Timestamp::now().as_second())
        .unwrap()
        .to_string();
    let mut conditions: Vec<serde_json::Value> = pod
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .filter(|c| c.type_ != "Ready" && c.type_ != "ContainersReady")
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    for t in ["Ready", "ContainersReady"] {
        conditions.push(json!({"type": t, "status": "False", "lastTransitionTime": now}));
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    api.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "phase": "Failed",
            "conditions": conditions,
            "containerStatuses": [{
                "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 137, "reason": "Error",
                    "startedAt": now, "finishedAt": now}}
            }]
        }})),
    )
    .await
    .unwrap();
}

/// Upstream "should allow to use a pod failure policy to ignore failure
/// matching on DisruptionTarget condition": every pod of an Indexed Job
/// is evicted once; the eviction marks them DisruptionTarget, so their
/// failures are ignored (backoffLimit would be exceeded otherwise) and
/// the Job completes.
#[tokio::test]
async fn job_ignores_failures_of_evicted_pods() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let api: Api<Job> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &job(
                "evicted",
                json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
                    "backoffLimit": 2,
                    "podFailurePolicy": {"rules": [{"action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}}),
            ),
        )
        .await
        .unwrap();
        let pods = wait_active(&client, NS, "evicted", 3).await;
        for pod in &pods {
            set_pod_status(&client, pod, true, 0).await;
        }
        wait_for("status.ready 3", Duration::from_secs(30), || async {
            let j = api.get("evicted").await.unwrap();
            (j.status?.ready == Some(3)).then_some(())
        })
        .await;

        let pod_api: Api<Pod> = Api::namespaced(client.clone(), NS);
        for pod in &pods {
            pod_api
                .evict(&pod.name_any(), &EvictParams::default())
                .await
                .unwrap();
            // The tracking finalizer keeps it: the eviction's mark is there.
            let evicted = pod_api.get(&pod.name_any()).await.unwrap();
            assert!(evicted.metadata.deletion_timestamp.is_some());
            let c = evicted
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionTarget"))
                .cloned()
                .unwrap_or_else(|| panic!("no DisruptionTarget: {:?}", evicted.status));
            assert_eq!(
                (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
                (
                    "True",
                    Some("EvictionByEvictionAPI"),
                    Some("Eviction API: evicting")
                )
            );
            kill_pod(&client, &evicted).await;
            wait_for(
                &format!("{} gone", pod.name_any()),
                Duration::from_secs(30),
                || async {
                    pod_api
                        .get_opt(&pod.name_any())
                        .await
                        .unwrap()
                        .is_none()
                        .then_some(())
                },
            )
            .await;
        }

        // Each index gets a new pod; they succeed.
        let replacements = wait_active(&client, NS, "evicted", 3).await;
        let old: BTreeSet<String> = pods.iter().map(|p| p.name_any()).collect();
        assert!(replacements.iter().all(|p| !old.contains(&p.name_any())));
        for pod in &replacements {
            finish_pod(&client, pod, "Succeeded", 0).await;
        }
        let done = wait_condition(&api, "evicted", "Complete").await;
        let c = done
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Complete"))
            .unwrap();
        assert_eq!(c.reason.as_deref(), Some("CompletionsReached"));
        let s = done.status.unwrap();
        assert_eq!((s.succeeded, s.failed.unwrap_or(0)), (Some(3), 0));
        assert_eq!(s.completed_indexes.as_deref(), Some("0-2"));
        assert_eq!(job_pods(&client, NS, "evicted").await.len(), 3);
        manager.shutdown().await.unwrap();
    });
}

async fn create_nodes(client: &Client, names: &[&str]) {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in names {
        let node: Node = object(json!({"metadata": {"name": name}}));
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
}

fn daemon_set(name: &str, label: (&str, &str), image: &str) -> DaemonSet {
    let labels = json!({label.0: label.1});
    object(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
}

async fn revision_count(client: &Client, selector: &str) -> usize {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), NS);
    api.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .len()
}

async fn wait_revision_count(client: &Client, selector: &str, n: usize) {
    wait_for(
        &format!("{n} revisions {selector}"),
        Duration::from_secs(30),
        || async { (revision_count(client, selector).await == n).then_some(()) },
    )
    .await;
}

/// Upstream "should manage the lifecycle of a ControllerRevision": the
/// DaemonSet's revision is listed, patched, joined by a hand-made one
/// holding the same data (which the controller then takes as current
/// instead of recreating the deleted original), updated, and superseded
/// by the controller's revision 3 when the template changes.
#[tokio::test]
async fn controller_revision_lifecycle_of_a_daemon_set() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        create_nodes(&client, &["n1", "n2"]).await;
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let name = "e2e-crlc-daemon-set";
        let selector = format!("daemonset-name={name}");
        let api: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &daemon_set(name, ("daemonset-name", name), "agnhost"),
        )
        .await
        .unwrap();
        wait_for("daemon pods ready", Duration::from_secs(60), || async {
            let s = api.get(name).await.unwrap().status?;
            (s.desired_number_scheduled == 2 && s.number_ready == 2).then_some(())
        })
        .await;
        let all_sets: Api<DaemonSet> = Api::all(client.clone());
        let listed = all_sets
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        let ds = api.get(name).await.unwrap();

        let all_revisions: Api<ControllerRevision> = Api::all(client.clone());
        let revs = all_revisions
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items;
        assert_eq!(revs.len(), 1, "{revs:?}");
        let initial = revs[0].clone();
        let owner = &initial.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), &owner.uid),
            ("DaemonSet", ds.uid().as_ref().unwrap())
        );
        let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), NS);
        let initial_name = initial.name_any();
        let patched = revisions
            .patch(
                &initial_name,
                &PatchParams::default(),
                &Patch::Strategic(
                    json!({"metadata": {"labels": {initial_name.clone(): "patched"}}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(patched.labels()[&initial_name], "patched");

        // A revision made by hand: the DaemonSet's, with the same data.
        let mut labels = ds
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .clone()
            .unwrap();
        labels.insert("controller-revision-hash".into(), "5d4c8f9b7".into());
        let handmade: ControllerRevision = object(json!({
            "metadata": {"name": format!("{name}-5d4c8f9b7"), "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name,
                    "uid": ds.uid().unwrap(), "controller": true, "blockOwnerDeletion": true}]},
            "data": initial.data.as_ref().unwrap().0.clone(),
            "revision": initial.revision + 1,
        }));
        revisions
            .create(&PostParams::default(), &handmade)
            .await
            .unwrap();
        wait_revision_count(&client, &selector, 2).await;

        revisions
            .delete(&initial_name, &DeleteParams::default())
            .await
            .unwrap();
        wait_revision_count(&client, &selector, 1).await;
        // The hand-made one matches the template: nothing is recreated.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(revision_count(&client, &selector).await, 1);
        let current = revisions.list(&ListParams::default()).await.unwrap().items[0].clone();
        assert_eq!(current.name_any(), format!("{name}-5d4c8f9b7"));
        let mut updated = revisions.get(&current.name_any()).await.unwrap();
        updated
            .labels_mut()
            .insert(current.name_any(), "updated".into());
        let updated = revisions
            .replace(&current.name_any(), &PostParams::default(), &updated)
            .await
            .unwrap();
        assert_eq!(updated.labels()[&current.name_any()], "updated");

        // A template change: the controller adds revision 3.
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Strategic(
                json!({"spec": {"template": {"spec": {"terminationGracePeriodSeconds": 1}}}}),
            ),
        )
        .await
        .unwrap();
        wait_revision_count(&client, &selector, 2).await;
        revisions
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&format!("{}=updated", current.name_any())),
            )
            .await
            .unwrap();
        wait_revision_count(&client, &selector, 1).await;
        let left = revisions.list(&ListParams::default()).await.unwrap().items;
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].revision, 3);
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Upstream DaemonSet-Creation and DaemonSet-FailedPodCreation: a deleted
/// daemon pod is replaced, and a pod reported Failed is killed (event
/// `FailedDaemonPod`) and revived.
#[tokio::test]
async fn daemon_pods_deleted_or_failed_are_revived() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        create_nodes(&client, &["n1", "n2"]).await;
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let api: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &daemon_set("daemon-set", ("daemonset-name", "daemon-set"), "httpd"),
        )
        .await
        .unwrap();
        let selector = "daemonset-name=daemon-set";
        let running = || async {
            let pods = live_pods(&client, NS, selector).await;
            let ready: Vec<Pod> = pods.into_iter().filter(is_ready).collect();
            (ready.len() == 2).then_some(ready)
        };
        let pods = wait_for("a ready pod on each node", Duration::from_secs(60), running).await;
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), NS);
        pod_api
            .delete(&pods[0].name_any(), &DeleteParams::default())
            .await
            .unwrap();
        let pods = wait_for(
            "the deleted pod replaced",
            Duration::from_secs(60),
            || async {
                let ready = running().await?;
                ready
                    .iter()
                    .all(|p| p.name_any() != pods[0].name_any())
                    .then_some(ready)
            },
        )
        .await;

        let failed = pods[1].clone();
        pod_api
            .patch_status(
                &failed.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Failed"}})),
            )
            .await
            .unwrap();
        wait_for(
            "the failed pod revived",
            Duration::from_secs(60),
            || async {
                let ready = running().await?;
                ready
                    .iter()
                    .all(|p| p.name_any() != failed.name_any())
                    .then_some(())
            },
        )
        .await;
        let events = events_for(&client, NS, "daemon-set").await;
        assert!(
            events.iter().any(|(r, m, _)| r == "FailedDaemonPod"
                && m.starts_with(&format!(
                    "Found failed daemon pod {NS}/{} on node",
                    failed.name_any()
                ))),
            "{events:?}"
        );
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Upstream DaemonSet-Rollback: an update to an image that never starts
/// is rolled back mid-way; the pods that never left the old template are
/// not restarted.
#[tokio::test]
async fn daemon_set_rollback_restarts_no_pod_needlessly() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        create_nodes(&client, &["n1", "n2", "n3"]).await;
        let kubelet = CancellationToken::new();
        let ready_loop =
            spawn_ready_loop_except(client.clone(), "foo:non-existent", kubelet.clone());
        let api: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
        let mut ds = daemon_set("rb", ("daemonset-name", "rb"), "httpd:2.4");
        ds.spec.as_mut().unwrap().update_strategy = Some(object(json!({"type": "RollingUpdate"})));
        api.create(&PostParams::default(), &ds).await.unwrap();
        let selector = "daemonset-name=rb";
        wait_for("3 ready pods", Duration::from_secs(60), || async {
            let pods = live_pods(&client, NS, selector).await;
            (pods.iter().filter(|p| is_ready(p)).count() == 3).then_some(())
        })
        .await;

        let set_image = |image: &'static str| {
            let api = api.clone();
            async move {
                api.patch(
                    "rb",
                    &PatchParams::default(),
                    &Patch::Strategic(json!({"spec": {"template": {"spec": {
                        "containers": [{"name": "c", "image": image}]}}}})),
                )
                .await
                .unwrap();
            }
        };
        set_image("foo:non-existent").await;
        // maxUnavailable 1: one pod goes to the new image and never starts.
        let old_pods = wait_for(
            "one pod on the bad image",
            Duration::from_secs(60),
            || async {
                let pods = live_pods(&client, NS, selector).await;
                let bad = pods
                    .iter()
                    .filter(|p| image(p) == "foo:non-existent")
                    .count();
                let old: Vec<String> = pods
                    .iter()
                    .filter(|p| image(p) == "httpd:2.4")
                    .map(|p| p.name_any())
                    .collect();
                (bad == 1 && old.len() == 2).then_some(old)
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            live_pods(&client, NS, selector)
                .await
                .iter()
                .filter(|p| image(p) == "foo:non-existent")
                .count(),
            1,
            "the rollout must wait for the unavailable pod"
        );

        set_image("httpd:2.4").await;
        let pods = wait_for(
            "3 ready pods on the old image",
            Duration::from_secs(60),
            || async {
                let pods = live_pods(&client, NS, selector).await;
                (pods.len() == 3 && pods.iter().all(|p| is_ready(p) && image(p) == "httpd:2.4"))
                    .then_some(pods)
            },
        )
        .await;
        let names: BTreeSet<String> = pods.iter().map(|p| p.name_any()).collect();
        for old in &old_pods {
            assert!(names.contains(old), "{old} was restarted: {names:?}");
        }
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Upstream "should block an eviction until the PDB is updated to allow
/// it": minAvailable 3 of 3 refuses (429, cause DisruptionBudget); 2
/// allows one; maxUnavailable 0 refuses again; no budget allows.
#[tokio::test]
async fn budget_blocks_eviction_until_updated() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
        let processed = || async {
            wait_for("the budget processed", Duration::from_secs(30), || async {
                let pdb = pdbs.get("foo").await.unwrap();
                (pdb.status.as_ref()?.observed_generation >= pdb.metadata.generation).then_some(pdb)
            })
            .await
        };
        pdbs.create(
            &PostParams::default(),
            &object(
                json!({"metadata": {"name": "foo", "labels": {"foo": "bar"}},
                "spec": {"minAvailable": 3, "selector": {"matchLabels": {"foo": "bar"}}}}),
            ),
        )
        .await
        .unwrap();
        processed().await;
        let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
        sets.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "rs"},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"foo": "bar"}},
                    "template": {"metadata": {"labels": {"foo": "bar"}},
                        "spec": {"containers": [{"name": "donothing", "image": "pause"}]}}}})),
        )
        .await
        .unwrap();
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let ready_pods = || async {
            wait_for("3 ready pods", Duration::from_secs(60), || async {
                let pods = live_pods(&client, NS, "foo=bar").await;
                let ready: Vec<Pod> = pods.into_iter().filter(is_ready).collect();
                (ready.len() == 3).then_some(ready)
            })
            .await
        };
        let refused = |pod: String| {
            let cluster = &cluster;
            async move {
                // kube-rs retries 429s by itself; the raw answer shows it.
                let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": pod, "namespace": NS}})
                .to_string();
                let path = format!("/api/v1/namespaces/{NS}/pods/{pod}/eviction");
                let out = cluster
                    .kubectl_stdin(&["create", "--raw", &path, "-f", "-", "-v=6"], Some(&body))
                    .await
                    .unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr).to_string();
                assert!(!out.status.success(), "{pod} was evicted");
                assert!(stderr.contains("429"), "{stderr}");
                assert!(
                    stderr.contains(
                        "Cannot evict pod as it would violate the pod's disruption budget"
                    ),
                    "{stderr}"
                );
            }
        };
        let pod = ready_pods().await[0].name_any();
        refused(pod.clone()).await;

        pdbs.patch(
            "foo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 2}})),
        )
        .await
        .unwrap();
        processed().await;
        ready_pods().await;
        wait_for("2 of 3 healthy wanted", Duration::from_secs(30), || async {
            let s = pdbs.get("foo").await.unwrap().status?;
            (s.current_healthy == 3 && s.desired_healthy == 2).then_some(())
        })
        .await;
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), NS);
        pod_api.evict(&pod, &EvictParams::default()).await.unwrap();

        pdbs.patch(
            "foo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": null, "maxUnavailable": 0}})),
        )
        .await
        .unwrap();
        processed().await;
        let pod = ready_pods().await[0].name_any();
        refused(pod.clone()).await;

        pdbs.delete("foo", &DeleteParams::default()).await.unwrap();
        wait_for("the budget gone", Duration::from_secs(30), || async {
            pdbs.get_opt("foo").await.unwrap().is_none().then_some(())
        })
        .await;
        ready_pods().await;
        pod_api.evict(&pod, &EvictParams::default()).await.unwrap();
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Pod names the kubelet reports unready (a failing readiness probe).
type Broken = std::sync::Arc<std::sync::Mutex<BTreeSet<String>>>;

/// A kubelet whose readiness probe fails for the pods named in `broken`.
fn spawn_probe_loop(client: Client, broken: Broken, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client.clone(), NS);
        loop {
            let pods = api.list(&ListParams::default()).await.map(|l| l.items);
            for pod in pods.unwrap_or_default() {
                let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
                if pod.metadata.deletion_timestamp.is_some()
                    || matches!(phase.as_deref(), Some("Failed" | "Succeeded"))
                {
                    continue;
                }
                let want = !broken.lock().unwrap().contains(&pod.name_any());
                if is_ready(&pod) != want || phase.as_deref() != Some("Running") {
                    set_pod_status(&client, &pod, want, 0).await;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(150)) => {}
                () = stop.cancelled() => return,
            }
        }
    })
}

fn plain_stateful_set(name: &str, replicas: i32, extra: serde_json::Value) -> StatefulSet {
    let mut spec = json!({
        "replicas": replicas,
        "serviceName": "test",
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "httpd:v1"}]}
        }
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    object(json!({"metadata": {"name": name}, "spec": spec}))
}

/// `(name, ready, deleting)` of the set's pods, sorted by name.
async fn sts_pods(client: &Client, app: &str) -> Vec<(String, bool, bool)> {
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mut pods: Vec<(String, bool, bool)> = api
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| {
            (
                p.name_any(),
                is_ready(p),
                p.metadata.deletion_timestamp.is_some(),
            )
        })
        .collect();
    pods.sort();
    pods
}

async fn scale_sts(api: &Api<StatefulSet>, name: &str, replicas: i32) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .unwrap();
}

/// Polls the set's pods until `done` holds, checking `invariant` on every
/// view seen on the way (the order pods come and go in).
async fn watch_sts_pods(
    client: &Client,
    app: &str,
    what: &str,
    invariant: impl Fn(&[(String, bool, bool)]) -> bool,
    done: impl Fn(&[(String, bool, bool)]) -> bool,
) {
    wait_for(what, Duration::from_secs(60), || async {
        let pods = sts_pods(client, app).await;
        assert!(invariant(&pods), "{what}: out of order: {pods:?}");
        done(&pods).then_some(())
    })
    .await;
}

/// Upstream "Scaling should happen in predictable order and halt if any
/// stateful pod is unhealthy": scale-up stops behind an unready pod and
/// then goes one ready pod at a time in ascending order; scale-down
/// stops while pods are unready and then goes in descending order.
#[tokio::test]
async fn stateful_set_scaling_is_ordered_and_halts_on_unhealthy_pods() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let broken: Broken = Default::default();
        let kubelet = CancellationToken::new();
        let probe = spawn_probe_loop(client.clone(), broken.clone(), kubelet.clone());
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &plain_stateful_set("ss", 1, json!({})),
        )
        .await
        .unwrap();
        let all_ready = |n: usize| {
            move |pods: &[(String, bool, bool)]| pods.len() == n && pods.iter().all(|p| p.1 && !p.2)
        };
        watch_sts_pods(&client, "ss", "ss-0 ready", |_| true, all_ready(1)).await;

        broken.lock().unwrap().insert("ss-0".into());
        watch_sts_pods(
            &client,
            "ss",
            "ss-0 unready",
            |_| true,
            |p| p.len() == 1 && !p[0].1,
        )
        .await;
        scale_sts(&api, "ss", 3).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            sts_pods(&client, "ss").await,
            [("ss-0".to_string(), false, false)],
            "scaling up must halt behind the unhealthy ss-0"
        );
        broken.lock().unwrap().clear();
        // A pod is created only once every lower ordinal is ready.
        let ascending = |pods: &[(String, bool, bool)]| {
            pods.iter()
                .enumerate()
                .all(|(i, p)| p.0 == format!("ss-{i}") && (i + 1 == pods.len() || p.1))
        };
        watch_sts_pods(&client, "ss", "3 ready pods", ascending, all_ready(3)).await;

        broken
            .lock()
            .unwrap()
            .extend(["ss-0", "ss-1", "ss-2"].map(String::from));
        watch_sts_pods(
            &client,
            "ss",
            "3 unready pods",
            |_| true,
            |p| p.len() == 3 && p.iter().all(|p| !p.1),
        )
        .await;
        scale_sts(&api, "ss", 0).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pods = sts_pods(&client, "ss").await;
        assert!(
            pods.len() == 3 && pods.iter().all(|p| !p.2),
            "scaling down must halt while pods are unhealthy: {pods:?}"
        );
        broken.lock().unwrap().clear();
        // Highest ordinal first: what is left is always ss-0..ss-k.
        let descending = |pods: &[(String, bool, bool)]| {
            pods.iter()
                .enumerate()
                .all(|(i, p)| p.0 == format!("ss-{i}"))
        };
        watch_sts_pods(&client, "ss", "no pod left", descending, |p| p.is_empty()).await;
        kubelet.cancel();
        probe.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Upstream "Burst scaling should run to completion even with unhealthy
/// pods": Parallel management scales up and down past unready pods.
#[tokio::test]
async fn stateful_set_burst_scaling_ignores_unhealthy_pods() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let broken: Broken = Default::default();
        let kubelet = CancellationToken::new();
        let probe = spawn_probe_loop(client.clone(), broken.clone(), kubelet.clone());
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &plain_stateful_set("burst", 1, json!({"podManagementPolicy": "Parallel"})),
        )
        .await
        .unwrap();
        watch_sts_pods(
            &client,
            "burst",
            "burst-0 ready",
            |_| true,
            |p| p.len() == 1 && p[0].1,
        )
        .await;
        broken.lock().unwrap().insert("burst-0".into());
        watch_sts_pods(
            &client,
            "burst",
            "burst-0 unready",
            |_| true,
            |p| p.len() == 1 && !p[0].1,
        )
        .await;
        scale_sts(&api, "burst", 3).await;
        watch_sts_pods(
            &client,
            "burst",
            "3 pods, burst-0 unready",
            |_| true,
            |p| p.len() == 3 && !p[0].1 && p[1].1 && p[2].1,
        )
        .await;
        broken
            .lock()
            .unwrap()
            .extend(["burst-1", "burst-2"].map(String::from));
        watch_sts_pods(
            &client,
            "burst",
            "3 unready pods",
            |_| true,
            |p| p.len() == 3 && p.iter().all(|p| !p.1),
        )
        .await;
        scale_sts(&api, "burst", 0).await;
        watch_sts_pods(&client, "burst", "no pod left", |_| true, |p| p.is_empty()).await;
        kubelet.cancel();
        probe.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Upstream "Should recreate evicted statefulset": a pod that goes Failed
/// is deleted and made again under the same name.
#[tokio::test]
async fn failed_stateful_pod_is_recreated() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let broken: Broken = Default::default();
        let kubelet = CancellationToken::new();
        let probe = spawn_probe_loop(client.clone(), broken.clone(), kubelet.clone());
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &plain_stateful_set("ev", 1, json!({})),
        )
        .await
        .unwrap();
        watch_sts_pods(
            &client,
            "ev",
            "ev-0 ready",
            |_| true,
            |p| p.len() == 1 && p[0].1,
        )
        .await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let first = pods.get("ev-0").await.unwrap();
        pods.patch_status(
            "ev-0",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Failed", "reason": "Evicted"}})),
        )
        .await
        .unwrap();
        wait_for(
            "ev-0 recreated and ready",
            Duration::from_secs(60),
            || async {
                let pod = pods.get_opt("ev-0").await.unwrap()?;
                (pod.uid() != first.uid() && is_ready(&pod)).then_some(())
            },
        )
        .await;
        kubelet.cancel();
        probe.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// `(pod, image, controller-revision-hash)` of the set's live pods.
async fn sts_revisions(client: &Client, app: &str) -> Vec<(String, String, String)> {
    let mut got: Vec<(String, String, String)> = live_pods(client, NS, &format!("app={app}"))
        .await
        .iter()
        .map(|p| {
            (
                p.name_any(),
                image(p),
                p.labels()
                    .get("controller-revision-hash")
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    got
}

async fn wait_sts_revisions(client: &Client, app: &str, want: &[(&str, &str, &str)]) {
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    wait_for(
        &format!("pods at {want:?}"),
        Duration::from_secs(60),
        || async { (sts_revisions(client, app).await == want).then_some(()) },
    )
    .await;
}

async fn set_sts(api: &Api<StatefulSet>, name: &str, spec: serde_json::Value) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Strategic(json!({ "spec": spec })),
    )
    .await
    .unwrap();
}

/// Upstream "should perform canary updates and phased rolling updates of
/// template modifications": a partition at the replica count updates
/// nothing, lowering it updates from the top, deleted pods come back at
/// their side of the partition, and partition 0 completes the rollout.
#[tokio::test]
async fn partitioned_rolling_update_restores_deleted_pods_at_their_revision() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &plain_stateful_set(
                "canary",
                3,
                json!({"updateStrategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"partition": 3}}}),
            ),
        )
        .await
        .unwrap();
        let status = wait_for("3 ready replicas", Duration::from_secs(60), || async {
            let s = api.get("canary").await.unwrap().status?;
            (s.ready_replicas == Some(3) && s.current_revision.is_some()).then_some(s)
        })
        .await;
        let v1 = status.current_revision.unwrap();
        assert_eq!(status.update_revision.as_deref(), Some(v1.as_str()));

        set_sts(
            &api,
            "canary",
            json!({"template": {"spec": {"containers": [{"name": "c", "image": "httpd:v2"}]}}}),
        )
        .await;
        let v2 = wait_for("a new update revision", Duration::from_secs(30), || async {
            let s = api.get("canary").await.unwrap().status?;
            s.update_revision.filter(|u| *u != v1)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let all_v1 = [
            ("canary-0", "httpd:v1", v1.as_str()),
            ("canary-1", "httpd:v1", v1.as_str()),
            ("canary-2", "httpd:v1", v1.as_str()),
        ];
        wait_sts_revisions(&client, "canary", &all_v1).await;
        let s = api.get("canary").await.unwrap().status.unwrap();
        assert_eq!(s.current_revision.as_deref(), Some(v1.as_str()));

        // Canary: partition 2 updates canary-2 only.
        set_sts(
            &api,
            "canary",
            json!({"updateStrategy": {"rollingUpdate": {"partition": 2}}}),
        )
        .await;
        let canary = [
            ("canary-0", "httpd:v1", v1.as_str()),
            ("canary-1", "httpd:v1", v1.as_str()),
            ("canary-2", "httpd:v2", v2.as_str()),
        ];
        wait_sts_revisions(&client, "canary", &canary).await;

        // Deleted pods come back at the revision of their side.
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let before: Vec<Pod> = live_pods(&client, NS, "app=canary").await;
        for name in ["canary-0", "canary-2"] {
            pods.delete(name, &DeleteParams::default()).await.unwrap();
        }
        wait_for(
            "canary-0 and canary-2 recreated",
            Duration::from_secs(60),
            || async {
                let now = live_pods(&client, NS, "app=canary").await;
                let fresh = ["canary-0", "canary-2"].iter().all(|n| {
                    let uid =
                        |ps: &[Pod]| ps.iter().find(|p| p.name_any() == *n).and_then(|p| p.uid());
                    uid(&now).is_some() && uid(&now) != uid(&before)
                });
                fresh.then_some(())
            },
        )
        .await;
        wait_sts_revisions(&client, "canary", &canary).await;

        // Phased: partition 1, then 0.
        set_sts(
            &api,
            "canary",
            json!({"updateStrategy": {"rollingUpdate": {"partition": 1}}}),
        )
        .await;
        wait_sts_revisions(
            &client,
            "canary",
            &[
                ("canary-0", "httpd:v1", v1.as_str()),
                ("canary-1", "httpd:v2", v2.as_str()),
                ("canary-2", "httpd:v2", v2.as_str()),
            ],
        )
        .await;
        set_sts(
            &api,
            "canary",
            json!({"updateStrategy": {"rollingUpdate": {"partition": 0}}}),
        )
        .await;
        let all_v2 = [
            ("canary-0", "httpd:v2", v2.as_str()),
            ("canary-1", "httpd:v2", v2.as_str()),
            ("canary-2", "httpd:v2", v2.as_str()),
        ];
        wait_sts_revisions(&client, "canary", &all_v2).await;
        wait_for("the rollout complete", Duration::from_secs(60), || async {
            let s = api.get("canary").await.unwrap().status?;
            (s.current_revision.as_deref() == Some(v2.as_str())
                && s.update_revision.as_deref() == Some(v2.as_str())
                && s.updated_replicas == Some(3))
            .then_some(())
        })
        .await;
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Upstream "should perform rolling updates and roll backs of template
/// modifications": the status names the current and update revisions,
/// and going back to the old template reuses the old revision.
#[tokio::test]
async fn stateful_set_roll_back_reuses_the_prior_revision() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &plain_stateful_set("rb", 3, json!({})),
        )
        .await
        .unwrap();
        let settled = |image: &'static str| {
            let api = api.clone();
            let client = client.clone();
            async move {
                let rev = wait_for(
                    &format!("rolled out {image}"),
                    Duration::from_secs(90),
                    || async {
                        let set = api.get("rb").await.unwrap();
                        let s = set.status?;
                        let rev = s.update_revision.clone()?;
                        (s.observed_generation == set.metadata.generation
                            && s.current_revision.as_deref() == Some(rev.as_str())
                            && s.ready_replicas == Some(3)
                            && s.updated_replicas == Some(3))
                        .then_some(rev)
                    },
                )
                .await;
                wait_sts_revisions(
                    &client,
                    "rb",
                    &[
                        ("rb-0", image, &rev),
                        ("rb-1", image, &rev),
                        ("rb-2", image, &rev),
                    ],
                )
                .await;
                rev
            }
        };
        let v1 = settled("httpd:v1").await;
        let image =
            |i: &str| json!({"template": {"spec": {"containers": [{"name": "c", "image": i}]}}});
        set_sts(&api, "rb", image("httpd:v2")).await;
        let v2 = settled("httpd:v2").await;
        assert_ne!(v1, v2);
        set_sts(&api, "rb", image("httpd:v1")).await;
        let back = settled("httpd:v1").await;
        assert_eq!(back, v1, "a roll back reuses the prior revision");
        let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), NS);
        let revs = revisions
            .list(&ListParams::default().labels("app=rb"))
            .await
            .unwrap()
            .items;
        let mut numbers: Vec<(String, i64)> =
            revs.iter().map(|r| (r.name_any(), r.revision)).collect();
        numbers.sort_by_key(|n| n.1);
        assert_eq!(numbers, [(v2.clone(), 2), (v1.clone(), 3)]);
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// Upstream "deployment should support rollover": a Deployment adopts a
/// matching ReplicaSet, gets stuck on an image that never starts, and a
/// new template rolls over both to the final ReplicaSet.
#[tokio::test]
async fn deployment_rolls_over_a_stuck_rollout() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let kubelet = CancellationToken::new();
        let ready_loop =
            spawn_ready_loop_except(client.clone(), "redis-slave:nonexistent", kubelet.clone());
        let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
        let rs_labels = json!({"name": "rollover-pod", "pod": "httpd"});
        sets.create(
            &PostParams::default(),
            &object(
                json!({"metadata": {"name": "test-rollover-controller", "labels": rs_labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": rs_labels},
                    "template": {"metadata": {"labels": rs_labels},
                        "spec": {"containers": [{"name": "httpd", "image": "httpd"}]}}}}),
            ),
        )
        .await
        .unwrap();
        wait_for("the ReplicaSet ready", Duration::from_secs(60), || async {
            let s = sets.get("test-rollover-controller").await.unwrap().status?;
            (s.ready_replicas == Some(1)).then_some(())
        })
        .await;

        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(client.clone(), NS);
        deployments
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "test-rollover-deployment"},
                    "spec": {"replicas": 1, "minReadySeconds": 10,
                        "selector": {"matchLabels": {"name": "rollover-pod"}},
                        "strategy": {"type": "RollingUpdate",
                            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                        "template": {"metadata": {"labels": {"name": "rollover-pod"}},
                            "spec": {"containers": [{"name": "redis-slave",
                                "image": "redis-slave:nonexistent"}]}}}})),
            )
            .await
            .unwrap();
        wait_for("updatedReplicas >= 1", Duration::from_secs(30), || async {
            let d = deployments.get("test-rollover-deployment").await.unwrap();
            (d.status?.updated_replicas.unwrap_or(0) >= 1).then_some(())
        })
        .await;
        let owned = |revision: &'static str| {
            let sets = sets.clone();
            async move {
                wait_for(
                    &format!("the ReplicaSet of revision {revision}"),
                    Duration::from_secs(30),
                    || async {
                        sets.list(&ListParams::default())
                            .await
                            .unwrap()
                            .items
                            .into_iter()
                            .find(|rs| {
                                rs.name_any() != "test-rollover-controller"
                                    && rs
                                        .annotations()
                                        .get("deployment.kubernetes.io/revision")
                                        .map(String::as_str)
                                        == Some(revision)
                            })
                    },
                )
                .await
            }
        };
        let stuck = owned("1").await;
        let replicas = |rs: &ReplicaSet| {
            (
                rs.spec.as_ref().and_then(|s| s.replicas),
                rs.status.as_ref().map(|s| s.replicas),
            )
        };
        let d = deployments.get("test-rollover-deployment").await.unwrap();
        assert_eq!(d.annotations()["deployment.kubernetes.io/revision"], "1");
        let old = sets.get("test-rollover-controller").await.unwrap();
        assert_eq!(
            old.owner_references().first().map(|o| o.name.as_str()),
            Some("test-rollover-deployment"),
            "the matching ReplicaSet is adopted"
        );
        assert_eq!(replicas(&old), (Some(1), Some(1)));
        wait_for(
            "the stuck ReplicaSet at 1",
            Duration::from_secs(30),
            || async {
                let rs = sets.get(&stuck.name_any()).await.unwrap();
                (replicas(&rs) == (Some(1), Some(1))).then_some(())
            },
        )
        .await;

        deployments
            .patch(
                "test-rollover-deployment",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "agnhost", "image": "agnhost"}]}}}})),
            )
            .await
            .unwrap();
        wait_for("the rollout complete", Duration::from_secs(60), || async {
            let d = deployments.get("test-rollover-deployment").await.unwrap();
            let s = d.status.as_ref()?;
            (d.annotations()
                .get("deployment.kubernetes.io/revision")
                .map(String::as_str)
                == Some("2")
                && s.observed_generation == d.metadata.generation
                && s.updated_replicas == Some(1)
                && s.replicas == Some(1)
                && s.available_replicas == Some(1))
            .then_some(())
        })
        .await;
        let last = owned("2").await;
        assert_eq!(
            last.spec
                .as_ref()
                .unwrap()
                .template
                .as_ref()
                .unwrap()
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .as_deref(),
            Some("agnhost")
        );
        for name in ["test-rollover-controller".to_string(), stuck.name_any()] {
            wait_for(
                &format!("{name} scaled to 0"),
                Duration::from_secs(30),
                || async {
                    let rs = sets.get(&name).await.unwrap();
                    (replicas(&rs) == (Some(0), Some(0))).then_some(())
                },
            )
            .await;
        }
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

fn replication_controller(name: &str, replicas: i32) -> ReplicationController {
    object(json!({"metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"name": name},
            "template": {"metadata": {"labels": {"name": name}},
                "spec": {"containers": [{"name": "c", "image": "httpd"}]}}}}))
}

fn controller_uid(pod: &Pod) -> Option<String> {
    pod.owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.clone())
}

/// Upstream's ReplicationController entries "adopt matching pods",
/// "release pods" and "check for issues like exceeding allocated quota":
/// an orphan is adopted, a relabelled pod released, and pods the quota
/// refuses show as the `ReplicaFailure` condition until the
/// controller is scaled within the quota.
#[tokio::test]
async fn replication_controller_adopts_releases_and_reports_quota() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), NS);
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);

        let orphan: Pod = object(json!({"metadata": {"name": "pod-adoption",
            "labels": {"name": "pod-adoption"}},
            "spec": {"containers": [{"name": "c", "image": "httpd"}]}}));
        pods.create(&PostParams::default(), &orphan).await.unwrap();
        let rc = rcs
            .create(
                &PostParams::default(),
                &replication_controller("pod-adoption", 1),
            )
            .await
            .unwrap();
        wait_for("the orphan adopted", Duration::from_secs(30), || async {
            let pod = pods.get("pod-adoption").await.unwrap();
            (controller_uid(&pod) == rc.uid()).then_some(())
        })
        .await;
        assert_eq!(live_pods(&client, NS, "name=pod-adoption").await.len(), 1);

        let rc = rcs
            .create(
                &PostParams::default(),
                &replication_controller("pod-release", 1),
            )
            .await
            .unwrap();
        let pod = wait_for("a pod of pod-release", Duration::from_secs(30), || async {
            live_pods(&client, NS, "name=pod-release")
                .await
                .into_iter()
                .find(|p| controller_uid(p) == rc.uid())
        })
        .await;
        pods.patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"name": "not-matching-name"}}})),
        )
        .await
        .unwrap();
        wait_for("the pod released", Duration::from_secs(30), || async {
            let p = pods.get(&pod.name_any()).await.unwrap();
            controller_uid(&p).is_none().then_some(())
        })
        .await;

        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
        quotas
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "condition-test"},
                    "spec": {"hard": {"pods": "4"}}})),
            )
            .await
            .unwrap();
        // Two pods exist already (the adopted and the released one's
        // replacement, plus the released one): room for one more.
        wait_for(
            "the quota counting pods",
            Duration::from_secs(30),
            || async {
                let q = quotas.get("condition-test").await.unwrap();
                let used = q.status?.used?.get("pods")?.0.clone();
                (used == "3").then_some(())
            },
        )
        .await;
        rcs.create(
            &PostParams::default(),
            &replication_controller("condition-test", 3),
        )
        .await
        .unwrap();
        let failure = |rc: &ReplicationController| {
            rc.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "ReplicaFailure"))
                .cloned()
        };
        let c = wait_for("ReplicaFailure", Duration::from_secs(30), || async {
            failure(&rcs.get("condition-test").await.unwrap())
        })
        .await;
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some("FailedCreate"))
        );
        assert!(
            c.message
                .as_deref()
                .is_some_and(|m| m.contains("exceeded quota: condition-test")),
            "{c:?}"
        );
        rcs.patch(
            "condition-test",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
        wait_for("ReplicaFailure gone", Duration::from_secs(30), || async {
            let rc = rcs.get("condition-test").await.unwrap();
            let observed = rc.status.as_ref()?.observed_generation == rc.metadata.generation;
            (observed && failure(&rc).is_none()).then_some(())
        })
        .await;
        manager.shutdown().await.unwrap();
    });
}
