//! namespace-controller: deleting a namespace deletes its content, reports
//! what remains in the NamespaceDeletion* conditions, and the namespace
//! disappears once it is empty.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{namespace, start_manager, wait_for};

fn condition<'a>(
    ns: &'a Namespace,
    type_: &str,
) -> Option<&'a k8s_openapi::api::core::v1::NamespaceCondition> {
    ns.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Upstream behaviour the apiserver does not have yet: it deletes a
/// Terminating namespace on *any* update (here: the controller's status
/// update with the conditions) while `spec.finalizers` still holds
/// `kubernetes`, instead of only once both finalizer lists are empty. Run
/// with `--ignored` once that is fixed.
#[tokio::test]
async fn content_with_finalizers_keeps_the_namespace_and_is_reported() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &namespace("doomed"))
            .await
            .unwrap();

        let post = PostParams::default();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
        for name in ["one", "two"] {
            cms.create(
                &post,
                &serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}}))
                    .unwrap(),
            )
            .await
            .unwrap();
        }
        // Held by a finalizer until the test removes it.
        cms.create(
            &post,
            &serde_json::from_value(
                json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "doomed");
        secrets
            .create(
                &post,
                &serde_json::from_value(
                    json!({"metadata": {"name": "s"}, "stringData": {"p": "w"}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "doomed");
        deployments
            .create(
                &post,
                &serde_json::from_value(json!({
                    "metadata": {"name": "web"},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                        }
                    }
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        let services: Api<Service> = Api::namespaced(client.clone(), "doomed");
        services
            .create(
                &post,
                &serde_json::from_value(json!({
                    "metadata": {"name": "web"},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        // Not scheduled, so deleted at once despite its grace period.
        let pods: Api<Pod> = Api::namespaced(client.clone(), "doomed");
        pods.create(
            &post,
            &serde_json::from_value(json!({
                "metadata": {"name": "p"},
                "spec": {"terminationGracePeriodSeconds": 30, "containers": [{"name": "c", "image": "busybox"}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();

        namespaces
            .delete("doomed", &DeleteParams::default())
            .await
            .unwrap();
        let ns = namespaces.get("doomed").await.unwrap();
        assert!(ns.metadata.deletion_timestamp.is_some());
        assert_eq!(
            ns.status.as_ref().unwrap().phase.as_deref(),
            Some("Terminating")
        );

        // Everything but the held ConfigMap goes; the conditions say why
        // the namespace stays.
        let ns = wait_for(
            "the NamespaceContentRemaining condition",
            Duration::from_secs(60),
            || {
                let namespaces = namespaces.clone();
                async move {
                    let ns = namespaces.get("doomed").await.ok()?;
                    let remaining = condition(&ns, "NamespaceContentRemaining")?;
                    (remaining.status == "True").then_some(ns)
                }
            },
        )
        .await;
        assert_eq!(
            condition(&ns, "NamespaceContentRemaining")
                .unwrap()
                .message
                .as_deref(),
            Some("Some resources are remaining: configmaps. has 1 resource instances")
        );
        let finalizers = condition(&ns, "NamespaceFinalizersRemaining").unwrap();
        assert_eq!(finalizers.status, "True");
        assert_eq!(finalizers.reason.as_deref(), Some("SomeFinalizersRemain"));
        assert_eq!(
            finalizers.message.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
            )
        );
        for (type_, reason) in [
            ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered"),
            (
                "NamespaceDeletionGroupVersionParsingFailure",
                "ParsedGroupVersions",
            ),
            ("NamespaceDeletionContentFailure", "ContentDeleted"),
        ] {
            let c = condition(&ns, type_).unwrap_or_else(|| panic!("no {type_}"));
            assert_eq!(
                (c.status.as_str(), c.reason.as_deref()),
                ("False", Some(reason)),
                "{type_}"
            );
        }
        let spec_finalizers = ns
            .spec
            .as_ref()
            .unwrap()
            .finalizers
            .clone()
            .unwrap_or_default();
        assert_eq!(spec_finalizers, ["kubernetes"]);
        let lp = ListParams::default();
        let left: Vec<String> = cms
            .list(&lp)
            .await
            .unwrap()
            .items
            .iter()
            .map(|c| c.name_any())
            .collect();
        assert_eq!(left, ["held"]);
        assert!(
            cms.get("held")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_some()
        );
        assert!(secrets.list(&lp).await.unwrap().items.is_empty());
        assert!(deployments.list(&lp).await.unwrap().items.is_empty());
        assert!(services.list(&lp).await.unwrap().items.is_empty());
        assert!(pods.list(&lp).await.unwrap().items.is_empty());

        // Release the finalizer: the namespace goes away.
        cms.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
        wait_for(
            "the namespace to disappear",
            Duration::from_secs(60),
            || {
                let namespaces = namespaces.clone();
                async move {
                    namespaces
                        .get_opt("doomed")
                        .await
                        .unwrap()
                        .is_none()
                        .then_some(())
                }
            },
        )
        .await;
        assert!(manager.reconciles() > 0);
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn deletion_removes_content_and_then_the_namespace() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &namespace("doomed"))
            .await
            .unwrap();
        let post = PostParams::default();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
        cms.create(
            &post,
            &serde_json::from_value(json!({"metadata": {"name": "one"}, "data": {"k": "v"}}))
                .unwrap(),
        )
        .await
        .unwrap();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "doomed");
        secrets
            .create(
                &post,
                &serde_json::from_value(
                    json!({"metadata": {"name": "s"}, "stringData": {"p": "w"}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "doomed");
        deployments
            .create(
                &post,
                &serde_json::from_value(json!({
                    "metadata": {"name": "web"},
                    "spec": {
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                        }
                    }
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        let services: Api<Service> = Api::namespaced(client.clone(), "doomed");
        services
            .create(
                &post,
                &serde_json::from_value(json!({
                    "metadata": {"name": "web"},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        // The controllers fill the namespace too.
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "doomed");
        wait_for(
            "the default serviceaccount",
            Duration::from_secs(30),
            || {
                let sas = sas.clone();
                async move { sas.get_opt("default").await.unwrap() }
            },
        )
        .await;

        namespaces
            .delete("doomed", &DeleteParams::default())
            .await
            .unwrap();
        wait_for(
            "the namespace to disappear",
            Duration::from_secs(60),
            || {
                let namespaces = namespaces.clone();
                async move {
                    namespaces
                        .get_opt("doomed")
                        .await
                        .unwrap()
                        .is_none()
                        .then_some(())
                }
            },
        )
        .await;
        let lp = ListParams::default();
        assert!(cms.list(&lp).await.unwrap().items.is_empty());
        assert!(secrets.list(&lp).await.unwrap().items.is_empty());
        assert!(deployments.list(&lp).await.unwrap().items.is_empty());
        assert!(services.list(&lp).await.unwrap().items.is_empty());
        assert!(sas.list(&lp).await.unwrap().items.is_empty());
        // A namespace of the same name starts empty.
        namespaces
            .create(&PostParams::default(), &namespace("doomed"))
            .await
            .unwrap();
        assert!(cms.get_opt("one").await.unwrap().is_none());
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn kubectl_delete_namespace_waits_until_it_is_gone() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let manager = start_manager(&cluster, &["--controllers=namespace"]).await;
        cluster
            .kubectl_ok(&["create", "namespace", "scratch"])
            .await
            .unwrap();
        cluster
            .kubectl_ok(&[
                "-n",
                "scratch",
                "create",
                "configmap",
                "settings",
                "--from-literal=a=b",
            ])
            .await
            .unwrap();
        cluster
            .kubectl_ok(&[
                "-n",
                "scratch",
                "create",
                "service",
                "clusterip",
                "api",
                "--tcp=80:8080",
            ])
            .await
            .unwrap();
        cluster
            .kubectl_ok(&[
                "-n",
                "scratch",
                "create",
                "deployment",
                "web",
                "--image=busybox",
            ])
            .await
            .unwrap();

        // kubectl waits for the namespace to be gone (--wait=true).
        let out = cluster
            .kubectl_ok(&["delete", "namespace", "scratch"])
            .await
            .unwrap();
        assert_eq!(out.trim(), "namespace \"scratch\" deleted");
        let gone = cluster
            .kubectl(&["get", "namespace", "scratch"])
            .await
            .unwrap();
        assert!(!gone.status.success());
        let stderr = String::from_utf8_lossy(&gone.stderr);
        assert!(
            stderr.contains("namespaces \"scratch\" not found"),
            "{stderr}"
        );
        assert_eq!(manager.running_controllers(), ["namespace-controller"]);
        manager.shutdown().await.unwrap();
    });
}
