//! EtcdStore against a real etcd.

use std::sync::Arc;

use super::{etcd, pod, pod_key, timed};
use crate::error::Error;
use crate::etcd::{EtcdEventKind, EtcdWatchMessage, ListOptions, UpdateDecision, UpdateOutcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_and_already_exists() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let key = pod_key("default", "web");
        let rev = store
            .create(&key, pod("default", "web", &[], ""))
            .await
            .unwrap();
        assert!(rev > 0);
        match store.create(&key, pod("default", "web", &[], "")).await {
            Err(Error::AlreadyExists { key: k }) => assert_eq!(k, key),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        let kv = store.get(&key).await.unwrap().expect("stored");
        assert_eq!(kv.key, key);
        assert_eq!(kv.mod_revision, rev);
        assert_eq!(kv.create_revision, rev);
        assert_eq!(&kv.value[..], &pod("default", "web", &[], "")[..]);
        assert!(store.get("pods/default/missing").await.unwrap().is_none());

        // Stored under the prefix.
        let raw = store
            .client()
            .kv_client()
            .get("/registry/pods/default/web", None)
            .await
            .unwrap();
        assert_eq!(raw.kvs().len(), 1);
        assert!(store.healthy().await);
        assert!(store.current_revision().await.unwrap() >= rev);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_limit_start_after_remaining() {
    timed(async {
        let (_etcd, store) = etcd().await;
        for i in 0..5 {
            let name = format!("p{i}");
            store
                .create(&pod_key("default", &name), pod("default", &name, &[], ""))
                .await
                .unwrap();
        }
        store
            .create(&pod_key("other", "x"), pod("other", "x", &[], ""))
            .await
            .unwrap();
        // A neighbouring resource whose name extends "pods" must not leak in.
        store.create("podsecurity/x", b"{}".to_vec()).await.unwrap();

        let all = store.list("pods/", &ListOptions::default()).await.unwrap();
        assert_eq!(all.items.len(), 6);
        assert!(!all.more);
        assert_eq!(all.remaining, 0);

        let page = store
            .list(
                "pods/",
                &ListOptions {
                    limit: Some(2),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let keys: Vec<_> = page.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["pods/default/p0", "pods/default/p1"]);
        assert!(page.more);
        assert_eq!(page.remaining, 4);

        let page2 = store
            .list(
                "pods/",
                &ListOptions {
                    limit: Some(3),
                    start_after: Some("pods/default/p1".into()),
                    revision: Some(page.revision),
                },
            )
            .await
            .unwrap();
        let keys: Vec<_> = page2.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            ["pods/default/p2", "pods/default/p3", "pods/default/p4"]
        );
        assert_eq!(page2.revision, page.revision);
        assert!(page2.more);
        assert_eq!(page2.remaining, 1);

        // A continue key past the range is an empty page, not an error.
        let past = store
            .list(
                "pods/default/",
                &ListOptions {
                    start_after: Some("pods/zzz".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(past.items.is_empty());
        assert!(!past.more);

        let ns = store
            .list("pods/other/", &ListOptions::default())
            .await
            .unwrap();
        assert_eq!(ns.items.len(), 1);
        assert_eq!(ns.items[0].key, "pods/other/x");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_at_past_revision_and_after_compaction() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let key = pod_key("default", "a");
        let rev1 = store.create(&key, b"{\"v\":1}".to_vec()).await.unwrap();
        let out = store
            .guaranteed_update::<Error, _>(&key, None, |_| {
                Ok(UpdateDecision::Write(b"{\"v\":2}".to_vec()))
            })
            .await
            .unwrap();
        let UpdateOutcome::Written(kv2) = out else {
            panic!("expected a write")
        };
        let rev2 = kv2.mod_revision;
        assert!(rev2 > rev1);

        let old = store
            .list(
                "pods/",
                &ListOptions {
                    revision: Some(rev1),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(old.revision, rev1);
        assert_eq!(&old.items[0].value[..], b"{\"v\":1}");
        let at = store.get_at(&key, rev1).await.unwrap().unwrap();
        assert_eq!(&at.value[..], b"{\"v\":1}");

        store.compact(rev2).await.unwrap();
        match store
            .list(
                "pods/",
                &ListOptions {
                    revision: Some(rev1),
                    ..Default::default()
                },
            )
            .await
        {
            Err(Error::TooOldResourceVersion { requested, oldest }) => {
                assert_eq!(requested, rev1);
                assert_eq!(oldest, rev2);
            }
            other => panic!("expected TooOldResourceVersion, got {other:?}"),
        }
        assert!(matches!(
            store.get_at(&key, rev1).await,
            Err(Error::TooOldResourceVersion { .. })
        ));
        // Reading at the compaction revision still works.
        let at2 = store.get_at(&key, rev2).await.unwrap().unwrap();
        assert_eq!(&at2.value[..], b"{\"v\":2}");
        // A future revision is "too large".
        assert!(matches!(
            store
                .list(
                    "pods/",
                    &ListOptions {
                        revision: Some(rev2 + 1000),
                        ..Default::default()
                    }
                )
                .await,
            Err(Error::ResourceVersionTooLarge { .. })
        ));
    })
    .await;
}

fn counter(kv: &crate::KeyValue) -> i64 {
    serde_json::from_slice::<serde_json::Value>(&kv.value).unwrap()["n"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guaranteed_update_with_concurrent_writers() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let key = "configmaps/default/counter";
        store.create(key, b"{\"n\":0}".to_vec()).await.unwrap();
        let stale_hint = store.get(key).await.unwrap();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let store = store.clone();
            let hint = stale_hint.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    store
                        .guaranteed_update::<Error, _>(key, hint.clone(), |kv| {
                            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let n = counter(kv) + 1;
                            Ok(UpdateDecision::Write(format!("{{\"n\":{n}}}").into_bytes()))
                        })
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let kv = store.get(key).await.unwrap().unwrap();
        assert_eq!(counter(&kv), 40, "every increment survives");
        // Stale hints and contention forced retries.
        assert!(calls.load(std::sync::atomic::Ordering::Relaxed) > 40);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guaranteed_update_decisions() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let key = "configmaps/default/c";
        let rev = store.create(key, b"{\"n\":1}".to_vec()).await.unwrap();

        // Unchanged against a stale hint re-reads before answering.
        let stale = crate::KeyValue {
            key: key.into(),
            value: bytes::Bytes::from_static(b"{\"n\":0}"),
            mod_revision: rev - 1,
            create_revision: rev - 1,
        };
        let mut seen = Vec::new();
        let out = store
            .guaranteed_update::<Error, _>(key, Some(stale), |kv| {
                seen.push(kv.mod_revision);
                Ok(UpdateDecision::Unchanged)
            })
            .await
            .unwrap();
        let UpdateOutcome::Unchanged(kv) = out else {
            panic!("expected unchanged")
        };
        assert_eq!(kv.mod_revision, rev);
        assert_eq!(seen, [rev - 1, rev]);

        // The callback's error aborts.
        let err = store
            .guaranteed_update::<Error, _>(key, None, |_| Err(Error::Conflict { key: "x".into() }))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }));

        // Missing key.
        let err = store
            .guaranteed_update::<Error, _>("configmaps/default/none", None, |_| {
                Ok(UpdateDecision::Unchanged)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));

        // Delete through guaranteed_update.
        let out = store
            .guaranteed_update::<Error, _>(key, None, |_| Ok(UpdateDecision::Delete))
            .await
            .unwrap();
        let UpdateOutcome::Deleted(last) = out else {
            panic!("expected delete")
        };
        assert!(last.mod_revision > rev);
        assert_eq!(&last.value[..], b"{\"n\":1}");
        assert!(store.get(key).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_preconditions() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let key = "secrets/default/s";
        let rev = store.create(key, b"{\"a\":1}".to_vec()).await.unwrap();
        assert!(matches!(
            store.delete(key, Some(rev + 100)).await,
            Err(Error::Conflict { .. })
        ));
        let deleted = store.delete(key, Some(rev)).await.unwrap();
        assert_eq!(&deleted.value[..], b"{\"a\":1}");
        assert!(deleted.mod_revision > rev);
        assert_eq!(
            store.current_revision().await.unwrap(),
            deleted.mod_revision
        );
        assert!(matches!(
            store.delete(key, None).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            store.delete(key, Some(rev)).await,
            Err(Error::NotFound { .. })
        ));
        store.create(key, b"{\"a\":2}".to_vec()).await.unwrap();
        let deleted = store.delete(key, None).await.unwrap();
        assert_eq!(&deleted.value[..], b"{\"a\":2}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_watch_events_and_progress() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let start = store.current_revision().await.unwrap();
        let mut watch = store.watch("pods/", start + 1).await.unwrap();
        let r1 = store
            .create("pods/a/x", b"{\"v\":1}".to_vec())
            .await
            .unwrap();
        store
            .create("configmaps/a/x", b"{}".to_vec())
            .await
            .unwrap();
        store
            .guaranteed_update::<Error, _>("pods/a/x", None, |_| {
                Ok(UpdateDecision::Write(b"{\"v\":2}".to_vec()))
            })
            .await
            .unwrap();
        let deleted = store.delete("pods/a/x", None).await.unwrap();

        let mut events = Vec::new();
        while events.len() < 3 {
            match watch.next().await.unwrap().expect("open") {
                EtcdWatchMessage::Events(evs) => events.extend(evs),
                EtcdWatchMessage::Progress { .. } => {}
            }
        }
        assert_eq!(events[0].kind, EtcdEventKind::Put);
        assert_eq!(events[0].revision(), r1);
        assert!(events[0].prev.is_none());
        assert_eq!(events[1].kind, EtcdEventKind::Put);
        assert_eq!(&events[1].prev.as_ref().unwrap().value[..], b"{\"v\":1}");
        assert_eq!(events[2].kind, EtcdEventKind::Delete);
        assert_eq!(events[2].kv.key, "pods/a/x");
        assert_eq!(events[2].revision(), deleted.mod_revision);
        assert_eq!(&events[2].prev.as_ref().unwrap().value[..], b"{\"v\":2}");

        // Progress requests are answered (etcd >= 3.4) with the store revision,
        // even though the last write was to another prefix.
        store
            .create("configmaps/a/y", b"{}".to_vec())
            .await
            .unwrap();
        let current = store.current_revision().await.unwrap();
        watch.request_progress().await.unwrap();
        match watch.next().await.unwrap().expect("open") {
            EtcdWatchMessage::Progress {
                revision,
                requested,
            } => {
                assert!(requested);
                assert_eq!(revision, current);
            }
            EtcdWatchMessage::Events(evs) => panic!("unexpected events {evs:?}"),
        }

        // A watch from a compacted revision fails with the compaction point.
        store.compact(current).await.unwrap();
        let mut old = store.watch("pods/", start).await.unwrap();
        match old.next().await {
            Err(Error::TooOldResourceVersion { requested, oldest }) => {
                assert_eq!(requested, start);
                assert_eq!(oldest, current);
            }
            other => panic!("expected TooOldResourceVersion, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_metrics_are_exported() {
    timed(async {
        let (_etcd, store) = etcd().await;
        store.create("leases/ns/l", b"{}".to_vec()).await.unwrap();
        let _ = store.create("leases/ns/l", b"{}".to_vec()).await;
        store.get("leases/ns/l").await.unwrap();
        store
            .create("apps.k8s.io/deployments/ns/d", b"{}".to_vec())
            .await
            .unwrap();
        store.refresh_db_size().await.unwrap();
        let families = prometheus::default_registry().gather();
        let find = |name: &str| {
            families
                .iter()
                .find(|f| f.name() == name)
                .unwrap_or_else(|| panic!("{name} not registered"))
        };
        let requests = find("etcd_requests_total");
        let count = |op: &str, ty: &str| -> f64 {
            requests
                .get_metric()
                .iter()
                .filter(|m| {
                    let labels: Vec<(&str, &str)> = m
                        .get_label()
                        .iter()
                        .map(|l| (l.name(), l.value()))
                        .collect();
                    labels.contains(&("operation", op)) && labels.contains(&("type", ty))
                })
                .map(|m| m.get_counter().get_value())
                .sum()
        };
        assert!(count("create", "leases") >= 2.0);
        assert!(count("get", "leases") >= 1.0);
        assert!(count("create", "deployments.apps.k8s.io") >= 1.0);
        find("etcd_request_duration_seconds");
        find("etcd_request_errors_total");
        find("apiserver_storage_db_total_size_in_bytes");
    })
    .await;
}

/// etcd issue #15220: before 3.4.31 / 3.5.13 an answer to a progress
/// request can overtake events still pending for a watch (here: a new
/// watch that starts in the past and is not synced yet). This is why the
/// watch cache writes a barrier on such versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_answers_overtake_events_on_old_etcd() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let ordered = crate::cache::progress_ordered_in(&store.server_version().await.unwrap());
        let mut overtaken = false;
        for round in 0..5 {
            let rev = store
                .create(&format!("pods/a/p{round}"), b"{}".to_vec())
                .await
                .unwrap();
            let mut watch = store.watch("pods/", rev).await.unwrap();
            watch.request_progress().await.unwrap();
            match watch.next().await.unwrap().expect("open") {
                EtcdWatchMessage::Progress { revision, .. } => {
                    assert!(!ordered, "progress overtook events on a fixed etcd");
                    assert!(revision >= rev);
                    overtaken = true;
                    break;
                }
                EtcdWatchMessage::Events(evs) => assert_eq!(evs[0].revision(), rev),
            }
        }
        assert_eq!(overtaken, !ordered);
    })
    .await;
}
