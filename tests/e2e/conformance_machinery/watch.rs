//! The watch conformance entries ("watch-*"): label-selected watchers,
//! watches from a resourceVersion, restarted watches, objects leaving a
//! selector, and concurrent watches seeing one order; through kube-rs.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};

use corten_e2e::TestCluster;

type Events = futures::stream::BoxStream<'static, kube::Result<WatchEvent<ConfigMap>>>;

const LABEL: &str = "watch-this-configmap";

async fn watch(api: &Api<ConfigMap>, selector: &str, rv: &str) -> Events {
    api.watch(&WatchParams::default().labels(selector).timeout(60), rv)
        .await
        .unwrap()
        .boxed()
}

/// The next event that is not a bookmark: (type, name, data.mutation).
async fn next(events: &mut Events) -> (&'static str, String, String) {
    loop {
        let e = tokio::time::timeout(std::time::Duration::from_secs(20), events.try_next())
            .await
            .expect("no watch event in time")
            .unwrap()
            .expect("watch ended");
        let (t, cm) = match e {
            WatchEvent::Added(cm) => ("ADDED", cm),
            WatchEvent::Modified(cm) => ("MODIFIED", cm),
            WatchEvent::Deleted(cm) => ("DELETED", cm),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        };
        let m = cm
            .data
            .as_ref()
            .and_then(|d| d.get("mutation").cloned())
            .unwrap_or_default();
        return (t, cm.metadata.name.unwrap_or_default(), m);
    }
}

fn cm(name: &str, label: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {LABEL: label}}
    }))
    .unwrap()
}

async fn mutate(api: &Api<ConfigMap>, name: &str, n: u32) -> String {
    let p = serde_json::json!({"data": {"mutation": n.to_string()}});
    let cm = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    cm.metadata.resource_version.unwrap()
}

