//! Dispatch of resource requests (`/api/v1/...`, `/apis/<g>/<v>/...`) to
//! the registry by verb and subresource.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corten_apimachinery::{Reason, StatusError, meta};
use futures::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};

use crate::admission::admitted;
use crate::admission::hooks::Write;
use crate::app::{ApiServer, RequestUser, read_body};
use crate::auth::{UserInfo, reviews, token_request};
use crate::metrics::RequestLabels;
use crate::printers;
use crate::query::{Query, parse_resource_version};
use crate::registry::delete::{self, Deleted};
use crate::registry::scale::{ScaleChange, ScaleWrite, Shape};
use crate::registry::store::{FieldValidation, UpdateTarget, WriteOptions};
use crate::registry::strategy_subresource;
use crate::registry::subresources;
use crate::registry::{Resource, admission, apply, list, managed, patch, store, watch};
use crate::request_info::{ResourceRequest, Verb};
use crate::wire::{self, Body, Format, InputFormat, Output};

fn not_found() -> StatusError {
    StatusError::new(
        Reason::NotFound,
        "the server could not find the requested resource",
    )
}

fn method_not_supported(res: &Resource, verb: Verb) -> StatusError {
    StatusError::method_not_supported(&res.group_resource(), verb.as_str())
}

/// Serves one resource request.
pub async fn handle<B>(
    server: Arc<ApiServer>,
    req: Request<B>,
    r: ResourceRequest,
    query: Query,
    accept: Option<String>,
    pretty: bool,
    labels: &mut RequestLabels,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    labels.set_resource(&r);
    match serve(server, req, r, query, accept, pretty, labels).await {
        Ok(resp) => resp,
        Err(e) => wire::respond_error(&e),
    }
}

