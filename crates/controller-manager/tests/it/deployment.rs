//! deployment-controller, end to end with kubectl: rolling updates within
//! maxSurge/maxUnavailable at every step (`kubectl rollout status`
//! watching), scaling (also proportionally in the middle of a rollout),
//! progress deadlines, hash collisions, and a controller-manager restart
//! mid-rollout. `kubectl rollout undo|pause|resume|restart|history` are in
//! `deployment_rollout`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::fake_kubelet::{image, is_ready, set_pod_status, spawn_ready_loop};
use crate::support::{
    events_for, live_pods, object, start_manager, wait_for, wait_for_default_service_account,
};

pub(crate) const NS: &str = "default";

pub(crate) fn deployment(
    name: &str,
    replicas: i32,
    image: &str,
    strategy: serde_json::Value,
) -> Deployment {
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
}

pub(crate) async fn replica_sets(client: &Client, app: &str) -> Vec<ReplicaSet> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

pub(crate) fn annotation<'a>(meta: &'a kube::core::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

pub(crate) fn rs_image(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

pub(crate) fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub(crate) fn condition(d: &Deployment, type_: &str) -> Option<DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

pub(crate) async fn rollout_status(cluster: &TestCluster, name: &str) -> String {
    cluster
        .kubectl_ok(&[
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "-n",
            NS,
            "--timeout=90s",
        ])
        .await
        .unwrap()
}

/// Waits until `name`'s pods all run `image`, `replicas` of them, ready.
pub(crate) async fn wait_rolled_out(
    client: &Client,
    name: &str,
    replicas: usize,
    image_name: &str,
) {
    wait_for(
        &format!("{name} on {image_name}"),
        Duration::from_secs(60),
        || async {
            let pods = live_pods(client, NS, &format!("app={name}")).await;
            (pods.len() == replicas && pods.iter().all(|p| image(p) == image_name && is_ready(p)))
                .then_some(())
        },
    )
    .await;
}

/// What the rolling-update test watches: RS sizes and pods.
async fn snapshot(client: &Client, app: &str) -> (BTreeMap<String, i32>, Vec<(String, bool)>) {
    let sizes = replica_sets(client, app)
        .await
        .iter()
        .map(|rs| (rs.name_any(), rs_replicas(rs)))
        .collect();
    let mut pods: Vec<(String, bool)> = live_pods(client, NS, &format!("app={app}"))
        .await
        .iter()
        .map(|p| (p.name_any(), is_ready(p)))
        .collect();
    pods.sort();
    (sizes, pods)
}

/// Waits until nothing changed for a second.
async fn settle(client: &Client, app: &str) -> (BTreeMap<String, i32>, Vec<(String, bool)>) {
    let mut last = snapshot(client, app).await;
    let mut stable_since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = snapshot(client, app).await;
        if now != last {
            last = now;
            stable_since = tokio::time::Instant::now();
        } else if stable_since.elapsed() > Duration::from_millis(1200) {
            return last;
        }
    }
}

