//! The kubelet's certificates through CertificateSigningRequests: TLS
//! bootstrap of the client certificate ([`bootstrap`]), its rotation
//! ([`client`], closing the connections of the old certificate:
//! [`connections`]) and the serving certificate of the kubelet API
//! ([`serving`]). They share the request and wait ([`csr`]), the files in
//! the cert dir ([`pair`]) and the rotation schedule ([`rotation`]).

pub mod bootstrap;
pub mod client;
pub mod connections;
pub mod csr;
pub mod pair;
pub mod rotation;
pub mod serving;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::KubeletConfig;
use client::CertStore;

/// How long the kubelet waits for its bootstrap CSR to be issued (upstream waits an hour).
pub const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(3600);

/// The kubelet's API client.
#[derive(Clone)]
pub struct ApiClient {
    /// The client.
    pub client: kube::Client,
    /// The certificate to rotate (with `rotateCertificates` and a
    /// certificate file from the cert dir).
    pub rotation: Option<Arc<CertStore>>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

/// The file holding both the client certificate and key of the
/// kubeconfig's user (what TLS bootstrap writes), if any.
fn bundle_file(kubeconfig: &Path) -> Option<PathBuf> {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).ok()?;
    let user = config
        .current_context
        .as_ref()
        .and_then(|name| config.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone());
    let auth = config
        .auth_infos
        .iter()
        .find(|a| Some(&a.name) == user.as_ref())?
        .auth_info
        .as_ref()?;
    let cert = auth.client_certificate.as_ref()?;
    (auth.client_key.as_ref() == Some(cert)).then(|| {
        kubeconfig
            .parent()
            .map_or_else(|| PathBuf::from(cert), |dir| dir.join(cert))
    })
}

/// Bootstraps credentials if needed (`--bootstrap-kubeconfig`) and builds
/// the API client. `None` without `--kubeconfig`.
pub async fn api_client(
    config: &KubeletConfig,
    bootstrap_timeout: Duration,
) -> anyhow::Result<Option<ApiClient>> {
    let Some(kubeconfig) = &config.kubeconfig else {
        return Ok(None);
    };
    if let Some(bootstrap) = config
        .bootstrap_kubeconfig
        .as_ref()
        .filter(|b| *b != kubeconfig)
    {
        bootstrap::load_client_cert(
            kubeconfig,
            bootstrap,
            &config.cert_dir,
            &config.node_name,
            bootstrap_timeout,
        )
        .await?;
    }
    let rotate = config.c().rotate_certificates.unwrap_or(false);
    match bundle_file(kubeconfig) {
        Some(bundle) => {
            let store = CertStore::load(&config.cert_dir, &bundle)?;
            let client = client::client_with_store(kubeconfig, store.clone()).await?;
            Ok(Some(ApiClient {
                client,
                rotation: rotate.then_some(store),
            }))
        }
        None => {
            if rotate {
                tracing::warn!(
                    "rotateCertificates needs the client certificate and key in one file (as TLS bootstrap writes it); not rotating"
                );
            }
            Ok(Some(ApiClient {
                client: bootstrap::client_from(kubeconfig).await?,
                rotation: None,
            }))
        }
    }
}

#[cfg(test)]
mod tests;
