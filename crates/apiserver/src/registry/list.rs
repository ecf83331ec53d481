//! LIST: selectors, pagination and resourceVersion semantics, served from
//! the watch cache (continue tokens and `resourceVersionMatch=Exact` read
//! etcd at the exact revision).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use corten_apimachinery::fields::FieldSelector;
use corten_apimachinery::labels::Selector;
use corten_apimachinery::{FieldError, GroupKind, Path, StatusError};
use corten_storage::{Filter, ListRequest, ListResult};

use super::keys::collection_prefix;
use super::store::storage_error;
use super::{Registry, Resource, convert};
use crate::continue_token;
use crate::query::{Query, parse_resource_version};

/// How long a consistent read waits for the cache to catch up.
pub const CONSISTENT_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Parses and validates the label and field selectors of a request.
pub fn parse_filter(res: &Resource, query: &Query) -> Result<Filter, StatusError> {
    let labels = match query.non_empty("labelSelector") {
        Some(s) => Selector::parse(s).map_err(|e| StatusError::bad_request(e.to_string()))?,
        None => Selector::everything(),
    };
    let fields = match query.non_empty("fieldSelector") {
        Some(s) => FieldSelector::parse(s).map_err(|e| StatusError::bad_request(e.to_string()))?,
        None => FieldSelector::everything(),
    };
    let supported = res.storage_def.strategy.field_labels();
    let mut converted = Vec::with_capacity(fields.requirements().len());
    for r in fields.requirements() {
        let mut r = r.clone();
        // Served-version field names map to stored ones (events.k8s.io's
        // `regarding.name` is the stored core Event's `involvedObject.name`).
        if let Some(c) = res.def.conversion {
            match c.field_label_to_storage(&r.field) {
                Some(f) => r.field = f,
                None => {
                    return Err(StatusError::bad_request(format!(
                        "field label not supported: {}",
                        r.field
                    )));
                }
            }
        }
        let f = r.field.as_str();
        if f != "metadata.name" && f != "metadata.namespace" && !supported.contains(&f) {
            return Err(StatusError::bad_request(format!(
                "field label not supported: {}",
                r.field
            )));
        }
        converted.push(r);
    }
    let fields = FieldSelector::from_requirements(converted);
    Ok(Filter { labels, fields })
}

fn list_options_invalid(errs: Vec<FieldError>) -> StatusError {
    StatusError::invalid(&GroupKind::new("meta.k8s.io", "ListOptions"), "", &errs)
}

/// The answer to a LIST, ready to encode.
pub struct ListOutput {
    /// Items as JSON in the served version.
    pub items: Vec<Bytes>,
    /// The list's resourceVersion.
    pub revision: i64,
    /// Continue token, if more items follow.
    pub continue_token: Option<String>,
    /// `remainingItemCount`, when known.
    pub remaining: Option<i64>,
}