async fn serve<B>(
    server: Arc<ApiServer>,
    req: Request<B>,
    r: ResourceRequest,
    query: Query,
    accept: Option<String>,
    pretty: bool,
    labels: &mut RequestLabels,
) -> Result<Response<Body>, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let reg = &server.registry;
    let res = reg
        .resource(&r.group, &r.version, &r.resource)
        .ok_or_else(not_found)?;
    // Namespaced resources live under /namespaces/<ns>/ (only list and
    // watch span all namespaces); cluster-scoped ones never do.
    let ns = r.namespace.as_deref();
    let is_namespace_resource = res.def.storage_resource == "namespaces";
    if res.def.namespaced {
        if ns.is_none() && !matches!(r.verb, Verb::List | Verb::Watch) {
            return Err(not_found());
        }
    } else if ns.is_some() && !is_namespace_resource {
        return Err(not_found());
    }
    let ns = if res.def.namespaced { ns } else { None };
    if let Some(sub) = &r.subresource
        && !res.def.has_subresource(sub)
    {
        return Err(not_found());
    }
    let table_ok = matches!(r.verb, Verb::Get | Verb::List | Verb::Watch)
        && (r.subresource.is_none() || r.subresource.as_deref() == Some("status"));
    let format = wire::negotiate(accept.as_deref(), table_ok)?;
    let out = Output { format, pretty };
    let dry_run = query.dry_run()?;
    if dry_run {
        labels.dry_run = "All";
    }
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let opts = WriteOptions {
        dry_run,
        field_manager: query.non_empty("fieldManager").map(str::to_string),
        field_validation: FieldValidation::parse(query.get("fieldValidation"))?,
        service_cidr_is_v4: server.config.service_cidr.addr().is_ipv4(),
        user_agent_manager: managed::manager_from_user_agent(user_agent),
        force: query.get("force") == Some("true"),
        subresource: r.subresource.clone().unwrap_or_default(),
        ..Default::default()
    };
    if matches!(r.verb, Verb::Create | Verb::Update | Verb::Patch) {
        let apply = r.verb == Verb::Patch
            && wire::input_format(req.headers()).ok() == Some(InputFormat::ApplyPatch);
        let kind = match r.verb {
            Verb::Create => "CreateOptions",
            Verb::Update => "UpdateOptions",
            _ => "PatchOptions",
        };
        let force = query.get("force").filter(|_| r.verb == Verb::Patch);
        managed::validate_options(kind, query.get("fieldManager"), force, apply)?;
    }
    let name = r.name.clone().unwrap_or_default();
    let headers = req.headers().clone();
    let limit = server.config.max_request_body_bytes;
    let audit_slot = req
        .extensions()
        .get::<crate::audit::RequestObjectSlot>()
        .cloned();
    let result = dispatch(
        &server, req, &r, &res, ns, &name, &query, out, &opts, &headers, limit, labels,
    )
    .await;
    if let Some(slot) = audit_slot {
        slot.annotate(opts.take_audit_annotations());
    }
    let warnings = opts.take_warnings();
    match result {
        Ok(mut resp) => {
            for w in warnings {
                let text = format!("299 - {}", serde_json::to_string(&w).unwrap_or_default());
                if let Ok(v) = HeaderValue::from_str(&text) {
                    resp.headers_mut().append("warning", v);
                }
            }
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
async fn dispatch<B>(
    server: &Arc<ApiServer>,
    req: Request<B>,
    r: &ResourceRequest,
    res: &Arc<Resource>,
    ns: Option<&str>,
    name: &str,
    query: &Query,
    out: Output,
    opts: &WriteOptions,
    headers: &http::HeaderMap,
    limit: usize,
    labels: &mut RequestLabels,
) -> Result<Response<Body>, StatusError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let reg = &server.registry;
    let dry_run = opts.dry_run;
    let name = name.to_string();
    let headers = headers.clone();
    let query = query.clone();
    let res = res.clone();
    let audit_slot = req
        .extensions()
        .get::<crate::audit::RequestObjectSlot>()
        .cloned();
    let user = req
        .extensions()
        .get::<RequestUser>()
        .map(|u| u.0.clone())
        .unwrap_or_else(UserInfo::anonymous);
    let write = Write {
        server,
        user: &user,
        res: &res,
        namespace: ns,
        subresource: r.subresource.as_deref().unwrap_or(""),
        dry_run,
        opts,
    };
    match (r.verb, r.subresource.as_deref()) {
        (Verb::Get, None) | (Verb::Get, Some("status")) => {
            let rv = match query.get("resourceVersion") {
                None | Some("") => None,
                Some(_) => parse_resource_version(query.get("resourceVersion"))?,
            };
            let json = store::get(reg, &res, ns, &name, rv).await?;
            if out.format == Format::Metadata {
                let obj: Value = serde_json::from_slice(&json).map_err(StatusError::internal)?;
                return Ok(wire::respond_value(
                    StatusCode::OK,
                    &wire::partial_metadata(&obj),
                    out,
                ));
            }
            if out.format == Format::Table {
                let include = include_object(&query)?;
                let obj: Value = serde_json::from_slice(&json).map_err(StatusError::internal)?;
                let t = res.table(
                    std::slice::from_ref(&obj),
                    include,
                    None,
                    jiff::Timestamp::now(),
                );
                return Ok(wire::respond_value(StatusCode::OK, &t, out));
            }
            Ok(wire::respond(
                StatusCode::OK,
                wire::reencode(json, out),
                out,
            ))
        }
        (Verb::List, None) => {
            let include = if out.format == Format::Table {
                Some(include_object(&query)?)
            } else {
                None
            };
            let listed = list::list(reg, &res, ns, &query).await?;
            if out.format == Format::Metadata {
                let mut items = Vec::with_capacity(listed.items.len());
                for b in &listed.items {
                    let v: Value = serde_json::from_slice(b).map_err(StatusError::internal)?;
                    items.push(wire::partial_metadata(&v));
                }
                let mut list_meta = json!({"resourceVersion": listed.revision.to_string()});
                if let Some(c) = &listed.continue_token {
                    list_meta["continue"] = json!(c);
                }
                if let Some(r) = listed.remaining {
                    list_meta["remainingItemCount"] = json!(r);
                }
                let body = json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": list_meta,
                    "items": items,
                });
                return Ok(wire::respond_value(StatusCode::OK, &body, out));
            }
            if let Some(include) = include {
                let mut items = Vec::with_capacity(listed.items.len());
                for b in &listed.items {
                    items.push(serde_json::from_slice::<Value>(b).map_err(StatusError::internal)?);
                }
                let mut list_meta = json!({"resourceVersion": listed.revision.to_string()});
                if let Some(c) = &listed.continue_token {
                    list_meta["continue"] = json!(c);
                }
                if let Some(r) = listed.remaining {
                    list_meta["remainingItemCount"] = json!(r);
                }
                let t = res.table(&items, include, Some(list_meta), jiff::Timestamp::now());
                return Ok(wire::respond_value(StatusCode::OK, &t, out));
            }
            let body = list::encode_list(&res, &listed);
            Ok(wire::respond(
                StatusCode::OK,
                wire::reencode(body, out),
                out,
            ))
        }
        (Verb::Watch, None) => {
            let table = if out.format == Format::Table {
                Some(include_object(&query)?)
            } else {
                None
            };
            let stream = watch::open(reg, res.clone(), ns, r.name.as_deref(), &query).await?;
            let timeout = match query.int("timeoutSeconds")? {
                Some(t) if t > 0 => Duration::from_secs(t as u64),
                _ => {
                    let min = server.config.min_request_timeout;
                    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % min.max(1);
                    Duration::from_secs(min + jitter)
                }
            };
            let gauge = labels.longrunning();
            gauge.inc();
            let guard = GaugeGuard(gauge);
            let view = match (out.format, table) {
                (_, Some(include)) => watch::View::Table(include),
                (Format::Metadata, _) => watch::View::Metadata,
                _ => watch::View::Object,
            };
            let body = stream.into_bytes(timeout, view).map(move |b| {
                let _keep = &guard;
                Ok::<_, std::io::Error>(Frame::data(b))
            });
            let mut resp = Response::new(StreamBody::new(body).boxed_unsync());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, private"),
            );
            Ok(resp)
        }
        (Verb::Create, None) if res.def.resource == "bindings" => {
            // POST .../bindings {metadata.name: <pod>} is pods/<pod>/binding.
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let obj = wire::decode_object(&body, input)?;
            let pod = meta::name(&obj).unwrap_or_default().to_string();
            let pods = reg.resource("", "v1", "pods").ok_or_else(not_found)?;
            if !dry_run {
                subresources::bind(reg, &pods, ns.unwrap_or_default(), &pod, &obj).await?;
            }
            Ok(success(StatusCode::CREATED, out))
        }
        (Verb::Create, None) if reviews::is_review(res.def.group, res.def.resource) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let obj = review_request(&res, wire::decode_object(&body, input)?)?;
            let out_obj = reviews::create(server, &user, res.def.resource, ns, obj).await?;
            Ok(wire::respond_value(StatusCode::CREATED, &out_obj, out))
        }
        (Verb::Create, None) => {
            let input = wire::input_format(&headers)?;
            if !matches!(
                input,
                InputFormat::Json | InputFormat::Yaml | InputFormat::Protobuf
            ) {
                return Err(StatusError::unsupported_media_type(
                    headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                ));
            }
            crate::crd::check_create(&res)?;
            let body = read_body(req.into_body(), limit).await?;
            let mut obj = decode_write_body(&body, input, opts)?;
            if let Some(slot) = &audit_slot {
                slot.set(&obj);
            }
            write.create(&mut obj).await?;
            let created = store::create_json(reg, &res, ns, obj, opts).await?;
            Ok(wire::respond(
                StatusCode::CREATED,
                wire::reencode(created, out),
                out,
            ))
        }
        (Verb::Update, None) | (Verb::Update, Some("status")) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let mut obj = decode_write_body(&body, input, opts)?;
            if let Some(slot) = &audit_slot {
                slot.set(&obj);
            }
            write.update(&name, &mut obj).await?;
            let target = if r.subresource.is_some() {
                UpdateTarget::Status
            } else {
                UpdateTarget::Main
            };
            let updated = store::update(reg, &res, ns, &name, obj, target, opts).await?;
            let code = if updated.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(wire::respond_value(code, &updated.object, out))
        }
        (Verb::Patch, None) | (Verb::Patch, Some("status")) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let target = if r.subresource.is_some() {
                UpdateTarget::Status
            } else {
                UpdateTarget::Main
            };
            let (updated, _) = if input == InputFormat::ApplyPatch {
                let change = apply::Apply::new(&res, &name, &body, opts)?;
                let inner = apply::Apply::write_options(opts);
                let result = admitted::update(
                    &Write {
                        opts: &inner,
                        ..write
                    },
                    &name,
                    &change,
                    target,
                )
                .await;
                opts.absorb(&inner);
                result?
            } else {
                note_patch_keys(&body, input, opts);
                let change = patch::Patch {
                    res: &res,
                    name: &name,
                    body: &body,
                    format: input,
                };
                admitted::update(&write, &name, &change, target).await?
            };
            let code = if updated.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(wire::respond_value(code, &updated.object, out))
        }
        (Verb::Delete, None) => {
            admission::admit_delete(&res, &name)?;
            write.delete(&name).await?;
            let body = delete_options_body(&headers, read_body(req.into_body(), limit).await?)?;
            let dopts = delete::parse_delete_options(&body, &query)?;
            match delete_one(reg, &res, ns, &name, &dopts).await? {
                Deleted::Now(obj) => {
                    if delete::returns_deleted_object(&res) {
                        Ok(wire::respond_value(StatusCode::OK, &obj, out))
                    } else {
                        let s = delete::success_status(&res, &obj);
                        Ok(wire::respond_value(StatusCode::OK, &s, out))
                    }
                }
                Deleted::Pending(obj) => Ok(wire::respond_value(StatusCode::OK, &obj, out)),
            }
        }
        (Verb::DeleteCollection, None) => {
            let body = delete_options_body(&headers, read_body(req.into_body(), limit).await?)?;
            let dopts = delete::parse_delete_options(&body, &query)?;
            let items = delete_collection(&write, &query, &dopts).await?;
            let list = json!({
                "kind": format!("{}List", res.def.kind),
                "apiVersion": res.def.api_version(),
                "metadata": {},
                "items": items,
            });
            Ok(wire::respond_value(StatusCode::OK, &list, out))
        }
        (Verb::Get, Some("scale")) if res.custom.is_some() => {
            let s = crate::crd::scale::get(reg, &res, ns, &name).await?;
            Ok(wire::respond_value(StatusCode::OK, &s, out))
        }
        (Verb::Get, Some("scale")) => {
            let s = subresources::get_scale(reg, &res, ns, &name).await?;
            Ok(wire::respond_value(StatusCode::OK, &s, out))
        }
        (Verb::Update, Some("scale")) | (Verb::Patch, Some("scale")) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let change = if r.verb == Verb::Update {
                ScaleChange::Replace(wire::decode_object(&body, input)?)
            } else {
                ScaleChange::patch(body, input)?
            };
            // Only an apply computes the parent's managedFields itself;
            // other writes are recorded as updates through `scale`.
            let mut inner = apply::Apply::write_options(opts);
            inner.managed_fields_done = change.is_apply();
            let scale = ScaleWrite {
                res: &res,
                name: &name,
                change,
                opts: &inner,
            };
            let write = Write {
                opts: &inner,
                ..write
            };
            let result = admitted::update(&write, &name, &scale, UpdateTarget::Main).await;
            opts.absorb(&inner);
            let (updated, _) = result?;
            let s = Shape::of(&res).view(&updated.object);
            Ok(wire::respond_value(StatusCode::OK, &s, out))
        }
        (Verb::Create, Some("binding")) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let obj = wire::decode_object(&body, input)?;
            if !dry_run {
                subresources::bind(reg, &res, ns.unwrap_or_default(), &name, &obj).await?;
            }
            Ok(success(StatusCode::CREATED, out))
        }
        (Verb::Create, Some("token")) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let mut obj = if body.is_empty() {
                json!({})
            } else {
                wire::decode_object(&body, input)?
            };
            write.create(&mut obj).await?;
            let tr =
                token_request::create(server, ns.unwrap_or_default(), &name, obj, dry_run).await?;
            Ok(wire::respond_value(StatusCode::CREATED, &tr, out))
        }
        (Verb::Create, Some("eviction")) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let mut obj = wire::decode_object(&body, input)?;
            write.create(&mut obj).await?;
            if !dry_run {
                subresources::evict(reg, &res, ns.unwrap_or_default(), &name, &obj).await?;
            }
            Ok(success(StatusCode::CREATED, out))
        }
        (Verb::Get, Some(sub)) if strategy_subresource::serves(&res, sub) => {
            // Reads as the whole object, like `status`.
            let json = store::get(reg, &res, ns, &name, None).await?;
            Ok(wire::respond(
                StatusCode::OK,
                wire::reencode(json, out),
                out,
            ))
        }
        (Verb::Update | Verb::Patch, Some(sub)) if strategy_subresource::serves(&res, sub) => {
            // Admission (CertificateApproval, PodSecurity, webhooks, ...)
            // sees the whole object with the subresource, as upstream: a
            // patch is applied to the current object first, whose
            // resourceVersion then guards the write against a racing one.
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let mut obj = if r.verb == Verb::Update {
                wire::decode_object(&body, input)?
            } else {
                let current: Value =
                    serde_json::from_slice(&store::get(reg, &res, ns, &name, None).await?)
                        .map_err(StatusError::internal)?;
                crate::registry::patch::apply_patch(&res, &name, &current, &body, input)?
            };
            if let Some(slot) = &audit_slot {
                slot.set(&obj);
            }
            write.update(&name, &mut obj).await?;
            let updated =
                strategy_subresource::update(reg, &res, ns, &name, sub, obj, opts.dry_run).await?;
            Ok(wire::respond_value(StatusCode::OK, &updated, out))
        }
        (Verb::Update, Some("finalize")) => {
            let input = wire::input_format(&headers)?;
            let body = read_body(req.into_body(), limit).await?;
            let obj = wire::decode_object(&body, input)?;
            let updated = subresources::finalize_namespace(reg, &res, &name, &obj).await?;
            Ok(wire::respond_value(StatusCode::OK, &updated, out))
        }
        (_, Some(sub)) if crate::proxy::serves(res.def.resource, sub) => {
            crate::proxy::serve(server, req, r, &res).await
        }
        (_, Some(sub)) if matches!(sub, "proxy") => Err(StatusError::service_unavailable(format!(
            "{}/{sub} is not served yet for {} \"{name}\"",
            res.def.resource, res.def.kind
        ))),
        (verb, _) => Err(method_not_supported(&res, verb)),
    }
}

