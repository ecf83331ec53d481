//! Conformance: Namespace and ResourceQuota API operations as upstream's
//! test/e2e/apimachinery namespace.go and resource_quota.go send them
//! (the parts that need no controller).

use std::time::Duration;

use corten_e2e::TestCluster;
use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

// ---- Namespaces (upstream test/e2e/apimachinery/namespace.go) ----

#[tokio::test]
async fn namespace_update_status_patch_and_finalize() {
    use k8s_openapi::api::core::v1::Namespace;
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(
            json!({"metadata": {"name": "e2e-ns-apply", "labels": {"e2e": "x"}}}),
        )
        .unwrap();
        let created = namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();

        // Strategic merge patch of a label, with a newer resourceVersion.
        let patch = json!({"metadata": {"labels": {"testLabel": "testValue"}}});
        let patched = namespaces
            .patch(
                "e2e-ns-apply",
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .unwrap();
        let rv_of = |n: &Namespace| -> i64 {
            n.metadata
                .resource_version
                .as_deref()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(rv_of(&patched) > rv_of(&created));
        assert_eq!(
            patched.metadata.labels.as_ref().unwrap()["testLabel"],
            "testValue"
        );

        // Update of a label.
        let mut current = namespaces.get("e2e-ns-apply").await.unwrap();
        current
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("e2e-ns-apply".into(), "updated".into());
        let updated = namespaces
            .replace("e2e-ns-apply", &PostParams::default(), &current)
            .await
            .unwrap();
        assert_eq!(
            updated.metadata.labels.as_ref().unwrap()["e2e-ns-apply"],
            "updated"
        );

        // /status: read (phase Active), merge-patch metadata and a
        // condition together, then update with one more condition.
        let status = namespaces.get_status("e2e-ns-apply").await.unwrap();
        assert_eq!(
            status.status.as_ref().unwrap().phase.as_deref(),
            Some("Active")
        );
        let patch = json!({
            "metadata": {"annotations": {"e2e-patched-ns-status": "e2e-ns-apply"}},
            "status": {"conditions": [{"type": "StatusPatch", "status": "True", "reason": "E2E", "message": "Patched by an e2e test"}]},
        });
        let patched = namespaces
            .patch_status(
                "e2e-ns-apply",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()["e2e-patched-ns-status"],
            "e2e-ns-apply"
        );
        let last = patched
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            (last.reason.as_deref(), last.message.as_deref()),
            (Some("E2E"), Some("Patched by an e2e test"))
        );
        let mut current = namespaces.get_status("e2e-ns-apply").await.unwrap();
        current.status.as_mut().unwrap().conditions.as_mut().unwrap().push(
            serde_json::from_value(json!({"type": "StatusUpdate", "status": "True", "reason": "E2E", "message": "Updated by an e2e test"}))
                .unwrap(),
        );
        let updated = namespaces
            .replace_status("e2e-ns-apply", &PostParams::default(), &current)
            .await
            .unwrap();
        let last = updated
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last.type_, "StatusUpdate");
        assert_eq!(last.message.as_deref(), Some("Updated by an e2e test"));

        // /finalize adds and removes a finalizer.
        let fake = "e2e.example.com/fakeFinalizer";
        let finalize = |ns: Namespace| {
            let client = client.clone();
            async move {
                let req = http::Request::put("/api/v1/namespaces/e2e-ns-apply/finalize")
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&ns).unwrap())
                    .unwrap();
                client.request::<Namespace>(req).await.unwrap()
            }
        };
        let mut current = namespaces.get("e2e-ns-apply").await.unwrap();
        current
            .spec
            .get_or_insert_with(Default::default)
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(fake.into());
        let with = finalize(current).await;
        let finalizers = |n: &Namespace| {
            n.spec
                .as_ref()
                .and_then(|s| s.finalizers.clone())
                .unwrap_or_default()
        };
        assert!(finalizers(&with).contains(&fake.to_string()), "{with:?}");
        assert!(finalizers(&with).contains(&"kubernetes".to_string()));
        let mut current = namespaces.get("e2e-ns-apply").await.unwrap();
        current
            .spec
            .as_mut()
            .unwrap()
            .finalizers
            .as_mut()
            .unwrap()
            .retain(|f| f != fake);
        let without = finalize(current).await;
        assert!(
            !finalizers(&without).contains(&fake.to_string()),
            "{without:?}"
        );
    })
}

// ---- ResourceQuota API (upstream test/e2e/apimachinery/resource_quota.go) ----

