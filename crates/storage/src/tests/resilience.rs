//! The cache survives broken etcd watches: it resumes where it was, and
//! relists (ending every watch) when its position was compacted.

use std::time::Duration;

use super::{etcd, pod, pod_key, pods_cache, pods_config, timed};
use crate::cache::{EventType, WatchRequest, WatchStart};
use crate::error::Error;
use crate::filter::Filter;

fn req(start: WatchStart) -> WatchRequest {
    WatchRequest {
        prefix: "pods/".into(),
        filter: Filter::default(),
        start,
        bookmarks: false,
        initial_events_end_bookmark: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relists_when_its_revision_was_compacted() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let r0 = store
            .create(&pod_key("default", "a"), pod("default", "a", &[], ""))
            .await
            .unwrap();
        let cache = pods_cache(&store, pods_config()).await;
        let mut w = cache.watch(req(WatchStart::InitialState)).await.unwrap();
        assert_eq!(w.next().await.unwrap().event_type, EventType::Added);

        // Break the watch and keep the reflector from re-opening it while
        // history it has not seen is written and compacted away.
        let hold = cache.hooks().hold.write().await;
        cache.hooks().break_watch.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.delete(&pod_key("default", "a"), None).await.unwrap();
        store
            .create(&pod_key("default", "b"), pod("default", "b", &[], ""))
            .await
            .unwrap();
        let current = store.current_revision().await.unwrap();
        store.compact(current).await.unwrap();
        drop(hold);

        cache
            .wait_for_revision(current, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(cache.get("pods/default/a").is_none());
        assert!(cache.get("pods/default/b").is_some());
        assert_eq!(cache.len(), 1);
        // Every watch was ended; old positions are gone.
        let ended = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .expect("watch ends");
        assert!(ended.is_none(), "unexpected {ended:?}");
        // (The relist may have run after the barrier written by the wait.)
        assert!(cache.oldest_revision() >= current);
        assert!(matches!(
            cache.watch(req(WatchStart::After(r0))).await,
            Err(Error::TooOldResourceVersion { .. })
        ));
        // And the cache goes on following etcd.
        let mut w = cache
            .watch(req(WatchStart::After(cache.revision())))
            .await
            .unwrap();
        let rc = store
            .create(&pod_key("default", "c"), pod("default", "c", &[], ""))
            .await
            .unwrap();
        let e = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((e.event_type, e.resource_version()), (EventType::Added, rc));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_etcd_restart() {
    timed(async {
        let (mut etcd, store) = etcd().await;
        store
            .create(&pod_key("default", "a"), pod("default", "a", &[], ""))
            .await
            .unwrap();
        let cache = pods_cache(&store, pods_config()).await;
        let mut w = cache.watch(req(WatchStart::InitialState)).await.unwrap();
        assert_eq!(w.next().await.unwrap().event_type, EventType::Added);

        etcd.kill();
        assert!(!store.healthy().await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        etcd.restart().await.unwrap();

        let rev = store
            .create(&pod_key("default", "b"), pod("default", "b", &[], ""))
            .await
            .unwrap();
        cache
            .wait_for_revision(rev, Duration::from_secs(20))
            .await
            .unwrap();
        assert!(cache.get("pods/default/b").is_some());
        // No history was lost, so existing watches simply continue.
        let e = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .unwrap()
            .expect("watch still open");
        assert_eq!(
            (e.event_type, e.resource_version()),
            (EventType::Added, rev)
        );
    })
    .await;
}
