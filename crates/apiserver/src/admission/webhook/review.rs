//! AdmissionReview `admission.k8s.io/v1`: the request the apiserver sends
//! and the checks on the response it gets back, as upstream does them.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::auth::UserInfo;

/// Everything an AdmissionReview request carries besides the objects.
#[derive(Debug, Clone)]
pub struct RequestInfo<'a> {
    /// `request.uid`.
    pub uid: String,
    /// `kind`: group, version, kind of the object sent.
    pub kind: (&'a str, &'a str, &'a str),
    /// `resource`: group, version, resource.
    pub resource: (&'a str, &'a str, &'a str),
    /// `subResource`.
    pub subresource: &'a str,
    /// `name` ("" on creates with generateName).
    pub name: &'a str,
    /// `namespace`.
    pub namespace: &'a str,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    pub operation: &'a str,
    /// `userInfo`.
    pub user: &'a UserInfo,
    /// `dryRun`.
    pub dry_run: bool,
    /// `options`: CreateOptions, UpdateOptions or DeleteOptions.
    pub options: Value,
}

/// `{"group":..,"version":..,"kind":..}`.
fn gvk(g: &str, v: &str, k: &str) -> Value {
    json!({"group": g, "version": v, "kind": k})
}

/// `userInfo` as authentication.k8s.io/v1 UserInfo.
pub fn user_info(u: &UserInfo) -> Value {
    let mut m = Map::new();
    m.insert("username".into(), json!(u.name));
    if !u.uid.is_empty() {
        m.insert("uid".into(), json!(u.uid));
    }
    if !u.groups.is_empty() {
        m.insert("groups".into(), json!(u.groups));
    }
    if !u.extra.is_empty() {
        m.insert("extra".into(), json!(u.extra));
    }
    Value::Object(m)
}

/// The `request` of an AdmissionReview (also CEL's `request`).
pub fn request(info: &RequestInfo<'_>, object: Option<&Value>, old: Option<&Value>) -> Value {
    let (kg, kv, kk) = info.kind;
    let (rg, rv, rr) = info.resource;
    let mut m = Map::new();
    m.insert("uid".into(), json!(info.uid));
    m.insert("kind".into(), gvk(kg, kv, kk));
    m.insert(
        "resource".into(),
        json!({"group": rg, "version": rv, "resource": rr}),
    );
    if !info.subresource.is_empty() {
        m.insert("subResource".into(), json!(info.subresource));
    }
    m.insert("requestKind".into(), gvk(kg, kv, kk));
    m.insert(
        "requestResource".into(),
        json!({"group": rg, "version": rv, "resource": rr}),
    );
    if !info.subresource.is_empty() {
        m.insert("requestSubResource".into(), json!(info.subresource));
    }
    if !info.name.is_empty() {
        m.insert("name".into(), json!(info.name));
    }
    if !info.namespace.is_empty() {
        m.insert("namespace".into(), json!(info.namespace));
    }
    m.insert("operation".into(), json!(info.operation));
    m.insert("userInfo".into(), user_info(info.user));
    if let Some(o) = object {
        m.insert("object".into(), o.clone());
    }
    if let Some(o) = old {
        m.insert("oldObject".into(), o.clone());
    }
    m.insert("dryRun".into(), json!(info.dry_run));
    if !info.options.is_null() {
        m.insert("options".into(), info.options.clone());
    }
    Value::Object(m)
}

/// The whole AdmissionReview body.
pub fn review(info: &RequestInfo<'_>, object: Option<&Value>, old: Option<&Value>) -> Value {
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": request(info, object, old),
    })
}

/// The `options` object of an operation (upstream sends the request's
/// Create/Update/DeleteOptions).
pub fn options(operation: &str, dry_run: bool, field_manager: Option<&str>) -> Value {
    let kind = match operation {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        "DELETE" => "DeleteOptions",
        _ => return Value::Null,
    };
    let mut o = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
    if dry_run {
        o["dryRun"] = json!(["All"]);
    }
    if let Some(f) = field_manager
        && operation != "DELETE"
    {
        o["fieldManager"] = json!(f);
    }
    o
}

