//! Fan-out: one encoding per event shared by every watcher; slow watchers
//! are cut off without stalling the others.

use std::sync::Arc;
use std::time::Duration;

use super::{etcd, pod, pod_key, pods_cache, pods_config, timed};
use crate::cache::{EventType, WatchRequest, WatchStart};
use crate::filter::Filter;

fn req() -> WatchRequest {
    WatchRequest {
        prefix: "pods/".into(),
        filter: Filter::default(),
        start: WatchStart::InitialState,
        bookmarks: false,
        initial_events_end_bookmark: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_watchers_share_one_encoding() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let cache = pods_cache(&store, pods_config()).await;
        let mut watchers = Vec::new();
        for _ in 0..100 {
            watchers.push(cache.watch(req()).await.unwrap());
        }
        assert_eq!(cache.watcher_count(), 100);
        let rev = store
            .create(&pod_key("default", "a"), pod("default", "a", &[], ""))
            .await
            .unwrap();
        let mut events = Vec::new();
        for w in &mut watchers {
            let ev = tokio::time::timeout(Duration::from_secs(10), w.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(ev.event_type, EventType::Added);
            assert_eq!(ev.resource_version(), rev);
            events.push(ev);
        }
        let first = &events[0];
        for ev in &events[1..] {
            assert!(Arc::ptr_eq(first, ev), "same event for every watcher");
            assert_eq!(first.encoded_json().as_ptr(), ev.encoded_json().as_ptr());
        }
        // The live ADDED encoding is the object's, reused by later
        // initial-state watchers.
        let cached = cache.get("pods/default/a").unwrap();
        assert!(Arc::ptr_eq(&cached, &first.object));
        let mut late = cache.watch(req()).await.unwrap();
        let initial = late.next().await.unwrap();
        assert_eq!(
            initial.encoded_json().as_ptr(),
            first.encoded_json().as_ptr()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_watcher_is_terminated_without_stalling_others() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let mut config = pods_config();
        config.watcher_buffer = 4;
        let cache = pods_cache(&store, config).await;
        let mut slow = cache.watch(req()).await.unwrap();
        let mut fast = cache.watch(req()).await.unwrap();
        let n = 20;
        // The fast watcher reads each event as it is written (so timing on
        // a loaded machine cannot make it fall behind); the slow one never
        // reads until the end.
        let mut written = Vec::new();
        for i in 0..n {
            let name = format!("p{i}");
            let rev = store
                .create(&pod_key("default", &name), pod("default", &name, &[], ""))
                .await
                .unwrap();
            written.push(rev);
            match tokio::time::timeout(Duration::from_secs(10), fast.next()).await {
                Ok(Some(ev)) => assert_eq!(ev.resource_version(), rev),
                Ok(None) => panic!("fast watcher terminated"),
                Err(_) => panic!("fast watcher stalled"),
            }
        }
        assert_eq!(cache.watcher_count(), 1, "the slow watcher was dropped");
        drop(fast);

        // The slow watcher got its buffer's worth, then its stream ended.
        let mut got = 0;
        while let Some(ev) = tokio::time::timeout(Duration::from_secs(5), slow.next())
            .await
            .expect("slow stream ends")
        {
            assert_eq!(ev.resource_version(), written[got]);
            got += 1;
        }
        assert!((1..n).contains(&got), "got {got}");
        assert_eq!(cache.watcher_count(), 0, "both watchers are gone");
        let terminated = prometheus::default_registry()
            .gather()
            .into_iter()
            .find(|f| f.name() == "apiserver_terminated_watchers_total")
            .expect("registered");
        assert!(
            terminated
                .get_metric()
                .iter()
                .any(|m| m.get_counter().get_value() >= 1.0)
        );
    })
    .await;
}
