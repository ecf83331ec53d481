//! client-go's `EventCorrelator`: spam filter, aggregation and dedup of
//! Events before they are written.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

/// Entries kept by each correlator cache (upstream's `maxLruCacheEntries`).
const MAX_CACHE_ENTRIES: usize = 4096;
/// Distinct messages per reason before aggregation starts.
const MAX_SIMILAR_EVENTS: usize = 10;
/// Window of the aggregation, in seconds.
const AGGREGATE_INTERVAL_SECONDS: i64 = 600;
/// Spam filter bucket size and refill rate.
const SPAM_BURST: f64 = 25.0;
const SPAM_QPS: f64 = 1.0 / 300.0;

/// A small least-recently-used map (the correlator's caches).
#[derive(Debug)]
struct LruMap<V> {
    entries: HashMap<String, (V, u64)>,
    tick: u64,
    capacity: usize,
}

impl<V> LruMap<V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            tick: 0,
            capacity,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(value, used)| {
            *used = tick;
            value
        })
    }

    fn insert(&mut self, key: String, value: V) {
        self.tick += 1;
        if self.entries.len() >= self.capacity
            && !self.entries.contains_key(&key)
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (value, self.tick));
    }
}

#[derive(Debug)]
struct SpamRecord {
    tokens: f64,
    last: Timestamp,
}

#[derive(Debug)]
struct AggregateRecord {
    messages: BTreeSet<String>,
    last: Timestamp,
}

#[derive(Debug, Clone)]
struct Observation {
    count: i32,
    first_timestamp: Option<Time>,
    name: Option<String>,
    resource_version: Option<String>,
}

/// What to do with one recorded event.
#[derive(Debug, Clone)]
pub struct Correlated {
    /// The event to write (possibly an aggregate, with the name and
    /// `firstTimestamp` of the one written before).
    pub event: Event,
    /// For a repeat: the strategic merge patch of `count`, `lastTimestamp`
    /// and `message` to apply to the existing Event.
    pub patch: Option<serde_json::Value>,
    /// Dropped by the spam filter.
    pub skip: bool,
}

/// client-go's `EventCorrelator`: spam filter, aggregation and dedup. Pure
/// (the clock is an argument) so it is unit-tested without an apiserver.
#[derive(Debug)]
pub struct EventCorrelator {
    spam: LruMap<SpamRecord>,
    aggregate: LruMap<AggregateRecord>,
    observed: LruMap<Observation>,
}

impl Default for EventCorrelator {
    fn default() -> Self {
        Self {
            spam: LruMap::new(MAX_CACHE_ENTRIES),
            aggregate: LruMap::new(MAX_CACHE_ENTRIES),
            observed: LruMap::new(MAX_CACHE_ENTRIES),
        }
    }
}

fn source_parts(event: &Event) -> (&str, &str) {
    let source = event.source.as_ref();
    (
        source.and_then(|s| s.component.as_deref()).unwrap_or(""),
        source.and_then(|s| s.host.as_deref()).unwrap_or(""),
    )
}

fn object_parts(event: &Event) -> [&str; 5] {
    let o = &event.involved_object;
    [
        o.kind.as_deref().unwrap_or(""),
        o.namespace.as_deref().unwrap_or(""),
        o.name.as_deref().unwrap_or(""),
        o.uid.as_deref().unwrap_or(""),
        o.api_version.as_deref().unwrap_or(""),
    ]
}

fn spam_key(event: &Event) -> String {
    let (component, host) = source_parts(event);
    let [kind, ns, name, uid, api_version] = object_parts(event);
    [
        component,
        host,
        kind,
        ns,
        name,
        uid,
        api_version,
        event.type_.as_deref().unwrap_or(""),
    ]
    .concat()
}

fn aggregate_key(event: &Event) -> String {
    let (component, host) = source_parts(event);
    let [kind, ns, name, uid, api_version] = object_parts(event);
    [
        component,
        host,
        kind,
        ns,
        name,
        uid,
        api_version,
        event.type_.as_deref().unwrap_or(""),
        event.reason.as_deref().unwrap_or(""),
        event.reporting_component.as_deref().unwrap_or(""),
        event.reporting_instance.as_deref().unwrap_or(""),
    ]
    .concat()
}

fn event_key(event: &Event) -> String {
    let (component, host) = source_parts(event);
    let o = &event.involved_object;
    [
        component,
        host,
        o.kind.as_deref().unwrap_or(""),
        o.namespace.as_deref().unwrap_or(""),
        o.name.as_deref().unwrap_or(""),
        o.field_path.as_deref().unwrap_or(""),
        o.uid.as_deref().unwrap_or(""),
        o.api_version.as_deref().unwrap_or(""),
        event.type_.as_deref().unwrap_or(""),
        event.reason.as_deref().unwrap_or(""),
        event.message.as_deref().unwrap_or(""),
    ]
    .concat()
}

