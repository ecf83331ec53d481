//! The apiserver side of delegation: TokenReview and SubjectAccessReview
//! through a kube client, and the client CA published in the
//! `kube-system/extension-apiserver-authentication` ConfigMap.

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use super::authn::{TokenReviewer, UserInfo};
use super::authz::{AccessReviewer, Decision};

/// Where upstream's kube-apiserver publishes its client CA for delegated
/// authentication.
pub const AUTHENTICATION_CONFIGMAP: (&str, &str) =
    ("kube-system", "extension-apiserver-authentication");
/// The ConfigMap key holding the client CA bundle.
pub const CLIENT_CA_KEY: &str = "client-ca-file";

/// Reviews through an apiserver connection.
#[derive(Clone)]
pub struct KubeReviewer {
    client: kube::Client,
}

impl std::fmt::Debug for KubeReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeReviewer").finish_non_exhaustive()
    }
}

impl KubeReviewer {
    /// Uses `client` (its identity needs `create` on tokenreviews and
    /// subjectaccessreviews, as `system:auth-delegator` grants).
    pub fn new(client: kube::Client) -> KubeReviewer {
        KubeReviewer { client }
    }
}

impl TokenReviewer for KubeReviewer {
    fn review_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserInfo>, String>> {
        Box::pin(async move {
            let review = TokenReview {
                spec: TokenReviewSpec {
                    token: Some(token.to_string()),
                    audiences: None,
                },
                ..Default::default()
            };
            let api: Api<TokenReview> = Api::all(self.client.clone());
            let answer = api
                .create(&PostParams::default(), &review)
                .await
                .map_err(|e| format!("TokenReview: {e}"))?;
            Ok(answer
                .status
                .filter(|s| s.authenticated == Some(true))
                .and_then(|s| s.user)
                .map(|u| UserInfo {
                    name: u.username.unwrap_or_default(),
                    uid: u.uid.unwrap_or_default(),
                    groups: u.groups.unwrap_or_default(),
                    extra: u.extra.unwrap_or_default().into_iter().collect(),
                }))
        })
    }
}