/// Decodes a create or update body, keeping the keys it repeats for
/// `fieldValidation` (judged with the unknown fields the typed decode
/// finds).
fn decode_write_body(
    body: &[u8],
    input: InputFormat,
    opts: &WriteOptions,
) -> Result<Value, StatusError> {
    let (obj, keys) = wire::decode_object_keys(body, input)?;
    if let Some(keys) = keys {
        let _ = opts.body_keys.set(keys);
    }
    Ok(obj)
}

/// Notes what upstream's strict decode of a patch finds, reported before
/// the patched object's unknown fields: the keys a merge or strategic
/// merge patch repeats, a JSON patch's unknown or repeated operation
/// fields. A patch that does not decode is left to the patch itself to
/// refuse.
fn note_patch_keys(body: &[u8], input: InputFormat, opts: &WriteOptions) {
    use crate::repeated_keys::{BodyKeys, BodySyntax, decode_json};
    if opts.field_validation == FieldValidation::Ignore {
        return;
    }
    let keys = match input {
        InputFormat::MergePatch | InputFormat::StrategicMergePatch => {
            let repeated = decode_json(body).map(|(_, r)| r).unwrap_or_default();
            BodyKeys::new(BodySyntax::Patch, repeated, body)
        }
        InputFormat::JsonPatch => BodyKeys::json_patch(body),
        _ => return,
    };
    let _ = opts.body_keys.set(keys);
}

