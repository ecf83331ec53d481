//! Where a remote APIService's requests go and how the connection is
//! secured: the Service's ClusterIP, or (with `--enable-aggregator-routing`)
//! a ready endpoint from its EndpointSlices; HTTPS verified against
//! `caBundle` for the name `<service>.<namespace>.svc` (or not verified with
//! `insecureSkipTLSVerify`), presenting the `--proxy-client-*` certificate.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use super::snapshot::ServiceRef;
use crate::registry::Registry;

/// The aggregator's client certificate and key.
pub struct ProxyIdentity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ProxyIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyIdentity").finish_non_exhaustive()
    }
}

impl ProxyIdentity {
    /// Loads `--proxy-client-cert-file` and `--proxy-client-key-file`.
    pub fn load(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let cert_pem = std::fs::read(cert)
            .with_context(|| format!("reading --proxy-client-cert-file {}", cert.display()))?;
        let key_pem = std::fs::read(key)
            .with_context(|| format!("reading --proxy-client-key-file {}", key.display()))?;
        let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing --proxy-client-cert-file")?;
        if certs.is_empty() {
            anyhow::bail!(
                "no certificate in --proxy-client-cert-file {}",
                cert.display()
            );
        }
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .context("parsing --proxy-client-key-file")?
            .context("no private key in --proxy-client-key-file")?;
        Ok(ProxyIdentity { certs, key })
    }
}

/// The TLS client configuration for one APIService's backend. Without a
/// `caBundle` the system roots are used, as upstream does.
pub fn client_tls(
    ca_bundle: &[u8],
    insecure: bool,
    identity: Option<&ProxyIdentity>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                crate::proxy::kubelet::NoServerVerification::new(provider),
            ))
    } else {
        let system;
        let pem: &[u8] = if ca_bundle.is_empty() {
            system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
            &system
        } else {
            ca_bundle
        };
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() && !ca_bundle.is_empty() {
            return Err(
                "unable to load root certificates: unable to parse bytes as PEM block".into(),
            );
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(certs);
        builder.with_root_certificates(roots)
    };
    let mut cfg = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
            .map_err(|e| format!("the proxy client certificate and key do not match: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    // The forwarder speaks HTTP/1.1 (upgrades pass through unchanged).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The name the backend's serving certificate must carry.
pub fn server_name(svc: &ServiceRef) -> String {
    format!("{}.{}.svc", svc.name, svc.namespace)
}

fn get_service(reg: &Registry, svc: &ServiceRef) -> Option<Value> {
    reg.cache("services")?
        .get(&format!("services/{}/{}", svc.namespace, svc.name))
        .and_then(|o| serde_json::from_slice(&o.json).ok())
}

/// The EndpointSlices of a namespace.
pub fn endpoint_slices(reg: &Registry, namespace: &str) -> Vec<Value> {
    reg.cached_values("endpointslices", Some(namespace))
}

/// The name of the Service port numbered `port`, if the Service has one.
pub fn port_name(service: &Value, port: i32) -> Option<String> {
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)?
        .iter()
        .find(|p| p.get("port").and_then(Value::as_i64) == Some(i64::from(port)))
        .map(|p| p["name"].as_str().unwrap_or("").to_string())
}

fn host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Resolves the `host:port` to dial (upstream's service resolvers:
/// `ResolveEndpoint` with endpoint routing, `ResolveCluster` without).
pub fn resolve(
    reg: &Registry,
    svc: &ServiceRef,
    endpoint_routing: bool,
    seed: usize,
) -> Result<String, String> {
    let service = get_service(reg, svc)
        .ok_or_else(|| format!("service \"{}/{}\" not found", svc.namespace, svc.name))?;
    let spec = &service["spec"];
    if spec["type"] == "ExternalName" {
        let host = spec["externalName"].as_str().unwrap_or("");
        return Ok(host_port(host, i64::from(svc.port)));
    }
    let Some(name) = port_name(&service, svc.port) else {
        return Err(format!(
            "service \"{}/{}\" has no port {}",
            svc.namespace, svc.name, svc.port
        ));
    };
    if !endpoint_routing {
        let ip = spec["clusterIP"].as_str().unwrap_or("");
        if ip.is_empty() || ip == "None" {
            return Err(format!("cannot route to service with ClusterIP \"{ip}\""));
        }
        return Ok(host_port(ip, i64::from(svc.port)));
    }
    let slices = endpoint_slices(reg, &svc.namespace);
    let id = format!("{}/{}", svc.namespace, svc.name);
    crate::proxy::service::pick(&svc.name, &name, &slices, seed, &id)
        .map(|e| e.authority())
        .map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_names_and_server_name() {
        let svc = json!({"spec": {"ports": [{"name": "https", "port": 443}, {"port": 8443}]}});
        assert_eq!(port_name(&svc, 443).as_deref(), Some("https"));
        assert_eq!(port_name(&svc, 8443).as_deref(), Some(""));
        assert_eq!(port_name(&svc, 80), None);
        let r = ServiceRef {
            namespace: "wardle".into(),
            name: "api".into(),
            port: 443,
        };
        assert_eq!(server_name(&r), "api.wardle.svc");
        assert_eq!(host_port("fd00::1", 443), "[fd00::1]:443");
    }

    #[test]
    fn tls_configs() {
        assert!(client_tls(b"not pem", false, None).is_err());
        assert!(client_tls(b"", true, None).is_ok());
    }
}
