//! `--use-service-account-credentials`: each controller talks to the
//! apiserver as its own ServiceAccount in `kube-system` (upstream's
//! SAControllerClientBuilder), so RBAC applies the narrow
//! `system:controller:<name>` roles and audit logs name the controller.
//!
//! The manager's own credentials only create the ServiceAccount and ask for
//! its tokens (TokenRequest, 1 hour, renewed at 80% of the lifetime); the
//! shared informers keep using them (its role lists and watches
//! everything). Tokens stay in memory: a request layer sets the current
//! token on every request.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use kube::{Client, Config};
use tokio_util::sync::CancellationToken;

/// The namespace of the controllers' ServiceAccounts.
pub const NAMESPACE: &str = "kube-system";

/// How long requested tokens live (upstream asks for an hour).
const TOKEN_SECONDS: i64 = 3600;

/// The ServiceAccount a controller uses, by its canonical name (upstream's
/// names; most are the controller's own). `None`: it uses the manager's
/// credentials (the token controller must, to mint tokens).
pub fn service_account_for(controller: &str) -> Option<&str> {
    Some(match controller {
        // The token controller mints tokens; aggregation runs in the
        // apiserver, so that entry needs no identity.
        "serviceaccount-token-controller" | "clusterrole-aggregation-controller" => return None,
        "replicationcontroller-controller" => "replication-controller",
        "garbage-collector-controller" => "generic-garbage-collector",
        "serviceaccount-controller" => "service-account-controller",
        "root-ca-certificate-publisher-controller" => "root-ca-cert-publisher",
        "daemonset-controller" => "daemon-set-controller",
        "endpoints-controller" => "endpoint-controller",
        "node-lifecycle-controller" | "node-ipam-controller" => "node-controller",
        "pod-garbage-collector-controller" => "pod-garbage-collector",
        "persistentvolume-binder-controller" => "persistent-volume-binder",
        "persistentvolumeclaim-protection-controller" => "pvc-protection-controller",
        "persistentvolume-protection-controller" => "pv-protection-controller",
        "certificatesigningrequest-signing-controller"
        | "certificatesigningrequest-approving-controller"
        | "certificatesigningrequest-cleaner-controller" => "certificate-controller",
        "persistentvolume-attach-detach-controller" => "attachdetach-controller",
        "horizontal-pod-autoscaler-controller" => "horizontal-pod-autoscaler",
        "resourcequota-controller" => "resourcequota-controller",
        other => other,
    })
}

/// Builds per-controller clients from the manager's client and config.
#[derive(Clone)]
pub struct ServiceAccountClients {
    root: Client,
    base: Config,
    stop: CancellationToken,
}

impl ServiceAccountClients {
    /// `root` holds the manager's credentials; `base` is its configuration
    /// (the cluster URL and CA are kept, the credentials replaced).
    pub fn new(root: Client, base: Config, stop: CancellationToken) -> Self {
        ServiceAccountClients { root, base, stop }
    }

    /// A client authenticating as `kube-system/<service_account>`; creates
    /// the ServiceAccount when missing and keeps its token fresh until the
    /// manager stops.
    pub async fn client_for(&self, service_account: &str) -> anyhow::Result<Client> {
        self.ensure_service_account(service_account).await?;
        let (token, lifetime) = self.request_token(service_account).await?;
        let current = Arc::new(RwLock::new(token));
        self.spawn_renewal(service_account, current.clone(), lifetime);
        let mut config = self.base.clone();
        config.auth_info = Default::default();
        let set_token =
            tower::util::MapRequestLayer::new(move |mut req: http::Request<kube::client::Body>| {
                let token = current.read().map(|t| t.clone()).unwrap_or_default();
                if let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
                    req.headers_mut().insert(http::header::AUTHORIZATION, value);
                }
                req
            });
        let client = kube::client::ClientBuilder::try_from(config)
            .context("building a ServiceAccount client")?
            .with_layer(&set_token)
            .build();
        Ok(client)
    }

    async fn ensure_service_account(&self, name: &str) -> anyhow::Result<()> {
        let api: Api<ServiceAccount> = Api::namespaced(self.root.clone(), NAMESPACE);
        if api.get_opt(name).await?.is_some() {
            return Ok(());
        }
        let sa = ServiceAccount {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(NAMESPACE.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => Err(e).with_context(|| format!("creating ServiceAccount {NAMESPACE}/{name}")),
        }
    }

    async fn request_token(&self, name: &str) -> anyhow::Result<(String, Duration)> {
        let api: Api<ServiceAccount> = Api::namespaced(self.root.clone(), NAMESPACE);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: Vec::new(),
                expiration_seconds: Some(TOKEN_SECONDS),
                bound_object_ref: None,
            },
            ..Default::default()
        };
        let answer: TokenRequest = api
            .create_subresource("token", name, &PostParams::default(), &request)
            .await
            .with_context(|| format!("requesting a token for {NAMESPACE}/{name}"))?;
        let status = answer
            .status
            .context("the TokenRequest answer has no status")?;
        let lifetime = (status.expiration_timestamp.0 - jiff::Timestamp::now())
            .total(jiff::Unit::Second)
            .map(|s| Duration::from_secs_f64(s.max(60.0)))
            .unwrap_or(Duration::from_secs(TOKEN_SECONDS as u64));
        Ok((status.token, lifetime))
    }

    fn spawn_renewal(&self, name: &str, current: Arc<RwLock<String>>, lifetime: Duration) {
        let me = self.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let mut wait = lifetime.mul_f64(0.8);
            loop {
                tokio::select! {
                    () = me.stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                match me.request_token(&name).await {
                    Ok((token, lifetime)) => {
                        if let Ok(mut t) = current.write() {
                            *t = token;
                        }
                        wait = lifetime.mul_f64(0.8);
                    }
                    Err(err) => {
                        tracing::warn!(service_account = %name, error = %format!("{err:#}"), "renewing a controller token");
                        wait = Duration::from_secs(10);
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_service_account_names() {
        assert_eq!(
            service_account_for("replicaset-controller"),
            Some("replicaset-controller")
        );
        assert_eq!(
            service_account_for("garbage-collector-controller"),
            Some("generic-garbage-collector")
        );
        assert_eq!(
            service_account_for("root-ca-certificate-publisher-controller"),
            Some("root-ca-cert-publisher")
        );
        assert_eq!(service_account_for("serviceaccount-token-controller"), None);
    }
}
