//! WATCH from the cache: initial state, replay, 410, narrowing, filter
//! transitions and bookmarks.

use std::sync::Arc;
use std::time::Duration;

use super::{etcd, json_of, pod, pod_key, pods_cache, pods_config, timed};
use crate::cache::{EventType, WatchEvent, WatchRequest, WatchStart, Watcher};
use crate::error::Error;
use crate::etcd::UpdateDecision;
use crate::filter::Filter;

fn watch_req(prefix: &str, start: WatchStart) -> WatchRequest {
    WatchRequest {
        prefix: prefix.into(),
        filter: Filter::default(),
        start,
        bookmarks: false,
        initial_events_end_bookmark: false,
    }
}

async fn next(w: &mut Watcher) -> Arc<WatchEvent> {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("event in time")
        .expect("watch open")
}

/// The next non-bookmark event.
async fn next_change(w: &mut Watcher) -> Arc<WatchEvent> {
    loop {
        let ev = next(w).await;
        if ev.event_type != EventType::Bookmark {
            return ev;
        }
    }
}

/// Asserts nothing arrives for a while.
async fn assert_quiet(w: &mut Watcher, wait: Duration) {
    if let Ok(ev) = tokio::time::timeout(wait, w.next()).await {
        panic!("unexpected event {ev:?}");
    }
}

/// Decodes an event's wire encoding and checks it against the struct.
fn wire(ev: &WatchEvent) -> serde_json::Value {
    let bytes = ev.encoded_json();
    assert!(bytes.ends_with(b"}\n"));
    let v = json_of(bytes);
    assert_eq!(v["type"], ev.event_type.as_str());
    v
}

