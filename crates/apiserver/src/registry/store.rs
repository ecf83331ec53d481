//! The generic REST store: create, get and update for every resource,
//! calling the kind's strategy in upstream's fixed order. Deletion lives in
//! `delete.rs`, lists in `list.rs`, watches in `watch.rs`.

use bytes::Bytes;
use corten_api::Strategy;
use corten_apimachinery::{GroupKind, GroupResource, StatusError, meta, time};
use corten_storage::{KeyValue, UpdateDecision, UpdateOutcome};
use serde_json::Value;

use super::keys::{check_path_segment, object_key};
use super::{Registry, Resource, admission, convert, services};

/// `fieldValidation`: what to do with fields the kind does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and return a `Warning` header per field (the default).
    #[default]
    Warn,
    /// Reject the request (400).
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter.
    pub fn parse(v: Option<&str>) -> Result<Self, StatusError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(StatusError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}"
            ))),
        }
    }
}

/// Options common to writes.
#[derive(Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything but the write.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// Warnings to send back in `Warning` headers.
    pub warnings: std::sync::Mutex<Vec<String>>,
    /// Service addresses and ports allocated ahead of an update.
    pub service_pool: std::sync::Mutex<services::UpdatePool>,
    /// Family of the service range (for ipFamilies of new ClusterIPs).
    pub service_cidr_is_v4: bool,
}

impl WriteOptions {
    /// Records a warning for the response.
    pub fn warn(&self, text: String) {
        if let Ok(mut w) = self.warnings.lock()
            && !w.contains(&text)
        {
            w.push(text);
        }
    }

