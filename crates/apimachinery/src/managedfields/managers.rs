//! `metadata.managedFields`: who owns which fields, and how a write
//! changes that (upstream's fieldmanager with structured-merge-diff's
//! Updater).
//!
//! Managers are identified like upstream: an `Update` manager by name,
//! apiVersion and subresource (one entry per apiVersion it wrote with), an
//! `Apply` manager by name and subresource only.

use serde_json::{Map, Value, json};

use super::path::{Path, PathElement, path_string};
use super::schema::Schema;
use super::set::Set;
use super::typed::{
    Comparison, compare, ensure_named_fields_are_members, merge, remove_items, to_field_set,
};

/// `Apply` or `Update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply (sorts first, like upstream: "Apply" < "Update").
    Apply,
    /// Any other write.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who wrote: the identity of a managedFields entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerId {
    /// `fieldManager` (or the user agent's prefix).
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// `apps/v1`; part of the identity for Update entries only.
    pub api_version: String,
    /// `status`, `scale`, or empty for the main resource.
    pub subresource: String,
}

impl ManagerId {
    fn same(&self, other: &ManagerId) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How conflict messages name the manager: `"kubectl"`,
    /// `"kube-controller-manager" with subresource "scale" using apps/v1`.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// One managedFields entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The manager.
    pub id: ManagerId,
    /// RFC 3339 time of its last change, if known.
    pub time: Option<String>,
    /// The fields it owns.
    pub fields: Set,
}

/// The managers of an object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Managers {
    /// Entries, in no particular order until encoded.
    pub entries: Vec<Entry>,
}

/// Paths never tracked (upstream's stripMeta set): server-owned metadata.
/// [`strip_set`], built once.
pub(super) fn stripped() -> &'static Set {
    static STRIPPED: std::sync::OnceLock<Set> = std::sync::OnceLock::new();
    STRIPPED.get_or_init(strip_set)
}

fn strip_set() -> Set {
    let mut s = Set::new();
    for p in ["apiVersion", "kind", "metadata"] {
        s.insert(&[PathElement::Field(p.into())]);
    }
    for p in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field(p.into()),
        ]);
    }
    s
}

/// What `metadata.managedFields` of a request asks for.
pub enum Requested {
    /// Absent or empty-but-unset: keep the stored managers.
    Keep,
    /// `[]` or `[{}]`: forget every manager.
    Reset,
    /// Explicit entries.
    Set(Managers),
}

