//! The generic REST store: create, get and update for every resource,
//! calling the kind's strategy in upstream's fixed order. Deletion lives in
//! `delete.rs`, lists in `list.rs`, watches in `watch.rs`.

use bytes::Bytes;
use corten_api::{PipelineError, Prepared, StoreSteps, Strategy};
use corten_apimachinery::{GroupKind, GroupResource, StatusError, meta};
use corten_storage::cache::ObjectAttrs;
use corten_storage::{KeyValue, UpdateDecision, UpdateOutcome};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::keys::{check_path_segment, object_key};
use super::{Registry, Resource, admission, convert, services};
use crate::repeated_keys::{self, BodyKeys, BodySyntax};

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
#[derive(Debug)]
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
    /// The manager when `fieldManager` is not given (the user agent's
    /// prefix).
    pub user_agent_manager: String,
    /// `force` (apply only).
    pub force: bool,
    /// The subresource written (`status`, `scale`), for managedFields.
    pub subresource: String,
    /// Set by server-side apply, which computes managedFields itself.
    pub managed_fields_done: bool,
    /// Annotations admission adds to the request's audit event.
    pub audit_annotations: std::sync::Mutex<Vec<AuditAnnotation>>,
    /// How the body was written and the keys it repeats, judged with the
    /// unknown fields (see [`check_dropped_fields`]).
    pub body_keys: std::sync::OnceLock<BodyKeys>,
}

/// An annotation for the request's audit event, logged only at `level`
/// and above (upstream `AddAnnotationWithLevel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnnotation {
    /// `<webhook>/<key>`, `mutation.webhook.admission.k8s.io/...`, ...
    pub key: String,
    /// The value.
    pub value: String,
    /// The lowest audit level that records it.
    pub level: crate::audit::Level,
}

/// The apiserver's own writes (bootstrap objects, quota status, ...) are
/// recorded under the manager its loopback client would have upstream.
impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            dry_run: false,
            field_manager: None,
            field_validation: FieldValidation::default(),
            warnings: Default::default(),
            service_pool: Default::default(),
            service_cidr_is_v4: false,
            user_agent_manager: "kube-apiserver".into(),
            force: false,
            subresource: String::new(),
            managed_fields_done: false,
            audit_annotations: Default::default(),
            body_keys: Default::default(),
        }
    }
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

    /// The field manager of this write.
    pub fn manager(&self) -> String {
        self.field_manager
            .clone()
            .unwrap_or_else(|| self.user_agent_manager.clone())
    }

    /// The collected warnings.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Adds an audit annotation at level Metadata (the first value of a
    /// key stays, as upstream refuses to overwrite one).
    pub fn annotate(&self, key: String, value: String) {
        self.annotate_at(key, value, crate::audit::Level::Metadata);
    }

    /// Adds an audit annotation recorded from `level` on.
    pub fn annotate_at(&self, key: String, value: String, level: crate::audit::Level) {
        if let Ok(mut a) = self.audit_annotations.lock()
            && !a.iter().any(|x| x.key == key)
        {
            a.push(AuditAnnotation { key, value, level });
        }
    }

    /// The collected audit annotations.
    pub fn take_audit_annotations(&self) -> Vec<AuditAnnotation> {
        self.audit_annotations
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }

    /// Takes over what a write with derived options (`inner`) collected:
    /// warnings and audit annotations.
    pub fn absorb(&self, inner: &WriteOptions) {
        for w in inner.take_warnings() {
            self.warn(w);
        }
        for a in inner.take_audit_annotations() {
            self.annotate_at(a.key, a.value, a.level);
        }
    }
}