    /// The collected warnings.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// Fields present (and non-null) in `input` that the typed round trip
/// dropped, as paths like `spec.ports[0].foo`.
pub fn dropped_fields(input: &Value, canonical: &Value) -> Vec<String> {
    fn walk(i: &Value, k: &Value, path: &str, out: &mut Vec<String>) {
        match (i, k) {
            (Value::Object(i), Value::Object(k)) => {
                for (key, v) in i {
                    if v.is_null() {
                        continue;
                    }
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    match k.get(key) {
                        Some(kv) => walk(v, kv, &child, out),
                        None => out.push(child),
                    }
                }
            }
            (Value::Array(i), Value::Array(k)) => {
                for (n, (iv, kv)) in i.iter().zip(k.iter()).enumerate() {
                    walk(iv, kv, &format!("{path}[{n}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(input, canonical, "", &mut out);
    out
}

/// Applies `fieldValidation` to the fields canonicalization dropped.
pub fn check_unknown_fields(
    res: &Resource,
    input: &Value,
    canonical: &Value,
    opts: &WriteOptions,
) -> Result<(), StatusError> {
    if opts.field_validation == FieldValidation::Ignore {
        return Ok(());
    }
    // Only the object's own content is checked: metadata fields the server
    // manages are stripped on purpose.
    let unknown: Vec<String> = dropped_fields(input, canonical)
        .into_iter()
        .filter(|f| f != "metadata.selfLink")
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    match opts.field_validation {
        FieldValidation::Strict => {
            let list: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            Err(StatusError::bad_request(format!(
                "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
                list.join(", "),
                kind = res.def.kind,
                v = res.def.version,
            )))
        }
        _ => {
            for f in unknown {
                opts.warn(format!("unknown field \"{f}\""));
            }
            Ok(())
        }
    }
}

/// Which part of an object an update addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateTarget {
    /// The main resource: status is kept from the stored object.
    Main,
    /// The `/status` subresource: everything but status is kept.
    Status,
}

/// An error inside a storage callback: ours, or storage's.
pub enum StepError {
    /// A Status to return as is.
    Api(StatusError),
    /// A storage error to translate with the resource's names.
    Storage(corten_storage::Error),
}

impl From<corten_storage::Error> for StepError {
    fn from(e: corten_storage::Error) -> Self {
        StepError::Storage(e)
    }
}

impl From<StatusError> for StepError {
    fn from(e: StatusError) -> Self {
        StepError::Api(e)
    }
}

impl StepError {
    /// Resolves to a Status for `name` of `gr`.
    pub fn into_status(self, gr: &GroupResource, name: &str) -> StatusError {
        match self {
            StepError::Api(e) => e,
            StepError::Storage(e) => storage_error(e, gr, name),
        }
    }
}

/// Translates a storage error into upstream's Status.
pub fn storage_error(e: corten_storage::Error, gr: &GroupResource, name: &str) -> StatusError {
    use corten_storage::Error as E;
    match e {
        E::NotFound { .. } => StatusError::not_found(gr, name),
        E::AlreadyExists { .. } => StatusError::already_exists(gr, name),
        E::Conflict { .. } => StatusError::conflict_modified(gr, name),
        E::TooOldResourceVersion { requested, oldest } => {
            StatusError::too_old_resource_version(requested, oldest)
        }
        E::ResourceVersionTooLarge { requested, current } => StatusError::timeout(
            format!("Too large resource version: {requested}, current: {current}"),
            1,
        ),
        other => StatusError::internal(other),
    }
}

/// Kinds whose PUT creates a missing object (upstream AllowCreateOnUpdate).
fn allow_create_on_update(res: &Resource) -> bool {
    matches!(
        res.def.storage_resource,
        "endpoints"
            | "events"
            | "leases"
            | "services"
            | "roles"
            | "rolebindings"
            | "clusterroles"
            | "clusterrolebindings"
    )
}

/// The kind as shown in Invalid errors (`Deployment.apps`).
pub fn group_kind(res: &Resource) -> GroupKind {
    GroupKind::new(res.def.group, res.def.kind)
}

/// Parses stored bytes (no resourceVersion) and sets the resourceVersion.
pub fn decode_stored(kv: &KeyValue) -> Result<Value, StatusError> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| StatusError::internal(format!("decoding stored object {}: {e}", kv.key)))?;
    meta::set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// Serializes an object for etcd: without resourceVersion or selfLink.
pub fn encode_for_storage(obj: &Value) -> Result<Vec<u8>, StatusError> {
    let mut o = obj.clone();
    meta::remove(&mut o, "resourceVersion");
    meta::remove(&mut o, "selfLink");
    serde_json::to_vec(&o).map_err(StatusError::internal)
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4();
    bytes
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Checks `apiVersion`/`kind` of a body against the endpoint and fills them
/// in when absent.
pub fn check_type_meta(res: &Resource, obj: &mut Value) -> Result<(), StatusError> {
    let want_av = res.def.api_version();
    match meta::api_version(obj) {
        None | Some("") => {}
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(StatusError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
    }
    match meta::kind(obj) {
        None | Some("") => {}
        Some(k) if k == res.def.kind => {}
        Some(k) => {
            return Err(StatusError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.def.kind
            )));
        }
    }
    meta::set_type_meta(obj, &want_av, res.def.kind);
    Ok(())
}

/// Checks and fills `metadata.namespace` against the URL.
pub fn check_namespace(
    res: &Resource,
    obj: &mut Value,
    url_ns: Option<&str>,
) -> Result<(), StatusError> {
    if res.def.namespaced {
        let Some(url_ns) = url_ns else {
            return Err(StatusError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        };
        match meta::namespace(obj) {
            None => meta::set(obj, "namespace", Value::String(url_ns.to_string())),
            Some(ns) if ns == url_ns => {}
            Some(_) => {
                return Err(StatusError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else {
        meta::remove(obj, "namespace");
    }
    Ok(())
}

/// Runs the strategy's canonicalization, reporting decode problems the way
/// upstream does (`Pod in version "v1" cannot be handled as a Pod: ...`).
pub fn canonicalize(res: &Resource, obj: Value) -> Result<Value, StatusError> {
    let strategy = res.storage_def.strategy;
    strategy.canonicalize(obj).map_err(|e| {
        StatusError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
            kind = res.def.kind,
            v = res.def.version
        ))
    })
}

fn invalid(res: &Resource, name: &str, errs: &corten_apimachinery::ErrorList) -> StatusError {
    StatusError::invalid(&group_kind(res), name, errs)
}

/// Reads one object. `resource_version` "" reads etcd (consistent); "0"
/// reads the cache; "N" reads the cache once it has caught up with N.
pub async fn get(
    reg: &Registry,
    res: &Resource,
    namespace: Option<&str>,
    name: &str,
    resource_version: Option<i64>,
) -> Result<Bytes, StatusError> {
    let gr = res.group_resource();
    check_path_segment(res.def.kind, "name", name)?;
    let key = object_key(res.def, namespace, name);
    let json = match resource_version {
        None => {
            let kv = reg
                .store
                .get(&key)
                .await
                .map_err(|e| storage_error(e, &gr, name))?
                .ok_or_else(|| StatusError::not_found(&gr, name))?;
            let v = decode_stored(&kv)?;
            Bytes::from(serde_json::to_vec(&v).map_err(StatusError::internal)?)
        }
        Some(rv) => {
            if rv > 0 {
                res.cache
                    .wait_for_revision(rv, std::time::Duration::from_secs(3))
                    .await
                    .map_err(|e| storage_error(e, &gr, name))?;
            }
            res.cache
                .get(&key)
                .ok_or_else(|| StatusError::not_found(&gr, name))?
                .json
                .clone()
        }
    };
    convert::output_json(res, &json)
}

/// Creates an object from a request body (served version). Returns the
/// stored object in the served version, resourceVersion set.
pub async fn create(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    mut obj: Value,
    opts: &WriteOptions,
) -> Result<Value, StatusError> {
    check_type_meta(res, &mut obj)?;
    check_namespace(res, &mut obj, url_ns)?;
    let input = if res.is_storage_version() {
        Some(obj.clone())
    } else {
        None
    };
    let obj = convert::to_storage(res, obj)?;
    let mut obj = canonicalize(res, obj)?;
    if let Some(input) = &input {
        check_unknown_fields(res, input, &obj, opts)?;
    }
    if meta::resource_version(&obj).is_some() {
        return Err(StatusError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let strategy: &dyn Strategy = res.storage_def.strategy;
    let gr = res.group_resource();

    // Generic system fields (upstream rest.BeforeCreate).
    meta::set(
        &mut obj,
        "uid",
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta::set(
        &mut obj,
        "creationTimestamp",
        Value::String(time::now_rfc3339()),
    );
    meta::remove(&mut obj, "deletionTimestamp");
    meta::remove(&mut obj, "deletionGracePeriodSeconds");
    meta::remove(&mut obj, "selfLink");
    let generate_name = meta::generate_name(&obj).map(str::to_string);
    let generated = meta::name(&obj).is_none() && generate_name.is_some();
    if meta::name(&obj).is_none() {
        match &generate_name {
            Some(prefix) => {
                check_path_segment(res.def.kind, "generateName", prefix)?;
                meta::set(
                    &mut obj,
                    "name",
                    Value::String(format!("{prefix}{}", random_suffix())),
                );
            }
            None => {
                let errs = vec![corten_apimachinery::FieldError::required(
                    &corten_apimachinery::Path::new("metadata").child("name"),
                    "name or generateName is required",
                )];
                return Err(invalid(res, "", &errs));
            }
        }
    }
    let name = meta::name(&obj).unwrap_or_default().to_string();
    check_path_segment(res.def.kind, "name", &name)?;

    strategy.prepare_for_create(&mut obj);
    strategy.default(&mut obj);
    admission::admit_create(reg, res, &obj).await?;

    // Like upstream, Service ClusterIPs and NodePorts are allocated after
    // defaulting and before validation (which checks the allocated values),
    // and released again if validation or the write fails.
    let allocation = services::allocate_for_create(reg, res, &mut obj, opts.dry_run).await?;
    let errs = strategy.validate(&obj);
    if !errs.is_empty() {
        services::release(reg, &allocation).await;
        return Err(invalid(res, &name, &errs));
    }

    if opts.dry_run {
        return convert::from_storage(res, obj);
    }
    let ns = if res.def.namespaced { url_ns } else { None };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current_name = meta::name(&obj).unwrap_or_default().to_string();
        let key = object_key(res.def, ns, &current_name);
        let bytes = encode_for_storage(&obj)?;
        match reg.store.create(&key, bytes).await {
            Ok(rev) => {
                meta::set_resource_version(&mut obj, rev);
                return convert::from_storage(res, obj);
            }
            Err(corten_storage::Error::AlreadyExists { .. }) if generated && attempts < 8 => {
                // A generated name collided: upstream retries with a new suffix.
                let prefix = generate_name.clone().unwrap_or_default();
                meta::set(
                    &mut obj,
                    "name",
                    Value::String(format!("{prefix}{}", random_suffix())),
                );
            }
            Err(e) => {
                services::release(reg, &allocation).await;
                return Err(storage_error(e, &gr, &current_name));
            }
        }
    }
}

/// Runs the update pipeline on a candidate object against the stored one
/// and decides what to write. Both are in the storage version; `old` has
/// its resourceVersion set.
pub fn decide_update(
    res: &Resource,
    old: &Value,
    new: Value,
    target: UpdateTarget,
    opts: &WriteOptions,
) -> Result<(UpdateDecision, Value), StatusError> {
    let strategy: &dyn Strategy = res.storage_def.strategy;
    let name = meta::name(old).unwrap_or_default().to_string();
    let input = res.is_storage_version().then(|| new.clone());
    let mut new = canonicalize(res, new)?;
    if let Some(input) = &input {
        check_unknown_fields(res, input, &new, opts)?;
    }
    match meta::name(&new) {
        Some(n) if n == name => {}
        Some(n) => {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        None => meta::set(&mut new, "name", Value::String(name.clone())),
    }
    let old_rv = meta::resource_version(old).unwrap_or_default().to_string();
    match meta::resource_version(&new) {
        None => meta::set(&mut new, "resourceVersion", Value::String(old_rv.clone())),
        Some(rv) if rv == old_rv => {}
        Some(_) => {
            return Err(StatusError::conflict_modified(&res.group_resource(), &name));
        }
    }
    // System fields always come from the stored object.
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match meta::metadata(old).and_then(|m| m.get(field)) {
            Some(v) => meta::set(&mut new, field, v.clone()),
            None => {
                meta::remove(&mut new, field);
            }
        }
    }
    if res.def.namespaced
        && let Some(ns) = meta::namespace(old)
    {
        if meta::namespace(&new).is_some_and(|n| n != ns) {
            return Err(StatusError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::set(&mut new, "namespace", Value::String(ns.to_string()));
    }
    meta::remove(&mut new, "selfLink");
    let errs = match target {
        UpdateTarget::Main => {
            strategy.prepare_for_update(&mut new, old);
            strategy.default(&mut new);
            if res.def.storage_resource == "services"
                && let Ok(mut pool) = opts.service_pool.lock()
            {
                services::fill_on_update(&mut new, &mut pool, opts.service_cidr_is_v4);
            }
            strategy.validate_update(&new, old)
        }
        UpdateTarget::Status => {
            strategy.prepare_for_status_update(&mut new, old);
            strategy.validate_status_update(&new, old)
        }
    };
    if !errs.is_empty() {
        return Err(invalid(res, &name, &errs));
    }
    if &new == old {
        return Ok((UpdateDecision::Unchanged, new));
    }
    // An object being deleted whose last finalizer was just removed goes
    // away now (upstream shouldDeleteDuringUpdate).
    let grace_zero = meta::metadata(old)
        .and_then(|m| m.get("deletionGracePeriodSeconds"))
        .and_then(Value::as_i64)
        == Some(0);
    if meta::deletion_timestamp(&new).is_some()
        && meta::finalizers(&new).is_empty()
        && grace_zero
        && !spec_finalizers_pending(res, &new)
    {
        return Ok((UpdateDecision::Delete, new));
    }
    let bytes = encode_for_storage(&new)?;
    Ok((UpdateDecision::Write(bytes), new))
}

/// Namespaces also wait for their `spec.finalizers` (the namespace
/// controller's `kubernetes` finalizer) before they go away.
pub fn spec_finalizers_pending(res: &Resource, obj: &Value) -> bool {
    res.def.storage_resource == "namespaces"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

/// Result of an update: the object and whether it was created.
pub struct Updated {
    /// The object in the served version.
    pub object: Value,
    /// True when PUT created the object.
    pub created: bool,
}

/// Replaces an object (PUT), or creates it where upstream allows.
pub async fn update(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    name: &str,
    mut body: Value,
    target: UpdateTarget,
    opts: &WriteOptions,
) -> Result<Updated, StatusError> {
    check_path_segment(res.def.kind, "name", name)?;
    check_type_meta(res, &mut body)?;
    check_namespace(res, &mut body, url_ns)?;
    if let Some(n) = meta::name(&body)
        && n != name
    {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let gr = res.group_resource();
    let key = object_key(res.def, url_ns, name);
    let body = convert::to_storage(res, body)?;
    if opts.dry_run {
        let kv = reg
            .store
            .get(&key)
            .await
            .map_err(|e| storage_error(e, &gr, name))?
            .ok_or_else(|| StatusError::not_found(&gr, name))?;
        let old = decode_stored(&kv)?;
        let (_, new) = decide_update(res, &old, body, target, opts)?;
        return Ok(Updated {
            object: convert::from_storage(res, new)?,
            created: false,
        });
    }
    let outcome = read_modify_write(reg, res, &key, opts, |old| {
        decide_update(res, old, body.clone(), target, opts)
    })
    .await;
    match outcome {
        Ok((outcome, result)) => finish_update(res, outcome, result),
        Err(StepError::Storage(corten_storage::Error::NotFound { .. }))
            if target == UpdateTarget::Main && allow_create_on_update(res) =>
        {
            let mut obj = convert::from_storage(res, body)?;
            meta::remove(&mut obj, "resourceVersion");
            let created = create(reg, res, url_ns, obj, opts).await?;
            Ok(Updated {
                object: created,
                created: true,
            })
        }
        Err(e) => Err(e.into_status(&gr, name)),
    }
}

/// A read-modify-write of one object through `compute(old) -> (decision,
/// new)` with compare-and-swap retries. For Services, addresses and ports
/// the new object needs are allocated before the swap and what it no
/// longer holds is released after it.
pub async fn read_modify_write<F>(
    reg: &Registry,
    res: &Resource,
    key: &str,
    opts: &WriteOptions,
    compute: F,
) -> Result<(UpdateOutcome, Option<Value>), StepError>
where
    F: Fn(&Value) -> Result<(UpdateDecision, Value), StatusError>,
{
    let is_service = res.def.storage_resource == "services";
    let mut reserved = services::Allocation::default();
    if is_service {
        // Plan: run the update once against the current object to learn
        // which allocations it needs.
        let kv = reg
            .store
            .get(key)
            .await?
            .ok_or_else(|| corten_storage::Error::NotFound {
                key: key.to_string(),
            })?;
        let old = decode_stored(&kv)?;
        if let Ok(mut pool) = opts.service_pool.lock() {
            *pool = services::UpdatePool::default();
        }
        let planned = compute(&old);
        let (wanted_ips, wanted_ports) = opts
            .service_pool
            .lock()
            .map(|p| (p.wanted_ips, p.wanted_ports))
            .unwrap_or((0, 0));
        let planned_obj = match planned {
            Ok((_, new)) => Some(new),
            Err(e) if wanted_ips == 0 && wanted_ports == 0 => return Err(e.into()),
            Err(_) => None,
        };
        let (explicit, pool) =
            services::prepare_update(reg, &old, planned_obj.as_ref(), wanted_ips, wanted_ports)
                .await?;
        reserved = explicit;
        if let Ok(mut p) = opts.service_pool.lock() {
            *p = pool;
        }
    }
    let mut result: Option<Value> = None;
    let mut last_old: Option<Value> = None;
    let outcome = reg
        .store
        .guaranteed_update(
            key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let old = decode_stored(kv)?;
                let (decision, new) = compute(&old)?;
                result = Some(new);
                last_old = Some(old);
                Ok(decision)
            },
        )
        .await;
    if is_service {
        let pool = opts
            .service_pool
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        match &outcome {
            Ok(UpdateOutcome::Written(_)) => {
                services::finish_update(reg, last_old.as_ref(), result.as_ref(), &reserved, pool)
                    .await
            }
            Ok(UpdateOutcome::Deleted(_)) => {
                services::finish_update(reg, last_old.as_ref(), None, &reserved, pool).await
            }
            _ => services::finish_update(reg, None, None, &reserved, pool).await,
        }
    }
    outcome.map(|o| (o, result))
}

/// Turns a storage outcome plus the object we computed into the response.
pub fn finish_update(
    res: &Resource,
    outcome: UpdateOutcome,
    computed: Option<Value>,
) -> Result<Updated, StatusError> {
    let object = match outcome {
        UpdateOutcome::Written(kv) => {
            let mut v =
                computed.ok_or_else(|| StatusError::internal("update produced no object"))?;
            meta::set_resource_version(&mut v, kv.mod_revision);
            v
        }
        UpdateOutcome::Deleted(kv) => {
            let mut v =
                computed.ok_or_else(|| StatusError::internal("update produced no object"))?;
            meta::set_resource_version(&mut v, kv.mod_revision);
            v
        }
        UpdateOutcome::Unchanged(kv) => decode_stored(&kv)?,
    };
    Ok(Updated {
        object: convert::from_storage(res, object)?,
        created: false,
    })
}