impl EventCorrelator {
    /// Decides how to write `event`, recorded at `now`.
    pub fn correlate(&mut self, event: Event, now: Timestamp) -> Correlated {
        if self.is_spam(&event, now) {
            return Correlated {
                event,
                patch: None,
                skip: true,
            };
        }
        let (event, key) = self.aggregate(event, now);
        let (event, patch) = self.observe(event, key);
        Correlated {
            event,
            patch,
            skip: false,
        }
    }

    fn is_spam(&mut self, event: &Event, now: Timestamp) -> bool {
        let key = spam_key(event);
        let record = match self.spam.get_mut(&key) {
            Some(record) => record,
            None => {
                self.spam.insert(
                    key.clone(),
                    SpamRecord {
                        tokens: SPAM_BURST,
                        last: now,
                    },
                );
                match self.spam.get_mut(&key) {
                    Some(record) => record,
                    None => return false,
                }
            }
        };
        let elapsed = now.duration_since(record.last).as_secs_f64().max(0.0);
        record.tokens = (record.tokens + elapsed * SPAM_QPS).min(SPAM_BURST);
        record.last = now;
        if record.tokens >= 1.0 {
            record.tokens -= 1.0;
            false
        } else {
            true
        }
    }

    fn aggregate(&mut self, event: Event, now: Timestamp) -> (Event, String) {
        let key = aggregate_key(&event);
        let message = event.message.clone().unwrap_or_default();
        let fresh = match self.aggregate.get_mut(&key) {
            Some(record) => now.duration_since(record.last).as_secs() > AGGREGATE_INTERVAL_SECONDS,
            None => true,
        };
        if fresh {
            self.aggregate.insert(
                key.clone(),
                AggregateRecord {
                    messages: BTreeSet::new(),
                    last: now,
                },
            );
        }
        let Some(record) = self.aggregate.get_mut(&key) else {
            return (event.clone(), event_key(&event));
        };
        record.messages.insert(message.clone());
        record.last = now;
        if record.messages.len() < MAX_SIMILAR_EVENTS {
            let key = event_key(&event);
            return (event, key);
        }
        // Keep the set from growing past the threshold.
        if let Some(first) = record.messages.iter().next().cloned() {
            record.messages.remove(&first);
        }
        let name = format!(
            "{}.{:x}",
            event.involved_object.name.as_deref().unwrap_or(""),
            now.as_nanosecond()
        );
        let aggregated = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: event.metadata.namespace.clone(),
                ..ObjectMeta::default()
            },
            count: Some(1),
            first_timestamp: Some(Time(now)),
            involved_object: event.involved_object.clone(),
            last_timestamp: Some(Time(now)),
            message: Some(format!("(combined from similar events): {message}")),
            type_: event.type_.clone(),
            reason: event.reason.clone(),
            source: event.source.clone(),
            ..Event::default()
        };
        (aggregated, key)
    }

    fn observe(&mut self, mut event: Event, key: String) -> (Event, Option<serde_json::Value>) {
        let mut patch = None;
        if let Some(last) = self.observed.get_mut(&key).cloned()
            && last.count > 0
        {
            event.metadata.name = last.name;
            event.metadata.resource_version = last.resource_version;
            event.first_timestamp = last.first_timestamp;
            event.count = Some(last.count.saturating_add(1));
            patch = Some(json!({
                "count": event.count,
                "lastTimestamp": event.last_timestamp,
                "message": event.message,
            }));
        }
        self.observed.insert(
            key,
            Observation {
                count: event.count.unwrap_or(1),
                first_timestamp: event.first_timestamp.clone(),
                name: event.metadata.name.clone(),
                resource_version: event.metadata.resource_version.clone(),
            },
        );
        (event, patch)
    }

    /// Records the server's copy of a written event (its name and
    /// resourceVersion are what later patches use).
    pub fn update_state(&mut self, written: &Event) {
        self.observed.insert(
            event_key(written),
            Observation {
                count: written.count.unwrap_or(1),
                first_timestamp: written.first_timestamp.clone(),
                name: written.metadata.name.clone(),
                resource_version: written.metadata.resource_version.clone(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::events::{EventType, make_event};
    use k8s_openapi::api::core::v1::{EventSource, ObjectReference};

    fn reference() -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: Some("cm".into()),
            namespace: Some("ns".into()),
            uid: Some("uid-1".into()),
            resource_version: Some("7".into()),
            ..ObjectReference::default()
        }
    }

    fn source() -> EventSource {
        EventSource {
            component: Some("test-controller".into()),
            host: None,
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    #[test]
    fn events_look_like_upstream() {
        let event = make_event(
            &source(),
            reference(),
            EventType::Warning,
            "Failed",
            "boom",
            at(0),
        );
        assert_eq!(event.metadata.namespace.as_deref(), Some("ns"));
        let name = event.metadata.name.unwrap();
        assert_eq!(name, format!("cm.{:x}", at(0).as_nanosecond()));
        assert_eq!(event.count, Some(1));
        assert_eq!(event.first_timestamp, event.last_timestamp);
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(
            event.reporting_component.as_deref(),
            Some("test-controller")
        );
        assert_eq!(event.involved_object.kind.as_deref(), Some("ConfigMap"));

        let mut cluster_scoped = reference();
        cluster_scoped.namespace = None;
        let event = make_event(
            &source(),
            cluster_scoped,
            EventType::Normal,
            "R",
            "m",
            at(0),
        );
        assert_eq!(event.metadata.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn repeats_become_count_patches() {
        let mut correlator = EventCorrelator::default();
        let first = correlator.correlate(
            make_event(
                &source(),
                reference(),
                EventType::Normal,
                "Synced",
                "ok",
                at(0),
            ),
            at(0),
        );
        assert!(first.patch.is_none() && !first.skip);
        let mut written = first.event.clone();
        written.metadata.resource_version = Some("100".into());
        correlator.update_state(&written);

        let second = correlator.correlate(
            make_event(
                &source(),
                reference(),
                EventType::Normal,
                "Synced",
                "ok",
                at(5),
            ),
            at(5),
        );
        assert_eq!(second.event.count, Some(2));
        assert_eq!(second.event.metadata.name, first.event.metadata.name);
        assert_eq!(second.event.first_timestamp, Some(Time(at(0))));
        assert_eq!(second.event.last_timestamp, Some(Time(at(5))));
        let patch = second.patch.unwrap();
        assert_eq!(patch["count"], 2);
        assert_eq!(patch["message"], "ok");
        assert_eq!(
            patch["lastTimestamp"],
            serde_json::to_value(Time(at(5))).unwrap()
        );

        // A different message is a different event.
        let other = correlator.correlate(
            make_event(
                &source(),
                reference(),
                EventType::Normal,
                "Synced",
                "other",
                at(6),
            ),
            at(6),
        );
        assert!(other.patch.is_none());
        assert_eq!(other.event.count, Some(1));
    }

    #[test]
    fn many_similar_messages_are_combined() {
        let mut correlator = EventCorrelator::default();
        for i in 0..9 {
            let c = correlator.correlate(
                make_event(
                    &source(),
                    reference(),
                    EventType::Warning,
                    "Failed",
                    &format!("m{i}"),
                    at(i),
                ),
                at(i),
            );
            assert_eq!(c.event.message.as_deref(), Some(format!("m{i}").as_str()));
        }
        let tenth = correlator.correlate(
            make_event(
                &source(),
                reference(),
                EventType::Warning,
                "Failed",
                "m9",
                at(9),
            ),
            at(9),
        );
        assert_eq!(
            tenth.event.message.as_deref(),
            Some("(combined from similar events): m9")
        );
        assert!(tenth.patch.is_none());
        let eleventh = correlator.correlate(
            make_event(
                &source(),
                reference(),
                EventType::Warning,
                "Failed",
                "m10",
                at(10),
            ),
            at(10),
        );
        assert_eq!(
            eleventh.event.message.as_deref(),
            Some("(combined from similar events): m10")
        );
        assert_eq!(eleventh.event.count, Some(2));
        assert!(eleventh.patch.is_some());
        // After the window, messages are on their own again.
        let later = correlator.correlate(
            make_event(
                &source(),
                reference(),
                EventType::Warning,
                "Failed",
                "m11",
                at(700),
            ),
            at(700),
        );
        assert_eq!(later.event.message.as_deref(), Some("m11"));
    }

    #[test]
    fn spam_filter_allows_a_burst_of_25_per_object() {
        let mut correlator = EventCorrelator::default();
        let mut skipped = 0;
        for i in 0..30 {
            let c = correlator.correlate(
                make_event(
                    &source(),
                    reference(),
                    EventType::Normal,
                    "R",
                    "same",
                    at(0),
                ),
                at(0),
            );
            if c.skip {
                skipped += 1;
            } else {
                assert_eq!(c.event.count, Some(i + 1));
            }
        }
        assert_eq!(skipped, 5);
        // One token comes back every five minutes.
        let c = correlator.correlate(
            make_event(
                &source(),
                reference(),
                EventType::Normal,
                "R",
                "same",
                at(300),
            ),
            at(300),
        );
        assert!(!c.skip);
        // Another object is not affected.
        let mut other = reference();
        other.name = Some("other".into());
        let c = correlator.correlate(
            make_event(&source(), other, EventType::Normal, "R", "same", at(0)),
            at(0),
        );
        assert!(!c.skip);
    }
}