impl Managers {
    /// Decodes `metadata.managedFields` of an object.
    pub fn decode(obj: &Value) -> Result<Managers, String> {
        match obj.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Ok(Managers::default()),
            Some(v) => Managers::decode_entries(v),
        }
    }

    fn decode_entries(v: &Value) -> Result<Managers, String> {
        let Value::Array(items) = v else {
            return Err("managedFields must be a list".into());
        };
        let mut out = Managers::default();
        for (i, e) in items.iter().enumerate() {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let operation = match s("operation").as_str() {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                other => return Err(format!("managedFields[{i}]: invalid operation {other:?}")),
            };
            if s("fieldsType") != "FieldsV1" {
                return Err(format!(
                    "managedFields[{i}]: invalid fieldsType {:?}",
                    s("fieldsType")
                ));
            }
            let fields = match e.get("fieldsV1") {
                None | Some(Value::Null) => Set::new(),
                Some(f) => {
                    Set::from_fields_v1(f).map_err(|m| format!("managedFields[{i}]: {m}"))?
                }
            };
            let id = ManagerId {
                manager: s("manager"),
                operation,
                api_version: s("apiVersion"),
                subresource: s("subresource"),
            };
            let time = e.get("time").and_then(Value::as_str).map(str::to_string);
            match out.entries.iter_mut().find(|x| x.id.same(&id)) {
                // Duplicates merge, as upstream's decoding into a map does.
                Some(x) => x.fields = x.fields.union(&fields),
                None => out.entries.push(Entry { id, time, fields }),
            }
        }
        Ok(out)
    }

    /// What a request object's `managedFields` asks for.
    pub fn requested(obj: &Value) -> Requested {
        match obj.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Requested::Keep,
            Some(Value::Array(a)) if a.is_empty() => Requested::Reset,
            Some(Value::Array(a))
                if a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty) =>
            {
                Requested::Reset
            }
            Some(v) => match Managers::decode_entries(v) {
                Ok(m) if !m.entries.is_empty() => Requested::Set(m),
                _ => Requested::Keep,
            },
        }
    }

    /// The entries as `metadata.managedFields` holds them, in upstream's
    /// order (Apply before Update, then by time, manager, apiVersion,
    /// subresource).
    pub fn encode(&self) -> Value {
        let mut entries: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !e.fields.is_empty())
            .collect();
        entries.sort_by(|a, b| {
            a.id.operation
                .cmp(&b.id.operation)
                .then_with(|| seconds(&a.time).cmp(&seconds(&b.time)))
                .then_with(|| a.id.manager.cmp(&b.id.manager))
                .then_with(|| a.id.api_version.cmp(&b.id.api_version))
                .then_with(|| a.id.subresource.cmp(&b.id.subresource))
        });
        Value::Array(
            entries
                .into_iter()
                .map(|e| encode_entry(&e.id, e.time.as_deref(), e.fields.to_fields_v1()))
                .collect(),
        )
    }

    fn get(&self, id: &ManagerId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id.same(id))
    }

    fn get_mut(&mut self, id: &ManagerId) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.id.same(id))
    }

    fn strip(&mut self) {
        let strip = stripped();
        for e in &mut self.entries {
            e.fields.remove(strip);
        }
        self.entries.retain(|e| !e.fields.is_empty());
    }

    /// Takes changed fields from every other manager; removed fields are
    /// no longer owned by anyone. Returns the conflicts (per manager).
    /// `cmp` is the write compared in its own version; entries recorded in
    /// another version are judged by `others` (the write compared in
    /// theirs).
    fn settle(
        &mut self,
        me: &ManagerId,
        cmp: &Comparison,
        others: &Others,
        force: bool,
    ) -> Result<(), Conflicts> {
        let in_version = |e: &Entry| -> &Comparison {
            others
                .iter()
                .find(|(v, _)| *v == e.id.api_version)
                .map_or(cmp, |(_, c)| c)
        };
        let mut conflicts = Vec::new();
        for e in &self.entries {
            if e.id.same(me) {
                continue;
            }
            let c = e.fields.intersection(&in_version(e).changed());
            if !c.is_empty() {
                conflicts.push((e.id.clone(), c));
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(Conflicts::new(conflicts));
        }
        for e in &mut self.entries {
            if e.id.same(me) {
                continue;
            }
            let c = in_version(e);
            e.fields = e.fields.difference(&c.changed()).difference(&c.removed);
        }
        self.entries
            .retain(|e| !e.fields.is_empty() || e.id.same(me));
        Ok(())
    }

    /// The write compared in the version of every entry recorded in
    /// another one than `me`'s; entries of versions the kind is no longer
    /// served in are dropped, as upstream.
    fn compare_in_other_versions(
        &mut self,
        me: &ManagerId,
        versions: Option<&dyn Versions>,
        live: Option<&Value>,
        new: &Value,
        ignored: &Set,
    ) -> Result<Others, String> {
        let Some(versions) = versions else {
            return Ok(Vec::new());
        };
        let mut others: Others = Vec::new();
        let mut unserved: Vec<String> = Vec::new();
        for e in &self.entries {
            let v = &e.id.api_version;
            if e.id.same(me)
                || *v == me.api_version
                || others.iter().any(|(x, _)| x == v)
                || unserved.contains(v)
            {
                continue;
            }
            let Some(schema) = versions.schema(v) else {
                unserved.push(v.clone());
                continue;
            };
            let convert = |o: &Value| {
                versions
                    .convert(o, v)
                    .map_err(|e| format!("failed to convert to {v}: {e}"))
            };
            let old = live.map(convert).transpose()?;
            let newer = convert(new)?;
            let c = compare(&schema, old.as_ref(), &newer)?.without(ignored);
            others.push((v.clone(), c));
        }
        self.entries
            .retain(|e| e.id.same(me) || !unserved.contains(&e.id.api_version));
        Ok(others)
    }
}