/// Applies `fieldValidation` to the fields the decode dropped and to the
/// keys the body repeats, in upstream's order: a JSON body's strict
/// errors as its decoder meets them (custom resources and patches: the
/// repetitions first, then the unknown fields), a YAML body's go-yaml
/// lines first. Upstream lists the unknown fields of an object it
/// re-encoded from a Go map (YAML bodies, patch results) in that map's
/// key order, custom resources in their pruning order.
pub fn check_dropped_fields(
    res: &Resource,
    dropped: Vec<String>,
    opts: &WriteOptions,
) -> Result<(), StatusError> {
    if opts.field_validation == FieldValidation::Ignore {
        return Ok(());
    }
    // Only the object's own content is checked: metadata fields the server
    // manages are stripped on purpose.
    let mut unknown: Vec<String> = dropped
        .into_iter()
        .filter(|f| f != "metadata.selfLink")
        .collect();
    let body = opts.body_keys.get();
    let syntax = body.map_or(BodySyntax::Json, |b| b.syntax);
    let repeated = body.map_or(&[][..], |b| b.repeated.as_slice());
    match &res.custom {
        Some(c) => unknown = c.schema.order_unknown_fields(unknown),
        None if syntax != BodySyntax::Json => repeated_keys::sort_like_go_maps(&mut unknown),
        None => {}
    }
    // Strict joins the errors into one; Warn sends each (go-yaml's lines
    // one by one).
    let mut errors: Vec<String> = body.map_or_else(Vec::new, |b| b.patch_errors.clone());
    let mut warnings: Vec<String> = Vec::new();
    let unknown_text = |f: &String| format!("unknown field \"{f}\"");
    match (syntax, repeated.is_empty()) {
        (_, true) => errors.extend(unknown.iter().map(unknown_text)),
        (BodySyntax::Yaml, false) => {
            errors.push(repeated_keys::unmarshal_errors(repeated));
            warnings.extend(repeated.iter().map(ToString::to_string));
            errors.extend(unknown.iter().map(unknown_text));
        }
        (BodySyntax::Json, false) if res.custom.is_none() => {
            let trace = body.map_or_else(Vec::new, |b| repeated_keys::trace_json(&b.body));
            errors.extend(repeated_keys::typed_strict_errors(&trace, &unknown));
        }
        (_, false) => {
            for k in repeated {
                let e = k.duplicate_field();
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
            errors.extend(unknown.iter().map(unknown_text));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    match opts.field_validation {
        FieldValidation::Strict => Err(StatusError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            errors.join(", "),
            kind = res.def.kind,
            v = res.def.version,
        ))),
        _ => {
            if warnings.is_empty() {
                warnings = errors;
            } else {
                // The YAML lines replace the one joined error.
                warnings.extend(errors.into_iter().skip(1));
            }
            for w in warnings {
                opts.warn(w);
            }
            Ok(())
        }
    }
}

/// A built-in kind written in a version other than its storage one: the
/// pipeline cannot tell its unknown fields, but the keys its body repeats
/// still obey `fieldValidation`.
fn check_repeated_only(
    res: &Resource,
    dropped_checked: bool,
    opts: &WriteOptions,
) -> Result<(), StatusError> {
    if dropped_checked || res.custom.is_some() {
        return Ok(());
    }
    check_dropped_fields(res, Vec::new(), opts)
}

/// Which part of an object an update addresses.
pub use corten_api::UpdateTarget;

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
    serde_json::to_vec(&StorageForm(obj)).map_err(StatusError::internal)
}

/// An object as etcd stores it, serialized without copying it: what
/// `meta::remove` of `resourceVersion` and then `selfLink` on a clone would
/// give, key order included (`Map::remove` moves the last key into the
/// removed one's place).
struct StorageForm<'a>(&'a Value);

impl Serialize for StorageForm<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(map) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut out = serializer.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            match v {
                Value::Object(m) if k == "metadata" => {
                    out.serialize_entry(k, &StoredMetadata(m))?
                }
                _ => out.serialize_entry(k, v)?,
            }
        }
        out.end()
    }
}

/// `metadata` without `resourceVersion` and `selfLink` (see [`StorageForm`]).
struct StoredMetadata<'a>(&'a Map<String, Value>);

