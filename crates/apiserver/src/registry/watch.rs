//! WATCH: turns a cache watcher into the stream of newline-delimited JSON
//! events sent to the client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corten_apimachinery::fields::{FieldOperator, FieldRequirement, FieldSelector};
use corten_apimachinery::{FieldError, GroupKind, Path, StatusError};
use corten_storage::{EventType, WatchEvent, WatchRequest, WatchStart, Watcher};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use super::keys::collection_prefix;
use super::list::{CONSISTENT_READ_TIMEOUT, parse_filter};
use super::store::storage_error;
use super::{Registry, Resource, convert};
use crate::query::{Query, parse_resource_version};

/// A started watch: the cache watcher plus what is needed to encode it.
pub struct WatchStream {
    watcher: Option<Watcher>,
    error: Option<StatusError>,
    res: Arc<Resource>,
}

/// Opens a watch for a request. Errors here are returned as a normal
/// Status response (the stream has not started yet).
pub async fn open(
    reg: &Registry,
    res: Arc<Resource>,
    namespace: Option<&str>,
    name: Option<&str>,
    query: &Query,
) -> Result<WatchStream, StatusError> {
    let _ = reg;
    let mut filter = parse_filter(&res, query)?;
    if let Some(name) = name {
        // `/watch/namespaces/x/pods/name` watches one object.
        let mut all = filter.fields.requirements().to_vec();
        all.push(FieldRequirement {
            field: "metadata.name".into(),
            operator: FieldOperator::Equals,
            value: name.to_string(),
        });
        filter.fields = FieldSelector::from_requirements(all);
    }
    let rv = parse_resource_version(query.get("resourceVersion"))?;
    let bookmarks = query.flag("allowWatchBookmarks")?;
    let send_initial = match query.get("sendInitialEvents") {
        None | Some("") => None,
        Some(_) => Some(query.flag("sendInitialEvents")?),
    };
    let rv_match = query.non_empty("resourceVersionMatch");
    let gr = res.group_resource();
    if let Some(true) = send_initial {
        let mut errs = Vec::new();
        if !bookmarks {
            errs.push(FieldError::forbidden(
                &Path::new("allowWatchBookmarks"),
                "allowWatchBookmarks required when sendInitialEvents is true",
            ));
        }
        if rv_match != Some("NotOlderThan") {
            errs.push(FieldError::forbidden(
                &Path::new("resourceVersionMatch"),
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !errs.is_empty() {
            return Err(StatusError::invalid(
                &GroupKind::new("meta.k8s.io", "ListOptions"),
                "",
                &errs,
            ));
        }
    } else if rv_match.is_some() {
        return Err(StatusError::invalid(
            &GroupKind::new("meta.k8s.io", "ListOptions"),
            "",
            &vec![FieldError::forbidden(
                &Path::new("resourceVersionMatch"),
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            )],
        ));
    }
    let start = match (send_initial, rv) {
        (Some(true), None) => {
            res.cache
                .wait_consistent(CONSISTENT_READ_TIMEOUT)
                .await
                .map_err(|e| storage_error(e, &gr, ""))?;
            WatchStart::InitialState
        }
        (Some(true), Some(0)) => WatchStart::InitialState,
        (Some(true), Some(r)) => {
            res.cache
                .wait_for_revision(r, CONSISTENT_READ_TIMEOUT)
                .await
                .map_err(|e| storage_error(e, &gr, ""))?;
            WatchStart::InitialState
        }
        (Some(false), None) => {
            let r = res
                .cache
                .wait_consistent(CONSISTENT_READ_TIMEOUT)
                .await
                .map_err(|e| storage_error(e, &gr, ""))?;
            WatchStart::After(r)
        }
        (Some(false), Some(0)) => WatchStart::After(res.cache.revision()),
        (_, Some(r)) if r > 0 => WatchStart::After(r),
        (None, None) => {
            res.cache
                .wait_consistent(CONSISTENT_READ_TIMEOUT)
                .await
                .map_err(|e| storage_error(e, &gr, ""))?;
            WatchStart::InitialState
        }
        _ => WatchStart::InitialState,
    };
    let req = WatchRequest {
        prefix: collection_prefix(res.def, namespace),
        filter,
        start,
        bookmarks,
        initial_events_end_bookmark: send_initial == Some(true),
    };
    match res.cache.watch(req).await {
        Ok(watcher) => Ok(WatchStream {
            watcher: Some(watcher),
            error: None,
            res,
        }),
        // Like upstream, a resourceVersion that is too old is reported as
        // an ERROR event in a successful watch response, so clients relist.
        Err(e @ corten_storage::Error::TooOldResourceVersion { .. }) => Ok(WatchStream {
            watcher: None,
            error: Some(storage_error(e, &gr, "")),
            res,
        }),
        Err(e) => Err(storage_error(e, &gr, "")),
    }
}

/// Encodes one event for a client of a non-storage version.
fn convert_event(res: &Resource, ev: &WatchEvent) -> Bytes {
    if res.is_storage_version() || ev.event_type == EventType::Bookmark {
        if ev.event_type == EventType::Bookmark && !res.is_storage_version() {
            let obj = json!({
                "kind": res.def.kind,
                "apiVersion": res.def.api_version(),
                "metadata": {"resourceVersion": ev.resource_version().to_string()},
            });
            return line(ev.event_type.as_str(), &obj);
        }
        return ev.encoded_json().clone();
    }
    let obj: Value = serde_json::from_slice(&ev.object.json).unwrap_or(Value::Null);
    match convert::from_storage(res, obj) {
        Ok(v) => line(ev.event_type.as_str(), &v),
        Err(e) => line("ERROR", &e.to_status()),
    }
}

/// How watch events render their objects.
#[derive(Debug, Clone, Copy)]
pub enum View {
    /// The object itself (in the served version).
    Object,
    /// A one-row meta.k8s.io Table.
    Table(crate::printers::IncludeObject),
    /// A PartialObjectMetadata.
    Metadata,
}

/// Encodes one event with only the object's metadata.
fn metadata_event(ev: &WatchEvent) -> Bytes {
    let obj: Value = serde_json::from_slice(&ev.object.json).unwrap_or(Value::Null);
    line(ev.event_type.as_str(), &crate::wire::partial_metadata(&obj))
}

/// Encodes one event with its object rendered as a Table.
fn table_event(
    res: &Resource,
    ev: &WatchEvent,
    include: crate::printers::IncludeObject,
    first: bool,
) -> Bytes {
    let obj: Value = serde_json::from_slice(&ev.object.json).unwrap_or(Value::Null);
    let obj = if ev.event_type == EventType::Bookmark || res.is_storage_version() {
        obj
    } else {
        match convert::from_storage(res, obj) {
            Ok(v) => v,
            Err(e) => return line("ERROR", &e.to_status()),
        }
    };
    let t = res.watch_event_table(&obj, include, first, jiff::Timestamp::now());
    line(ev.event_type.as_str(), &t)
}

fn line(event_type: &str, obj: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": event_type, "object": obj})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// A Status error as a watch event (e.g. 410 Gone mid-stream).
pub fn error_event(e: &StatusError) -> Bytes {
    line("ERROR", &e.to_status())
}

/// Most events converted in one ConversionReview.
const CONVERSION_BATCH: usize = 500;

/// The conversion of a custom resource whose webhook should see the
/// events that are ready together (the initial events of a watch come in
/// one burst) in one ConversionReview, as upstream converts a list.
fn batch_conversion(res: &Resource) -> Option<&'static crate::crd::versions::CustomConversion> {
    res.custom
        .as_ref()
        .and_then(|c| c.conversion)
        .filter(|c| c.uses_webhook() && !res.is_storage_version())
}

/// Encodes events for a client of a non-storage version, converting their
/// objects in one call, as objects or (with `View::Table`) one-row Tables
/// (column definitions in the stream's first event only, `first` keeps
/// track); a failed conversion is one ERROR event.
async fn convert_events(
    res: &Resource,
    conversion: &crate::crd::versions::CustomConversion,
    events: Vec<Arc<WatchEvent>>,
    view: View,
    first: &std::sync::atomic::AtomicBool,
) -> Vec<Bytes> {
    let objects: Vec<Value> = events
        .iter()
        .filter(|ev| ev.event_type != EventType::Bookmark)
        .map(|ev| serde_json::from_slice(&ev.object.json).unwrap_or(Value::Null))
        .collect();
    let converted = match conversion.from_storage_many(objects).await {
        Ok(c) => c,
        Err(e) => return vec![error_event(&StatusError::internal(e))],
    };
    let mut converted = converted.into_iter();
    let now = jiff::Timestamp::now();
    events
        .iter()
        .map(|ev| {
            let include = match view {
                View::Table(include) => Some(include),
                _ => None,
            };
            let is_first = || first.swap(false, std::sync::atomic::Ordering::Relaxed);
            if ev.event_type == EventType::Bookmark {
                return match include {
                    Some(include) => table_event(res, ev, include, is_first()),
                    None => convert_event(res, ev),
                };
            }
            let mut obj = converted.next().unwrap_or(Value::Null);
            corten_apimachinery::meta::set_type_meta(
                &mut obj,
                &res.def.api_version(),
                res.def.kind,
            );
            match include {
                Some(include) => line(
                    ev.event_type.as_str(),
                    &res.watch_event_table(&obj, include, is_first(), now),
                ),
                None => line(ev.event_type.as_str(), &obj),
            }
        })
        .collect()
}

impl WatchStream {
    /// The byte stream for the response body; ends after `timeout`.
    /// With `table`, each event's object is a one-row meta.k8s.io Table
    /// (column definitions in the first event only, as upstream).
    pub fn into_bytes(
        self,
        timeout: Duration,
        view: View,
    ) -> impl Stream<Item = Bytes> + Send + 'static {
        let res = self.res;
        let deadline = tokio::time::Instant::now() + timeout;
        let had_error = self.error.is_some();
        let error = futures::stream::iter(self.error.map(|e| error_event(&e)));
        let mut first = !had_error;
        let counted = res.clone();
        let events = futures::stream::iter(self.watcher)
            .flatten()
            .map(move |ev| {
                crate::metrics::WATCH_EVENTS
                    .with_label_values(&[counted.def.group, counted.def.version, counted.def.kind])
                    .inc();
                ev
            });
        // Objects and Tables of a webhook-converted version: the events
        // that are ready together go to the webhook in one review, off the
        // runtime's threads (a Table's columns come from the converted
        // object).
        if let (View::Object | View::Table(_), Some(conversion)) = (view, batch_conversion(&res)) {
            let first = Arc::new(std::sync::atomic::AtomicBool::new(first));
            let events = events
                .ready_chunks(CONVERSION_BATCH)
                .then(move |chunk| {
                    let res = res.clone();
                    let first = first.clone();
                    async move { convert_events(&res, conversion, chunk, view, &first).await }
                })
                .flat_map(futures::stream::iter);
            let sleep = tokio::time::sleep_until(deadline);
            return error.chain(events).take_until(sleep).boxed();
        }
        let events = events.map(move |ev| match view {
            View::Object => convert_event(&res, &ev),
            View::Metadata => metadata_event(&ev),
            View::Table(include) => {
                let is_first = std::mem::replace(&mut first, false);
                table_event(&res, &ev, include, is_first)
            }
        });
        let sleep = tokio::time::sleep_until(deadline);
        error.chain(events).take_until(sleep).boxed()
    }
}
