//! Reads the two inputs of the generator: k8s-openapi's JSON property names and
//! k8s-pb's prost messages (field numbers and wire types).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Expr, Lit, Meta, Token};

/// The k8s-openapi version module whose JSON names are used.
pub const OPENAPI_VERSION_MODULE: &str = "v1_33";

/// Source directories of the pinned crates, found with `cargo metadata` on the Corten workspace.
pub struct SourceDirs {
    pub k8s_pb: PathBuf,
    pub k8s_pb_version: String,
    pub k8s_openapi: PathBuf,
    pub k8s_openapi_version: String,
}

/// Runs `cargo metadata` on the Corten workspace (whose Cargo.lock pins the versions).
pub fn locate(workspace_manifest: &Path) -> SourceDirs {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(workspace_manifest)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let find = |name: &str| -> (PathBuf, String) {
        let pkg = meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("package {name} not in the workspace dependency graph"));
        let manifest = PathBuf::from(pkg["manifest_path"].as_str().expect("manifest_path"));
        let version = pkg["version"].as_str().expect("version").to_string();
        (
            manifest.parent().expect("manifest dir").join("src"),
            version,
        )
    };
    let (k8s_pb, k8s_pb_version) = find("k8s-pb");
    let (k8s_openapi, k8s_openapi_version) = find("k8s-openapi");
    SourceDirs {
        k8s_pb,
        k8s_pb_version,
        k8s_openapi,
        k8s_openapi_version,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One k8s-openapi definition: `module` is dotted like `api.core.v1` (k8s-pb's module path).
pub struct OpenApiDef {
    pub module: String,
    pub name: String,
    pub json_names: Vec<String>,
}

struct DeserializeStructFinder(Option<Vec<String>>);

impl<'ast> Visit<'ast> for DeserializeStructFinder {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "deserialize_struct"
            && call.args.len() == 3
            && let Some(Expr::Reference(r)) = call.args.iter().nth(1)
            && let Expr::Array(arr) = &*r.expr
        {
            let names = arr
                .elems
                .iter()
                .filter_map(|e| match e {
                    Expr::Lit(l) => match &l.lit {
                        Lit::Str(s) => Some(s.value()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            self.0 = Some(names);
        }
        syn::visit::visit_expr_method_call(self, call);
    }
}

/// Parses every `// Generated from definition io.k8s....` file of k8s-openapi's version module.
pub fn parse_openapi(src: &Path) -> Vec<OpenApiDef> {
    let mut files = Vec::new();
    rust_files(&src.join(OPENAPI_VERSION_MODULE), &mut files);
    let mut defs = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).expect("read k8s-openapi file");
        let Some(def) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// Generated from definition "))
        else {
            continue;
        };
        let dotted = def
            .trim()
            .strip_prefix("io.k8s.")
            .expect("io.k8s. prefix")
            .replace('-', "_");
        // `io.k8s.List` is k8s-openapi's generic list, not a protobuf message.
        let Some((module, name)) = dotted.rsplit_once('.') else {
            continue;
        };
        let file = syn::parse_file(&text).expect("parse k8s-openapi file");
        let mut finder = DeserializeStructFinder(None);
        finder.visit_file(&file);
        if let Some(json_names) = finder.0 {
            defs.push(OpenApiDef {
                module: module.to_string(),
                name: name.to_string(),
                json_names,
            });
        }
    }
    defs
}

/// Scalar protobuf types used by k8s-pb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
}

/// A field's value type: a scalar or a message (module path, Rust name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PbType {
    Scalar(Scalar),
    Message(Vec<String>, String),
}

/// How often a field occurs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PbCard {
    Optional,
    Repeated,
    /// `map<string, T>`; the value type is the field's [`PbType`].
    Map,
}

pub struct PbField {
    pub rust_name: String,
    pub doc_word: Option<String>,
    pub tag: u32,
    pub ty: PbType,
    pub card: PbCard,
}

pub struct PbMessage {
    pub module: Vec<String>,
    pub rust_name: String,
    pub doc_word: Option<String>,
    pub fields: Vec<PbField>,
}

/// A `impl crate::Resource for X` block: tells the group and kind name of a message.
pub struct PbResource {
    pub module: Vec<String>,
    pub rust_name: String,
    pub group: String,
    pub kind: String,
}

