//! The watch cache's state, LIST and consistency waits.

use std::time::Duration;

use super::{etcd, json_of, pod, pod_key, pods_cache, pods_config, timed};
use crate::cache::ListRequest;
use crate::error::Error;
use crate::etcd::UpdateDecision;
use crate::filter::Filter;

fn list_req(prefix: &str, limit: Option<usize>, start_after: Option<&str>) -> ListRequest {
    ListRequest {
        prefix: prefix.into(),
        filter: Filter::default(),
        start_after: start_after.map(str::to_string),
        limit,
    }
}

fn keys(items: &[std::sync::Arc<crate::CachedObject>]) -> Vec<&str> {
    items.iter().map(|o| o.key.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_list_and_live_events() {
    timed(async {
        let (_etcd, store) = etcd().await;
        for name in ["a", "b", "c"] {
            store
                .create(
                    &pod_key("default", name),
                    pod("default", name, &[("app", name)], "n1"),
                )
                .await
                .unwrap();
        }
        // Corrupt values are skipped, never fatal.
        store
            .create("pods/default/bad", b"not json".to_vec())
            .await
            .unwrap();
        store
            .create("pods/default/arr", b"[1,2]".to_vec())
            .await
            .unwrap();
        // Another resource is not cached.
        store
            .create("configmaps/default/x", b"{}".to_vec())
            .await
            .unwrap();
        let mut config = pods_config();
        config.list_page_size = 2; // several pages, all at one revision
        let cache = pods_cache(&store, config).await;
        assert_eq!(cache.len(), 3);
        let a = cache.get("pods/default/a").expect("cached");
        assert_eq!(a.name, "a");
        assert_eq!(a.namespace, "default");
        assert_eq!(a.labels.get("app").map(String::as_str), Some("a"));
        assert_eq!(a.field("spec.nodeName"), Some("n1"));
        assert_eq!(a.field("metadata.name"), Some("a"));
        let json = json_of(&a.json);
        assert_eq!(
            json["metadata"]["resourceVersion"],
            a.resource_version.to_string()
        );
        assert_eq!(json["spec"]["nodeName"], "n1");

        // Live: create, update, delete, corrupt update.
        let rev = store
            .create(&pod_key("default", "d"), pod("default", "d", &[], "n2"))
            .await
            .unwrap();
        cache
            .wait_for_revision(rev, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(cache.revision() >= rev);
        let d = cache.get("pods/default/d").unwrap();
        assert_eq!(d.resource_version, rev);
        assert_eq!(d.field("spec.nodeName"), Some("n2"));

        let deleted = store.delete("pods/default/a", None).await.unwrap();
        let out = store
            .guaranteed_update::<Error, _>("pods/default/b", None, |_| {
                Ok(UpdateDecision::Write(b"{broken".to_vec()))
            })
            .await
            .unwrap();
        let crate::UpdateOutcome::Written(b) = out else {
            panic!("write")
        };
        assert!(b.mod_revision > deleted.mod_revision);
        cache
            .wait_for_revision(b.mod_revision, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(cache.get("pods/default/a").is_none());
        assert!(
            cache.get("pods/default/b").is_none(),
            "corrupt update leaves the cache"
        );
        assert_eq!(cache.len(), 2);

        // apiserver_storage_objects follows the index.
        let families = prometheus::default_registry().gather();
        let objects = families
            .iter()
            .find(|f| f.name() == "apiserver_storage_objects")
            .expect("registered");
        let pods = objects
            .get_metric()
            .iter()
            .find(|m| m.get_label().iter().any(|l| l.value() == "pods"))
            .expect("pods gauge");
        // Other tests in this process run their own pod caches; the gauge
        // is process-wide, so only check it is set.
        assert!(pods.get_gauge().get_value() >= 0.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_from_memory() {
    timed(async {
        let (_etcd, store) = etcd().await;
        for i in 0..6 {
            let name = format!("p{i}");
            store
                .create(&pod_key("default", &name), pod("default", &name, &[], ""))
                .await
                .unwrap();
        }
        for name in ["x", "y"] {
            store
                .create(
                    &pod_key("kube-system", name),
                    pod("kube-system", name, &[], ""),
                )
                .await
                .unwrap();
        }
        let cache = pods_cache(&store, pods_config()).await;
        let rev = cache.revision();

        let all = cache.list(&list_req("pods/", None, None));
        assert_eq!(all.items.len(), 8);
        assert_eq!(all.revision, rev);
        assert!(all.continue_after.is_none());

        let page = cache.list(&list_req("pods/", Some(3), None));
        assert_eq!(
            keys(&page.items),
            ["pods/default/p0", "pods/default/p1", "pods/default/p2"]
        );
        assert_eq!(page.continue_after.as_deref(), Some("pods/default/p2"));
        assert_eq!(page.remaining, Some(5));

        let page = cache.list(&list_req("pods/", Some(3), Some("pods/default/p2")));
        assert_eq!(
            keys(&page.items),
            ["pods/default/p3", "pods/default/p4", "pods/default/p5"]
        );
        assert_eq!(page.remaining, Some(2));

        let page = cache.list(&list_req("pods/", Some(3), Some("pods/default/p5")));
        assert_eq!(
            keys(&page.items),
            ["pods/kube-system/x", "pods/kube-system/y"]
        );
        assert!(page.continue_after.is_none());
        assert!(page.remaining.is_none());

        // Exactly at the end: no continuation.
        let page = cache.list(&list_req("pods/kube-system/", Some(2), None));
        assert_eq!(page.items.len(), 2);
        assert!(page.continue_after.is_none());

        // Exact key.
        let one = cache.list(&list_req("pods/default/p1", None, None));
        assert_eq!(keys(&one.items), ["pods/default/p1"]);
        let none = cache.list(&list_req("pods/default/p", None, None));
        assert!(none.items.is_empty());

        // With a selector.
        let mut req = list_req("pods/", Some(1), None);
        req.filter.fields =
            corten_apimachinery::fields::FieldSelector::parse("metadata.namespace=kube-system")
                .unwrap();
        let page = cache.list(&req);
        assert_eq!(keys(&page.items), ["pods/kube-system/x"]);
        assert_eq!(page.continue_after.as_deref(), Some("pods/kube-system/x"));
        assert!(page.remaining.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_from_etcd_at_past_revision_paginates() {
    timed(async {
        let (_etcd, store) = etcd().await;
        for i in 0..10 {
            let name = format!("p{i}");
            let ns = if i % 2 == 0 { "even" } else { "odd" };
            store
                .create(&pod_key(ns, &name), pod(ns, &name, &[], ns))
                .await
                .unwrap();
        }
        store
            .create("pods/odd/corrupt", b"nope".to_vec())
            .await
            .unwrap();
        let cache = pods_cache(&store, pods_config()).await;
        let rev = cache.revision();
        // Later changes are not visible at `rev`.
        store.delete("pods/even/p0", None).await.unwrap();
        store
            .create(&pod_key("even", "new"), pod("even", "new", &[], "even"))
            .await
            .unwrap();

        let mut req = list_req("pods/", Some(3), None);
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = cache.list_from_etcd(&req, rev).await.unwrap();
            assert_eq!(page.revision, rev);
            pages += 1;
            seen.extend(page.items.iter().map(|o| o.key.clone()));
            for o in &page.items {
                assert!(o.resource_version <= rev);
                assert_eq!(
                    json_of(&o.json)["metadata"]["resourceVersion"],
                    o.resource_version.to_string()
                );
            }
            match page.continue_after {
                Some(after) => {
                    assert!(page.remaining.is_some());
                    req.start_after = Some(after);
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), 10, "{seen:?}");
        assert!(seen.contains(&"pods/even/p0".to_string()));
        assert!(!seen.contains(&"pods/even/new".to_string()));
        assert!(pages >= 4);

        // Namespace prefix and exact key at the past revision.
        let odd = cache
            .list_from_etcd(&list_req("pods/odd/", None, None), rev)
            .await
            .unwrap();
        assert_eq!(odd.items.len(), 5);
        let one = cache
            .list_from_etcd(&list_req("pods/even/p0", None, None), rev)
            .await
            .unwrap();
        assert_eq!(keys(&one.items), ["pods/even/p0"]);
        // Current revision.
        let now = cache
            .list_from_etcd(&list_req("pods/even/", None, None), 0)
            .await
            .unwrap();
        assert!(now.revision > rev);
        assert_eq!(now.items.len(), 5);
        assert!(keys(&now.items).contains(&"pods/even/new"));

        // A filter that matches few items keeps reading pages.
        // With a selector.
        let mut req = list_req("pods/", Some(2), None);
        req.filter.fields =
            corten_apimachinery::fields::FieldSelector::parse("spec.nodeName=odd").unwrap();
        let page = cache.list_from_etcd(&req, rev).await.unwrap();
        assert_eq!(keys(&page.items), ["pods/odd/p1", "pods/odd/p3"]);
        assert_eq!(page.continue_after.as_deref(), Some("pods/odd/p3"));
        req.start_after = page.continue_after;
        req.limit = Some(10);
        let rest = cache.list_from_etcd(&req, rev).await.unwrap();
        assert_eq!(
            keys(&rest.items),
            ["pods/odd/p5", "pods/odd/p7", "pods/odd/p9"]
        );
        assert!(rest.continue_after.is_none());

        // Compacted revision -> 410.
        let current = store.current_revision().await.unwrap();
        store.compact(current).await.unwrap();
        match cache
            .list_from_etcd(&list_req("pods/", None, None), rev)
            .await
        {
            Err(Error::TooOldResourceVersion { requested, oldest }) => {
                assert_eq!(requested, rev);
                assert_eq!(oldest, current);
            }
            other => panic!("expected TooOldResourceVersion, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_wait_after_writes_to_other_prefixes() {
    timed(async {
        let (_etcd, store) = etcd().await;
        store
            .create(&pod_key("default", "a"), pod("default", "a", &[], ""))
            .await
            .unwrap();
        // Auto-detected mode (etcd 3.4.23 here: unordered progress answers,
        // confirmed twice) and the trusted mode.
        let auto = pods_cache(&store, pods_config()).await;
        let mut trusted_config = pods_config();
        trusted_config.trust_progress = Some(true);
        let trusted = pods_cache(&store, trusted_config).await;
        let version = store.server_version().await.unwrap();
        assert_eq!(
            auto.progress_is_ordered(),
            crate::cache::progress_ordered_in(&version)
        );
        assert!(trusted.progress_is_ordered());

        for round in 0..3 {
            for i in 0..5 {
                store
                    .create(&format!("configmaps/default/c{round}-{i}"), b"{}".to_vec())
                    .await
                    .unwrap();
            }
            let target = store.current_revision().await.unwrap();
            assert!(auto.revision() < target);
            for cache in [&auto, &trusted] {
                let rev = cache
                    .wait_consistent(Duration::from_secs(10))
                    .await
                    .unwrap();
                assert!(rev >= target, "{rev} < {target}");
                assert!(cache.revision() >= target);
                assert_eq!(cache.len(), 1);
            }
        }

        // wait_for_revision also catches up through progress.
        let rev = store
            .create("configmaps/default/z", b"{}".to_vec())
            .await
            .unwrap();
        auto.wait_for_revision(rev, Duration::from_secs(10))
            .await
            .unwrap();

        // A revision etcd has not reached times out.
        let far = store.current_revision().await.unwrap() + 1_000;
        match auto
            .wait_for_revision(far, Duration::from_millis(300))
            .await
        {
            Err(Error::ResourceVersionTooLarge { requested, current }) => {
                assert_eq!(requested, far);
                assert!(current < far);
            }
            other => panic!("expected ResourceVersionTooLarge, got {other:?}"),
        }

        // A consistent list sees a write made just before it.
        store
            .create(&pod_key("default", "b"), pod("default", "b", &[], ""))
            .await
            .unwrap();
        for cache in [&auto, &trusted] {
            let list = cache
                .list_consistent(&list_req("pods/", None, None), Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(list.items.len(), 2);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primed_writes_give_the_same_entries_as_decoding() {
    timed(async {
        let (_etcd, store) = etcd().await;
        let cache = pods_cache(&store, pods_config()).await;
        let decoded = |key: &str, bytes: &[u8], rev: i64| {
            crate::CachedObject::decode(key, bytes, rev, &super::pod_attrs()).unwrap()
        };
        // Primed, then written: taken from the prepared parts.
        let key = pod_key("default", "a");
        let bytes = pod("default", "a", &[("app", "a"), ("tier", "x")], "n1");
        let attrs = |bytes: &[u8]| cache.attrs_of(&json_of(bytes)).unwrap();
        cache.prime(&key, &bytes, attrs(&bytes));
        let rev = store.create(&key, bytes.clone()).await.unwrap();
        // Primed with other bytes than written: decoded as usual.
        let other = pod_key("default", "b");
        let written = pod("default", "b", &[("app", "b")], "n2");
        let guessed = pod("default", "b", &[("app", "guess")], "n3");
        cache.prime(&other, &guessed, attrs(&guessed));
        let rev_b = store.create(&other, written.clone()).await.unwrap();
        cache
            .wait_for_revision(rev_b, Duration::from_secs(10))
            .await
            .unwrap();
        for (key, bytes, rev) in [(&key, &bytes, rev), (&other, &written, rev_b)] {
            let got = cache.get(key).unwrap();
            let want = decoded(key, bytes, rev);
            assert_eq!(got.json, want.json);
            assert_eq!(
                (&got.key, &got.namespace, &got.name, got.resource_version),
                (
                    &want.key,
                    &want.namespace,
                    &want.name,
                    want.resource_version
                )
            );
            assert_eq!(got.labels, want.labels);
            assert_eq!(got.fields, want.fields);
        }
        // Priming outside the cache's prefix is ignored.
        cache.prime("configmaps/default/x", &bytes, attrs(&bytes));
        cache.unprime(&key);
    })
    .await;
}