/// Deletes one object; CRDs first only get their cleanup finalizer.
async fn delete_one(
    reg: &crate::registry::Registry,
    res: &Resource,
    ns: Option<&str>,
    name: &str,
    dopts: &delete::DeleteOptions,
) -> Result<Deleted, StatusError> {
    if crate::crd::definition::is_crd_resource(res) {
        return crate::crd::definition::delete_crd(reg, res, name, dopts).await;
    }
    delete::delete(reg, res, ns, name, dopts).await
}

/// Checks and canonicalizes a review request with its kind's strategy
/// (400 for a malformed body, 422 for a missing attribute).
fn review_request(res: &crate::registry::Resource, mut obj: Value) -> Result<Value, StatusError> {
    store::check_type_meta(res, &mut obj)?;
    let strategy = res.def.strategy;
    let obj = strategy
        .canonicalize(obj)
        .map_err(StatusError::bad_request)?;
    let errs = strategy.validate(&obj);
    if !errs.is_empty() {
        return Err(StatusError::invalid(
            &corten_apimachinery::GroupKind::new(res.def.group, res.def.kind),
            meta::name(&obj).unwrap_or_default(),
            &errs,
        ));
    }
    Ok(obj)
}

/// A DeleteOptions body as JSON bytes (typed clients send protobuf).
fn delete_options_body(headers: &http::HeaderMap, body: Bytes) -> Result<Bytes, StatusError> {
    if body.is_empty() || wire::input_format(headers)? != InputFormat::Protobuf {
        return Ok(body);
    }
    let v = wire::decode_object(&body, InputFormat::Protobuf)?;
    Ok(Bytes::from(
        serde_json::to_vec(&v).map_err(StatusError::internal)?,
    ))
}

