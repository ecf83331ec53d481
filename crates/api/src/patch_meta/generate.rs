//! Generates `table_generated.rs` from the k8s-openapi sources (an ignored
//! test, run by hand; see the module docs of `patch_meta` for the command).
//!
//! k8s-openapi's code generator turns each definition of the Kubernetes
//! OpenAPI document into one Rust file: a struct whose fields carry their
//! JSON names (in the `Deserialize` impl) and their list semantics (in the
//! `DeepMerge` impl: `list::map` with key fields, `list::set`,
//! `list::atomic`). Its rule for lists is: a `patchMergeKey` becomes the
//! only key, a `merge` patch strategy makes the list a map (with a key) or
//! a set (without), anything else follows `x-kubernetes-list-type`. This
//! generator records those facts, the type graph (which field holds which
//! type) and the kinds, for every type reachable from a kind. Where the
//! strategic-merge-patch tags differ from what this derivation implies,
//! `overrides.rs` says so.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The k8s-openapi release and API version the table is generated from.
const K8S_OPENAPI: &str = "k8s-openapi-0.29.0";
const API_VERSION_DIR: &str = "v1_33";

/// How a field's list merges according to k8s-openapi.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RawLists {
    Plain,
    Atomic,
    Set,
    /// Rust names of the key fields of the items.
    Map(Vec<String>),
}

#[derive(Debug)]
struct RawField {
    rust: String,
    json: String,
    ty: String,
    lists: RawLists,
}

#[derive(Debug)]
struct RawStruct {
    def: String,
    name: String,
    /// `None` for newtypes and enums (serialized as scalars or raw JSON).
    fields: Option<Vec<RawField>>,
}

#[derive(Debug)]
struct RawKind {
    group: String,
    version: String,
    kind: String,
    path: String,
}

/// A type of the generated table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Node {
    Struct(String),
    List(usize),
    Map(usize),
    Scalar(&'static str),
}

