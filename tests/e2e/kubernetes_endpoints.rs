//! The `kubernetes` Service's Endpoints and EndpointSlice follow the live
//! apiservers (`--endpoint-reconciler-type=lease`, the default): a second
//! apiserver on the same etcd (same port, another address, as in an HA
//! control plane) adds its advertise address at start and takes it out
//! when it shuts down; objects edited by hand (or written by an older
//! Corten) are put right, labels included.

use std::time::Duration;

use clap::Parser;
use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// The addresses and port of the Endpoints and of the slice.
async fn published(client: &kube::Client) -> (Vec<String>, Vec<String>, Option<i32>) {
    let eps: Endpoints = Api::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap();
    let subset = eps.subsets.unwrap_or_default().into_iter().next();
    let addresses = subset
        .as_ref()
        .and_then(|s| s.addresses.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.ip)
        .collect();
    let port = subset
        .and_then(|s| s.ports)
        .and_then(|p| p.first().map(|p| p.port));
    let slice: EndpointSlice = Api::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap();
    let slice_addresses = slice
        .endpoints
        .iter()
        .flat_map(|e| e.addresses.clone())
        .collect();
    (addresses, slice_addresses, port)
}

async fn wait_published(client: &kube::Client, want: &[&str], port: u16, within: Duration) {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = published(client).await;
        if got == (want.clone(), want.clone(), Some(i32::from(port))) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kubernetes endpoints: got {got:?}, want {want:?} port {port}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_endpoints_follow_the_live_apiservers() {
    let cluster = TestCluster::start_with(&["--advertise-address=10.0.0.5"])
        .await
        .unwrap();
    let client = cluster.client().await.unwrap();
    let port: u16 = cluster.url.rsplit(':').next().unwrap().parse().unwrap();
    wait_published(&client, &["10.0.0.5"], port, Duration::from_secs(20)).await;

    // Someone rewrites the slice (an older Corten labelled it for the
    // mirroring controller) and empties the Endpoints.
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    slices
        .patch(
            "kubernetes",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"labels": {"endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io"}},
                "endpoints": [{"addresses": ["10.9.9.9"]}],
            })),
        )
        .await
        .unwrap();
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    endpoints
        .patch(
            "kubernetes",
            &PatchParams::default(),
            &Patch::Merge(json!({"subsets": null})),
        )
        .await
        .unwrap();

    // A second apiserver: same etcd, same port on another loopback
    // address, advertising 10.0.0.6. It reconciles before serving.
    let dir = cluster.dir();
    let args = [
        "kube-apiserver".to_string(),
        format!("--etcd-servers={}", cluster.etcd.endpoint()),
        format!("--secure-port={port}"),
        "--bind-address=127.0.0.2".into(),
        format!("--tls-cert-file={}", dir.join("apiserver.crt").display()),
        format!(
            "--tls-private-key-file={}",
            dir.join("apiserver.key").display()
        ),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--advertise-address=10.0.0.6".into(),
        "--authorization-mode=AlwaysAllow".into(),
    ];
    let config = corten_apiserver::options::Options::try_parse_from(&args)
        .unwrap()
        .complete()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(corten_apiserver::run(config, async move {
        let _ = stopped.await;
    }));
    wait_published(
        &client,
        &["10.0.0.5", "10.0.0.6"],
        port,
        Duration::from_secs(20),
    )
    .await;
    let slice = slices.get("kubernetes").await.unwrap();
    let labels = slice.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        [(
            "kubernetes.io/service-name".to_string(),
            "kubernetes".to_string()
        )],
        "the slice's labels are put right"
    );

    // A clean shutdown takes the second apiserver out at once (not after
    // its lease's 15 s).
    stop.send(()).unwrap();
    wait_published(&client, &["10.0.0.5"], port, Duration::from_secs(5)).await;
    tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("second apiserver stops")
        .unwrap()
        .unwrap();
}

#[test]
fn endpoint_reconciler_type_flag() {
    let parse = |value: &str| {
        corten_apiserver::options::Options::try_parse_from([
            "kube-apiserver",
            "--etcd-servers=http://127.0.0.1:1",
            &format!("--endpoint-reconciler-type={value}"),
        ])
        .unwrap()
        .complete()
    };
    assert!(parse("lease").unwrap().reconcile_endpoints);
    assert!(!parse("none").unwrap().reconcile_endpoints);
    assert!(
        parse("master-count")
            .unwrap_err()
            .contains("master-count is not implemented")
    );
    assert_eq!(
        parse("bogus").unwrap_err(),
        "invalid --endpoint-reconciler-type \"bogus\": must be one of lease, master-count, none"
    );
}
