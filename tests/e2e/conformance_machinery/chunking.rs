//! API Chunking: continuing a list after its revision was compacted.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{Answer, send_raw};
use serde_json::Value;

/// Conformance "API Chunking" (the compacted case): a continue token whose
/// revision etcd compacted away is answered 410 Expired with a token in
/// the Status's `metadata.continue`; that token lists the rest at the
/// latest revision, and its own continue tokens stay at that revision.
#[tokio::test]
async fn chunked_lists_continue_after_their_revision_was_compacted() {
    crate::with_timeout!(async {
        let c = TestCluster::start_with(&["--etcd-compaction-interval=1s"])
            .await
            .unwrap();
        let client = c.client().await.unwrap();
        let templates = "/api/v1/namespaces/default/podtemplates";
        let total = 20;
        for i in 0..total {
            let body = format!(
                r#"{{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {{"name": "template-{i:04}"}},
                "template": {{"spec": {{"containers": [{{"name": "c", "image": "busybox"}}]}}}}}}"#
            );
            let a = send_raw(&client, "POST", templates, "application/json", body).await;
            assert_eq!(a.code, 201, "{}", a.body);
        }
        let get = |q: String| {
            let client = client.clone();
            async move {
                send_raw(
                    &client,
                    "GET",
                    &format!("{templates}?{q}"),
                    "application/json",
                    "",
                )
                .await
            }
        };
        let names = |list: &Answer| -> Vec<String> {
            list.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        let first = get("limit=2".into()).await;
        assert_eq!(first.code, 200, "{}", first.body);
        assert_eq!(names(&first), ["template-0000", "template-0001"]);
        assert_eq!(first.body["metadata"]["remainingItemCount"], total - 2);
        let first_rv = first.body["metadata"]["resourceVersion"].clone();
        let token = first.body["metadata"]["continue"]
            .as_str()
            .unwrap()
            .to_string();

        // Writes move the revision on; the compactor then compacts the
        // first page's revision away.
        let mut expired = None;
        for _ in 0..100 {
            let a = send_raw(
                &client,
                "POST",
                "/api/v1/namespaces/default/configmaps",
                "application/json",
                r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "tick-"}}"#,
            )
            .await;
            assert_eq!(a.code, 201, "{}", a.body);
            let a = get(format!("limit=2&continue={token}")).await;
            if a.code != 200 {
                expired = Some(a);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let expired = expired.expect("the continue token never expired");
        assert_eq!(expired.code, 410, "{}", expired.body);
        assert_eq!(expired.body["reason"], "Expired");
        assert!(
            expired.body["message"].as_str().unwrap().starts_with(
                "The provided continue parameter is too old to display a consistent list result."
            ),
            "{}",
            expired.body
        );
        let inconsistent = expired.body["metadata"]["continue"]
            .as_str()
            .expect("a continue token in the Status")
            .to_string();

        let second = get(format!("limit=2&continue={inconsistent}")).await;
        assert_eq!(second.code, 200, "{}", second.body);
        assert_ne!(second.body["metadata"]["resourceVersion"], first_rv);
        assert_eq!(names(&second), ["template-0002", "template-0003"]);
        assert_eq!(second.body["metadata"]["remainingItemCount"], total - 4);
        let last_rv = second.body["metadata"]["resourceVersion"].clone();
        let mut found = 4;
        let mut next = second.body["metadata"]["continue"]
            .as_str()
            .map(str::to_string);
        while let Some(t) = next {
            let page = get(format!("limit=2&continue={t}")).await;
            assert_eq!(page.code, 200, "{}", page.body);
            assert_eq!(page.body["metadata"]["resourceVersion"], last_rv);
            for n in names(&page) {
                assert_eq!(n, format!("template-{found:04}"));
                found += 1;
            }
            next = page.body["metadata"]["continue"]
                .as_str()
                .map(str::to_string);
        }
        assert_eq!(found, total);
    });
}

/// Conformance "API Chunking" (the consistent case): pages of a limited
/// list share the first page's resourceVersion, count what remains, and
/// one list with a larger limit returns everything.
#[tokio::test]
async fn chunked_lists_page_consistently() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let templates = "/api/v1/namespaces/default/podtemplates";
        let total = 23;
        for i in 0..total {
            let body = format!(
                r#"{{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {{"name": "template-{i:04}"}},
                "template": {{"spec": {{"containers": [{{"name": "c", "image": "busybox"}}]}}}}}}"#
            );
            let a = send_raw(&client, "POST", templates, "application/json", body).await;
            assert_eq!(a.code, 201, "{}", a.body);
        }
        let mut found = 0;
        let mut rv: Option<Value> = None;
        let mut token = String::new();
        loop {
            let q = if token.is_empty() {
                "limit=5".to_string()
            } else {
                format!("limit=5&continue={token}")
            };
            let page = send_raw(
                &client,
                "GET",
                &format!("{templates}?{q}"),
                "application/json",
                "",
            )
            .await;
            assert_eq!(page.code, 200, "{}", page.body);
            let m = &page.body["metadata"];
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 5);
            match &rv {
                None => rv = Some(m["resourceVersion"].clone()),
                Some(first) => assert_eq!(&m["resourceVersion"], first),
            }
            for i in items {
                assert_eq!(i["metadata"]["name"], format!("template-{found:04}"));
                found += 1;
            }
            // Writes between pages do not show up in them.
            let extra = format!(
                r#"{{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {{"name": "zz-late-{found}"}},
                "template": {{"spec": {{"containers": [{{"name": "c", "image": "busybox"}}]}}}}}}"#
            );
            send_raw(&client, "POST", templates, "application/json", extra).await;
            match m["continue"].as_str() {
                Some(t) if !t.is_empty() => {
                    assert_eq!(m["remainingItemCount"], total - found, "{m}");
                    token = t.to_string();
                }
                _ => {
                    assert!(m.get("remainingItemCount").is_none(), "{m}");
                    break;
                }
            }
        }
        assert_eq!(found, total);
        let all = send_raw(
            &client,
            "GET",
            &format!("{templates}?limit=1000"),
            "application/json",
            "",
        )
        .await;
        assert!(all.body["metadata"].get("continue").is_none());
        assert!(all.body["items"].as_array().unwrap().len() >= total as usize);
    });
}