/// The other versions a kind is served in, so that a write is compared in
/// the version each managedFields entry was recorded in (upstream's
/// version converter): field paths differ between versions (autoscaling/v1
/// `spec.targetCPUUtilizationPercentage` is a `spec.metrics` item in v2).
pub trait Versions {
    /// The schema of the kind in `api_version`; `None` when the kind is not
    /// served in it (entries of that version are dropped).
    fn schema(&self, api_version: &str) -> Option<std::sync::Arc<Schema>>;
    /// `obj` (with its `apiVersion`) converted to `api_version`.
    fn convert(&self, obj: &Value, api_version: &str) -> Result<Value, String>;
}

/// A write compared in other versions: (apiVersion, comparison).
type Others = Vec<(String, Comparison)>;

/// Most `Update` entries an object keeps (upstream
/// DefaultMaxUpdateManagers); older ones merge into [`ANCIENT_CHANGES`].
pub const MAX_UPDATE_MANAGERS: usize = 10;
/// The manager the oldest updates are merged into, one per apiVersion.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

impl Managers {
    /// Merges the oldest `Update` entries, per apiVersion, until at most
    /// `max` remain (upstream's capManagersManager): the first old entry
    /// of a version becomes the `ancient-changes` bucket once a second one
    /// joins it, and the bucket takes the time of the latest merged entry.
    pub fn cap_update_managers(&mut self, max: usize) {
        let mut updaters: Vec<usize> = (0..self.entries.len())
            .filter(|i| self.entries[*i].id.operation == Operation::Update)
            .collect();
        if updaters.len() <= max {
            return;
        }
        updaters.sort_by(|a, b| {
            let (x, y) = (&self.entries[*a], &self.entries[*b]);
            seconds(&x.time)
                .cmp(&seconds(&y.time))
                .then_with(|| x.id.describe().cmp(&y.id.describe()))
        });
        let mut first_of_version: Vec<(String, usize)> = Vec::new();
        let mut removed = vec![false; self.entries.len()];
        let mut length = updaters.len();
        for &i in &updaters {
            if length <= max {
                break;
            }
            let version = self.entries[i].id.api_version.clone();
            match first_of_version.iter().find(|(v, _)| *v == version) {
                Some((_, first)) => {
                    let first = *first;
                    let bucket = ManagerId {
                        manager: ANCIENT_CHANGES.into(),
                        operation: Operation::Update,
                        api_version: version,
                        subresource: String::new(),
                    };
                    // The first old entry of the version becomes the bucket.
                    self.entries[first].id = bucket;
                    let merged = self.entries[first].fields.union(&self.entries[i].fields);
                    self.entries[first].fields = merged;
                    self.entries[first].time = self.entries[i].time.clone();
                    removed[i] = true;
                    length -= 1;
                }
                None => first_of_version.push((version, i)),
            }
        }
        let mut i = 0;
        self.entries.retain(|_| {
            let keep = !removed[i];
            i += 1;
            keep
        });
    }
}

/// One entry as `metadata.managedFields` holds it, `fields_v1` being its
/// set in `fieldsV1` form.
pub fn encode_entry(id: &ManagerId, time: Option<&str>, fields_v1: Value) -> Value {
    let mut m = Map::new();
    m.insert("manager".into(), json!(id.manager));
    m.insert("operation".into(), json!(id.operation.as_str()));
    m.insert("apiVersion".into(), json!(id.api_version));
    if let Some(t) = time {
        m.insert("time".into(), json!(t));
    }
    m.insert("fieldsType".into(), json!("FieldsV1"));
    m.insert("fieldsV1".into(), fields_v1);
    if !id.subresource.is_empty() {
        m.insert("subresource".into(), json!(id.subresource));
    }
    Value::Object(m)
}

fn seconds(t: &Option<String>) -> i64 {
    t.as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .unwrap_or(0)
}

/// Fields an applier would take from other managers.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflicts {
    /// (manager, path), grouped by manager in name order.
    pub items: Vec<(ManagerId, Path)>,
}

impl Conflicts {
    fn new(mut per_manager: Vec<(ManagerId, Set)>) -> Self {
        per_manager.sort_by_key(|a| a.0.describe());
        let mut items = Vec::new();
        for (id, set) in per_manager {
            for p in set.paths() {
                items.push((id.clone(), p));
            }
        }
        Conflicts { items }
    }