impl Serialize for StoredMetadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&String, &Value)> = self.0.iter().collect();
        for key in ["resourceVersion", "selfLink"] {
            if let Some(i) = entries.iter().position(|(k, _)| *k == key) {
                entries.swap_remove(i);
            }
        }
        let mut out = serializer.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
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
    strategy
        .canonicalize(obj)
        .map_err(|e| decode_error(res, &e))
}

/// A body that does not decode as the kind (400).
fn decode_error(res: &Resource, detail: &str) -> StatusError {
    StatusError::bad_request(format!(
        "{kind} in version \"{v}\" cannot be handled as a {kind}: {detail}",
        kind = res.def.kind,
        v = res.def.version
    ))
}

/// A pipeline's early stop as a Status.
fn pipeline_error(res: &Resource, e: PipelineError) -> StatusError {
    match e {
        PipelineError::Decode(detail) => decode_error(res, &detail),
        PipelineError::Store(e) => e,
    }
}

/// Now as metav1.Time holds it once encoded and decoded (whole seconds).
fn now_in_seconds() -> Time {
    let now = jiff::Timestamp::now();
    Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The store's steps of a create (upstream `rest.BeforeCreate`).
struct CreateSteps<'a> {
    res: &'a Resource,
    opts: &'a WriteOptions,
    /// Whether the body is in the storage version (dropped fields are only
    /// checked then).
    check_dropped: bool,
    /// The object's name once set.
    name: String,
    /// The `generateName` prefix, if the name was generated from it.
    generated_from: Option<String>,
}

impl StoreSteps for CreateSteps<'_> {
    fn wants_dropped_fields(&self) -> bool {
        self.check_dropped && self.opts.field_validation != FieldValidation::Ignore
    }

    fn dropped_fields(&mut self, fields: Vec<String>) -> Result<(), StatusError> {
        check_dropped_fields(self.res, fields, self.opts)
    }

    fn metadata(
        &mut self,
        meta: &mut ObjectMeta,
        _old: Option<&ObjectMeta>,
    ) -> Result<(), StatusError> {
        if meta
            .resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty())
        {
            return Err(StatusError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let kind = self.res.def.kind;
        meta.uid = Some(uuid::Uuid::new_v4().to_string());
        meta.creation_timestamp = Some(now_in_seconds());
        meta.deletion_timestamp = None;
        meta.deletion_grace_period_seconds = None;
        meta.self_link = None;
        if meta.name.as_deref().is_none_or(str::is_empty) {
            match meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
                Some(prefix) => {
                    check_path_segment(kind, "generateName", prefix)?;
                    meta.name = Some(format!("{prefix}{}", random_suffix()));
                    self.generated_from = Some(prefix.to_string());
                }
                None => {
                    let errs = vec![corten_apimachinery::FieldError::required(
                        &corten_apimachinery::Path::new("metadata").child("name"),
                        "name or generateName is required",
                    )];
                    return Err(invalid(self.res, "", &errs));
                }
            }
        }
        self.name = meta.name.clone().unwrap_or_default();
        check_path_segment(kind, "name", &self.name)?;
        Ok(())
    }
}

/// The store's steps of an update (upstream `rest.BeforeUpdate`): the
/// object keeps its name, namespace and system fields, and its
/// resourceVersion must match the stored one.
struct UpdateSteps<'a> {
    res: &'a Resource,
    opts: &'a WriteOptions,
    /// See [`CreateSteps::check_dropped`].
    check_dropped: bool,
    /// The stored object's name.
    name: &'a str,
}

