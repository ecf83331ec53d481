//! The Swagger 2.0 JSON document encoded as gnostic's `openapi.v2.Document`
//! protobuf (what client-go's `OpenAPISchema` decodes). Only the parts the
//! document uses are written: info, paths with their operations,
//! parameters and responses, and definitions with every schema keyword
//! and vendor extension. Extension and default values travel as YAML text
//! in `Any.yaml`; JSON text is valid YAML, so they are written as JSON.

use serde_json::Value;

#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn tag(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }
    fn msg(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }
    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.tag(field, 0);
            self.varint(1);
        }
    }
    fn int(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.tag(field, 0);
            self.varint(v as u64);
        }
    }
    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.tag(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `Any` with the value as YAML (JSON) text.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &format!("{v}\n"));
    m
}

fn named_any(name: &str, v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(1, name);
    m.msg(2, any(v));
    m
}

fn extensions(m: &mut Msg, field: u32, obj: &Value) {
    for (k, v) in obj.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            m.msg(field, named_any(k, v));
        }
    }
}

fn schema(s: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(1, str_of(s, "$ref"));
    m.string(2, str_of(s, "format"));
    m.string(3, str_of(s, "title"));
    m.string(4, str_of(s, "description"));
    if let Some(d) = s.get("default") {
        m.msg(5, any(d));
    }
    let num = |k: &str| s.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let int = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    m.double(6, num("multipleOf"));
    m.double(7, num("maximum"));
    m.boolean(8, flag("exclusiveMaximum"));
    m.double(9, num("minimum"));
    m.boolean(10, flag("exclusiveMinimum"));
    m.int(11, int("maxLength"));
    m.int(12, int("minLength"));
    m.string(13, str_of(s, "pattern"));
    m.int(14, int("maxItems"));
    m.int(15, int("minItems"));
    m.boolean(16, flag("uniqueItems"));
    m.int(17, int("maxProperties"));
    m.int(18, int("minProperties"));
    for r in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_str() {
            m.bytes(19, r.as_bytes());
        }
    }
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(20, any(e));
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            a.tag(2, 0);
            a.varint(*b as u64);
            m.msg(21, a);
        }
        Some(ap @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.msg(1, schema(ap));
            m.msg(21, a);
        }
        _ => {}
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let mut ti = Msg::default();
        ti.bytes(1, t.as_bytes());
        m.msg(22, ti);
    }
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        let mut it = Msg::default();
        it.msg(1, schema(items));
        m.msg(23, it);
    }
    for a in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(24, schema(a));
    }
    if let Some(Value::Object(props)) = s.get("properties") {
        let mut p = Msg::default();
        for (name, ps) in props {
            let mut ns = Msg::default();
            ns.string(1, name);
            ns.msg(2, schema(ps));
            p.msg(1, ns);
        }
        m.msg(25, p);
    }
    m.boolean(27, flag("readOnly"));
    if let Some(e) = s.get("example") {
        m.msg(30, any(e));
    }
    extensions(&mut m, 31, s);
    m
}

fn parameter(p: &Value) -> Msg {
    let mut param = Msg::default();
    let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
    let unique = p
        .get("uniqueItems")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match str_of(p, "in") {
        "body" => {
            let mut b = Msg::default();
            b.string(1, str_of(p, "description"));
            b.string(2, str_of(p, "name"));
            b.string(3, "body");
            b.boolean(4, required);
            if let Some(s) = p.get("schema") {
                b.msg(5, schema(s));
            }
            param.msg(1, b);
        }
        where_ => {
            let mut sub = Msg::default();
            sub.boolean(1, required);
            sub.string(2, where_);
            sub.string(3, str_of(p, "description"));
            sub.string(4, str_of(p, "name"));
            // Query parameters number `type` 6 and `uniqueItems` 20; path
            // parameters 5 and 19 (no allowEmptyValue).
            let (field, ty, uq) = if where_ == "path" {
                (4, 5, 19)
            } else {
                (3, 6, 20)
            };
            sub.string(ty, str_of(p, "type"));
            sub.boolean(uq, unique);
            let mut nb = Msg::default();
            nb.msg(field, sub);
            param.msg(2, nb);
        }
    }
    let mut item = Msg::default();
    item.msg(1, param);
    item
}

fn operation(op: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(5, str_of(op, "operationId"));
    for (field, key) in [(6, "produces"), (7, "consumes")] {
        for v in op.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = v.as_str() {
                m.bytes(field, s.as_bytes());
            }
        }
    }
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(8, parameter(p));
    }
    let mut responses = Msg::default();
    for (code, r) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut resp = Msg::default();
        resp.string(1, str_of(r, "description"));
        if let Some(s) = r.get("schema") {
            let mut si = Msg::default();
            si.msg(1, schema(s));
            resp.msg(2, si);
        }
        let mut rv = Msg::default();
        rv.msg(1, resp);
        let mut named = Msg::default();
        named.string(1, code);
        named.msg(2, rv);
        responses.msg(1, named);
    }
    m.msg(9, responses);
    for v in op
        .get("schemes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = v.as_str() {
            m.bytes(10, s.as_bytes());
        }
    }
    extensions(&mut m, 13, op);
    m
}

/// Encodes a Swagger 2.0 JSON document.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut d = Msg::default();
    d.string(1, str_of(doc, "swagger"));
    let mut info = Msg::default();
    info.string(1, str_of(&doc["info"], "title"));
    info.string(2, str_of(&doc["info"], "version"));
    d.msg(2, info);
    let mut paths = Msg::default();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut pi = Msg::default();
        for (field, action) in [
            (2, "get"),
            (3, "put"),
            (4, "post"),
            (5, "delete"),
            (6, "options"),
            (7, "head"),
            (8, "patch"),
        ] {
            if let Some(op) = item.get(action) {
                pi.msg(field, operation(op));
            }
        }
        let mut named = Msg::default();
        named.string(1, path);
        named.msg(2, pi);
        paths.msg(2, named);
    }
    d.msg(8, paths);
    let mut defs = Msg::default();
    for (name, s) in doc
        .get("definitions")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut ns = Msg::default();
        ns.string(1, name);
        ns.msg(2, schema(s));
        defs.msg(1, ns);
    }
    d.msg(9, defs);
    d.0
}
