//! TLS bootstrap (upstream `bootstrap.LoadClientCert`): when `--kubeconfig`
//! is missing or its client certificate has expired, the kubelet uses
//! `--bootstrap-kubeconfig` (a bootstrap token, typically) to request a
//! client certificate, then writes it with its key to
//! `<cert-dir>/kubelet-client-<time>.pem`, points the
//! `kubelet-client-current.pem` symlink at it and writes `--kubeconfig`
//! referring to that symlink. The key of an unfinished attempt is kept in
//! `kubelet-client.key.tmp`, so a restarted kubelet waits for the same
//! request instead of making a new one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use kube::config::Kubeconfig;

use super::csr::{self, Naming, Template};
use super::pair::{CLIENT_PREFIX, PairStore, validity, write_private};

/// The symlink to the current client certificate + key.
pub const CURRENT: &str = "kubelet-client-current.pem";
const TMP_KEY: &str = "kubelet-client.key.tmp";

fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Whether `kubeconfig` exists and its client certificate (if it uses one)
/// has not expired (upstream `isClientConfigStillValid`).
pub fn still_valid(kubeconfig: &Path) -> bool {
    let Ok(config) = Kubeconfig::read_from(kubeconfig) else {
        return false;
    };
    let user = config
        .current_context
        .as_ref()
        .and_then(|name| config.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone());
    let Some(auth) = config
        .auth_infos
        .iter()
        .find(|a| Some(&a.name) == user.as_ref())
        .or_else(|| config.auth_infos.first())
        .and_then(|a| a.auth_info.as_ref())
    else {
        return false;
    };
    let pem = if let Some(data) = &auth.client_certificate_data {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok()
    } else if let Some(file) = &auth.client_certificate {
        let path = kubeconfig
            .parent()
            .map_or_else(|| PathBuf::from(file), |dir| dir.join(file));
        std::fs::read(path).ok()
    } else {
        // Token or other credentials: nothing to renew here.
        return true;
    };
    match pem.as_deref().and_then(validity) {
        Some((_, not_after)) => not_after > now_seconds(),
        None => false,
    }
}

/// Writes `cert_pem` + `key_pem` as `<dir>/kubelet-client-<time>.pem` and
/// points [`CURRENT`] at it (atomically). Returns the symlink's path.
pub fn store(cert_dir: &Path, cert_pem: &[u8], key_pem: &str) -> anyhow::Result<PathBuf> {
    PairStore::new(cert_dir, CLIENT_PREFIX).update(cert_pem, key_pem)
}

/// The kubeconfig upstream writes after bootstrap: the bootstrap
/// kubeconfig's cluster (CA embedded) and the certificate symlink as user.
fn kubeconfig_text(
    bootstrap: &Kubeconfig,
    bootstrap_path: &Path,
    current: &Path,
) -> anyhow::Result<String> {
    let cluster = bootstrap
        .current_context
        .as_ref()
        .and_then(|name| bootstrap.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref())
        .and_then(|c| bootstrap.clusters.iter().find(|n| n.name == c.cluster))
        .or_else(|| bootstrap.clusters.first())
        .and_then(|n| n.cluster.clone())
        .context("the bootstrap kubeconfig has no cluster")?;
    let server = cluster
        .server
        .clone()
        .context("the bootstrap kubeconfig has no server")?;
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => Some(data.clone()),
        (None, Some(file)) => {
            let path = bootstrap_path
                .parent()
                .map_or_else(|| PathBuf::from(file), |dir| dir.join(file));
            let pem =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Some(base64::engine::general_purpose::STANDARD.encode(pem))
        }
        (None, None) => None,
    };
    let mut cluster_json = serde_json::json!({"server": server});
    if let Some(ca) = ca {
        cluster_json["certificate-authority-data"] = ca.into();
    }
    if cluster.insecure_skip_tls_verify == Some(true) {
        cluster_json["insecure-skip-tls-verify"] = true.into();
    }
    let current = current.display().to_string();
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "default-cluster", "cluster": cluster_json}],
        "contexts": [{"name": "default-context", "context": {
            "cluster": "default-cluster", "namespace": "default", "user": "default-auth"}}],
        "current-context": "default-context",
        "users": [{"name": "default-auth", "user": {
            "client-certificate": current, "client-key": current}}],
    });
    Ok(serde_yaml::to_string(&config)?)
}

/// A client from a kubeconfig file.
pub async fn client_from(path: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))?;
    Ok(kube::Client::try_from(config)?)
}

/// Makes sure `kubeconfig` holds valid client credentials, requesting a
/// certificate with `bootstrap` when it does not. Waits at most `timeout`
/// for the request to be issued.
pub async fn load_client_cert(
    kubeconfig: &Path,
    bootstrap: &Path,
    cert_dir: &Path,
    node_name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    if still_valid(kubeconfig) {
        tracing::info!(kubeconfig = %kubeconfig.display(), "kubeconfig is valid; skipping TLS bootstrap");
        return Ok(());
    }
    tracing::info!(bootstrap = %bootstrap.display(), "using the bootstrap kubeconfig to request a client certificate");
    let bootstrap_config = Kubeconfig::read_from(bootstrap)
        .with_context(|| format!("reading the bootstrap kubeconfig {}", bootstrap.display()))?;
    let client = client_from(bootstrap).await?;
    std::fs::create_dir_all(cert_dir)
        .with_context(|| format!("creating {}", cert_dir.display()))?;
    let tmp_key = cert_dir.join(TMP_KEY);
    let kept = std::fs::read_to_string(&tmp_key).ok();
    let template = Template::client(node_name);
    let request = match csr::make_request(&template, kept.as_deref()) {
        Ok(r) => r,
        // A damaged leftover key: start over.
        Err(_) => csr::make_request(&template, None)?,
    };
    write_private(&tmp_key, request.key_pem.as_bytes())
        .with_context(|| format!("writing {}", tmp_key.display()))?;
    // Like upstream's waitForServer: an apiserver that is not up yet gets a
    // minute; refusals (4xx) are final.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut backoff = Duration::from_secs(1);
    let name = loop {
        match csr::submit(&client, &request, &template, Naming::Digested).await {
            Ok(name) => break name,
            Err(err)
                if tokio::time::Instant::now() < give_up
                    && !matches!(err.downcast_ref::<kube::Error>(), Some(kube::Error::Api(_))) =>
            {
                tracing::warn!(error = %format!("{err:#}"), "the apiserver is not reachable yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(8));
            }
            Err(err) => return Err(err),
        }
    };
    let cert = csr::wait(&client, &name, timeout).await?;
    csr::check_issued(&cert, &request.public_key)?;
    let current = store(cert_dir, &cert, &request.key_pem)?;
    let text = kubeconfig_text(&bootstrap_config, bootstrap, &current)?;
    if let Some(dir) = kubeconfig.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(kubeconfig, text.as_bytes())
        .with_context(|| format!("writing {}", kubeconfig.display()))?;
    let _ = std::fs::remove_file(&tmp_key);
    tracing::info!(kubeconfig = %kubeconfig.display(), certificate = %current.display(), "TLS bootstrap done");
    Ok(())
}
