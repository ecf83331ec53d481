//! The schema server-side apply merges by: for every node of an object,
//! whether it is a scalar, a struct, a map or a list, and how lists and
//! maps merge. Compiled once from an OpenAPI (v3 component or CRD
//! structural) schema with the Kubernetes extensions
//! `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`, `x-kubernetes-patch-strategy` /
//! `x-kubernetes-patch-merge-key` and `x-kubernetes-preserve-unknown-fields`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Index of a node in a [`Schema`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(pub u32);

/// How the items of a list merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole, owned as a whole.
    Atomic,
    /// Scalars merged as a set, owned item by item (`v:<value>`).
    Set,
    /// Objects merged by the values of these fields (`k:{...}`).
    Map(Vec<String>),
}

/// What a [`Node::Scalar`] accepts (upstream's scalar types): checked
/// only when an apply configuration is converted to a typed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    /// `type: string`.
    String,
    /// `type: integer` or `number`.
    Numeric,
    /// `type: boolean`.
    Boolean,
    /// Any scalar: int-or-string, quantities, unknown types.
    Untyped,
}

/// One node of the schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A leaf value (string, number, boolean, int-or-string, quantity...).
    Scalar,
    /// An object with declared fields.
    Struct {
        /// Field name -> node.
        fields: BTreeMap<String, NodeId>,
        /// `x-kubernetes-map-type: atomic`: owned and replaced as a whole.
        atomic: bool,
        /// Node of undeclared fields (`additionalProperties`), if allowed.
        extra: Option<NodeId>,
        /// Declared fields that Go holds as non-pointer structs: on create
        /// upstream compares against a zero object in which they are
        /// already present, so they are never "added" as a whole.
        zero_present: Vec<String>,
    },
    /// A map with arbitrary keys.
    Map {
        /// Node of every value.
        values: NodeId,
        /// `x-kubernetes-map-type: atomic`.
        atomic: bool,
    },
    /// A list.
    List {
        /// Node of every item.
        items: NodeId,
        /// How items merge.
        list_type: ListType,
    },
    /// Anything (`x-kubernetes-preserve-unknown-fields`, schemaless
    /// objects): maps merge key by key, lists are atomic.
    Untyped,
}

/// A compiled schema: nodes reachable from `root`.
#[derive(Clone, Debug)]
pub struct Schema {
    nodes: Vec<Node>,
    root: NodeId,
    /// The kind of every scalar node with a declared type.
    scalars: HashMap<NodeId, ScalarKind>,
}

/// Looks up a named component schema (`$ref` target).
pub type Resolver<'a> = dyn Fn(&str) -> Option<&'a Value> + 'a;

impl Schema {
    /// A schema where everything is [`Node::Untyped`].
    pub fn untyped() -> Self {
        Schema {
            nodes: vec![Node::Untyped],
            root: NodeId(0),
            scalars: HashMap::new(),
        }
    }

    /// Compiles a JSON schema. `$ref`s (`#/components/schemas/<name>` or
    /// `#/definitions/<name>`) are resolved by name through `resolve`.
    /// `zero_present` names, per component, the fields Go holds as
    /// non-pointer structs (see [`Node::Struct::zero_present`]).
    pub fn compile<'a>(
        root: &'a Value,
        resolve: &Resolver<'a>,
        zero_present: &dyn Fn(&str) -> Vec<String>,
    ) -> Self {
        let mut c = Compiler {
            nodes: vec![Node::Untyped],
            named: HashMap::new(),
            resolve,
            zero_present,
            scalars: HashMap::new(),
            last_kind: None,
        };
        let root = c.compile(root, None, 0);
        Schema {
            nodes: c.nodes,
            root,
            scalars: c.scalars,
        }
    }

    /// The object's root node.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// A node (an unknown id reads as untyped).
    pub fn node(&self, id: NodeId) -> &Node {
        self.nodes.get(id.0 as usize).unwrap_or(&Node::Untyped)
    }

    /// The node of the field `name` of a struct or map node, if declared
    /// (untyped nodes have untyped fields).
    pub fn field(&self, id: NodeId, name: &str) -> Option<NodeId> {
        match self.node(id) {
            Node::Struct { fields, extra, .. } => fields.get(name).copied().or(*extra),
            Node::Map { values, .. } => Some(*values),
            Node::Untyped => Some(UNTYPED),
            _ => None,
        }
    }

    /// What the scalar node `id` accepts.
    pub fn scalar_kind(&self, id: NodeId) -> ScalarKind {
        self.scalars
            .get(&id)
            .copied()
            .unwrap_or(ScalarKind::Untyped)
    }

    /// Whether `name` is a declared field of the struct node `id`.
    pub fn is_named_field(&self, id: NodeId, name: &str) -> bool {
        matches!(self.node(id), Node::Struct { fields, .. } if fields.contains_key(name))
    }
}

/// The untyped node every schema has at index 0.
pub const UNTYPED: NodeId = NodeId(0);