impl StoreSteps for UpdateSteps<'_> {
    fn wants_dropped_fields(&self) -> bool {
        self.check_dropped && self.opts.field_validation != FieldValidation::Ignore
    }

    fn dropped_fields(&mut self, fields: Vec<String>) -> Result<(), StatusError> {
        check_dropped_fields(self.res, fields, self.opts)
    }

    fn metadata(
        &mut self,
        meta: &mut ObjectMeta,
        old: Option<&ObjectMeta>,
    ) -> Result<(), StatusError> {
        let default_old = ObjectMeta::default();
        let old = old.unwrap_or(&default_old);
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        match non_empty(&meta.name) {
            Some(n) if n == self.name => {}
            Some(n) => {
                return Err(StatusError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({})",
                    self.name
                )));
            }
            None => meta.name = Some(self.name.to_string()),
        }
        let old_rv = non_empty(&old.resource_version).unwrap_or_default();
        match non_empty(&meta.resource_version) {
            None => meta.resource_version = Some(old_rv),
            Some(rv) if rv == old_rv => {}
            Some(_) => {
                return Err(StatusError::conflict_modified(
                    &self.res.group_resource(),
                    self.name,
                ));
            }
        }
        // System fields always come from the stored object.
        meta.uid = old.uid.clone();
        meta.creation_timestamp = old.creation_timestamp.clone();
        meta.deletion_timestamp = old.deletion_timestamp.clone();
        meta.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
        if self.res.def.namespaced
            && let Some(ns) = non_empty(&old.namespace)
        {
            if non_empty(&meta.namespace).is_some_and(|n| n != ns) {
                return Err(StatusError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta.namespace = Some(ns);
        }
        meta.self_link = None;
        Ok(())
    }
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
            let mut v = decode_stored(&kv)?;
            crate::crd::decode::on_read(res, &mut v);
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
    obj: Value,
    opts: &WriteOptions,
) -> Result<Value, StatusError> {
    create_object(reg, res, url_ns, obj, opts)
        .await?
        .into_value(res)
}

/// Like [`create`], but the answer as JSON bytes, which for the usual
/// create (storage version, typed strategy) are the stored bytes with the
/// resourceVersion spliced in, without encoding the object again.
pub async fn create_json(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    obj: Value,
    opts: &WriteOptions,
) -> Result<Bytes, StatusError> {
    create_object(reg, res, url_ns, obj, opts)
        .await?
        .into_json(res)
}

/// A created object (storage version), in whichever forms are at hand.
struct Created {
    prepared: Prepared,
    /// The bytes written and their revision (None for dry runs).
    written: Option<(Vec<u8>, i64)>,
}

impl Created {
    /// The object in the served version, resourceVersion set.
    fn into_value(self, res: &Resource) -> Result<Value, StatusError> {
        let mut obj = self.prepared.into_value();
        if let Some((_, rev)) = self.written {
            meta::set_resource_version(&mut obj, rev);
        }
        convert::from_storage(res, obj)
    }

    /// [`Created::into_value`] serialized.
    fn into_json(self, res: &Resource) -> Result<Bytes, StatusError> {
        // Setting the resourceVersion appends it to `metadata` when it is
        // absent: then the answer is the stored bytes with it spliced in.
        let absent = match self.prepared.typed_metadata() {
            Some(m) => m.resource_version.is_none(),
            None => meta::metadata(self.prepared.value())
                .is_some_and(|m| !m.contains_key("resourceVersion")),
        };
        if let Some((stored, rev)) = &self.written
            && absent
            && res.is_storage_version()
            && let Some(json) = corten_storage::cache::splice_resource_version(stored, *rev)
        {
            return Ok(json);
        }
        let obj = self.into_value(res)?;
        Ok(Bytes::from(
            serde_json::to_vec(&obj).map_err(StatusError::internal)?,
        ))
    }
}

/// The bytes etcd stores for a prepared object: its JSON straight from the
/// typed form when there is nothing to strip.
fn storage_json(obj: &Prepared) -> Result<Vec<u8>, StatusError> {
    match obj.typed_metadata() {
        Some(m) if m.resource_version.is_none() && m.self_link.is_none() => {
            obj.to_json().map_err(StatusError::internal)
        }
        _ => encode_for_storage(obj.value()),
    }
}