    /// Upstream's message: `Apply failed with 1 conflict: conflict with
    /// "kubectl-client-side-apply" using apps/v1: .spec.replicas`, or for
    /// several one line per manager followed by `- <path>` lines.
    pub fn message(&self) -> String {
        if let [(id, p)] = self.items.as_slice() {
            return format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                id.describe(),
                path_string(p)
            );
        }
        let mut lines = Vec::new();
        let mut last: Option<&ManagerId> = None;
        for (id, p) in &self.items {
            if last != Some(id) {
                lines.push(format!("conflicts with {}:", id.describe()));
                last = Some(id);
            }
            lines.push(format!("- {}", path_string(p)));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.items.len(),
            lines.join("\n")
        )
    }

    /// The status causes: `conflict with <manager>` at each path.
    pub fn causes(&self) -> Vec<(String, String)> {
        self.items
            .iter()
            .map(|(id, p)| (format!("conflict with {}", id.describe()), path_string(p)))
            .collect()
    }

    /// The conflicts whose path is not in `allowed`.
    pub fn without(&self, allowed: &Set) -> Conflicts {
        Conflicts {
            items: self
                .items
                .iter()
                .filter(|(_, p)| !allowed.has(p))
                .cloned()
                .collect(),
        }
    }

    /// The paths as one set.
    pub fn paths(&self) -> Set {
        let mut s = Set::new();
        for (_, p) in &self.items {
            s.insert(p);
        }
        s
    }
}

/// Why tracking failed.
#[derive(Debug)]
pub enum ApplyError {
    /// Other managers own fields the configuration changes.
    Conflicts(Conflicts),
    /// The object or configuration does not fit the schema.
    Invalid(String),
}

/// The fields a write must not track: the status of the main resource,
/// everything but status for the status subresource.
pub fn reset_fields(subresource: &str, has_status: bool) -> Set {
    let mut s = Set::new();
    match subresource {
        "status" => {
            s.insert(&[PathElement::Field("spec".into())]);
        }
        _ if has_status => {
            s.insert(&[PathElement::Field("status".into())]);
        }
        _ => {}
    }
    s
}

/// Records a non-apply write (create, update, patch) by `me`: the fields
/// it changed become its own and leave other managers; removed fields
/// leave everyone. `live` is `None` on create. `now` is the RFC 3339 time.
pub fn update(
    schema: &Schema,
    live: Option<&Value>,
    new: &Value,
    managers: Managers,
    me: &ManagerId,
    ignored: &Set,
    now: &str,
) -> Result<Managers, String> {
    update_versioned(schema, live, new, managers, me, ignored, now, None)
}

/// [`update`] of a kind served in several versions: entries recorded in
/// another version than `me`'s lose what the write changed as seen in
/// their version.
#[allow(clippy::too_many_arguments)]
pub fn update_versioned(
    schema: &Schema,
    live: Option<&Value>,
    new: &Value,
    mut managers: Managers,
    me: &ManagerId,
    ignored: &Set,
    now: &str,
    versions: Option<&dyn Versions>,
) -> Result<Managers, String> {
    let mut cmp = compare(schema, live, new)?;
    cmp.remove_ignored(ignored);
    let others = match live {
        Some(_) => managers.compare_in_other_versions(me, versions, live, new, ignored)?,
        None => Vec::new(),
    };
    let _ = managers.settle(me, &cmp, &others, true);
    let Comparison {
        added: mut took,
        modified,
        removed,
    } = cmp;
    took.merge(modified);
    took.remove(stripped());
    match managers.get_mut(me) {
        Some(e) => {
            let took_any = !took.is_empty();
            e.fields.remove(&removed);
            e.fields.merge(took);
            if took_any {
                e.time = Some(now.to_string());
            }
        }
        None if !took.is_empty() => managers.entries.push(Entry {
            id: me.clone(),
            time: Some(now.to_string()),
            fields: took,
        }),
        None => {}
    }
    managers.strip();
    managers.cap_update_managers(MAX_UPDATE_MANAGERS);
    Ok(managers)
}