/// What a webhook answered.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Response {
    /// `allowed`.
    pub allowed: bool,
    /// `status` (code, reason, message) when denied.
    pub status: Option<Value>,
    /// The decoded JSONPatch, if any.
    pub patch: Option<Vec<u8>>,
    /// `warnings`.
    pub warnings: Vec<String>,
    /// `auditAnnotations`.
    pub audit_annotations: Vec<(String, String)>,
}

/// Decodes and checks a response body (upstream
/// `VerifyAdmissionResponse`); the error is the text after
/// `failed calling webhook "x": `.
pub fn parse_response(body: &[u8], uid: &str, mutating: bool) -> Result<Response, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!("failed to call webhook: couldn't get version/kind; json parse error: {e}")
    })?;
    let av = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    if av != "admission.k8s.io/v1" || kind != "AdmissionReview" {
        return Err(format!(
            "received invalid webhook response: expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {}, Kind={kind}",
            if av.is_empty() { "/" } else { av }
        ));
    }
    let Some(r) = v.get("response").filter(|r| r.is_object()) else {
        return Err("received invalid webhook response: webhook response was absent".into());
    };
    let got_uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
    if got_uid != uid {
        return Err(format!(
            "received invalid webhook response: expected response.uid=\"{uid}\", got \"{got_uid}\""
        ));
    }
    let allowed = r.get("allowed").and_then(Value::as_bool).unwrap_or(false);
    let patch_type = r.get("patchType").and_then(Value::as_str).unwrap_or("");
    let patch_b64 = r.get("patch").and_then(Value::as_str).unwrap_or("");
    let patch = if patch_b64.is_empty() {
        None
    } else {
        if !mutating {
            return Err(
                "received invalid webhook response: validating webhook may not return a patch"
                    .into(),
            );
        }
        if patch_type != "JSONPatch" {
            return Err(format!(
                "received invalid webhook response: webhook returned invalid patchType: \"{patch_type}\""
            ));
        }
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(patch_b64)
                .map_err(|e| format!("received invalid webhook response: decoding patch: {e}"))?,
        )
    };
    if patch.is_none() && !patch_type.is_empty() {
        return Err("received invalid webhook response: webhook returned patchType of \"JSONPatch\" without a patch".into());
    }
    let warnings = r
        .get("warnings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let audit_annotations = r
        .get("auditAnnotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Response {
        allowed,
        status: r.get("status").filter(|s| s.is_object()).cloned(),
        patch,
        warnings,
        audit_annotations,
    })
}