async fn put(store: &crate::EtcdStore, key: &str, value: Vec<u8>) -> i64 {
    let out = store
        .guaranteed_update::<Error, _>(key, None, move |_| Ok(UpdateDecision::Write(value.clone())))
        .await
        .unwrap();
    match out {
        crate::UpdateOutcome::Written(kv) => kv.mod_revision,
        other => panic!("expected a write, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_state_then_live_events() {
    timed(async {
        let (_etcd, store) = etcd().await;
        for name in ["b", "a"] {
            store
                .create(&pod_key("default", name), pod("default", name, &[], ""))
                .await
                .unwrap();
        }
        let cache = pods_cache(&store, pods_config()).await;
        let mut req = watch_req("pods/", WatchStart::InitialState);
        req.initial_events_end_bookmark = true;
        let mut w = cache.watch(req).await.unwrap();
        assert_eq!(w.revision(), cache.revision());

        let first = next(&mut w).await;
        assert_eq!(first.event_type, EventType::Added);
        assert_eq!(first.object.key, "pods/default/a");
        // The ADDED encoding of an object is built once and shared.
        let again = cache.get("pods/default/a").unwrap();
        assert_eq!(
            first.encoded_json().as_ptr(),
            again.added_event_json().as_ptr()
        );
        let v = wire(&first);
        assert_eq!(v["object"]["metadata"]["name"], "a");
        assert_eq!(
            v["object"]["metadata"]["resourceVersion"],
            first.object.resource_version.to_string()
        );
        assert_eq!(next(&mut w).await.object.key, "pods/default/b");

        let end = next(&mut w).await;
        assert_eq!(end.event_type, EventType::Bookmark);
        let v = wire(&end);
        assert_eq!(v["object"]["kind"], "Pod");
        assert_eq!(v["object"]["apiVersion"], "v1");
        assert_eq!(
            v["object"]["metadata"]["resourceVersion"],
            w.revision().to_string()
        );
        assert_eq!(
            v["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );

        let rev = store
            .create(&pod_key("default", "c"), pod("default", "c", &[], ""))
            .await
            .unwrap();
        let live = next(&mut w).await;
        assert_eq!(live.event_type, EventType::Added);
        assert_eq!(live.object.key, "pods/default/c");
        assert_eq!(live.resource_version(), rev);
        let rev2 = put(
            &store,
            "pods/default/c",
            pod("default", "c", &[("x", "y")], ""),
        )
        .await;
        let modified = next(&mut w).await;
        assert_eq!(modified.event_type, EventType::Modified);
        assert_eq!(modified.resource_version(), rev2);
        assert_eq!(wire(&modified)["object"]["metadata"]["labels"]["x"], "y");

        // Dropping the watcher unregisters it.
        assert_eq!(cache.watcher_count(), 1);
        drop(w);
        assert_eq!(cache.watcher_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_revision_replays_the_window() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let r0 = store
            .create(&pod_key("default", "a"), pod("default", "a", &[], "n1"))
            .await
            .unwrap();
        let cache = pods_cache(&store, pods_config()).await;
        let r1 = put(&store, "pods/default/a", pod("default", "a", &[], "n2")).await;
        let r2 = store
            .create(&pod_key("default", "b"), pod("default", "b", &[], ""))
            .await
            .unwrap();
        let deleted = store.delete("pods/default/a", None).await.unwrap();
        let r3 = deleted.mod_revision;
        cache
            .wait_for_revision(r3, Duration::from_secs(5))
            .await
            .unwrap();

        // From the cache's start revision (covered: nothing dropped yet).
        let mut w = cache
            .watch(watch_req("pods/", WatchStart::After(r0)))
            .await
            .unwrap();
        let e1 = next(&mut w).await;
        assert_eq!(
            (e1.event_type, e1.resource_version()),
            (EventType::Modified, r1)
        );
        assert_eq!(e1.object.field("spec.nodeName"), Some("n2"));
        let e2 = next(&mut w).await;
        assert_eq!(
            (e2.event_type, e2.resource_version()),
            (EventType::Added, r2)
        );
        let e3 = next(&mut w).await;
        assert_eq!(
            (e3.event_type, e3.resource_version()),
            (EventType::Deleted, r3)
        );
        // A delete carries the last state with the delete's revision.
        let v = wire(&e3);
        assert_eq!(v["object"]["metadata"]["name"], "a");
        assert_eq!(v["object"]["spec"]["nodeName"], "n2");
        assert_eq!(v["object"]["metadata"]["resourceVersion"], r3.to_string());

        // From the middle of the window; then live events follow.
        let mut w2 = cache
            .watch(watch_req("pods/", WatchStart::After(r2)))
            .await
            .unwrap();
        let e = next(&mut w2).await;
        assert_eq!(
            (e.event_type, e.resource_version()),
            (EventType::Deleted, r3)
        );
        // Replayed and live watchers share the encoded event.
        assert!(std::ptr::eq(Arc::as_ptr(&e), Arc::as_ptr(&e3)));
        let r4 = store
            .create(&pod_key("default", "c"), pod("default", "c", &[], ""))
            .await
            .unwrap();
        for w in [&mut w, &mut w2] {
            let e = next(w).await;
            assert_eq!((e.event_type, e.resource_version()), (EventType::Added, r4));
        }
        assert_quiet(&mut w2, Duration::from_millis(200)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_old_and_too_new_revisions() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let mut config = pods_config();
        config.window = 3;
        let cache = pods_cache(&store, config).await;
        let start = cache.revision();
        let mut revs = Vec::new();
        for i in 0..5 {
            let name = format!("p{i}");
            revs.push(
                store
                    .create(&pod_key("default", &name), pod("default", &name, &[], ""))
                    .await
                    .unwrap(),
            );
        }
        cache
            .wait_for_revision(revs[4], Duration::from_secs(5))
            .await
            .unwrap();
        // The window holds revs[2..5]; resuming needs rv >= revs[1].
        assert_eq!(cache.oldest_revision(), revs[1]);
        for rv in [start, revs[0]] {
            match cache.watch(watch_req("pods/", WatchStart::After(rv))).await {
                Err(Error::TooOldResourceVersion { requested, oldest }) => {
                    assert_eq!(requested, rv);
                    assert_eq!(oldest, revs[1]);
                }
                other => panic!("expected TooOldResourceVersion, got {other:?}"),
            }
        }
        let mut w = cache
            .watch(watch_req("pods/", WatchStart::After(revs[1])))
            .await
            .unwrap();
        for rev in &revs[2..] {
            assert_eq!(next(&mut w).await.resource_version(), *rev);
        }

        // A revision the cache has not seen: wait (3 s) then fail.
        let far = revs[4] + 1_000;
        match cache
            .watch(watch_req("pods/", WatchStart::After(far)))
            .await
        {
            Err(Error::ResourceVersionTooLarge { requested, .. }) => assert_eq!(requested, far),
            other => panic!("expected ResourceVersionTooLarge, got {other:?}"),
        }
        // A revision etcd has reached through another resource: served.
        let other = store
            .create("configmaps/default/x", b"{}".to_vec())
            .await
            .unwrap();
        let mut w = cache
            .watch(watch_req("pods/", WatchStart::After(other)))
            .await
            .unwrap();
        assert!(w.revision() >= other);
        assert_quiet(&mut w, Duration::from_millis(200)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_watches() {
    timed(async {
        let (_etcd, store) = etcd().await;
        store
            .create(&pod_key("default", "a"), pod("default", "a", &[], ""))
            .await
            .unwrap();
        store
            .create(&pod_key("other", "a"), pod("other", "a", &[], ""))
            .await
            .unwrap();
        let cache = pods_cache(&store, pods_config()).await;
        let mut ns = cache
            .watch(watch_req("pods/default/", WatchStart::InitialState))
            .await
            .unwrap();
        let mut one = cache
            .watch(watch_req("pods/default/a", WatchStart::InitialState))
            .await
            .unwrap();
        assert_eq!(next(&mut ns).await.object.key, "pods/default/a");
        assert_eq!(next(&mut one).await.object.key, "pods/default/a");

        // Writes elsewhere are invisible; "pods/default/ab" is not "a".
        put(&store, "pods/other/a", pod("other", "a", &[("v", "2")], "")).await;
        let ab = store
            .create(&pod_key("default", "ab"), pod("default", "ab", &[], ""))
            .await
            .unwrap();
        let e = next(&mut ns).await;
        assert_eq!(
            (e.object.key.as_str(), e.resource_version()),
            ("pods/default/ab", ab)
        );
        let ra = put(
            &store,
            "pods/default/a",
            pod("default", "a", &[("v", "2")], ""),
        )
        .await;
        let e = next(&mut ns).await;
        assert_eq!(
            (e.object.key.as_str(), e.event_type),
            ("pods/default/a", EventType::Modified)
        );
        let e = next(&mut one).await;
        assert_eq!(
            (e.resource_version(), e.event_type),
            (ra, EventType::Modified)
        );
        assert_quiet(&mut one, Duration::from_millis(200)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_transitions() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let key = pod_key("default", "a");
        store
            .create(&key, pod("default", "a", &[("app", "web")], "n1"))
            .await
            .unwrap();
        let cache = pods_cache(&store, pods_config()).await;
        let mut req = watch_req("pods/", WatchStart::InitialState);
        req.filter.labels = corten_apimachinery::labels::Selector::parse("app=web").unwrap();
        let mut w = cache.watch(req.clone()).await.unwrap();
        let mut all = cache
            .watch(watch_req("pods/", WatchStart::InitialState))
            .await
            .unwrap();
        assert_eq!(next(&mut w).await.event_type, EventType::Added);
        assert_eq!(next(&mut all).await.event_type, EventType::Added);

        // Still matching -> MODIFIED.
        let r1 = put(
            &store,
            &key,
            pod("default", "a", &[("app", "web"), ("v", "1")], "n1"),
        )
        .await;
        let e = next(&mut w).await;
        assert_eq!(
            (e.event_type, e.resource_version()),
            (EventType::Modified, r1)
        );
        // Stops matching -> DELETED with the old content and the new revision.
        let r2 = put(&store, &key, pod("default", "a", &[("app", "db")], "n1")).await;
        let e = next(&mut w).await;
        assert_eq!(
            (e.event_type, e.resource_version()),
            (EventType::Deleted, r2)
        );
        let v = wire(&e);
        assert_eq!(v["object"]["metadata"]["labels"]["app"], "web");
        assert_eq!(v["object"]["metadata"]["resourceVersion"], r2.to_string());
        // Neither matches -> nothing.
        put(
            &store,
            &key,
            pod("default", "a", &[("app", "db"), ("v", "2")], "n1"),
        )
        .await;
        // Starts matching -> ADDED.
        let r4 = put(&store, &key, pod("default", "a", &[("app", "web")], "n1")).await;
        let e = next(&mut w).await;
        assert_eq!((e.event_type, e.resource_version()), (EventType::Added, r4));
        // Deleted while matching -> DELETED.
        let d = store.delete(&key, None).await.unwrap();
        let e = next(&mut w).await;
        assert_eq!(
            (e.event_type, e.resource_version()),
            (EventType::Deleted, d.mod_revision)
        );

        // The unfiltered watcher saw every change as MODIFIED, then DELETED.
        for _ in 0..4 {
            assert_eq!(next(&mut all).await.event_type, EventType::Modified);
        }
        assert_eq!(next(&mut all).await.event_type, EventType::Deleted);

        // Replay applies the same rules.
        req.start = WatchStart::After(r1);
        let mut replay = cache.watch(req).await.unwrap();
        let types: Vec<_> = [
            next(&mut replay).await,
            next(&mut replay).await,
            next(&mut replay).await,
        ]
        .iter()
        .map(|e| (e.event_type, e.resource_version()))
        .collect();
        assert_eq!(
            types,
            [
                (EventType::Deleted, r2),
                (EventType::Added, r4),
                (EventType::Deleted, d.mod_revision)
            ]
        );

        // Field selectors on attrs.
        let mut freq = watch_req("pods/", WatchStart::InitialState);
        freq.filter.fields =
            corten_apimachinery::fields::FieldSelector::parse("spec.nodeName=n2").unwrap();
        let mut fw = cache.watch(freq).await.unwrap();
        store
            .create(&pod_key("default", "x"), pod("default", "x", &[], "n1"))
            .await
            .unwrap();
        let ry = store
            .create(&pod_key("default", "y"), pod("default", "y", &[], "n2"))
            .await
            .unwrap();
        let e = next(&mut fw).await;
        assert_eq!((e.event_type, e.resource_version()), (EventType::Added, ry));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_bookmarks() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let mut config = pods_config();
        config.bookmark_interval = Duration::from_millis(200);
        let cache = pods_cache(&store, config).await;
        let mut req = watch_req("pods/", WatchStart::InitialState);
        req.bookmarks = true;
        let mut with = cache.watch(req).await.unwrap();
        let mut without = cache
            .watch(watch_req("pods/", WatchStart::InitialState))
            .await
            .unwrap();

        let b = next(&mut with).await;
        assert_eq!(b.event_type, EventType::Bookmark);
        assert_eq!(b.resource_version(), cache.revision());
        let v = wire(&b);
        assert_eq!(v["object"]["kind"], "Pod");
        assert!(v["object"]["metadata"].get("annotations").is_none());

        let rev = store
            .create(&pod_key("default", "a"), pod("default", "a", &[], ""))
            .await
            .unwrap();
        let e = next_change(&mut with).await;
        assert_eq!(e.resource_version(), rev);
        // The next bookmark carries at least the event's revision.
        let b = next(&mut with).await;
        assert_eq!(b.event_type, EventType::Bookmark);
        assert!(b.resource_version() >= rev);

        let e = next(&mut without).await;
        assert_eq!(e.event_type, EventType::Added);
        assert_quiet(&mut without, Duration::from_millis(600)).await;
    })
    .await;
}