struct Compiler<'a, 'r> {
    nodes: Vec<Node>,
    named: HashMap<String, NodeId>,
    resolve: &'r Resolver<'a>,
    zero_present: &'r dyn Fn(&str) -> Vec<String>,
    scalars: HashMap<NodeId, ScalarKind>,
    /// The kind of the scalar [`Compiler::build`] just returned.
    last_kind: Option<ScalarKind>,
}

/// Quantities are written as strings or numbers (`cpu: 1`), though their
/// schema says `type: string`.
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

fn ref_name(schema: &Value) -> Option<&str> {
    let r = schema
        .get("$ref")
        .or_else(|| schema.pointer("/allOf/0/$ref"))?
        .as_str()?;
    r.strip_prefix("#/components/schemas/")
        .or_else(|| r.strip_prefix("#/definitions/"))
}

fn ext<'v>(schema: &'v Value, name: &str) -> Option<&'v Value> {
    schema.get(name)
}

impl<'a> Compiler<'a, '_> {
    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        NodeId(self.nodes.len() as u32 - 1)
    }

    /// `wrapper` is the property schema that referred to `schema`: its
    /// extensions (list type, map type) apply too.
    fn compile(&mut self, schema: &'a Value, wrapper: Option<&'a Value>, depth: usize) -> NodeId {
        if depth > 64 {
            return UNTYPED;
        }
        if let Some(name) = ref_name(schema) {
            let name = name.to_string();
            // A list or map-type extension on the referring property
            // changes the node, so only plain references are shared.
            let plain = ext(schema, "x-kubernetes-map-type").is_none();
            if plain && let Some(id) = self.named.get(&name) {
                return *id;
            }
            let Some(target) = (self.resolve)(&name) else {
                return UNTYPED;
            };
            // Reserve the slot first: schemas can be recursive.
            let id = self.push(Node::Untyped);
            if plain {
                self.named.insert(name.clone(), id);
            }
            let node = self.build(target, Some(schema), Some(&name), depth);
            self.nodes[id.0 as usize] = node;
            self.record_kind(id);
            return id;
        }
        let node = self.build(schema, wrapper, None, depth);
        let id = self.push(node);
        self.record_kind(id);
        id
    }

    fn record_kind(&mut self, id: NodeId) {
        if let Some(kind) = self.last_kind.take()
            && self.nodes[id.0 as usize] == Node::Scalar
        {
            self.scalars.insert(id, kind);
        }
    }

    fn build(
        &mut self,
        schema: &'a Value,
        wrapper: Option<&'a Value>,
        component: Option<&str>,
        depth: usize,
    ) -> Node {
        let get = |name: &str| ext(schema, name).or_else(|| wrapper.and_then(|w| ext(w, name)));
        self.last_kind = None;
        if get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
            || component == Some(QUANTITY)
        {
            self.last_kind = Some(ScalarKind::Untyped);
            return Node::Scalar;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        if let Some(items) = schema
            .get("items")
            .filter(|_| ty.is_none_or(|t| t == "array"))
        {
            let list_type = match get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map(
                    get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                Some(_) => ListType::Atomic,
                None => match get("x-kubernetes-patch-strategy").and_then(Value::as_str) {
                    Some(s) if s.split(',').any(|p| p == "merge") => {
                        match get("x-kubernetes-patch-merge-key").and_then(Value::as_str) {
                            Some(k) => ListType::Map(vec![k.to_string()]),
                            None => ListType::Set,
                        }
                    }
                    _ => ListType::Atomic,
                },
            };
            let items = self.compile(items, None, depth + 1);
            return Node::List { items, list_type };
        }
        if ty == Some("array") {
            return Node::List {
                items: UNTYPED,
                list_type: ListType::Atomic,
            };
        }
        let atomic = get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        if let Some(props) = props.filter(|p| !p.is_empty()) {
            let mut fields = BTreeMap::new();
            for (name, p) in props {
                fields.insert(name.clone(), self.compile(p, None, depth + 1));
            }
            let extra = match additional {
                Some(Value::Object(_)) => {
                    Some(self.compile(additional.unwrap_or(&Value::Null), None, depth + 1))
                }
                Some(Value::Bool(true)) => Some(UNTYPED),
                _ if get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) => {
                    Some(UNTYPED)
                }
                _ => None,
            };
            let zero_present = component
                .map(|c| (self.zero_present)(c))
                .unwrap_or_default();
            return Node::Struct {
                fields,
                atomic,
                extra,
                zero_present,
            };
        }
        if let Some(a @ Value::Object(_)) = additional {
            let values = self.compile(a, None, depth + 1);
            return Node::Map { values, atomic };
        }
        match ty {
            Some(t @ ("string" | "integer" | "number" | "boolean")) => {
                self.last_kind = Some(match t {
                    "string" => ScalarKind::String,
                    "boolean" => ScalarKind::Boolean,
                    _ => ScalarKind::Numeric,
                });
                Node::Scalar
            }
            _ if atomic => Node::Map {
                values: UNTYPED,
                atomic: true,
            },
            _ => Node::Untyped,
        }
    }
}
