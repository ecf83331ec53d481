//! Joins k8s-pb messages with k8s-openapi JSON names into the table that is emitted.

use std::collections::{BTreeMap, BTreeSet};

use crate::sources::{OpenApiDef, PbCard, PbMessage, PbResource, PbType, Scalar};

/// Fields whose empty string value is kept: Go pointers where `""` differs from unset.
/// Every other singular string is dropped when empty, as Go's `omitempty` does.
const KEEP_EMPTY: &[(&str, &str)] = &[
    ("api.core.v1.PersistentVolumeClaimSpec", "storageClassName"),
    (
        "api.core.v1.PersistentVolumeClaimSpec",
        "volumeAttributesClassName",
    ),
];

pub struct OutField {
    pub number: u32,
    pub json: String,
    /// Rust expression of the `FieldType`.
    pub ty: String,
    /// Rust expression of the `Cardinality`.
    pub card: &'static str,
    pub keep_empty: bool,
}

pub struct OutMessage {
    pub full_name: String,
    pub name: String,
    pub api_version: String,
    pub kind: &'static str,
    pub fields: Vec<OutField>,
}

pub struct Model {
    pub messages: Vec<OutMessage>,
    /// (apiVersion, kind, message index), sorted.
    pub kinds: Vec<(String, String, usize)>,
    pub warnings: Vec<String>,
}

/// Lowercased alphanumerics: `volumeID`, `volume_id` and `x-kubernetes-map-type` compare equal to their twins.
pub fn norm(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

const INITIALISMS: &[&str] = &["id", "ip", "uid", "url", "uri", "cidr", "pid", "ipc"];

fn lower_camel(snake: &str) -> String {
    let mut out = String::new();
    for (i, part) in snake.split('_').enumerate() {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            // Go initialisms, as upstream spells them in JSON names (`podIP`, `shareID`).
            if i > 0 && INITIALISMS.contains(&part) {
                out.push_str(&part.to_ascii_uppercase());
                continue;
            }
            if i == 0 {
                out.push(c);
            } else {
                out.push(c.to_ascii_uppercase());
            }
            out.extend(chars);
        }
    }
    out
}

/// The API group of a k8s-pb module that holds kinds, or `None` for helper packages.
fn group_of(module: &[String]) -> Option<(String, String)> {
    let m: Vec<&str> = module.iter().map(String::as_str).collect();
    let (group, version) = match m.as_slice() {
        ["api", pkg, ver] => {
            let g = match *pkg {
                "core" => String::new(),
                "apps" | "batch" | "autoscaling" | "policy" | "extensions" => pkg.to_string(),
                "rbac" => "rbac.authorization.k8s.io".into(),
                "flowcontrol" => "flowcontrol.apiserver.k8s.io".into(),
                "apiserverinternal" => "internal.apiserver.k8s.io".into(),
                other => format!("{other}.k8s.io"),
            };
            (g, *ver)
        }
        ["apimachinery", "pkg", "apis", "meta", ver] => ("meta.k8s.io".into(), *ver),
        ["apimachinery", "pkg", "apis", "testapigroup", ver] => {
            ("testapigroup.apimachinery.k8s.io".into(), *ver)
        }
        [
            "apiextensions_apiserver",
            "pkg",
            "apis",
            "apiextensions",
            ver,
        ] => ("apiextensions.k8s.io".into(), *ver),
        ["kube_aggregator", "pkg", "apis", "apiregistration", ver] => {
            ("apiregistration.k8s.io".into(), *ver)
        }
        ["metrics", "pkg", "apis", pkg, ver] => (format!("{}.k8s.io", pkg.replace('_', ".")), *ver),
        _ => return None,
    };
    Some((group, version.to_string()))
}

fn special_kind(module: &str, name: &str) -> &'static str {
    match (module, name) {
        ("apimachinery.pkg.apis.meta.v1", "Time") => "Time",
        ("apimachinery.pkg.apis.meta.v1", "MicroTime") => "MicroTime",
        ("apimachinery.pkg.apis.meta.v1", "Duration") => "Duration",
        ("apimachinery.pkg.apis.meta.v1", "FieldsV1") => "RawJson",
        ("apimachinery.pkg.apis.meta.v1", "Verbs") => "StringList",
        ("apimachinery.pkg.runtime", "RawExtension") => "RawExtension",
        ("apimachinery.pkg.api.resource", "Quantity") => "Quantity",
        ("apimachinery.pkg.util.intstr", "IntOrString") => "IntOrString",
        (_, "ExtraValue") => "StringList",
        (m, "Json") if m.starts_with("apiextensions_apiserver.") => "RawJson",
        (m, "JsonSchemaPropsOrArray") if m.starts_with("apiextensions_apiserver.") => {
            "SchemaOrArray"
        }
        (m, "JsonSchemaPropsOrBool") if m.starts_with("apiextensions_apiserver.") => "SchemaOrBool",
        (m, "JsonSchemaPropsOrStringArray") if m.starts_with("apiextensions_apiserver.") => {
            "SchemaOrStringArray"
        }
        _ => "Struct",
    }
}

