//! How pods' referenced objects (ConfigMaps, Secrets, Services) are looked
//! up, behind a trait so env and volume code is testable without an apiserver.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use std::path::PathBuf;

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::Store;

/// Looks up objects a pod refers to. `Ok(None)` means "does not exist".
#[async_trait]
pub trait ObjectGetter: Send + Sync {
    /// A ConfigMap.
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>, String>;
    /// A Secret.
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, String>;
    /// Services of a namespace (for service environment variables).
    fn services(&self, namespace: &str) -> Vec<Service>;
    /// The host path behind a PersistentVolumeClaim bound to a hostPath or
    /// local PersistentVolume.
    async fn claim_host_path(&self, namespace: &str, claim: &str) -> Result<PathBuf, String>;
    /// A service account token for `pod` (TokenRequest), with its expiry.
    async fn service_account_token(
        &self,
        pod: &Pod,
        audiences: Vec<String>,
        expiration_seconds: i64,
    ) -> Result<(String, jiff::Timestamp), String>;
}

/// Reads through the apiserver (GET per lookup; Services from a watch cache).
#[derive(Clone)]
pub struct ApiObjects {
    client: kube::Client,
    services: Option<Store<Service>>,
}

impl std::fmt::Debug for ApiObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiObjects").finish_non_exhaustive()
    }
}

impl ApiObjects {
    /// Lookups through `client`, Services from `services` when given.
    pub fn new(client: kube::Client, services: Option<Store<Service>>) -> Self {
        Self { client, services }
    }
}

fn not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

#[async_trait]
impl ObjectGetter for ApiObjects {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        match api.get(name).await {
            Ok(cm) => Ok(Some(cm)),
            Err(err) if not_found(&err) => Ok(None),
            Err(err) => Err(err.to_string()),
        }
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match api.get(name).await {
            Ok(s) => Ok(Some(s)),
            Err(err) if not_found(&err) => Ok(None),
            Err(err) => Err(err.to_string()),
        }
    }

    fn services(&self, namespace: &str) -> Vec<Service> {
        let Some(store) = &self.services else {
            return Vec::new();
        };
        store
            .state()
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .map(|s| (**s).clone())
            .collect()
    }

    async fn claim_host_path(&self, namespace: &str, claim: &str) -> Result<PathBuf, String> {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        let pvc = match claims.get(claim).await {
            Ok(pvc) => pvc,
            Err(err) if not_found(&err) => {
                return Err(format!("persistentvolumeclaim \"{claim}\" not found"));
            }
            Err(err) => return Err(err.to_string()),
        };
        let volume = pvc
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("persistentvolumeclaim \"{claim}\" is not bound"))?;
        let volumes: Api<PersistentVolume> = Api::all(self.client.clone());
        let pv = volumes.get(&volume).await.map_err(|e| e.to_string())?;
        let spec = pv.spec.unwrap_or_default();
        if let Some(host) = spec.host_path {
            return Ok(PathBuf::from(host.path));
        }
        if let Some(local) = spec.local {
            return Ok(PathBuf::from(local.path));
        }
        Err(format!(
            "persistentvolume \"{volume}\" is neither hostPath nor local; only those are supported"
        ))
    }

    async fn service_account_token(
        &self,
        pod: &Pod,
        audiences: Vec<String>,
        expiration_seconds: i64,
    ) -> Result<(String, jiff::Timestamp), String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let account = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences,
                expiration_seconds: Some(expiration_seconds),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                }),
            },
            ..Default::default()
        };
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let response: TokenRequest = api
            .create_subresource("token", &account, &PostParams::default(), &request)
            .await
            .map_err(|e| format!("failed to fetch token: {e}"))?;
        let status = response
            .status
            .ok_or_else(|| "failed to fetch token: empty TokenRequest status".to_string())?;
        Ok((status.token, status.expiration_timestamp.0))
    }
}

/// In-memory objects for tests.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    /// ConfigMaps by (namespace, name).
    pub config_maps: Mutex<BTreeMap<(String, String), ConfigMap>>,
    /// Secrets by (namespace, name).
    pub secrets: Mutex<BTreeMap<(String, String), Secret>>,
    /// Services.
    pub services: Mutex<Vec<Service>>,
}

impl MemoryObjects {
    /// Adds a ConfigMap with string data.
    pub fn add_config_map(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        self.config_maps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((namespace.into(), name.into()), cm);
    }

    /// Adds a Secret with data.
    pub fn add_secret(&self, namespace: &str, name: &str, data: &[(&str, &[u8])]) {
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.to_vec())))
                    .collect(),
            ),
            ..Default::default()
        };
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((namespace.into(), name.into()), secret);
    }
}

#[async_trait]
impl ObjectGetter for MemoryObjects {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>, String> {
        Ok(self
            .config_maps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.into(), name.into()))
            .cloned())
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, String> {
        Ok(self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.into(), name.into()))
            .cloned())
    }

    fn services(&self, namespace: &str) -> Vec<Service> {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .cloned()
            .collect()
    }

    async fn claim_host_path(&self, _namespace: &str, claim: &str) -> Result<PathBuf, String> {
        Err(format!("persistentvolumeclaim \"{claim}\" not found"))
    }

    async fn service_account_token(
        &self,
        pod: &Pod,
        _audiences: Vec<String>,
        expiration_seconds: i64,
    ) -> Result<(String, jiff::Timestamp), String> {
        let expiry = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(expiration_seconds))
            .map_err(|e| e.to_string())?;
        Ok((
            format!(
                "fake-token-for-{}",
                pod.metadata.name.as_deref().unwrap_or_default()
            ),
            expiry,
        ))
    }
}