/// Server-side apply of `config` by `me` onto `live` (an empty object on
/// create): merges, takes ownership of the configuration's fields,
/// removes fields `me` applied before and no longer applies unless
/// someone else owns them, and fails on conflicts unless `force`.
/// Returns the new object and managers.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    schema: &Schema,
    live: &Value,
    config: &Value,
    managers: Managers,
    me: &ManagerId,
    force: bool,
    ignored: &Set,
    now: &str,
) -> Result<(Value, Managers), ApplyError> {
    apply_versioned(
        schema, live, config, managers, me, force, ignored, now, None,
    )
}

/// [`apply`] of a kind served in several versions: other managers'
/// entries recorded in another version conflict with what the apply
/// changes as seen in their version, and the applier's own fields from an
/// apply in another version are pruned in that version (as upstream).
#[allow(clippy::too_many_arguments)]
pub fn apply_versioned(
    schema: &Schema,
    live: &Value,
    config: &Value,
    mut managers: Managers,
    me: &ManagerId,
    force: bool,
    ignored: &Set,
    now: &str,
    versions: Option<&dyn Versions>,
) -> Result<(Value, Managers), ApplyError> {
    let invalid = ApplyError::Invalid;
    let merged = merge(schema, live, config).map_err(invalid)?;
    let config_set = to_field_set(schema, config)
        .map_err(invalid)?
        .recursive_difference(ignored)
        .difference(stripped());
    let last = managers.get(me).map(|e| e.fields.clone());
    let last_version = managers.get(me).map(|e| e.id.api_version.clone());
    let time = managers.get(me).and_then(|e| e.time.clone());
    match managers.get_mut(me) {
        Some(e) => {
            e.fields = config_set;
            e.id.api_version = me.api_version.clone();
        }
        None => managers.entries.push(Entry {
            id: me.clone(),
            time: None,
            fields: config_set,
        }),
    }
    let merged = match (&last, &last_version, versions) {
        (Some(last), _, _) if last.is_empty() => merged,
        (Some(last), Some(v), Some(versions)) if *v != me.api_version => {
            // Fields applied in another version are pruned in that one.
            match versions.schema(v) {
                Some(old_schema) => {
                    let there = versions.convert(&merged, v).map_err(invalid)?;
                    let pruned = prune(&old_schema, &there, &managers, last).map_err(invalid)?;
                    versions
                        .convert(&pruned, &me.api_version)
                        .map_err(invalid)?
                }
                None => merged,
            }
        }
        (Some(last), _, _) => prune(schema, &merged, &managers, last).map_err(invalid)?,
        _ => merged,
    };
    let cmp = compare(schema, Some(live), &merged)
        .map_err(invalid)?
        .without(ignored);
    let others = managers
        .compare_in_other_versions(me, versions, Some(live), &merged, ignored)
        .map_err(invalid)?;
    managers
        .settle(me, &cmp, &others, force)
        .map_err(ApplyError::Conflicts)?;
    let changed = &merged != live;
    if let Some(e) = managers.get_mut(me) {
        e.time = if changed || time.is_none() {
            Some(now.to_string())
        } else {
            time
        };
    }
    managers.strip();
    managers.cap_update_managers(MAX_UPDATE_MANAGERS);
    Ok((merged, managers))
}

/// Removes what the applier owned before (`last`) and no longer applies,
/// unless another manager owns it (upstream's prune, addBackOwnedItems and
/// addBackDanglingItems).
fn prune(
    schema: &Schema,
    merged: &Value,
    managers: &Managers,
    last: &Set,
) -> Result<Value, String> {
    let named = |s: &Set| ensure_named_fields_are_members(schema, s);
    let last = named(last);
    let pruned = remove_items(schema, merged, &last);
    let mut managed = Set::new();
    for e in &managers.entries {
        managed = managed.union(&e.fields);
    }
    let managed = named(&managed);
    let merged_set = named(&to_field_set(schema, merged)?);
    let pruned_set = named(&to_field_set(schema, &pruned)?);
    let unowned = merged_set.difference(&pruned_set.union(&managed));
    let pruned = remove_items(schema, merged, &unowned);
    let pruned_set = named(&to_field_set(schema, &pruned)?);
    let remove = merged_set.difference(&pruned_set).intersection(&last);
    Ok(remove_items(schema, merged, &remove))
}
