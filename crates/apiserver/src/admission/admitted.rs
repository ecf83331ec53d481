//! Writes whose result admission must see before storage does: PATCH
//! (JSON, merge, strategic merge and server-side apply) and `/scale`
//! updates. The change is computed on the current object, the mutating
//! plugins and webhooks see (and may change) the result, the validating
//! ones judge it, and it is written only if the object did not change
//! meanwhile (its resourceVersion); a lost race starts over, as upstream's
//! GuaranteedUpdate re-runs admission on a retry.

use corten_apimachinery::{Reason, StatusError, meta};
use serde_json::Value;

use super::hooks::Write;
use crate::registry::change::Change;
use crate::registry::keys::object_key;
use crate::registry::store::{self, UpdateTarget, Updated};
use crate::registry::{Resource, convert};

/// How often a write is retried after losing a race.
const ATTEMPTS: usize = 5;

/// Applies `change` to the current object `name`, admits the result and
/// writes it (creates it, for an apply of a missing object). Returns the
/// written object (served version) and the admitted new view.
pub async fn update<'a>(
    write: &Write<'a>,
    name: &'a str,
    change: &dyn Change,
    target: UpdateTarget,
) -> Result<(Updated, Value), StatusError> {
    let reg = &write.server.registry;
    let res: &Resource = write.res;
    let gr = res.group_resource();
    let key = object_key(res.def, write.namespace, name);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let kv = reg
            .store
            .get(&key)
            .await
            .map_err(|e| store::storage_error(e, &gr, name))?;
        let Some(kv) = kv else {
            return match change.object_to_create() {
                Some(obj) => create(write, obj?).await,
                None => Err(StatusError::not_found(&gr, name)),
            };
        };
        let current = convert::from_storage(res, store::decode_stored(&kv)?)?;
        let current_rv = meta::resource_version(&current)
            .unwrap_or_default()
            .to_string();
        let (old_view, mut new_view) = change.admission_objects(&current)?;
        write
            .admit_update(name, &mut new_view, Some(&old_view))
            .await?;
        let mut new = change.object_to_write(&current, new_view.clone())?;
        write
            .validate_update(name, &new_view, Some(&old_view))
            .await?;
        write.rbac_checks(&new)?;
        // A change that sets another resourceVersion is the client's
        // precondition: its conflicts are the client's to see.
        let client_precondition = meta::resource_version(&new).is_some_and(|rv| rv != current_rv);
        if !client_precondition && let Ok(rv) = current_rv.parse::<i64>() {
            meta::set_resource_version(&mut new, rv);
        }
        let written = store::update_from_hint(
            reg,
            res,
            write.namespace,
            name,
            new,
            target,
            write.opts,
            Some(kv),
        )
        .await;
        match written {
            Err(e)
                if e.reason == Reason::Conflict && !client_precondition && attempt < ATTEMPTS =>
            {
                continue;
            }
            r => return r.map(|u| (u, new_view)),
        }
    }
}

/// The create of an apply to a missing object: CREATE admission, then the
/// store's create.
async fn create(write: &Write<'_>, mut obj: Value) -> Result<(Updated, Value), StatusError> {
    crate::crd::check_create(write.res)?;
    write.create(&mut obj).await?;
    let created = store::create(
        &write.server.registry,
        write.res,
        write.namespace,
        obj.clone(),
        write.opts,
    )
    .await?;
    Ok((
        Updated {
            object: created,
            created: true,
        },
        obj,
    ))
}