async fn relabel(api: &Api<ConfigMap>, name: &str, label: &str) {
    let p = serde_json::json!({"metadata": {"labels": {LABEL: label}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
}

fn ev(t: &'static str, name: &str, m: &str) -> (&'static str, String, String) {
    (t, name.to_string(), m.to_string())
}

#[tokio::test]
async fn watches_behave_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let pp = PostParams::default();
        let dp = DeleteParams::default();

        // Multiple watchers, each with its own selector.
        let mut wa = watch(&api, &format!("{LABEL}=multiple-watchers-A"), "0").await;
        let mut wb = watch(&api, &format!("{LABEL}=multiple-watchers-B"), "0").await;
        let mut wab = watch(
            &api,
            &format!("{LABEL} in (multiple-watchers-A,multiple-watchers-B)"),
            "0",
        )
        .await;
        api.create(
            &pp,
            &cm("e2e-watch-test-configmap-a", "multiple-watchers-A"),
        )
        .await
        .unwrap();
        mutate(&api, "e2e-watch-test-configmap-a", 1).await;
        api.delete("e2e-watch-test-configmap-a", &dp).await.unwrap();
        api.create(
            &pp,
            &cm("e2e-watch-test-configmap-b", "multiple-watchers-B"),
        )
        .await
        .unwrap();
        api.delete("e2e-watch-test-configmap-b", &dp).await.unwrap();
        let a = "e2e-watch-test-configmap-a";
        let b = "e2e-watch-test-configmap-b";
        for (t, m) in [("ADDED", ""), ("MODIFIED", "1"), ("DELETED", "1")] {
            assert_eq!(next(&mut wa).await, ev(t, a, m));
            assert_eq!(next(&mut wab).await, ev(t, a, m));
        }
        for (t, m) in [("ADDED", ""), ("DELETED", "")] {
            assert_eq!(next(&mut wb).await, ev(t, b, m));
            assert_eq!(next(&mut wab).await, ev(t, b, m));
        }

        // From a specific resourceVersion: the changes after it.
        let n = "e2e-watch-test-resource-version";
        api.create(&pp, &cm(n, "from-resource-version"))
            .await
            .unwrap();
        let rv = mutate(&api, n, 1).await;
        mutate(&api, n, 2).await;
        api.delete(n, &dp).await.unwrap();
        let mut w = watch(&api, &format!("{LABEL}=from-resource-version"), &rv).await;
        assert_eq!(next(&mut w).await, ev("MODIFIED", n, "2"));
        assert_eq!(next(&mut w).await, ev("DELETED", n, "2"));

        // Closed and restarted from the last resourceVersion seen.
        let n = "e2e-watch-test-watch-closed";
        let sel = format!("{LABEL}=watch-closed-and-restarted");
        let mut w = watch(&api, &sel, "0").await;
        api.create(&pp, &cm(n, "watch-closed-and-restarted"))
            .await
            .unwrap();
        // The resourceVersion of the last event this watch sees.
        let last = mutate(&api, n, 1).await;
        assert_eq!(next(&mut w).await, ev("ADDED", n, ""));
        assert_eq!(next(&mut w).await, ev("MODIFIED", n, "1"));
        drop(w);
        mutate(&api, n, 2).await;
        api.delete(n, &dp).await.unwrap();
        let mut w = watch(&api, &sel, &last).await;
        assert_eq!(next(&mut w).await, ev("MODIFIED", n, "2"));
        assert_eq!(next(&mut w).await, ev("DELETED", n, "2"));

        // An object that stops matching the selector is deleted for
        // the watcher, and added again when it matches once more.
        let n = "e2e-watch-test-label-changed";
        let mut w = watch(&api, &format!("{LABEL}=label-changed-and-restored"), "0").await;
        api.create(&pp, &cm(n, "label-changed-and-restored"))
            .await
            .unwrap();
        mutate(&api, n, 1).await;
        relabel(&api, n, "wrong-value").await;
        mutate(&api, n, 2).await;
        relabel(&api, n, "label-changed-and-restored").await;
        mutate(&api, n, 3).await;
        api.delete(n, &dp).await.unwrap();
        for (t, m) in [
            ("ADDED", ""),
            ("MODIFIED", "1"),
            ("DELETED", "1"),
            ("ADDED", "2"),
            ("MODIFIED", "3"),
            ("DELETED", "3"),
        ] {
            assert_eq!(next(&mut w).await, ev(t, n, m));
        }

        // Concurrent watches started from different resourceVersions
        // see the same order.
        let writer = {
            let api = api.clone();
            tokio::spawn(async move {
                for i in 0..30u32 {
                    let n = format!("e2e-watch-order-{}", i % 5);
                    if api.get_opt(&n).await.unwrap().is_none() {
                        api.create(&PostParams::default(), &cm(&n, "order"))
                            .await
                            .unwrap();
                    } else if i % 3 == 0 {
                        api.delete(&n, &DeleteParams::default()).await.unwrap();
                    } else {
                        mutate(&api, &n, i).await;
                    }
                }
            })
        };
        let mut starts = Vec::new();
        let mut watches = Vec::new();
        for _ in 0..3 {
            let rv = api
                .list(&kube::api::ListParams::default().limit(1))
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap();
            starts.push(rv.clone());
            watches.push(watch(&api, &format!("{LABEL}=order"), &rv).await);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        writer.await.unwrap();
        // Collect each watch's events until the writer's last change.
        let last: u64 = api
            .list(&kube::api::ListParams::default().limit(1))
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap()
            .parse()
            .unwrap();
        let mut seen: Vec<Vec<u64>> = Vec::new();
        for w in watches.iter_mut() {
            let mut rvs = Vec::new();
            loop {
                let e = tokio::time::timeout(std::time::Duration::from_secs(5), w.try_next()).await;
                let Ok(Ok(Some(e))) = e else { break };
                let rv = match &e {
                    WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                        o.metadata.resource_version.clone().unwrap_or_default()
                    }
                    _ => continue,
                };
                let rv: u64 = rv.parse().unwrap();
                rvs.push(rv);
                if rv >= last {
                    break;
                }
            }
            seen.push(rvs);
        }
        // Each later watch's events are the tail of the earlier ones'.
        assert!(!seen[0].is_empty());
        for s in &seen[1..] {
            assert!(seen[0].ends_with(s), "{seen:?} from {starts:?}");
        }
        assert!(seen[0].windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    });
}
