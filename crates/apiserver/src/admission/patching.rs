//! PATCH with dynamic admission: webhooks and policies must see the
//! patched object, so when one matches, the patch is applied here to the
//! current object, admission runs on the result, and the result is written
//! as an update that only succeeds if the object did not change meanwhile
//! (its resourceVersion); a conflict starts over, as upstream's
//! GuaranteedUpdate re-runs admission on a retry.

use bytes::Bytes;
use corten_apimachinery::{Reason, StatusError, meta};
use serde_json::Value;

use super::hooks::Write;
use crate::registry::patch::apply_patch;
use crate::registry::store::{self, UpdateTarget, Updated};
use crate::wire::InputFormat;

/// How often a patch is retried after losing a race.
const ATTEMPTS: usize = 5;

/// Applies `body` to the current object, admits the result and writes it.
pub async fn patch<'a>(
    write: &Write<'a>,
    name: &'a str,
    body: Bytes,
    input: InputFormat,
    target: UpdateTarget,
) -> Result<Updated, StatusError> {
    let reg = &write.server.registry;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = store::get(reg, write.res, write.namespace, name, None).await?;
        let old: Value = serde_json::from_slice(&current).map_err(StatusError::internal)?;
        let old_rv = meta::resource_version(&old).unwrap_or_default().to_string();
        let mut new = apply_patch(write.res, name, &old, &body, input)?;
        if !new.is_object() {
            return Err(StatusError::bad_request(
                "the patch must produce a JSON object",
            ));
        }
        // A patch that sets resourceVersion is the client's precondition:
        // its conflicts are the client's to see.
        let client_precondition = meta::resource_version(&new).is_some_and(|rv| rv != old_rv);
        write.update_from(name, Some(&mut new), Some(&old)).await?;
        if !client_precondition && let Ok(rv) = old_rv.parse::<i64>() {
            meta::set_resource_version(&mut new, rv);
        }
        match store::update(
            reg,
            write.res,
            write.namespace,
            name,
            new,
            target,
            write.opts,
        )
        .await
        {
            Err(e)
                if e.reason == Reason::Conflict && !client_precondition && attempt < ATTEMPTS =>
            {
                continue;
            }
            r => return r,
        }
    }
}