/// What the watch cache extracts from a prepared object.
fn cache_attrs(res: &Resource, obj: &Prepared) -> Option<ObjectAttrs> {
    let Some(m) = obj.typed_metadata() else {
        return res.cache.attrs_of(obj.value());
    };
    Some(ObjectAttrs {
        namespace: m.namespace.clone().unwrap_or_default(),
        name: m.name.clone().unwrap_or_default(),
        labels: m.labels.clone().unwrap_or_default(),
        fields: res.storage_def.strategy.prepared_field_attrs(obj),
    })
}

async fn create_object(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    mut obj: Value,
    opts: &WriteOptions,
) -> Result<Created, StatusError> {
    check_type_meta(res, &mut obj)?;
    check_namespace(res, &mut obj, url_ns)?;
    let obj = crate::crd::versions::prepare_served(res, obj, None, UpdateTarget::Main, opts)?;
    let obj = convert::to_storage(res, obj)?;
    let strategy: &dyn Strategy = res.storage_def.strategy;
    let gr = res.group_resource();
    let mut steps = CreateSteps {
        res,
        opts,
        check_dropped: res.is_storage_version(),
        name: String::new(),
        generated_from: None,
    };
    check_repeated_only(res, steps.check_dropped, opts)?;
    let mut prepared = strategy
        .prepare_create(obj, &mut steps)
        .map_err(|e| pipeline_error(res, e))?;
    let CreateSteps {
        name,
        generated_from,
        ..
    } = steps;
    super::managed::track_create(res, &mut prepared, opts);
    admission::admit_create(reg, res, prepared.metadata_json()).await?;

    // Like upstream, Service ClusterIPs and NodePorts are allocated after
    // defaulting and before validation (which checks the allocated values),
    // and released again if validation or the write fails.
    let allocation = if res.def.storage_resource == "services" {
        services::allocate_for_create(reg, res, prepared.value_mut(), opts.dry_run).await?
    } else {
        services::Allocation::default()
    };
    let errs = strategy.validate_create(&prepared);
    if !errs.is_empty() {
        services::release(reg, &allocation).await;
        return Err(invalid(res, &name, &errs));
    }
    if opts.dry_run {
        return Ok(Created {
            prepared,
            written: None,
        });
    }
    let ns = if res.def.namespaced { url_ns } else { None };
    let mut attempts = 0;
    let mut current_name = name;
    loop {
        attempts += 1;
        let key = object_key(res.def, ns, &current_name);
        let bytes = storage_json(&prepared)?;
        // The cache then takes the object from here instead of decoding
        // the watch event's copy.
        if let Some(attrs) = cache_attrs(res, &prepared) {
            res.cache.prime(&key, &bytes, attrs);
        }
        match reg.store.create(&key, bytes.clone()).await {
            Ok(rev) => {
                return Ok(Created {
                    prepared,
                    written: Some((bytes, rev)),
                });
            }
            Err(corten_storage::Error::AlreadyExists { .. })
                if generated_from.is_some() && attempts < 8 =>
            {
                res.cache.unprime(&key);
                // A generated name collided: upstream retries with a new suffix.
                let prefix = generated_from.as_deref().unwrap_or_default();
                current_name = format!("{prefix}{}", random_suffix());
                meta::set(
                    prepared.value_mut(),
                    "name",
                    Value::String(current_name.clone()),
                );
            }
            Err(e) => {
                res.cache.unprime(&key);
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
    let mut steps = UpdateSteps {
        res,
        opts,
        check_dropped: res.is_storage_version(),
        name: &name,
    };
    check_repeated_only(res, steps.check_dropped, opts)?;
    let mut prepared = strategy
        .prepare_update(new, old, target, &mut steps)
        .map_err(|e| pipeline_error(res, e))?;
    if target == UpdateTarget::Main
        && res.def.storage_resource == "services"
        && let Ok(mut pool) = opts.service_pool.lock()
    {
        services::fill_on_update(prepared.value_mut(), &mut pool, opts.service_cidr_is_v4);
    }
    super::managed::track_update(res, old, &mut prepared, target, opts);
    let errs = strategy.validate_prepared_update(&prepared, old, target);
    if !errs.is_empty() {
        return Err(invalid(res, &name, &errs));
    }
    let new = prepared.into_value();
    if &new == old {
        return Ok((UpdateDecision::Unchanged, new));
    }
    // An object being deleted whose last finalizer was just removed goes
    // away now (upstream shouldDeleteDuringUpdate).
    // Upstream: an unset grace period counts as zero (CRDs being deleted
    // have none).
    let grace_zero = meta::metadata(old)
        .and_then(|m| m.get("deletionGracePeriodSeconds"))
        .and_then(Value::as_i64)
        .is_none_or(|g| g == 0);
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
    body: Value,
    target: UpdateTarget,
    opts: &WriteOptions,
) -> Result<Updated, StatusError> {
    update_from_hint(reg, res, url_ns, name, body, target, opts, None).await
}

/// [`update`] starting from `hint`, the stored object as the caller last
/// read it (saves a read when it is still current). With a hint the object
/// is known to have existed: if it is deleted meanwhile the answer is 404,
/// never a create.
#[allow(clippy::too_many_arguments)]
pub async fn update_from_hint(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    name: &str,
    mut body: Value,
    target: UpdateTarget,
    opts: &WriteOptions,
    hint: Option<KeyValue>,
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
    let body = crate::crd::versions::prepare_served_update(
        reg,
        res,
        &key,
        hint.as_ref(),
        body,
        target,
        opts,
    )
    .await?;
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
    let had_hint = hint.is_some();
    let outcome = read_modify_write(reg, res, &key, opts, hint, |old| {
        decide_update(res, old, body.clone(), target, opts)
    })
    .await;
    match outcome {
        Ok((outcome, result)) => finish_update(res, outcome, result),
        Err(StepError::Storage(corten_storage::Error::NotFound { .. }))
            if target == UpdateTarget::Main && allow_create_on_update(res) && !had_hint =>
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
/// new)` with compare-and-swap retries, starting from `hint` if given. For
/// Services, addresses and ports the new object needs are allocated before
/// the swap and what it no longer holds is released after it.
pub async fn read_modify_write<F>(
    reg: &Registry,
    res: &Resource,
    key: &str,
    opts: &WriteOptions,
    hint: Option<KeyValue>,
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
        let kv = match &hint {
            Some(kv) => kv.clone(),
            None => reg
                .store
                .get(key)
                .await?
                .ok_or_else(|| corten_storage::Error::NotFound {
                    key: key.to_string(),
                })?,
        };
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
            hint,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let old = decode_stored(kv)?;
                let (decision, new) = compute(&old)?;
                if let UpdateDecision::Write(bytes) = &decision
                    && let Some(attrs) = res.cache.attrs_of(&new)
                {
                    res.cache.prime(key, bytes, attrs);
                }
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

/// Writes the object at `key` as `compute` decides from the stored value
/// (the decision and the new object in storage form): as a guaranteed
/// update, or for a dry run once against the current value without writing.
/// Returns the result in the served version, as a write would.
pub async fn update_computed(
    reg: &Registry,
    res: &Resource,
    key: &str,
    name: &str,
    dry_run: bool,
    compute: impl Fn(&KeyValue) -> Result<(UpdateDecision, Value), StatusError>,
) -> Result<Value, StatusError> {
    let gr = res.group_resource();
    if dry_run {
        let kv = reg
            .store
            .get(key)
            .await
            .map_err(|e| storage_error(e, &gr, name))?
            .ok_or_else(|| StatusError::not_found(&gr, name))?;
        let (_, new) = compute(&kv)?;
        return convert::from_storage(res, new);
    }
    let mut result = None;
    let outcome = reg
        .store
        .guaranteed_update(
            key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let (decision, new) = compute(kv)?;
                result = Some(new);
                Ok(decision)
            },
        )
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    Ok(finish_update(res, outcome, result)?.object)
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
