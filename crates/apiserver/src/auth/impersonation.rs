//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the
//! `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
//! `Impersonate-Extra-<key>` headers, each authorized with the
//! `impersonate` verb on `users`, `groups`, `serviceaccounts`, `uids` or
//! `userextras/<key>` like upstream.

use std::collections::BTreeMap;

use corten_apimachinery::StatusError;
use http::HeaderMap;

use super::authz::{Attributes, Authorizer, forbidden};
use super::{
    ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, UserInfo, service_account_groups,
    split_service_account_user,
};
use crate::registry::Registry;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

fn header_values(headers: &HeaderMap, name: &str) -> Result<Vec<String>, StatusError> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| StatusError::bad_request(format!("invalid {name} header")))
        })
        .collect()
}

/// Whether the request asks to impersonate anyone.
pub fn requested(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"))
}

/// Applies the impersonation headers: checks that `user` may impersonate
/// each requested attribute and returns the impersonated user. Requests
/// without the headers keep `user`.
pub fn apply(
    reg: &Registry,
    authz: &Authorizer,
    headers: &HeaderMap,
    user: UserInfo,
) -> Result<UserInfo, StatusError> {
    if !requested(headers) {
        return Ok(user);
    }
    let names = header_values(headers, USER)?;
    let groups = header_values(headers, GROUP)?;
    let uids = header_values(headers, UID)?;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in headers {
        if let Some(key) = k.as_str().strip_prefix(EXTRA_PREFIX) {
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .to_lowercase();
            let value = v
                .to_str()
                .map_err(|_| StatusError::bad_request("invalid Impersonate-Extra header"))?;
            extra.entry(key).or_default().push(value.to_string());
        }
    }
    let Some(name) = names.first().cloned().filter(|n| !n.is_empty()) else {
        return Err(StatusError::internal(format!(
            "requested {:?} without impersonating a user",
            groups.iter().chain(uids.iter()).collect::<Vec<_>>()
        )));
    };
    if names.len() > 1 || uids.len() > 1 {
        return Err(StatusError::bad_request(
            "only one Impersonate-User and one Impersonate-Uid header are allowed",
        ));
    }
    let check = |attrs: Attributes| -> Result<(), StatusError> {
        let d = authz.authorize(reg, &attrs);
        if d.allowed() {
            Ok(())
        } else {
            Err(forbidden(&attrs, d.reason()))
        }
    };
    let mut target = UserInfo {
        name: name.clone(),
        ..Default::default()
    };
    match split_service_account_user(&name) {
        Some((ns, sa)) => {
            check(Attributes::resource(
                &user,
                "impersonate",
                "",
                "serviceaccounts",
                ns,
                sa,
            ))?;
            if groups.is_empty() {
                target.groups = service_account_groups(ns);
            }
        }
        None => check(Attributes::resource(
            &user,
            "impersonate",
            "",
            "users",
            "",
            &name,
        ))?,
    }
    for g in &groups {
        check(Attributes::resource(
            &user,
            "impersonate",
            "",
            "groups",
            "",
            g,
        ))?;
        target.groups.push(g.clone());
    }
    if let Some(uid) = uids.first() {
        check(Attributes::resource(
            &user,
            "impersonate",
            "authentication.k8s.io",
            "uids",
            "",
            uid,
        ))?;
        target.uid = uid.clone();
    }
    for (key, values) in &extra {
        for v in values {
            let mut a = Attributes::resource(
                &user,
                "impersonate",
                "authentication.k8s.io",
                "userextras",
                "",
                v,
            );
            a.subresource = key.clone();
            check(a)?;
        }
    }
    target.extra = extra;
    if target.name == ANONYMOUS {
        if !target.in_group(ALL_UNAUTHENTICATED) {
            target.groups.push(ALL_UNAUTHENTICATED.into());
        }
    } else if !target.in_group(ALL_AUTHENTICATED) {
        target.groups.push(ALL_AUTHENTICATED.into());
    }
    Ok(target)
}