fn first_doc_word(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
            Expr::Lit(l) => match &l.lit {
                Lit::Str(s) => s.value().split_whitespace().next().map(str::to_string),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

fn scalar_named(name: &str) -> Option<Scalar> {
    Some(match name {
        "string" => Scalar::String,
        "bytes" => Scalar::Bytes,
        "bool" => Scalar::Bool,
        "int32" => Scalar::Int32,
        "int64" => Scalar::Int64,
        "double" => Scalar::Double,
        _ => return None,
    })
}

/// The message a field's Rust type names, resolved against the current module.
fn message_path(ty: &syn::Type, module: &[String]) -> (Vec<String>, String) {
    let syn::Type::Path(tp) = ty else {
        panic!("unexpected field type")
    };
    let last = tp.path.segments.last().expect("segment");
    let wrapper = last.ident.to_string();
    if matches!(wrapper.as_str(), "Option" | "Box" | "Vec" | "BTreeMap") {
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            panic!("generic args")
        };
        let inner = args
            .args
            .iter()
            .filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .last()
            .expect("type arg");
        return message_path(inner, module);
    }
    let segs: Vec<String> = tp
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let mut resolved: Vec<String> = module.to_vec();
    let mut rest = segs.as_slice();
    if rest.first().is_some_and(|s| s == "crate") {
        resolved.clear();
        rest = &rest[1..];
    }
    while rest.first().is_some_and(|s| s == "super") {
        resolved.pop();
        rest = &rest[1..];
    }
    let (name, dirs) = rest.split_last().expect("type name");
    resolved.extend(dirs.iter().cloned());
    (resolved, name.clone())
}

fn parse_field(f: &syn::Field, module: &[String]) -> Option<PbField> {
    let attr = f.attrs.iter().find(|a| a.path().is_ident("prost"))?;
    let metas = attr
        .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .expect("prost attr");
    let (mut scalar, mut is_message, mut card, mut tag) = (None, false, PbCard::Optional, None);
    for m in &metas {
        let str_value = |nv: &syn::MetaNameValue| match &nv.value {
            Expr::Lit(l) => match &l.lit {
                Lit::Str(s) => s.value(),
                _ => panic!("non-string attr value"),
            },
            _ => panic!("non-literal attr value"),
        };
        match m {
            Meta::Path(p) => {
                let name = p.get_ident().expect("ident").to_string();
                match name.as_str() {
                    "message" => is_message = true,
                    "optional" => card = PbCard::Optional,
                    "repeated" => card = PbCard::Repeated,
                    "boxed" => {}
                    other => {
                        scalar = Some(
                            scalar_named(other).unwrap_or_else(|| panic!("prost kind {other}")),
                        )
                    }
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("tag") => {
                tag = Some(str_value(nv).parse().expect("tag"))
            }
            Meta::NameValue(nv) if nv.path.is_ident("bytes") => scalar = Some(Scalar::Bytes),
            Meta::NameValue(nv) if nv.path.is_ident("packed") => {}
            Meta::NameValue(nv) if nv.path.is_ident("btree_map") || nv.path.is_ident("map") => {
                card = PbCard::Map;
                let v = str_value(nv);
                let (key, value) = v.split_once(',').expect("map kinds");
                assert_eq!(key.trim(), "string", "only string map keys are supported");
                match value.trim() {
                    "message" => is_message = true,
                    other => {
                        scalar =
                            Some(scalar_named(other).unwrap_or_else(|| panic!("map value {other}")))
                    }
                }
            }
            other => panic!("unsupported prost attribute {}", quote_meta(other)),
        }
    }
    let ty = if is_message {
        let (m, n) = message_path(&f.ty, module);
        PbType::Message(m, n)
    } else {
        PbType::Scalar(scalar.expect("scalar kind"))
    };
    let ident = f.ident.as_ref().expect("named field").to_string();
    Some(PbField {
        rust_name: ident.trim_start_matches("r#").to_string(),
        doc_word: first_doc_word(&f.attrs),
        tag: tag.expect("tag"),
        ty,
        card,
    })
}

fn quote_meta(m: &Meta) -> String {
    m.path()
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_default()
}

fn const_str(item: &syn::ImplItem) -> Option<(String, String)> {
    let syn::ImplItem::Const(c) = item else {
        return None;
    };
    let Expr::Lit(l) = &c.expr else { return None };
    let Lit::Str(s) = &l.lit else { return None };
    Some((c.ident.to_string(), s.value()))
}

/// Parses every module of k8s-pb.
pub fn parse_k8s_pb(src: &Path) -> (Vec<PbMessage>, Vec<PbResource>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let (mut messages, mut resources) = (Vec::new(), Vec::new());
    for path in files {
        let rel = path.strip_prefix(src).expect("under src");
        if rel.file_name().is_none_or(|n| n != "mod.rs") {
            continue;
        }
        let module: Vec<String> = rel
            .parent()
            .expect("dir")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let file = syn::parse_file(&fs::read_to_string(&path).expect("read"))
            .expect("parse k8s-pb module");
        for item in &file.items {
            match item {
                syn::Item::Struct(s) => {
                    let syn::Fields::Named(named) = &s.fields else {
                        continue;
                    };
                    let fields: Vec<PbField> = named
                        .named
                        .iter()
                        .filter_map(|f| parse_field(f, &module))
                        .collect();
                    messages.push(PbMessage {
                        module: module.clone(),
                        rust_name: s.ident.to_string(),
                        doc_word: first_doc_word(&s.attrs),
                        fields,
                    });
                }
                syn::Item::Impl(imp) => {
                    let Some((_, trait_path, _)) = &imp.trait_ else {
                        continue;
                    };
                    if trait_path
                        .segments
                        .last()
                        .is_none_or(|s| s.ident != "Resource")
                    {
                        continue;
                    }
                    let syn::Type::Path(tp) = &*imp.self_ty else {
                        continue;
                    };
                    let consts: BTreeMap<String, String> =
                        imp.items.iter().filter_map(const_str).collect();
                    resources.push(PbResource {
                        module: module.clone(),
                        rust_name: tp.path.segments.last().expect("self").ident.to_string(),
                        group: consts.get("GROUP").cloned().unwrap_or_default(),
                        kind: consts.get("KIND").cloned().unwrap_or_default(),
                    });
                }
                _ => {}
            }
        }
    }
    (messages, resources)
}