/// Serves a LIST.
pub async fn list(
    reg: &Registry,
    res: &Resource,
    namespace: Option<&str>,
    query: &Query,
) -> Result<ListOutput, StatusError> {
    let _ = reg;
    let filter = parse_filter(res, query)?;
    let limit = query.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let rv_raw = query.get("resourceVersion");
    let rv = parse_resource_version(rv_raw)?;
    let rv_match = query.non_empty("resourceVersionMatch");
    let cont = query.non_empty("continue");
    let mut errs = Vec::new();
    if let Some(m) = rv_match {
        if !matches!(m, "NotOlderThan" | "Exact") {
            errs.push(FieldError::not_supported(
                &Path::new("resourceVersionMatch"),
                m,
                &["Exact", "NotOlderThan", ""],
            ));
        }
        if rv.is_none() {
            errs.push(FieldError::forbidden(
                &Path::new("resourceVersionMatch"),
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if m == "Exact" && rv == Some(0) {
            errs.push(FieldError::forbidden(
                &Path::new("resourceVersionMatch"),
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if cont.is_some() && rv.is_some_and(|r| r != 0) {
        errs.push(FieldError::forbidden(
            &Path::new("resourceVersion"),
            "specifying resource version is not allowed when using continue",
        ));
    }
    if !errs.is_empty() {
        return Err(list_options_invalid(errs));
    }
    let prefix = collection_prefix(res.def, namespace);
    let gr = res.group_resource();
    let mut req = ListRequest {
        prefix: prefix.clone(),
        filter,
        start_after: None,
        limit,
    };
    let result: ListResult = if let Some(token) = cont {
        let (revision, start) = continue_token::decode(token)?;
        req.start_after = Some(format!("{prefix}{start}"));
        if revision < 0 {
            // The token an expired continue got: the rest of the list at
            // the latest revision (inconsistent with its first pages).
            res.cache
                .wait_consistent(CONSISTENT_READ_TIMEOUT)
                .await
                .map_err(|e| storage_error(e, &gr, ""))?;
            res.cache.list(&req)
        } else {
            res.cache
                .list_from_etcd(&req, revision)
                .await
                .map_err(|e| match e {
                    // Upstream answers with a token that continues from
                    // the same key at the latest revision.
                    corten_storage::Error::TooOldResourceVersion { .. } => {
                        StatusError::continue_expired(continue_token::encode(
                            continue_token::LATEST,
                            &start,
                        ))
                    }
                    other => storage_error(other, &gr, ""),
                })?
        }
    } else {
        match (rv, rv_match) {
            (Some(r), Some("Exact")) => res
                .cache
                .list_from_etcd(&req, r)
                .await
                .map_err(|e| storage_error(e, &gr, ""))?,
            (None, _) => {
                res.cache
                    .wait_consistent(CONSISTENT_READ_TIMEOUT)
                    .await
                    .map_err(|e| storage_error(e, &gr, ""))?;
                res.cache.list(&req)
            }
            (Some(0), _) => res.cache.list(&req),
            (Some(r), _) => {
                res.cache
                    .wait_for_revision(r, CONSISTENT_READ_TIMEOUT)
                    .await
                    .map_err(|e| storage_error(e, &gr, ""))?;
                res.cache.list(&req)
            }
        }
    };
    let continue_token = result.continue_after.as_ref().map(|k| {
        let rel = k.strip_prefix(&prefix).unwrap_or(k);
        continue_token::encode(result.revision, rel)
    });
    let stored: Vec<&Bytes> = result.items.iter().map(|o| &o.json).collect();
    let items = convert::output_json_all(res, &stored).await?;
    Ok(ListOutput {
        items,
        revision: result.revision,
        continue_token,
        remaining: result.remaining.filter(|_| result.continue_after.is_some()),
    })
}

/// Encodes a list as `{"kind":"<Kind>List",...,"items":[...]}` by
/// concatenating the already-serialized items: no per-item re-encoding.
pub fn encode_list(res: &Resource, out: &ListOutput) -> Bytes {
    let body_len: usize = out.items.iter().map(|b| b.len() + 1).sum();
    let mut buf = BytesMut::with_capacity(body_len + 256);
    buf.put_slice(b"{\"kind\":\"");
    buf.put_slice(res.def.kind.as_bytes());
    buf.put_slice(b"List\",\"apiVersion\":\"");
    buf.put_slice(res.def.api_version().as_bytes());
    buf.put_slice(b"\",\"metadata\":{\"resourceVersion\":\"");
    buf.put_slice(out.revision.to_string().as_bytes());
    buf.put_u8(b'"');
    if let Some(c) = &out.continue_token {
        buf.put_slice(b",\"continue\":");
        buf.put_slice(serde_json::to_string(c).unwrap_or_default().as_bytes());
    }
    if let Some(r) = out.remaining {
        buf.put_slice(b",\"remainingItemCount\":");
        buf.put_slice(r.to_string().as_bytes());
    }
    buf.put_slice(b"},\"items\":[");
    for (i, item) in out.items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(item);
    }
    buf.put_slice(b"]}");
    buf.freeze()
}