impl AccessReviewer for KubeReviewer {
    fn review_access<'a>(
        &'a self,
        user: &'a UserInfo,
        verb: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Decision, String>> {
        Box::pin(async move {
            let review = SubjectAccessReview {
                spec: SubjectAccessReviewSpec {
                    user: Some(user.name.clone()),
                    uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
                    groups: Some(user.groups.clone()),
                    extra: (!user.extra.is_empty())
                        .then(|| user.extra.clone().into_iter().collect()),
                    non_resource_attributes: Some(NonResourceAttributes {
                        path: Some(path.to_string()),
                        verb: Some(verb.to_string()),
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
            let answer = api
                .create(&PostParams::default(), &review)
                .await
                .map_err(|e| format!("SubjectAccessReview: {e}"))?;
            let status = answer.status.unwrap_or_default();
            Ok(if status.allowed {
                Decision::Allow
            } else {
                Decision::Deny(status.reason.unwrap_or_default())
            })
        })
    }
}

/// The client CA bundle from the authentication ConfigMap; `Ok(None)` when
/// the ConfigMap or its key does not exist.
pub async fn client_ca_from_configmap(
    client: &kube::Client,
) -> Result<Option<Vec<u8>>, kube::Error> {
    let (namespace, name) = AUTHENTICATION_CONFIGMAP;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let configmap = api.get_opt(name).await?;
    Ok(configmap
        .and_then(|c| c.data)
        .and_then(|mut data| data.remove(CLIENT_CA_KEY))
        .filter(|pem| !pem.trim().is_empty())
        .map(String::into_bytes))
}

/// The ConfigMap keys of the front-proxy settings (upstream's
/// `RequestHeaderAuthRequestController`); lists are JSON arrays.
pub mod front_proxy_keys {
    /// The front-proxy CA bundle.
    pub const CA: &str = "requestheader-client-ca-file";
    /// Allowed proxy certificate CNs.
    pub const ALLOWED_NAMES: &str = "requestheader-allowed-names";
    /// Username headers.
    pub const USERNAME: &str = "requestheader-username-headers";
    /// UID headers.
    pub const UID: &str = "requestheader-uid-headers";
    /// Group headers.
    pub const GROUP: &str = "requestheader-group-headers";
    /// Extra header prefixes.
    pub const EXTRA_PREFIX: &str = "requestheader-extra-headers-prefix";
}

/// The front-proxy settings an apiserver publishes in the authentication
/// ConfigMap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontProxyConfig {
    /// The CA bundle (PEM); `None` when not published.
    pub ca_pem: Option<Vec<u8>>,
    /// Allowed proxy CNs.
    pub allowed_names: Vec<String>,
    /// Username headers.
    pub username_headers: Vec<String>,
    /// UID headers.
    pub uid_headers: Vec<String>,
    /// Group headers.
    pub group_headers: Vec<String>,
    /// Extra header prefixes.
    pub extra_prefixes: Vec<String>,
}

impl FrontProxyConfig {
    /// Reads the settings from the ConfigMap's data; an empty or missing
    /// list is empty, a list that is not a JSON array of strings is an
    /// error naming its key.
    pub fn from_data(
        data: &std::collections::BTreeMap<String, String>,
    ) -> Result<FrontProxyConfig, String> {
        let list = |key: &str| -> Result<Vec<String>, String> {
            match data.get(key).map(|v| v.trim()) {
                None | Some("") => Ok(Vec::new()),
                Some(v) => serde_json::from_str(v).map_err(|e| {
                    format!(
                        "key {key} of configmap kube-system/extension-apiserver-authentication: {e}"
                    )
                }),
            }
        };
        Ok(FrontProxyConfig {
            ca_pem: data
                .get(front_proxy_keys::CA)
                .filter(|pem| !pem.trim().is_empty())
                .map(|pem| pem.clone().into_bytes()),
            allowed_names: list(front_proxy_keys::ALLOWED_NAMES)?,
            username_headers: list(front_proxy_keys::USERNAME)?,
            uid_headers: list(front_proxy_keys::UID)?,
            group_headers: list(front_proxy_keys::GROUP)?,
            extra_prefixes: list(front_proxy_keys::EXTRA_PREFIX)?,
        })
    }
}

/// The front-proxy settings from the authentication ConfigMap; `Ok(None)`
/// when the ConfigMap does not exist.
pub async fn front_proxy_from_configmap(
    client: &kube::Client,
) -> anyhow::Result<Option<FrontProxyConfig>> {
    let (namespace, name) = AUTHENTICATION_CONFIGMAP;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let Some(configmap) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let data = configmap.data.unwrap_or_default();
    FrontProxyConfig::from_data(&data)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_proxy_settings_are_read_from_json_lists() {
        let mut data = std::collections::BTreeMap::new();
        data.insert(front_proxy_keys::CA.into(), "PEM".into());
        data.insert(
            front_proxy_keys::ALLOWED_NAMES.into(),
            r#"["front-proxy-client"]"#.into(),
        );
        data.insert(
            front_proxy_keys::USERNAME.into(),
            r#"["X-Remote-User"]"#.into(),
        );
        data.insert(front_proxy_keys::UID.into(), String::new());
        data.insert(
            front_proxy_keys::GROUP.into(),
            r#"["X-Remote-Group"]"#.into(),
        );
        data.insert(
            front_proxy_keys::EXTRA_PREFIX.into(),
            r#"["X-Remote-Extra-"]"#.into(),
        );
        let config = FrontProxyConfig::from_data(&data).unwrap();
        assert_eq!(config.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(config.allowed_names, ["front-proxy-client"]);
        assert_eq!(config.username_headers, ["X-Remote-User"]);
        assert!(config.uid_headers.is_empty());
        assert_eq!(config.extra_prefixes, ["X-Remote-Extra-"]);

        data.insert(front_proxy_keys::GROUP.into(), "X-Remote-Group".into());
        let err = FrontProxyConfig::from_data(&data).unwrap_err();
        assert!(err.contains("requestheader-group-headers"), "{err}");
        assert_eq!(
            FrontProxyConfig::from_data(&Default::default()).unwrap(),
            FrontProxyConfig::default()
        );
    }
}