fn source_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("K8S_OPENAPI_SRC") {
        return PathBuf::from(dir);
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let registry = cargo_home.join("registry").join("src");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", registry.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(K8S_OPENAPI).join("src").join(API_VERSION_DIR))
        .filter(|p| p.is_dir())
        .collect();
    candidates.sort();
    candidates
        .pop()
        .unwrap_or_else(|| panic!("{K8S_OPENAPI} sources not found; set K8S_OPENAPI_SRC"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn between<'a>(line: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &line[line.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Parses one generated k8s-openapi file.
fn parse_file(root: &Path, path: &Path) -> Option<(RawStruct, String, Option<RawKind>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let def = text
        .lines()
        .next()?
        .strip_prefix("// Generated from definition ")?
        .trim()
        .to_string();
    let module: Vec<String> = path
        .strip_prefix(root)
        .unwrap()
        .parent()
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let lines: Vec<&str> = text.lines().collect();

    let mut name = None;
    let mut fields: Option<Vec<RawField>> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("pub struct ") {
            let n: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            name = Some(n);
            if rest.trim_end().ends_with('{') {
                let mut fs = Vec::new();
                i += 1;
                while i < lines.len() && lines[i] != "}" {
                    if let Some(decl) = lines[i].trim().strip_prefix("pub ")
                        && let Some((field, ty)) = decl.split_once(": ")
                    {
                        fs.push(RawField {
                            rust: field.to_string(),
                            json: String::new(),
                            ty: ty.trim_end_matches(',').to_string(),
                            lists: RawLists::Plain,
                        });
                    }
                    i += 1;
                }
                fields = Some(fs);
            }
            break;
        }
        if let Some(rest) = line.strip_prefix("pub enum ") {
            name = Some(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
            break;
        }
        i += 1;
    }
    let name = name?;

    // JSON names, from the Deserialize visitor: `"jsonName" => Field::Key_rust,`.
    let mut json_names = HashMap::new();
    for line in &lines {
        if let Some(json) = between(line, "\"", "\" => Field::Key_") {
            let rust = between(line, "Field::Key_", ",").unwrap_or_default();
            json_names.insert(rust.to_string(), json.to_string());
        }
    }
    // List strategies, from the DeepMerge impl.
    let mut lists = HashMap::new();
    for (j, line) in lines.iter().enumerate() {
        let kind = if line.contains("crate::merge_strategies::list::map(") {
            "map"
        } else if line.contains("crate::merge_strategies::list::set(") {
            "set"
        } else if line.contains("crate::merge_strategies::list::atomic(") {
            "atomic"
        } else {
            continue;
        };
        // Either `list::set(&mut self.x, other.x);` or multi-line. Calls on
        // `current_item` merge the values of a map field, not a field.
        let next = lines.get(j + 1).copied().unwrap_or_default();
        let field_line = if line.contains("&mut self.") {
            line
        } else if next.trim_start().starts_with("&mut self.") {
            next
        } else {
            continue;
        };
        let field = between(field_line, "&mut self.", ",")
            .unwrap_or_else(|| panic!("{}: cannot parse {field_line:?}", path.display()))
            .to_string();
        let raw = match kind {
            "map" => {
                let keys_line = lines.get(j + 3).copied().unwrap_or_default();
                let keys = keys_line
                    .split("lhs.")
                    .skip(1)
                    .map(|s| s.split(' ').next().unwrap_or_default().to_string())
                    .collect();
                RawLists::Map(keys)
            }
            "set" => RawLists::Set,
            _ => RawLists::Atomic,
        };
        lists.insert(field, raw);
    }
    let fields = fields.map(|fs| {
        fs.into_iter()
            .map(|mut f| {
                f.json = json_names
                    .get(&f.rust)
                    .cloned()
                    .unwrap_or_else(|| panic!("{def}: no JSON name for field {}", f.rust));
                f.lists = lists.remove(&f.rust).unwrap_or(RawLists::Plain);
                f
            })
            .collect()
    });

    let path_name = format!("crate::{}::{}", module.join("::"), name);
    let kind = text
        .find(&format!("impl crate::Resource for {name} {{"))
        .map(|at| {
            let block = &text[at..];
            let konst = |k: &str| {
                between(block, &format!("const {k}: &'static str = \""), "\";")
                    .unwrap()
                    .to_string()
            };
            RawKind {
                group: konst("GROUP"),
                version: konst("VERSION"),
                kind: konst("KIND"),
                path: path_name.clone(),
            }
        });
    Some((RawStruct { def, name, fields }, path_name, kind))
}

/// Strips one layer of `prefix<...>`.
fn unwrap_generic<'a>(ty: &'a str, prefix: &str) -> Option<&'a str> {
    ty.strip_prefix(prefix)?.strip_suffix('>')
}

struct Graph {
    structs: BTreeMap<String, RawStruct>,
    by_path: HashMap<String, String>,
    nodes: Vec<Node>,
    ids: HashMap<Node, usize>,
}

impl Graph {
    fn intern(&mut self, node: Node) -> usize {
        if let Some(&id) = self.ids.get(&node) {
            return id;
        }
        self.nodes.push(node.clone());
        self.ids.insert(node, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    /// The node of a Rust field type.
    fn resolve(&mut self, ty: &str) -> usize {
        if let Some(inner) = unwrap_generic(ty, "Option<") {
            return self.resolve(inner);
        }
        if let Some(inner) = unwrap_generic(ty, "std::boxed::Box<") {
            return self.resolve(inner);
        }
        if let Some(inner) = unwrap_generic(ty, "std::vec::Vec<") {
            let items = self.resolve(inner);
            return self.intern(Node::List(items));
        }
        if let Some(inner) = unwrap_generic(ty, "std::collections::BTreeMap<std::string::String, ")
        {
            let values = self.resolve(inner);
            return self.intern(Node::Map(values));
        }
        let scalar = match ty {
            "std::string::String" => Some("string"),
            "bool" => Some("bool"),
            "i32" => Some("int32"),
            "i64" => Some("int64"),
            "f64" => Some("float64"),
            // Go's []byte, serialized as base64.
            "crate::ByteString" => Some("slice"),
            _ => None,
        };
        if let Some(kind) = scalar {
            return self.intern(Node::Scalar(kind));
        }
        let def = self
            .by_path
            .get(ty)
            .unwrap_or_else(|| panic!("unknown field type {ty}"))
            .clone();
        self.intern(Node::Struct(def))
    }
}

fn render(root: &Path) -> String {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut structs = BTreeMap::new();
    let mut by_path = HashMap::new();
    let mut kinds = Vec::new();
    for f in &files {
        if let Some((s, path, kind)) = parse_file(root, f) {
            by_path.insert(path, s.def.clone());
            kinds.extend(kind);
            structs.insert(s.def.clone(), s);
        }
    }
    let mut graph = Graph {
        structs,
        by_path,
        nodes: Vec::new(),
        ids: HashMap::new(),
    };

    // Every struct reachable from a kind, breadth first from the kinds in
    // sorted order, gets an id; composite and scalar nodes follow.
    kinds.sort_by(|a, b| (&a.group, &a.kind, &a.version).cmp(&(&b.group, &b.kind, &b.version)));
    let mut reachable: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<String> = kinds
        .iter()
        .map(|k| graph.by_path[&k.path].clone())
        .collect();
    while let Some(def) = queue.pop_front() {
        if !seen.insert(def.clone()) {
            continue;
        }
        reachable.push(def.clone());
        if let Some(fields) = &graph.structs[&def].fields {
            for f in fields {
                for path in field_type_paths(&f.ty) {
                    queue.push_back(graph.by_path[&path].clone());
                }
            }
        }
    }
    reachable.sort();
    for def in &reachable {
        graph.intern(Node::Struct(def.clone()));
    }
    let mut struct_fields: BTreeMap<String, Vec<(String, usize, RawLists)>> = BTreeMap::new();
    for def in &reachable {
        let mut fields: Vec<(String, String, RawLists)> = graph.structs[def]
            .fields
            .as_ref()
            .map(|fs| {
                fs.iter()
                    .map(|f| (f.json.clone(), f.ty.clone(), f.lists.clone()))
                    .collect()
            })
            .unwrap_or_default();
        // Kinds carry TypeMeta inline.
        if kinds.iter().any(|k| &graph.by_path[&k.path] == def) {
            fields.push((
                "apiVersion".into(),
                "std::string::String".into(),
                RawLists::Plain,
            ));
            fields.push(("kind".into(), "std::string::String".into(), RawLists::Plain));
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let resolved = fields
            .into_iter()
            .map(|(json, ty, lists)| {
                let lists = match lists {
                    RawLists::Map(keys) => RawLists::Map(
                        keys.iter()
                            .map(|k| item_json_name(&graph, &ty, k))
                            .collect(),
                    ),
                    other => other,
                };
                (json, graph.resolve(&ty), lists)
            })
            .collect();
        struct_fields.insert(def.clone(), resolved);
    }

    let mut out = String::new();
    out.push_str(&format!(
        "//! The built-in types' fields as k8s-openapi describes them, generated from\n\
         //! {K8S_OPENAPI} (`src/{API_VERSION_DIR}`) by `generate.rs`. Do not edit: run\n\
         //! `cargo test -p corten-api --lib patch_meta::generate::regenerate -- --ignored`.\n\
         //! Corrections for strategic merge patch belong in `overrides.rs`.\n\n\
         use super::table::{{Field, Kind, Lists::*, Type}};\n\n"
    ));
    out.push_str("/// Every type reachable from a kind. Struct fields are sorted by JSON name.\n");
    out.push_str("pub(super) static TYPES: &[Type] = &[\n");
    for (id, node) in graph.nodes.iter().enumerate() {
        match node {
            Node::Struct(def) => {
                let name = &graph.structs[def].name;
                let _ = writeln!(
                    out,
                    "    // {id}\n    Type::Struct {{ def: \"{def}\", name: \"{name}\", fields: &["
                );
                for (json, ty, lists) in &struct_fields[def] {
                    let lists = match lists {
                        RawLists::Plain => "Plain".to_string(),
                        RawLists::Atomic => "Atomic".to_string(),
                        RawLists::Set => "Set".to_string(),
                        RawLists::Map(keys) => format!(
                            "Keyed(&[{}])",
                            keys.iter()
                                .map(|k| format!("\"{k}\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    let _ = writeln!(out, "        Field::new(\"{json}\", {ty}, {lists}),");
                }
                out.push_str("    ] },\n");
            }
            Node::List(items) => {
                let _ = writeln!(out, "    Type::List({items}), // {id}");
            }
            Node::Map(values) => {
                let _ = writeln!(out, "    Type::Map({values}), // {id}");
            }
            Node::Scalar(kind) => {
                let _ = writeln!(out, "    Type::Scalar(\"{kind}\"), // {id}");
            }
        }
    }
    out.push_str("];\n\n/// Every kind, sorted by group, kind and version.\n");
    out.push_str("pub(super) static KINDS: &[Kind] = &[\n");
    for k in &kinds {
        let root = graph.ids[&Node::Struct(graph.by_path[&k.path].clone())];
        let _ = writeln!(
            out,
            "    Kind::new(\"{}\", \"{}\", \"{}\", {root}),",
            k.group, k.version, k.kind
        );
    }
    out.push_str("];\n");
    out
}

/// The `crate::...` struct paths named in a field type.
fn field_type_paths(ty: &str) -> Vec<String> {
    ty.split(['<', '>', ',', ' '])
        .filter(|s| s.starts_with("crate::") && s != &"crate::ByteString")
        .map(str::to_string)
        .collect()
}

/// The JSON name of the key field `rust_key` of the items of list type `ty`
/// (k8s-openapi keys one list by a nested field, `metadata.name`: its first
/// segment is translated).
fn item_json_name(graph: &Graph, ty: &str, rust_key: &str) -> String {
    if let Some((head, rest)) = rust_key.split_once('.') {
        return format!("{}.{rest}", item_json_name(graph, ty, head));
    }
    let item = field_type_paths(ty)
        .pop()
        .unwrap_or_else(|| panic!("keyed list {ty} without item type"));
    let def = &graph.by_path[&item];
    graph.structs[def]
        .fields
        .as_ref()
        .and_then(|fs| fs.iter().find(|f| f.rust == rust_key))
        .map(|f| f.json.clone())
        .unwrap_or_else(|| panic!("{def}: no key field {rust_key}"))
}

/// Where the generated table lives.
fn output_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/patch_meta/table_generated.rs")
}

#[test]
#[ignore = "regenerates table_generated.rs from the k8s-openapi sources"]
fn regenerate() {
    let text = render(&source_dir());
    std::fs::write(output_path(), text).unwrap();
}

#[test]
#[ignore = "needs the k8s-openapi sources in the cargo registry"]
fn generated_table_is_up_to_date() {
    let text = render(&source_dir());
    let current = std::fs::read_to_string(output_path()).unwrap();
    assert!(
        text == current,
        "table_generated.rs is stale: run the regenerate test"
    );
}
