//! The node Lease heartbeat (`kube-node-lease/<node>`), renewed every
//! quarter of `nodeLeaseDurationSeconds` like upstream, with a short
//! exponential backoff (200ms doubling to 7s) after failures.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};

/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

fn owner(node_name: &str, node_uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node_name.to_string(),
        uid: node_uid.to_string(),
        ..Default::default()
    }
}

/// Creates or renews the lease once.
pub async fn renew(
    client: &kube::Client,
    node_name: &str,
    node_uid: &str,
    duration_seconds: i32,
) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(jiff::Timestamp::now());
    match api.get_opt(node_name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node_name.to_string()),
                    namespace: Some(LEASE_NAMESPACE.into()),
                    owner_references: (!node_uid.is_empty())
                        .then(|| vec![owner(node_name, node_uid)]),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node_name.to_string()),
                    lease_duration_seconds: Some(duration_seconds),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await?;
        }
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = Some(node_name.to_string());
            spec.lease_duration_seconds = Some(duration_seconds);
            spec.renew_time = Some(now);
            if !node_uid.is_empty()
                && lease
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_none_or(|o| o.is_empty())
            {
                lease.metadata.owner_references = Some(vec![owner(node_name, node_uid)]);
            }
            api.replace(node_name, &PostParams::default(), &lease)
                .await?;
        }
    }
    Ok(())
}

/// Renews until `shutdown`.
pub async fn run(
    client: kube::Client,
    node_name: String,
    node_uid: tokio::sync::watch::Receiver<String>,
    duration_seconds: i32,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let interval =
        Duration::from_millis(u64::try_from(duration_seconds.max(1)).unwrap_or(40) * 250);
    let mut backoff = Duration::from_millis(200);
    loop {
        let uid = node_uid.borrow().clone();
        let wait = match renew(&client, &node_name, &uid, duration_seconds).await {
            Ok(()) => {
                backoff = Duration::from_millis(200);
                interval
            }
            Err(err) => {
                tracing::warn!(error = %err, "renewing the node lease");
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(7));
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut shutdown => return,
        }
    }
}
