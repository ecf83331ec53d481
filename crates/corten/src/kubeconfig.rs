//! Writing kubeconfig files (the `clientcmd/api/v1` `Config` format kubectl,
//! client-go and kube-rs read).

use std::path::Path;

use anyhow::Context as _;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A kubeconfig file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kubeconfig {
    /// Always `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Config`.
    pub kind: String,
    /// Known clusters.
    pub clusters: Vec<NamedCluster>,
    /// Known users (credentials).
    pub users: Vec<NamedUser>,
    /// Cluster + user pairs.
    pub contexts: Vec<NamedContext>,
    /// The context kubectl uses by default.
    #[serde(rename = "current-context")]
    pub current_context: String,
}

/// A named cluster entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// Entry name.
    pub name: String,
    /// Connection details.
    pub cluster: Cluster,
}

/// How to reach and trust an apiserver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Base64 of the PEM CA bundle that signed the serving certificate.
    #[serde(rename = "certificate-authority-data")]
    pub certificate_authority_data: String,
    /// `https://host:port`.
    pub server: String,
}

/// A named user entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    /// Entry name.
    pub name: String,
    /// Credentials.
    pub user: UserCredentials,
}

/// Credentials of a user; all optional (none = anonymous).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCredentials {
    /// Base64 of the PEM client certificate.
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub client_certificate_data: Option<String>,
    /// Base64 of the PEM client key.
    #[serde(
        rename = "client-key-data",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub client_key_data: Option<String>,
    /// Bearer token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<String>,
}

impl UserCredentials {
    /// Credentials from a PEM client certificate and key.
    pub fn client_certificate(cert_pem: &str, key_pem: &str) -> Self {
        Self {
            client_certificate_data: Some(b64(cert_pem)),
            client_key_data: Some(b64(key_pem)),
            token: None,
        }
    }
}

/// A named context entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    /// Entry name.
    pub name: String,
    /// The pair.
    pub context: Context,
}

/// A cluster + user pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Name of a cluster entry.
    pub cluster: String,
    /// Name of a user entry.
    pub user: String,
}

impl Kubeconfig {
    /// A kubeconfig with a single cluster, user and context.
    ///
    /// `corten up` uses cluster `corten`, user `admin`, context `corten`.
    pub fn single(
        cluster: &str,
        server: &str,
        ca_pem: &str,
        user: &str,
        credentials: UserCredentials,
        context: &str,
    ) -> Self {
        Self {
            api_version: "v1".to_string(),
            kind: "Config".to_string(),
            clusters: vec![NamedCluster {
                name: cluster.to_string(),
                cluster: Cluster {
                    certificate_authority_data: b64(ca_pem),
                    server: server.to_string(),
                },
            }],
            users: vec![NamedUser {
                name: user.to_string(),
                user: credentials,
            }],
            contexts: vec![NamedContext {
                name: context.to_string(),
                context: Context {
                    cluster: cluster.to_string(),
                    user: user.to_string(),
                },
            }],
            current_context: context.to_string(),
        }
    }

    /// The YAML text.
    pub fn render(&self) -> anyhow::Result<String> {
        serde_yaml::to_string(self).context("rendering the kubeconfig")
    }

    /// Writes the file with mode 0600 (it may hold credentials).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        crate::pki::write_file_atomic(path, self.render()?.as_bytes(), 0o600)
    }
}

/// Where `corten up` writes a daemon's kubeconfig:
/// `<state>/<component>.kubeconfig` (`kube-scheduler`,
/// `kube-controller-manager`, `kubelet`, `kube-proxy`).
pub fn component_kubeconfig_path(
    layout: &crate::state::StateLayout,
    component: &str,
) -> std::path::PathBuf {
    layout.root().join(format!("{component}.kubeconfig"))
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn renders_the_admin_kubeconfig() {
        let config = Kubeconfig::single(
            "corten",
            "https://127.0.0.1:6443",
            CA,
            "admin",
            UserCredentials::default(),
            "corten",
        );
        let yaml = config.render().unwrap();
        let value: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(value["apiVersion"], "v1");
        assert_eq!(value["kind"], "Config");
        assert_eq!(value["current-context"], "corten");
        assert_eq!(value["clusters"][0]["name"], "corten");
        assert_eq!(
            value["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        let ca_data = value["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(ca_data)
            .unwrap();
        assert_eq!(decoded, CA.as_bytes());
        assert_eq!(value["users"][0]["name"], "admin");
        // No credentials yet: an empty mapping, not nulls.
        assert!(value["users"][0]["user"].as_mapping().unwrap().is_empty());
        assert_eq!(value["contexts"][0]["name"], "corten");
        assert_eq!(value["contexts"][0]["context"]["cluster"], "corten");
        assert_eq!(value["contexts"][0]["context"]["user"], "admin");
        // Round trip.
        let back: Kubeconfig = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn client_certificate_credentials_are_base64() {
        let creds = UserCredentials::client_certificate("CERT", "KEY");
        let config = Kubeconfig::single("c", "https://x:1", CA, "u", creds, "ctx");
        let yaml = config.render().unwrap();
        assert!(yaml.contains("client-certificate-data: Q0VSVA=="), "{yaml}");
        assert!(yaml.contains("client-key-data: S0VZ"), "{yaml}");
        assert!(!yaml.contains("token"), "{yaml}");
    }

    #[test]
    fn written_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.kubeconfig");
        let config = Kubeconfig::single(
            "corten",
            "https://127.0.0.1:6443",
            CA,
            "admin",
            UserCredentials::default(),
            "corten",
        );
        config.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back: Kubeconfig =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, config);
    }
}
