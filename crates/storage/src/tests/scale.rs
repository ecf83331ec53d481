//! A scale smoke run, on demand only (`cargo test -p corten-storage --lib
//! scale -- --ignored --nocapture`): prints timings, asserts only
//! correctness.

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::{etcd, pod, pod_key, pods_cache, pods_config};
use crate::cache::{ListRequest, WatchRequest, WatchStart};
use crate::filter::Filter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale run; prints timings"]
async fn scale_smoke() {
    let n: usize = std::env::var("CORTEN_SCALE_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let (_etcd, store) = etcd().await;
    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move {
                let ns = format!("ns{}", i % 50);
                let name = format!("pod-{i}");
                store
                    .create(
                        &pod_key(&ns, &name),
                        pod(&ns, &name, &[("app", "x")], &format!("node-{}", i % 500)),
                    )
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    println!("created {n} pods in {:?}", t.elapsed());

    let t = Instant::now();
    let mut config = pods_config();
    // Measure throughput here, not slow-watcher termination.
    config.watcher_buffer = 10_000;
    let cache = pods_cache(&store, config).await;
    println!("initial list of {} in {:?}", cache.len(), t.elapsed());
    assert_eq!(cache.len(), n);

    let t = Instant::now();
    let all = cache.list(&ListRequest {
        prefix: "pods/".into(),
        filter: Filter::default(),
        start_after: None,
        limit: None,
    });
    println!("memory list of {} in {:?}", all.items.len(), t.elapsed());

    let t = Instant::now();
    let mut watchers = Vec::new();
    for _ in 0..100 {
        watchers.push(
            cache
                .watch(WatchRequest {
                    prefix: "pods/".into(),
                    filter: Filter::default(),
                    start: WatchStart::InitialState,
                    bookmarks: false,
                    initial_events_end_bookmark: false,
                })
                .await
                .unwrap(),
        );
    }
    let mut bytes = 0usize;
    for w in &mut watchers {
        for _ in 0..n {
            bytes += w.next().await.unwrap().encoded_json().len();
        }
    }
    println!(
        "100 initial-state watches ({bytes} bytes) in {:?}",
        t.elapsed()
    );

    let t = Instant::now();
    let writes = 2_000;
    let readers: Vec<_> = watchers
        .into_iter()
        .map(|mut w| {
            tokio::spawn(async move {
                for _ in 0..writes {
                    tokio::time::timeout(Duration::from_secs(30), w.next())
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    futures::stream::iter(0..writes)
        .map(|i| {
            let store = store.clone();
            async move {
                let name = format!("new-{i}");
                store
                    .create(&pod_key("ns0", &name), pod("ns0", &name, &[], ""))
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let write_time = t.elapsed();
    for r in readers {
        r.await.unwrap();
    }
    println!(
        "{writes} creates fanned out to 100 watchers: writes {write_time:?}, all delivered after {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    cache
        .wait_consistent(Duration::from_secs(10))
        .await
        .unwrap();
    println!("consistent wait {:?}", t.elapsed());
}