fn scalar_expr(s: Scalar) -> &'static str {
    match s {
        Scalar::String => "T::String",
        Scalar::Bytes => "T::Bytes",
        Scalar::Bool => "T::Bool",
        Scalar::Int32 => "T::Int32",
        Scalar::Int64 => "T::Int64",
        Scalar::Double => "T::Double",
    }
}

pub fn build(mut pb: Vec<PbMessage>, resources: &[PbResource], openapi: &[OpenApiDef]) -> Model {
    let mut warnings = Vec::new();
    let defs: BTreeMap<(String, String), &OpenApiDef> = openapi
        .iter()
        .map(|d| ((d.module.clone(), d.name.to_ascii_lowercase()), d))
        .collect();
    let res_kind: BTreeMap<(String, String), &PbResource> = resources
        .iter()
        .map(|r| ((r.module.join("."), r.rust_name.clone()), r))
        .collect();
    for r in resources {
        let (group, _) =
            group_of(&r.module).unwrap_or_else(|| panic!("no group for {:?}", r.module));
        assert_eq!(
            group, r.group,
            "group table disagrees with k8s-pb for {:?}",
            r.module
        );
    }

    // Upstream (Go/proto) message names, and a stable order by full proto name.
    let upstream_name = |m: &PbMessage| -> String {
        let module = m.module.join(".");
        if let Some(d) = defs.get(&(module.clone(), m.rust_name.to_ascii_lowercase())) {
            return d.name.clone();
        }
        if let Some(r) = res_kind.get(&(module, m.rust_name.clone())) {
            return r.kind.clone();
        }
        match &m.doc_word {
            Some(w) if norm(w) == norm(&m.rust_name) => w.clone(),
            _ => m.rust_name.clone(),
        }
    };
    let full = |m: &PbMessage| format!("k8s.io.{}.{}", m.module.join("."), upstream_name(m));
    pb.sort_by_key(|m| full(m));
    let index: BTreeMap<(String, String), usize> = pb
        .iter()
        .enumerate()
        .map(|(i, m)| ((m.module.join("."), m.rust_name.clone()), i))
        .collect();
    // k8s-openapi's WatchEvent is a hand-written generic type, not the protobuf message.
    let def_of = |m: &PbMessage| {
        let def = defs
            .get(&(m.module.join("."), m.rust_name.to_ascii_lowercase()))
            .copied();
        def.filter(|d| d.name != "WatchEvent")
    };

    // Messages without a definition of their own use the same type in a sibling version
    // (apiextensions v1beta1 -> v1, networking v1beta1 -> v1), if any.
    let sibling_def = |m: &PbMessage| -> Option<&OpenApiDef> {
        def_of(m).or_else(|| {
            let parent = m.module[..m.module.len().saturating_sub(1)].join(".");
            openapi.iter().find(|d| {
                d.name.eq_ignore_ascii_case(&m.rust_name)
                    && d.module.rsplit_once('.').is_some_and(|(p, _)| p == parent)
            })
        })
    };
    // Pass 1: embedded Go structs (`json:",inline"`), whose fields sit in the parent object.
    // They show as a message field whose name is no JSON property of the parent, while the
    // child's properties are. Newer k8s-pb fields may be missing from k8s-openapi's older
    // version, so 3/4 of the child's names must match. Only a message's own definition is
    // trusted here: a sibling version may have had the child's fields flat (resource.k8s.io
    // v1beta1 DeviceRequest vs v1 `exactly`).
    let mut inline: BTreeSet<(usize, u32)> = BTreeSet::new();
    let mut inline_by_name: BTreeSet<(String, String)> = BTreeSet::new();
    let mut borrowed: BTreeMap<usize, &OpenApiDef> = BTreeMap::new();
    for (i, m) in pb.iter().enumerate() {
        let Some(def) = def_of(m) else { continue };
        let names: BTreeSet<String> = def.json_names.iter().map(|n| norm(n)).collect();
        for f in &m.fields {
            let (PbType::Message(path, n), PbCard::Optional) = (&f.ty, f.card) else {
                continue;
            };
            if names.contains(&norm(&f.rust_name)) {
                continue;
            }
            let child_id = index[&(path.join("."), n.clone())];
            let child = &pb[child_id];
            let child_names: Vec<String> = match sibling_def(child) {
                Some(cd) => cd.json_names.iter().map(|n| norm(n)).collect(),
                None => child.fields.iter().map(|cf| norm(&cf.rust_name)).collect(),
            };
            let hits = child_names.iter().filter(|n| names.contains(*n)).count();
            if !child_names.is_empty() && hits * 4 >= child_names.len() * 3 {
                inline.insert((i, f.tag));
                inline_by_name.insert((m.rust_name.clone(), f.rust_name.clone()));
                if sibling_def(child).is_none() {
                    borrowed.insert(child_id, def);
                }
            }
        }
    }
    // Versions without a definition of their own embed the same fields as the versions that
    // have one (networking v1beta1 IngressRule, resource v1 DeviceClaimConfiguration).
    for (i, m) in pb.iter().enumerate() {
        if def_of(m).is_some() {
            continue;
        }
        for f in &m.fields {
            if inline_by_name.contains(&(m.rust_name.clone(), f.rust_name.clone())) {
                inline.insert((i, f.tag));
                if let (PbType::Message(path, n), Some(def)) = (&f.ty, sibling_def(m)) {
                    let child_id = index[&(path.join("."), n.clone())];
                    if sibling_def(&pb[child_id]).is_none() {
                        borrowed.insert(child_id, def);
                    }
                }
            }
        }
    }
    // A message inlined into a struct borrows that struct's JSON names.
    let names_of = |i: usize, m: &PbMessage| sibling_def(m).or_else(|| borrowed.get(&i).copied());

    let mut messages = Vec::new();
    let mut kinds = Vec::new();
    for (i, m) in pb.iter().enumerate() {
        let module = m.module.join(".");
        let name = upstream_name(m);
        let api_version = match group_of(&m.module) {
            Some((g, v)) if g.is_empty() => v,
            Some((g, v)) => format!("{g}/{v}"),
            None => String::new(),
        };
        if !api_version.is_empty() {
            kinds.push((api_version.clone(), name.clone(), i));
        }
        let kind = special_kind(&module, &m.rust_name);
        let def = def_of(m);
        let json_by_norm: BTreeMap<String, &String> = names_of(i, m)
            .map(|d| d.json_names.iter().map(|n| (norm(n), n)).collect())
            .unwrap_or_default();
        let mut covered = BTreeSet::new();
        let mut fields = Vec::new();
        for f in &m.fields {
            let ty = match &f.ty {
                PbType::Scalar(s) => scalar_expr(*s).to_string(),
                PbType::Message(path, n) => {
                    let id = index
                        .get(&(path.join("."), n.clone()))
                        .unwrap_or_else(|| panic!("unknown message {path:?}::{n}"));
                    format!("T::Message({id})")
                }
            };
            let mut card = match f.card {
                PbCard::Optional => "C::One",
                PbCard::Repeated => "C::Many",
                PbCard::Map => "C::Map",
            };
            let json = if let Some(j) = json_by_norm.get(&norm(&f.rust_name)) {
                covered.insert(norm(j));
                (*j).clone()
            } else if inline.contains(&(i, f.tag)) {
                card = "C::Inline";
                if let PbType::Message(path, n) = &f.ty {
                    let child_id = index[&(path.join("."), n.clone())];
                    if let Some(cd) = names_of(child_id, &pb[child_id]) {
                        covered.extend(cd.json_names.iter().map(|n| norm(n)));
                    }
                }
                lower_camel(&f.rust_name)
            } else {
                if def.is_some() {
                    warnings.push(format!(
                        "{module}.{name}: field {} not in k8s-openapi",
                        f.rust_name
                    ));
                }
                // Upstream comments usually start with the JSON name; a capitalised first word
                // is the Go field name instead.
                match &f.doc_word {
                    Some(w)
                        if norm(w) == norm(&f.rust_name)
                            && w.starts_with(|c: char| c.is_ascii_lowercase()) =>
                    {
                        w.clone()
                    }
                    _ => {
                        let camel = lower_camel(&f.rust_name);
                        if camel.contains(char::is_uppercase) {
                            warnings.push(format!(
                                "{module}.{name}: field {} guessed as {camel}",
                                f.rust_name
                            ));
                        }
                        camel
                    }
                }
            };
            let keep_empty = KEEP_EMPTY.contains(&(&format!("{module}.{name}")[..], &json[..]));
            fields.push(OutField {
                number: f.tag,
                json,
                ty,
                card,
                keep_empty,
            });
        }
        fields.sort_by_key(|f| f.number);
        if let Some(d) = def.filter(|_| kind == "Struct") {
            for n in &d.json_names {
                if n != "apiVersion" && n != "kind" && !covered.contains(&norm(n)) {
                    warnings.push(format!(
                        "{module}.{name}: JSON property {n} has no protobuf field"
                    ));
                }
            }
        }
        messages.push(OutMessage {
            full_name: full(m),
            name,
            api_version,
            kind,
            fields,
        });
    }
    kinds.sort();
    for w in kinds.windows(2) {
        assert!(
            w[0].0 != w[1].0 || w[0].1 != w[1].1,
            "duplicate kind {:?}",
            w[0]
        );
    }
    let unmatched = pb.iter().filter(|m| def_of(m).is_none()).count();
    warnings.push(format!(
        "{unmatched} of {} messages have no k8s-openapi definition (JSON names from docs)",
        pb.len()
    ));
    Model {
        messages,
        kinds,
        warnings,
    }
}
