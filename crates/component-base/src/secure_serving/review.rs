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
