//! kube-rs against Corten: typed CRUD, conflicts, pagination, field
//! selectors and the runtime watcher.

use std::collections::BTreeMap;

use corten_e2e::TestCluster;
use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    }))
    .unwrap()
}

#[tokio::test]
async fn typed_crud_and_conflicts() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

        let created = cms
            .create(&PostParams::default(), &cm("one", &[("a", "1")]))
            .await
            .unwrap();
        assert!(created.metadata.uid.is_some());
        assert!(created.metadata.creation_timestamp.is_some());
        let rv1 = created.resource_version().unwrap();

        // Create again: 409 AlreadyExists.
        let err = cms
            .create(&PostParams::default(), &cm("one", &[]))
            .await
            .unwrap_err();
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 409);
                assert_eq!(s.reason, "AlreadyExists");
            }
            other => panic!("unexpected {other:?}"),
        }

        // Update with the current resourceVersion works and bumps it.
        let mut next = created.clone();
        next.data.as_mut().unwrap().insert("b".into(), "2".into());
        let updated = cms
            .replace("one", &PostParams::default(), &next)
            .await
            .unwrap();
        assert_ne!(updated.resource_version().unwrap(), rv1);
        assert_eq!(updated.data.as_ref().unwrap()["b"], "2");

        // Update with a stale resourceVersion: 409 Conflict, nothing stored changes.
        let err = cms
            .replace("one", &PostParams::default(), &next)
            .await
            .unwrap_err();
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 409);
                assert_eq!(s.reason, "Conflict");
                assert!(
                    s.message.contains("the object has been modified"),
                    "{}",
                    s.message
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let now = cms.get("one").await.unwrap();
        assert_eq!(now.resource_version(), updated.resource_version());

        // Merge patch.
        let patched = cms
            .patch(
                "one",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"c": "3"}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.data.as_ref().unwrap().len(), 3);

        // JSON patch.
        let patched = cms
            .patch(
                "one",
                &PatchParams::default(),
                &Patch::<()>::Json(
                    serde_json::from_value(json!([{"op": "remove", "path": "/data/a"}])).unwrap(),
                ),
            )
            .await
            .unwrap();
        assert!(!patched.data.as_ref().unwrap().contains_key("a"));

        // Delete, then 404.
        cms.delete("one", &DeleteParams::default()).await.unwrap();
        let err = cms.get("one").await.unwrap_err();
        assert!(matches!(err, kube::Error::Api(s) if s.code == 404));
    });
}

#[tokio::test]
async fn deployments_are_defaulted_and_scaled() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let deploys: Api<Deployment> = Api::namespaced(client, "default");
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        }))
        .unwrap();
        let created = deploys.create(&PostParams::default(), &d).await.unwrap();
        let spec = created.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.revision_history_limit, Some(10));
        assert_eq!(created.metadata.generation, Some(1));
        let scale = deploys.get_scale("web").await.unwrap();
        assert_eq!(scale.spec.unwrap().replicas, Some(1));
        deploys
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 3}})),
            )
            .await
            .unwrap();
        let after = deploys.get("web").await.unwrap();
        assert_eq!(after.spec.unwrap().replicas, Some(3));
        assert_eq!(after.metadata.generation, Some(2));
    });
}

#[tokio::test]
async fn pagination_and_field_selectors() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        for i in 0..25 {
            cms.create(&PostParams::default(), &cm(&format!("cm-{i:02}"), &[]))
                .await
                .unwrap();
        }
        // Page through 10 at a time.
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut lp = ListParams::default().limit(10);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = cms.list(&lp).await.unwrap();
            pages += 1;
            names.extend(page.items.iter().map(|o| o.name_any()));
            match page.metadata.continue_ {
                Some(t) if !t.is_empty() => {
                    if pages == 1 {
                        assert_eq!(page.metadata.remaining_item_count, Some(15));
                    }
                    token = Some(t);
                }
                _ => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(names.len(), 25);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);

        let one = cms
            .list(&ListParams::default().fields("metadata.name=cm-07"))
            .await
            .unwrap();
        assert_eq!(one.items.len(), 1);
        let not_one = cms
            .list(&ListParams::default().fields("metadata.name!=cm-07"))
            .await
            .unwrap();
        assert_eq!(not_one.items.len(), 24);

        // Pods support spec.nodeName and status.phase selectors.
        let pods: Api<Pod> = Api::namespaced(client, "default");
        for (name, node) in [("a", "n1"), ("b", "n2"), ("c", "n1")] {
            let p: Pod = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
            }))
            .unwrap();
            pods.create(&PostParams::default(), &p).await.unwrap();
        }
        let on_n1 = pods
            .list(&ListParams::default().fields("spec.nodeName=n1"))
            .await
            .unwrap();
        let mut got: Vec<String> = on_n1.items.iter().map(|p| p.name_any()).collect();
        got.sort();
        assert_eq!(got, vec!["a", "c"]);
        let err = pods
            .list(&ListParams::default().fields("spec.bogus=x"))
            .await
            .unwrap_err();
        assert!(matches!(err, kube::Error::Api(s) if s.code == 400));
    });
}

#[tokio::test]
async fn runtime_watcher_sees_changes() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("before", &[]))
            .await
            .unwrap();
        let stream = watcher(cms.clone(), watcher::Config::default().labels("app=demo"));
        let mut stream = std::pin::pin!(stream);
        let mut seen_init = false;
        let mut seen_new = false;
        let writer = {
            let cms = cms.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                cms.create(&PostParams::default(), &cm("after", &[]))
                    .await
                    .unwrap();
            })
        };
        while let Some(ev) = stream.try_next().await.unwrap() {
            match ev {
                watcher::Event::InitApply(o) if o.name_any() == "before" => seen_init = true,
                watcher::Event::Apply(o) if o.name_any() == "after" => {
                    seen_new = true;
                    break;
                }
                _ => {}
            }
        }
        writer.await.unwrap();
        assert!(seen_init && seen_new);

        // Namespaces: the system ones exist.
        let nss: Api<Namespace> = Api::all(client);
        let names: Vec<String> = nss
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|n| n.name_any())
            .collect();
        for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        }
    });
}

#[tokio::test]
async fn partial_object_metadata_lists_and_watches() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&PostParams::default(), &cm("meta-a", &[("k", "v")]))
            .await
            .unwrap();
        let list = cms.list_metadata(&ListParams::default()).await.unwrap();
        let names: Vec<String> = list.items.iter().map(|o| o.name_any()).collect();
        assert!(names.contains(&"meta-a".to_string()), "{names:?}");
        let one = cms.get_metadata("meta-a").await.unwrap();
        assert_eq!(one.metadata.labels.as_ref().unwrap()["app"], "demo");
        let meta_api: Api<kube::core::PartialObjectMeta<ConfigMap>> =
            Api::namespaced(client.clone(), "default");
        let stream = watcher(meta_api, watcher::Config::default());
        let mut stream = std::pin::pin!(stream);
        let mut seen = false;
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::InitApply(o) = ev
                && o.name_any() == "meta-a"
            {
                seen = true;
                break;
            }
        }
        assert!(seen);
    });
}
