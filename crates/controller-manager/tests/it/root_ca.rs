//! root-ca-certificate-publisher-controller: `kube-root-ca.crt` in every
//! namespace with the CA bundle and upstream's description, restored when
//! changed or deleted.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{cluster_ca_pem, namespace, start_manager, wait_for, write_cluster_ca};

const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

async fn wait_for_ca(api: &Api<ConfigMap>, expected: &str, what: &str) -> ConfigMap {
    wait_for(what, Duration::from_secs(30), || {
        let api = api.clone();
        let expected = expected.to_string();
        async move {
            let cm = api.get_opt("kube-root-ca.crt").await.unwrap()?;
            let data = cm.data.as_ref()?.get("ca.crt")?;
            (*data == expected).then_some(cm)
        }
    })
    .await
}

#[tokio::test]
async fn published_in_every_namespace_and_restored() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let ca_file = write_cluster_ca(&cluster);
        let ca = std::fs::read_to_string(&ca_file).unwrap();
        let manager = start_manager(
            &cluster,
            &[&format!("--root-ca-file={}", ca_file.display())],
        )
        .await;

        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &namespace("apps"))
            .await
            .unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "apps");
        let cm = wait_for_ca(&api, &ca, "kube-root-ca.crt in apps").await;
        assert_eq!(
            cm.annotations()
                .get("kubernetes.io/description")
                .map(String::as_str),
            Some(DESCRIPTION)
        );
        assert_eq!(cm.data.as_ref().unwrap().len(), 1);
        for ns in ["default", "kube-system", "kube-public"] {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            wait_for_ca(&api, &ca, &format!("kube-root-ca.crt in {ns}")).await;
        }

        // Tampered data is put back.
        api.patch(
            "kube-root-ca.crt",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"ca.crt": "forged", "extra": "x"}})),
        )
        .await
        .unwrap();
        let restored = wait_for_ca(&api, &ca, "the restored ca.crt").await;
        assert!(!restored.data.as_ref().unwrap().contains_key("extra"));

        // A lost description is put back.
        api.patch(
            "kube-root-ca.crt",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"kubernetes.io/description": null}}}),
            ),
        )
        .await
        .unwrap();
        wait_for("the restored description", Duration::from_secs(30), || {
            let api = api.clone();
            async move {
                let cm = api.get("kube-root-ca.crt").await.unwrap();
                cm.annotations()
                    .contains_key("kubernetes.io/description")
                    .then_some(())
            }
        })
        .await;

        // A deleted copy comes back.
        let uid = restored.uid();
        api.delete("kube-root-ca.crt", &DeleteParams::default())
            .await
            .unwrap();
        let recreated = wait_for(
            "a recreated kube-root-ca.crt",
            Duration::from_secs(30),
            || {
                let api = api.clone();
                let uid = uid.clone();
                async move {
                    api.get_opt("kube-root-ca.crt")
                        .await
                        .unwrap()
                        .filter(|cm| cm.uid() != uid)
                }
            },
        )
        .await;
        assert_eq!(recreated.data.unwrap()["ca.crt"], ca);
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn the_kubeconfig_ca_is_the_fallback() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &["--controllers=root-ca-cert-publisher"]).await;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let cm = wait_for(
            "kube-root-ca.crt in default",
            Duration::from_secs(30),
            || {
                let api = api.clone();
                async move { api.get_opt("kube-root-ca.crt").await.unwrap() }
            },
        )
        .await;
        let published = cm.data.unwrap()["ca.crt"].clone();
        let der = |pem: &[u8]| -> Vec<Vec<u8>> {
            rustls_pemfile::certs(&mut &pem[..])
                .map(|c| c.unwrap().to_vec())
                .collect()
        };
        assert_eq!(der(published.as_bytes()), der(&cluster_ca_pem(&cluster)));
        assert!(!der(published.as_bytes()).is_empty());
        manager.shutdown().await.unwrap();
    });
}