#[tokio::test]
async fn resource_quota_update_delete_lifecycle_and_status() {
    use k8s_openapi::api::core::v1::ResourceQuota;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "default");
        let hard = |q: &ResourceQuota, r: &str| {
            q.spec.as_ref().unwrap().hard.as_ref().unwrap()[r].0.clone()
        };
        let quota = |name: &str, cpu: &str, mem: &str| -> ResourceQuota {
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"e2e-rq-label": name}},
                "spec": {"hard": {"cpu": cpu, "memory": mem}},
            }))
            .unwrap()
        };

        // Update and delete.
        quotas
            .create(&PostParams::default(), &quota("test-quota", "1", "500Mi"))
            .await
            .unwrap();
        let got = quotas.get("test-quota").await.unwrap();
        assert_eq!(
            (hard(&got, "cpu"), hard(&got, "memory")),
            ("1".into(), "500Mi".into())
        );
        let updated = quotas
            .replace(
                "test-quota",
                &PostParams::default(),
                &quota("test-quota", "2", "1Gi"),
            )
            .await
            .unwrap();
        assert_eq!(
            (hard(&updated, "cpu"), hard(&updated, "memory")),
            ("2".into(), "1Gi".into())
        );
        quotas
            .delete("test-quota", &DeleteParams::default())
            .await
            .unwrap();
        match quotas.get("test-quota").await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 404),
            other => panic!("expected 404, got {other:?}"),
        }

        // Lifecycle: list across namespaces by label, strategic patch,
        // delete the collection.
        quotas
            .create(
                &PostParams::default(),
                &quota("e2e-quota-life", "1", "500Mi"),
            )
            .await
            .unwrap();
        let all: Api<ResourceQuota> = Api::all(client.clone());
        let lp = ListParams::default().labels("e2e-rq-label=e2e-quota-life");
        assert_eq!(all.list(&lp).await.unwrap().items.len(), 1);
        let patch = json!({"metadata": {"labels": {"e2e-quota-life": "patched"}}, "spec": {"hard": {"memory": "750Mi"}}});
        let patched = quotas
            .patch(
                "e2e-quota-life",
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.labels.as_ref().unwrap()["e2e-quota-life"],
            "patched"
        );
        assert_eq!(hard(&patched, "memory"), "750Mi");
        assert_eq!(hard(&patched, "cpu"), "1");
        quotas
            .delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert!(quotas.get_opt("e2e-quota-life").await.unwrap().is_none());

        // Status: update status.hard, see it through a watch, patch the
        // spec, patch the status; /status never changes the spec.
        let lp = ListParams::default().labels("e2e-rq-label=e2e-rq-status");
        let rv = all
            .list(&lp)
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        quotas
            .create(
                &PostParams::default(),
                &quota("e2e-rq-status", "500m", "500Mi"),
            )
            .await
            .unwrap();
        let mut current = quotas.get("e2e-rq-status").await.unwrap();
        current.status = Some(
            serde_json::from_value(json!({"hard": {"cpu": "500m", "memory": "500Mi"}})).unwrap(),
        );
        let updated = quotas
            .replace_status("e2e-rq-status", &PostParams::default(), &current)
            .await
            .unwrap();
        assert_eq!(
            updated.status.as_ref().unwrap().hard,
            updated.spec.as_ref().unwrap().hard
        );
        let mut watch = quotas
            .watch(
                &WatchParams::default().labels("e2e-rq-label=e2e-rq-status"),
                &rv,
            )
            .await
            .unwrap()
            .boxed();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(30), watch.try_next())
                .await
                .expect("watch event")
                .unwrap()
                .expect("watch open");
            if let WatchEvent::Added(q) | WatchEvent::Modified(q) = ev
                && q.status.as_ref().and_then(|s| s.hard.as_ref())
                    == q.spec.as_ref().unwrap().hard.as_ref()
            {
                break;
            }
        }
        let patch = json!({"spec": {"hard": {"cpu": "1", "memory": "1Gi"}}});
        let patched = quotas
            .patch(
                "e2e-rq-status",
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .unwrap();
        assert_eq!(
            (hard(&patched, "cpu"), hard(&patched, "memory")),
            ("1".into(), "1Gi".into())
        );
        let status_patch = json!({"status": {"hard": {"cpu": "1", "memory": "1Gi"}}});
        let patched = quotas
            .patch_status(
                "e2e-rq-status",
                &PatchParams::default(),
                &Patch::Strategic(&status_patch),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.status.as_ref().unwrap().hard,
            patched.spec.as_ref().unwrap().hard
        );
        let read = quotas.get_status("e2e-rq-status").await.unwrap();
        assert_eq!(
            read.status.as_ref().unwrap().hard.as_ref().unwrap()["memory"],
            Quantity("1Gi".into())
        );
        // A status patch that tries to change the spec leaves it alone.
        let sneaky = json!({"spec": {"hard": {"cpu": "9"}}, "status": {"hard": {"cpu": "2", "memory": "2Gi"}}});
        let patched = quotas
            .patch_status(
                "e2e-rq-status",
                &PatchParams::default(),
                &Patch::Strategic(&sneaky),
            )
            .await
            .unwrap();
        assert_eq!(hard(&patched, "cpu"), "1");
        assert_eq!(
            patched.status.as_ref().unwrap().hard.as_ref().unwrap()["cpu"],
            Quantity("2".into())
        );
    })
}
