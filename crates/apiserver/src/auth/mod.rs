//! Who is asking, and may they: authentication, impersonation,
//! authorization and the review APIs built on them.
//!
//! The request pipeline (see [`crate::app`]) runs, in order:
//! [`authn::Authenticator::authenticate`] (request headers from an allowed
//! front proxy, x509 client certificate, bearer
//! token: static token file or ServiceAccount JWT; else anonymous) ->
//! [`impersonation::apply`] (`Impersonate-*` headers, each checked with the
//! `impersonate` verb) -> [`authz::Authorizer::authorize`] (Node, RBAC,
//! AlwaysAllow, AlwaysDeny in `--authorization-mode` order) -> the handler.
//! Refusals are upstream's 401 (`Unauthorized`) and 403 Status objects.

pub mod aggregation;
pub mod authn;
pub mod authz;
pub mod escalation;
pub mod impersonation;
pub use corten_component_base::jwt;
pub mod policy;
pub mod requestheader;
pub mod reviews;
pub mod serviceaccount;
pub mod token_file;
pub mod token_request;
pub mod x509;

use std::collections::BTreeMap;

use corten_apimachinery::{Reason, StatusError};

/// The group every authenticated user is in.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// The group of anonymous requests.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The user name of anonymous requests.
pub const ANONYMOUS: &str = "system:anonymous";
/// Members of this group may do anything (bound to cluster-admin, and
/// exempt from escalation checks).
pub const SYSTEM_PRIVILEGED_GROUP: &str = "system:masters";
/// The group of node identities.
pub const NODES_GROUP: &str = "system:nodes";
/// The user name prefix of node identities (`system:node:<name>`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The user name prefix of ServiceAccounts
/// (`system:serviceaccount:<namespace>:<name>`).
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// The group of every ServiceAccount.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";

/// An authenticated identity (upstream `user.Info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// Unique id, if the authenticator knows one.
    pub uid: String,
    /// Groups, `system:authenticated` included where it applies.
    pub groups: Vec<String>,
    /// Extra attributes (`authentication.kubernetes.io/pod-name`, ...).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and groups.
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The anonymous user.
    pub fn anonymous() -> Self {
        UserInfo::new(ANONYMOUS, &[ALL_UNAUTHENTICATED])
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Adds `system:authenticated` unless the user is anonymous or already
    /// has it (upstream's group adder around every authenticator).
    pub fn with_authenticated_group(mut self) -> Self {
        if self.name != ANONYMOUS
            && !self.in_group(ALL_AUTHENTICATED)
            && !self.in_group(ALL_UNAUTHENTICATED)
        {
            self.groups.push(ALL_AUTHENTICATED.to_string());
        }
        self
    }

    /// The `user.authentication.k8s.io/v1` UserInfo JSON of reviews.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"username": self.name});
        if !self.uid.is_empty() {
            v["uid"] = serde_json::json!(self.uid);
        }
        if !self.groups.is_empty() {
            v["groups"] = serde_json::json!(self.groups);
        }
        if !self.extra.is_empty() {
            v["extra"] = serde_json::json!(self.extra);
        }
        v
    }

    /// `(namespace, name)` if this is a ServiceAccount identity.
    pub fn service_account(&self) -> Option<(&str, &str)> {
        split_service_account_user(&self.name)
    }

    /// The node name if this is a node identity (in `system:nodes`, named
    /// `system:node:<name>`).
    pub fn node_name(&self) -> Option<&str> {
        if !self.in_group(NODES_GROUP) {
            return None;
        }
        self.name
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|n| !n.is_empty())
    }
}

/// `system:serviceaccount:ns:name` -> `(ns, name)`.
pub fn split_service_account_user(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    if ns.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((ns, name))
}

/// The user name of a ServiceAccount.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
}

/// The groups of a ServiceAccount in `namespace`.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        SERVICE_ACCOUNTS_GROUP.to_string(),
        format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}"),
    ]
}

/// Upstream's 401 body: `{"message":"Unauthorized","reason":"Unauthorized"}`.
pub fn unauthorized() -> StatusError {
    StatusError::new(Reason::Unauthorized, "Unauthorized")
}