#[tokio::test]
async fn rolling_update_honours_surge_and_unavailability() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
        let strategy =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}});
        api.create(
            &PostParams::default(),
            &deployment("web", 4, "nginx:1.26", strategy),
        )
        .await
        .unwrap();
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let out = rollout_status(&cluster, "web").await;
        assert!(
            out.contains("deployment \"web\" successfully rolled out"),
            "{out}"
        );
        kubelet.cancel();
        ready_loop.await.unwrap();

        let first = replica_sets(&client, "web").await;
        assert_eq!(first.len(), 1);
        let rs1 = &first[0];
        let hash = rs1.labels()["pod-template-hash"].clone();
        assert_eq!(rs1.name_any(), format!("web-{hash}"));
        let selector = &rs1.spec.as_ref().unwrap().selector;
        assert_eq!(
            selector.match_labels.as_ref().unwrap()["pod-template-hash"],
            hash
        );
        assert_eq!(
            annotation(&rs1.metadata, "deployment.kubernetes.io/revision"),
            Some("1")
        );
        assert_eq!(
            annotation(&rs1.metadata, "deployment.kubernetes.io/desired-replicas"),
            Some("4")
        );
        assert_eq!(
            annotation(&rs1.metadata, "deployment.kubernetes.io/max-replicas"),
            Some("5")
        );
        let d = wait_for(
            "status of the first rollout",
            Duration::from_secs(30),
            || async {
                let d = api.get("web").await.unwrap();
                let s = d.status.clone()?;
                (s.available_replicas == Some(4)
                    && condition(&d, "Progressing")?.reason.as_deref()
                        == Some("NewReplicaSetAvailable"))
                .then_some(d)
            },
        )
        .await;
        let s = d.status.clone().unwrap();
        assert_eq!(
            (
                s.replicas,
                s.updated_replicas,
                s.ready_replicas,
                s.unavailable_replicas.unwrap_or(0)
            ),
            (Some(4), Some(4), Some(4), 0)
        );
        assert_eq!(s.observed_generation, d.metadata.generation);
        let available = condition(&d, "Available").unwrap();
        assert_eq!(
            (available.status.as_str(), available.reason.as_deref()),
            ("True", Some("MinimumReplicasAvailable"))
        );
        assert_eq!(
            condition(&d, "Progressing").unwrap().message.unwrap(),
            format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
        );
        wait_for(
            "revision 1 on the deployment",
            Duration::from_secs(30),
            || async {
                let d = api.get("web").await.unwrap();
                (annotation(&d.metadata, "deployment.kubernetes.io/revision") == Some("1"))
                    .then_some(())
            },
        )
        .await;
        let events = events_for(&client, NS, "web").await;
        assert!(
            events.iter().any(|(r, m, s)| r == "ScalingReplicaSet"
                && *m == format!("Scaled up replica set web-{hash} from 0 to 4")
                && s == "deployment-controller"),
            "{events:?}"
        );

        // Roll out a new image one ready pod at a time.
        let violations = Arc::new(Mutex::new(Vec::<String>::new()));
        let sampler_stop = CancellationToken::new();
        let sampler = {
            let (client, violations, stop) =
                (client.clone(), violations.clone(), sampler_stop.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let (sizes, pods) = snapshot(&client, "web").await;
                    let total: i32 = sizes.values().sum();
                    let ready = pods.iter().filter(|(_, r)| *r).count();
                    if total > 5 {
                        violations
                            .lock()
                            .unwrap()
                            .push(format!("replica sets sum to {total}: {sizes:?}"));
                    }
                    if ready < 3 {
                        violations
                            .lock()
                            .unwrap()
                            .push(format!("only {ready} ready pods: {pods:?}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        cluster
            .kubectl_ok(&["set", "image", "deployment/web", "c=nginx:1.27", "-n", NS])
            .await
            .unwrap();
        let status_watch = {
            let kubeconfig = cluster.kubeconfig.clone();
            tokio::spawn(async move {
                tokio::process::Command::new(corten_e2e::KUBECTL)
                    .arg(format!("--kubeconfig={}", kubeconfig.display()))
                    .args([
                        "rollout",
                        "status",
                        "deployment/web",
                        "-n",
                        NS,
                        "--timeout=120s",
                    ])
                    .output()
                    .await
                    .unwrap()
            })
        };
        let pods_api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), NS);
        let mut steps = 0;
        loop {
            let (sizes, pods) = settle(&client, "web").await;
            let total = pods.len();
            let ready = pods.iter().filter(|(_, r)| *r).count();
            assert!(total <= 5, "step {steps}: {total} pods: {pods:?} {sizes:?}");
            assert!(
                ready >= 3,
                "step {steps}: {ready} ready: {pods:?} {sizes:?}"
            );
            let live = live_pods(&client, NS, "app=web").await;
            if live.len() == 4 && live.iter().all(|p| image(p) == "nginx:1.27" && is_ready(p)) {
                break;
            }
            let next = live
                .iter()
                .filter(|p| !is_ready(p))
                .min_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
                .unwrap_or_else(|| panic!("step {steps}: stuck with {pods:?} {sizes:?}"));
            set_pod_status(&client, next, true, 0).await;
            steps += 1;
            assert!(steps < 20, "too many steps");
        }
        sampler_stop.cancel();
        sampler.await.unwrap();
        assert!(
            violations.lock().unwrap().is_empty(),
            "{:?}",
            violations.lock().unwrap()
        );
        let out = status_watch.await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("successfully rolled out"), "{stdout}");
        assert!(
            stdout.contains("new replicas have been updated"),
            "{stdout}"
        );

        let all = replica_sets(&client, "web").await;
        assert_eq!(all.len(), 2);
        let new = all.iter().find(|rs| rs_image(rs) == "nginx:1.27").unwrap();
        let old = all.iter().find(|rs| rs_image(rs) == "nginx:1.26").unwrap();
        assert_eq!((rs_replicas(new), rs_replicas(old)), (4, 0));
        assert_eq!(
            annotation(&new.metadata, "deployment.kubernetes.io/revision"),
            Some("2")
        );
        let events = events_for(&client, NS, "web").await;
        assert!(
            events.iter().any(|(r, m, _)| r == "ScalingReplicaSet"
                && *m == format!("Scaled down replica set {} from 4 to 3", old.name_any())),
            "{events:?}"
        );
        assert!(
            pods_api
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len()
                >= 4
        );
        let describe = cluster
            .kubectl_ok(&["describe", "deployment", "web", "-n", NS])
            .await
            .unwrap();
        assert!(
            describe.contains(&format!(
                "NewReplicaSet:   {} (4/4 replicas created)",
                new.name_any()
            )),
            "{describe}"
        );
        assert!(describe.contains("ScalingReplicaSet"), "{describe}");
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn scaling_and_progress_deadline() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
        let mut slow = deployment("slow", 2, "slow:v1", json!({"type": "RollingUpdate"}));
        slow.spec.as_mut().unwrap().progress_deadline_seconds = Some(3);
        api.create(&PostParams::default(), &slow).await.unwrap();
        // No pod ever becomes ready.
        let d = wait_for(
            "ProgressDeadlineExceeded",
            Duration::from_secs(60),
            || async {
                let d = api.get("slow").await.unwrap();
                let c = condition(&d, "Progressing")?;
                (c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some(d)
            },
        )
        .await;
        let progressing = condition(&d, "Progressing").unwrap();
        assert_eq!(progressing.status, "False");
        let rs = replica_sets(&client, "slow").await.remove(0);
        assert_eq!(
            progressing.message.unwrap(),
            format!(
                "ReplicaSet \"{}\" has timed out progressing.",
                rs.name_any()
            )
        );
        let available = condition(&d, "Available").unwrap();
        assert_eq!(
            (available.status.as_str(), available.reason.as_deref()),
            ("False", Some("MinimumReplicasUnavailable"))
        );
        assert_eq!(d.status.as_ref().unwrap().unavailable_replicas, Some(2));
        let out = cluster
            .kubectl(&[
                "rollout",
                "status",
                "deployment/slow",
                "-n",
                NS,
                "--timeout=20s",
            ])
            .await
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("exceeded its progress deadline"),
            "{stderr}"
        );

        // Scaling is a scaling event: the ReplicaSet follows with its
        // annotations.
        cluster
            .kubectl_ok(&["scale", "deployment", "slow", "--replicas=5", "-n", NS])
            .await
            .unwrap();
        let scaled = wait_for("the ReplicaSet at 5", Duration::from_secs(30), || async {
            let rs = replica_sets(&client, "slow").await.remove(0);
            (rs_replicas(&rs) == 5
                && annotation(&rs.metadata, "deployment.kubernetes.io/desired-replicas")
                    == Some("5"))
            .then_some(rs)
        })
        .await;
        assert_eq!(
            annotation(&scaled.metadata, "deployment.kubernetes.io/max-replicas"),
            Some("7")
        );
        let events = events_for(&client, NS, "slow").await;
        assert!(
            events.iter().any(|(r, m, _)| r == "ScalingReplicaSet"
                && *m == format!("Scaled up replica set {} from 2 to 5", scaled.name_any())),
            "{events:?}"
        );

        // A rollout that cannot progress stops at old 4 + new 3 (7 =
        // 5 + surge 2; 4 = 5 - unavailable 1; no pod is available)...
        cluster
            .kubectl_ok(&["set", "image", "deployment/slow", "c=slow:v2", "-n", NS])
            .await
            .unwrap();
        let sizes = |rss: &[ReplicaSet]| -> (i32, i32) {
            let of = |image: &str| {
                rss.iter()
                    .find(|rs| rs_image(rs) == image)
                    .map_or(-1, rs_replicas)
            };
            (of("slow:v1"), of("slow:v2"))
        };
        let (old, new) = wait_for("old 4, new 3", Duration::from_secs(30), || async {
            let rss = replica_sets(&client, "slow").await;
            (sizes(&rss) == (4, 3)).then(|| {
                let old = rss
                    .iter()
                    .find(|rs| rs_image(rs) == "slow:v1")
                    .cloned()
                    .unwrap();
                let new = rss
                    .iter()
                    .find(|rs| rs_image(rs) == "slow:v2")
                    .cloned()
                    .unwrap();
                (old, new)
            })
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(sizes(&replica_sets(&client, "slow").await), (4, 3));
        // ...and scaling it to 10 distributes the 6 new replicas (13 = 10 +
        // surge 3) in proportion: 4 * 13 / 7 -> 7, 3 * 13 / 7 -> 6.
        cluster
            .kubectl_ok(&["scale", "deployment", "slow", "--replicas=10", "-n", NS])
            .await
            .unwrap();
        wait_for("old 7, new 6", Duration::from_secs(30), || async {
            (sizes(&replica_sets(&client, "slow").await) == (7, 6)).then_some(())
        })
        .await;
        let events = events_for(&client, NS, "slow").await;
        for (rs, from, to) in [(&old, 4, 7), (&new, 3, 6)] {
            let message = format!(
                "Scaled up replica set {} from {from} to {to}",
                rs.name_any()
            );
            assert!(
                events
                    .iter()
                    .any(|(r, m, _)| r == "ScalingReplicaSet" && *m == message),
                "{message} not in {events:?}"
            );
        }
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn restart_mid_rollout_continues() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
        let strategy =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
        api.create(
            &PostParams::default(),
            &deployment("web", 4, "web:v1", strategy),
        )
        .await
        .unwrap();
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        rollout_status(&cluster, "web").await;
        kubelet.cancel();
        ready_loop.await.unwrap();

        cluster
            .kubectl_ok(&["set", "image", "deployment/web", "c=web:v2", "-n", NS])
            .await
            .unwrap();
        // The first surge pod appears, then the manager goes away.
        wait_for("a v2 pod", Duration::from_secs(30), || async {
            live_pods(&client, NS, "app=web")
                .await
                .iter()
                .any(|p| image(p) == "web:v2")
                .then_some(())
        })
        .await;
        manager.shutdown().await.unwrap();
        let before = replica_sets(&client, "web").await;
        assert_eq!(before.len(), 2);

        // A new manager picks the rollout up where it was.
        let manager = start_manager(&cluster, &[]).await;
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let out = rollout_status(&cluster, "web").await;
        assert!(out.contains("successfully rolled out"), "{out}");
        wait_rolled_out(&client, "web", 4, "web:v2").await;
        let after = replica_sets(&client, "web").await;
        assert_eq!(after.len(), 2, "no duplicate ReplicaSet");
        let mut names: Vec<String> = after.iter().map(|rs| rs.name_any()).collect();
        let mut before_names: Vec<String> = before.iter().map(|rs| rs.name_any()).collect();
        names.sort();
        before_names.sort();
        assert_eq!(names, before_names);
        let d = api.get("web").await.unwrap();
        let s = d.status.unwrap();
        assert_eq!(
            (s.replicas, s.updated_replicas, s.available_replicas),
            (Some(4), Some(4), Some(4))
        );
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn hash_collisions_bump_the_collision_count() {
    crate::with_timeout!(async {
        use corten_controller_manager::framework::hashing::pod_template_hash;
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        // A paused Deployment gets no ReplicaSet yet: take its name first.
        let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
        let mut d = deployment("clash", 1, "clash:v1", json!({"type": "RollingUpdate"}));
        d.spec.as_mut().unwrap().paused = Some(true);
        let d = api.create(&PostParams::default(), &d).await.unwrap();
        let template = d.spec.as_ref().unwrap().template.clone();
        let taken = format!("clash-{}", pod_template_hash(&template, None));
        let squatter: ReplicaSet = object(json!({
            "metadata": {"name": taken, "labels": {"app": "squatter"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "squatter"}},
                "template": {
                    "metadata": {"labels": {"app": "squatter"}},
                    "spec": {"containers": [{"name": "c", "image": "other"}]}
                }
            }
        }));
        let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
        rs_api
            .create(&PostParams::default(), &squatter)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(replica_sets(&client, "clash").await.is_empty(), "paused");

        cluster
            .kubectl_ok(&["rollout", "resume", "deployment/clash", "-n", NS])
            .await
            .unwrap();
        let rs = wait_for(
            "a ReplicaSet under another name",
            Duration::from_secs(30),
            || async { replica_sets(&client, "clash").await.into_iter().next() },
        )
        .await;
        assert_eq!(
            rs.name_any(),
            format!("clash-{}", pod_template_hash(&template, Some(1)))
        );
        let d = api.get("clash").await.unwrap();
        assert_eq!(d.status.unwrap().collision_count, Some(1));
        // The squatter is untouched.
        let squatter = rs_api.get(&taken).await.unwrap();
        assert!(squatter.metadata.owner_references.is_none());
        manager.shutdown().await.unwrap();
    });
}