/// The `includeObject` parameter of Table requests (400 if malformed).
fn include_object(query: &Query) -> Result<printers::IncludeObject, StatusError> {
    printers::IncludeObject::parse(query.get("includeObject")).map_err(StatusError::bad_request)
}

/// Keeps the long-running gauge raised while the watch body is alive.
struct GaugeGuard(prometheus::IntGauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn success(code: StatusCode, out: Output) -> Response<Body> {
    let mut s = corten_apimachinery::status::success_status(None);
    s["code"] = json!(code.as_u16());
    wire::respond_value(
        code,
        &s,
        Output {
            format: if out.format == Format::Yaml {
                Format::Yaml
            } else {
                Format::Json
            },
            ..out
        },
    )
}

/// DELETE of every listed object. Like upstream, each one goes through
/// DELETE admission on its own; one that is refused (or fails) stays, the
/// others are still deleted, and the first error is the answer.
async fn delete_collection(
    write: &Write<'_>,
    query: &Query,
    dopts: &delete::DeleteOptions,
) -> Result<Vec<Value>, StatusError> {
    let res = write.res;
    let reg = &write.server.registry;
    let listed = list::list(reg, res, write.namespace, query).await?;
    let mut out = Vec::with_capacity(listed.items.len());
    let mut first_error = None;
    for item in listed.items {
        let v: Value = serde_json::from_slice(&item).map_err(StatusError::internal)?;
        let name = meta::name(&v).unwrap_or_default().to_string();
        let item_ns = meta::namespace(&v).map(str::to_string);
        if admission::admit_delete(res, &name).is_err() {
            continue;
        }
        let item_write = Write {
            namespace: item_ns.as_deref(),
            ..*write
        };
        let deleted = match item_write.delete(&name).await {
            Ok(()) => delete_one(reg, res, item_ns.as_deref(), &name, dopts).await,
            Err(e) => Err(e),
        };
        match deleted {
            Ok(Deleted::Now(o)) | Ok(Deleted::Pending(o)) => out.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