/// Upstream `ToStatusErr`: a denial as the Status the client sees.
pub fn denial(webhook: &str, status: Option<&Value>) -> corten_apimachinery::StatusError {
    use corten_apimachinery::{Reason, StatusError};
    let denied_by = format!("admission webhook \"{webhook}\" denied the request");
    let empty = Value::Null;
    let s = status.unwrap_or(&empty);
    let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (message, reason) = (text("message"), text("reason"));
    let message = if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    let mut e = StatusError::new(Reason::parse(&reason), message);
    let code = s.get("code").and_then(Value::as_u64).unwrap_or(0);
    e.code = if (400..600).contains(&code) {
        code as u16
    } else {
        400
    };
    if let Some(d) = s.get("details") {
        e.name = d.get("name").and_then(Value::as_str).map(str::to_string);
        e.group = d.get("group").and_then(Value::as_str).map(str::to_string);
        e.kind = d.get("kind").and_then(Value::as_str).map(str::to_string);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(user: &UserInfo) -> RequestInfo<'_> {
        RequestInfo {
            uid: "u-1".into(),
            kind: ("apps", "v1", "Deployment"),
            resource: ("apps", "v1", "deployments"),
            subresource: "",
            name: "web",
            namespace: "ns",
            operation: "UPDATE",
            user,
            dry_run: false,
            options: options("UPDATE", false, Some("kubectl")),
        }
    }

    #[test]
    fn request_has_upstream_fields() {
        let mut user = UserInfo::new("alice", &["devs", "system:authenticated"]);
        user.uid = "1".into();
        let obj = json!({"metadata": {"name": "web"}});
        let old = json!({"metadata": {"name": "web", "labels": {"a": "b"}}});
        let r = review(&info(&user), Some(&obj), Some(&old));
        assert_eq!(
            r,
            json!({
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {
                    "uid": "u-1",
                    "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                    "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                    "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                    "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
                    "name": "web",
                    "namespace": "ns",
                    "operation": "UPDATE",
                    "userInfo": {"username": "alice", "uid": "1", "groups": ["devs", "system:authenticated"]},
                    "object": obj,
                    "oldObject": old,
                    "dryRun": false,
                    "options": {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl"}
                }
            })
        );
        let mut i = info(&user);
        i.subresource = "status";
        i.name = "";
        let r = review(&i, None, None);
        assert_eq!(r["request"]["subResource"], "status");
        assert_eq!(r["request"]["requestSubResource"], "status");
        assert!(r["request"].get("name").is_none());
        assert!(r["request"].get("object").is_none());
    }

    fn resp(r: Value) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": r}),
        )
        .unwrap()
    }

    #[test]
    fn responses_are_checked() {
        let ok = parse_response(
            &resp(json!({"uid": "x", "allowed": true, "warnings": ["w"]})),
            "x",
            false,
        )
        .unwrap();
        assert!(ok.allowed);
        assert_eq!(ok.warnings, vec!["w".to_string()]);
        let e =
            parse_response(&resp(json!({"uid": "y", "allowed": true})), "x", false).unwrap_err();
        assert!(e.contains("expected response.uid=\"x\", got \"y\""), "{e}");
        let e = parse_response(b"garbage", "x", false).unwrap_err();
        assert!(
            e.starts_with("failed to call webhook: couldn't get version/kind; json parse error"),
            "{e}"
        );
        let e = parse_response(br#"{"apiVersion":"v1","kind":"Status"}"#, "x", false).unwrap_err();
        assert!(e.contains("expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got v1, Kind=Status"), "{e}");
        let patch = base64::engine::general_purpose::STANDARD
            .encode(br#"[{"op":"add","path":"/a","value":1}]"#);
        let m = parse_response(
            &resp(json!({"uid": "x", "allowed": true, "patchType": "JSONPatch", "patch": patch})),
            "x",
            true,
        )
        .unwrap();
        assert_eq!(
            m.patch.as_deref(),
            Some(&br#"[{"op":"add","path":"/a","value":1}]"#[..])
        );
        assert!(
            parse_response(
                &resp(
                    json!({"uid": "x", "allowed": true, "patchType": "JSONPatch", "patch": patch})
                ),
                "x",
                false
            )
            .is_err()
        );
    }

    #[test]
    fn denials_read_like_upstream() {
        let e = denial(
            "deny.example.com",
            Some(&json!({"code": 403, "reason": "Forbidden", "message": "no way"})),
        );
        assert_eq!(
            e.message,
            "admission webhook \"deny.example.com\" denied the request: no way"
        );
        assert_eq!(e.code, 403);
        assert_eq!(e.reason, corten_apimachinery::Reason::Forbidden);
        let e = denial("d", None);
        assert_eq!(
            e.message,
            "admission webhook \"d\" denied the request without explanation"
        );
        assert_eq!(e.code, 400);
        assert!(e.to_status().get("reason").is_none());
        let e = denial("d", Some(&json!({"code": 200, "reason": "Because"})));
        assert_eq!(
            e.message,
            "admission webhook \"d\" denied the request: Because"
        );
        assert_eq!(e.code, 400);
    }
}
