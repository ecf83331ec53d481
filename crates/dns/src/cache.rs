//! Caching of forwarded answers, as the `cache 30` line of the default
//! Corefile does for CoreDNS: a repeated lookup of an outside name (package
//! mirrors, cloud APIs) is answered from memory instead of costing a round
//! trip to the upstream resolver.
//!
//! Answers are kept for the smallest TTL of their records (for a negative
//! answer, of its SOA), clamped to 5..=30 seconds like CoreDNS's defaults,
//! and served with the TTLs counting down. Only NOERROR and NXDOMAIN answers
//! that were not truncated are cached. Cluster names are not cached: they
//! are answered from the in-memory record store anyway.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Record, RecordType};

use crate::metrics;

/// The longest an answer is kept (`cache 30`).
pub const MAX_TTL: Duration = Duration::from_secs(30);
/// The shortest (CoreDNS's `MINTTL` default).
pub const MIN_TTL: Duration = Duration::from_secs(5);
/// Entries kept at most (CoreDNS's default capacity).
pub const CAPACITY: usize = 9984;

/// What a cached answer is looked up by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    name: String,
    qtype: u16,
    qclass: u16,
    /// DNSSEC OK: such clients get the signatures too.
    dnssec_ok: bool,
    /// Checking disabled: such answers may be unvalidated.
    checking_disabled: bool,
}

impl Key {
    fn of(request: &Message) -> Option<Key> {
        let query = request.queries().first()?;
        Some(Key {
            name: query.name().to_lowercase().to_ascii(),
            qtype: u16::from(query.query_type()),
            qclass: u16::from(query.query_class()),
            dnssec_ok: request
                .extensions()
                .as_ref()
                .is_some_and(|e| e.flags().dnssec_ok),
            checking_disabled: request.checking_disabled(),
        })
    }
}

struct Entry {
    answer: Message,
    stored: Instant,
    ttl: Duration,
    denial: bool,
}

/// The cache of forwarded answers. Cheap to share behind an `Arc`.
pub struct ForwardCache {
    entries: Mutex<HashMap<Key, Entry>>,
    capacity: usize,
    server: String,
}

/// A cached answer ready to send.
pub struct Hit {
    /// The encoded answer (the request's id, TTLs counted down).
    pub bytes: Vec<u8>,
    /// Its response code.
    pub rcode: ResponseCode,
}

impl ForwardCache {
    /// An empty cache for the server labelled `server` in the metrics.
    pub fn new(server: &str) -> ForwardCache {
        ForwardCache::with_capacity(server, CAPACITY)
    }

    /// An empty cache holding at most `capacity` answers.
    pub fn with_capacity(server: &str, capacity: usize) -> ForwardCache {
        ForwardCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            server: server.to_string(),
        }
    }

    /// The cached answer to `request`, if there is a fresh one no bigger
    /// than `max_size` bytes (a UDP client's payload size).
    pub fn get(&self, request: &Message, max_size: usize) -> Option<Hit> {
        let hit = self.lookup(request, max_size, Instant::now());
        match &hit {
            Some((_, denial)) => metrics::CACHE_HITS
                .with_label_values(&[&self.server, type_label(*denial), ".", ""])
                .inc(),
            None => metrics::CACHE_MISSES
                .with_label_values(&[&self.server, ".", ""])
                .inc(),
        }
        hit.map(|(hit, _)| hit)
    }

    fn lookup(&self, request: &Message, max_size: usize, now: Instant) -> Option<(Hit, bool)> {
        let key = Key::of(request)?;
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&key)?;
        let age = now.saturating_duration_since(entry.stored);
        if age >= entry.ttl {
            return None;
        }
        let remaining = u32::try_from((entry.ttl - age).as_secs().max(1)).unwrap_or(u32::MAX);
        let mut answer = entry.answer.clone();
        drop(entries);
        answer.set_id(request.id());
        answer.set_recursion_desired(request.recursion_desired());
        let count_down = |records: &mut Vec<Record>| {
            for record in records.iter_mut() {
                let ttl = record.ttl().min(remaining);
                record.set_ttl(ttl);
            }
        };
        let mut answers = answer.take_answers();
        count_down(&mut answers);
        answer.insert_answers(answers);
        let mut authority = answer.take_name_servers();
        count_down(&mut authority);
        answer.insert_name_servers(authority);
        let mut additionals = answer.take_additionals();
        count_down(&mut additionals);
        answer.insert_additionals(additionals);
        let bytes = answer.to_vec().ok()?;
        if bytes.len() > max_size {
            return None;
        }
        let rcode = answer.response_code();
        Some((Hit { bytes, rcode }, entry_is_denial(rcode, &answer)))
    }

    /// Remembers the upstream's `answer` (raw) to `request`, when it may be
    /// cached.
    pub fn insert(&self, request: &Message, answer: &[u8]) {
        self.insert_at(request, answer, Instant::now());
    }

    fn insert_at(&self, request: &Message, answer: &[u8], now: Instant) {
        let Some(key) = Key::of(request) else {
            return;
        };
        let Ok(message) = Message::from_vec(answer) else {
            return;
        };
        if message.truncated() || message.id() != request.id() {
            return;
        }
        let rcode = message.response_code();
        if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
            return;
        }
        let denial = entry_is_denial(rcode, &message);
        let Some(ttl) = cache_ttl(&message, denial) else {
            return;
        };
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| {
                let fresh = now.saturating_duration_since(e.stored) < e.ttl;
                if !fresh {
                    self.entries_gauge(e.denial).dec();
                }
                fresh
            });
            if entries.len() >= self.capacity {
                // Still full of fresh answers: drop the oldest.
                if let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.stored)
                    .map(|(k, _)| k.clone())
                    && let Some(old) = entries.remove(&oldest)
                {
                    self.entries_gauge(old.denial).dec();
                }
            }
        }
        // The gauge follows each change instead of recounting the cache on
        // every forwarded answer.
        self.entries_gauge(denial).inc();
        let replaced = entries.insert(
            key,
            Entry {
                answer: message,
                stored: now,
                ttl,
                denial,
            },
        );
        if let Some(old) = replaced {
            self.entries_gauge(old.denial).dec();
        }
    }

    fn entries_gauge(&self, denial: bool) -> prometheus::IntGauge {
        metrics::CACHE_ENTRIES.with_label_values(&[&self.server, type_label(denial), ".", ""])
    }

    /// How many answers are cached (fresh or not yet evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn type_label(denial: bool) -> &'static str {
    if denial { "denial" } else { "success" }
}

/// NXDOMAIN, or NOERROR without an answer (NODATA).
fn entry_is_denial(rcode: ResponseCode, message: &Message) -> bool {
    rcode == ResponseCode::NXDomain || message.answers().is_empty()
}

/// How long `message` may be cached: the smallest TTL of its answers (or,
/// for a denial, its SOA's TTL and minimum), clamped to `MIN_TTL..=MAX_TTL`.
/// `None` for a denial without SOA (nothing says how long it holds).
fn cache_ttl(message: &Message, denial: bool) -> Option<Duration> {
    let seconds = if denial {
        message
            .name_servers()
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .filter_map(|r| {
                let minimum = r.data().as_soa().map(|soa| soa.minimum())?;
                Some(r.ttl().min(minimum))
            })
            .min()?
    } else {
        message.answers().iter().map(Record::ttl).min()?
    };
    let ttl = Duration::from_secs(u64::from(seconds));
    Some(ttl.clamp(MIN_TTL, MAX_TTL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, Query};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData};
    use std::str::FromStr;

    fn request(id: u16, name: &str) -> Message {
        let mut m = Message::new();
        m.set_id(id);
        m.set_recursion_desired(true);
        m.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
        m
    }

    fn answer(request: &Message, ttl: u32) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(request.id());
        m.set_message_type(MessageType::Response);
        m.add_queries(request.queries().to_vec());
        let name = request.queries()[0].name().clone();
        m.add_answer(Record::from_rdata(
            name,
            ttl,
            RData::A(A::new(192, 0, 2, 7)),
        ));
        m.to_vec().unwrap()
    }

    fn nxdomain(request: &Message, soa_ttl: u32, minimum: u32) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(request.id());
        m.set_message_type(MessageType::Response);
        m.set_response_code(ResponseCode::NXDomain);
        m.add_queries(request.queries().to_vec());
        let zone = Name::from_str("example.").unwrap();
        let soa = SOA::new(zone.clone(), zone.clone(), 1, 3600, 600, 86400, minimum);
        m.add_name_server(Record::from_rdata(zone, soa_ttl, RData::SOA(soa)));
        m.to_vec().unwrap()
    }

    #[test]
    fn answers_are_served_with_the_requests_id_and_counting_down_ttls() {
        let cache = ForwardCache::new("dns://:53");
        let first = request(7, "www.example.");
        cache.insert_at(
            &first,
            &answer(&first, 300),
            Instant::now() - Duration::from_secs(12),
        );
        let again = request(8, "WWW.Example.");
        let (hit, denial) = cache.lookup(&again, 512, Instant::now()).expect("cached");
        assert!(!denial);
        let served = Message::from_vec(&hit.bytes).unwrap();
        assert_eq!(served.id(), 8);
        let ttl = served.answers()[0].ttl();
        assert!((17..=18).contains(&ttl), "30 s cap minus 12 s: {ttl}");
        // After the (capped) TTL the entry is stale.
        assert!(
            cache
                .lookup(&again, 512, Instant::now() + Duration::from_secs(19))
                .is_none()
        );
        // A client whose UDP payload is too small is not served from cache.
        assert!(cache.lookup(&again, 10, Instant::now()).is_none());
    }

    #[test]
    fn short_ttls_are_raised_to_the_minimum_and_denials_follow_the_soa() {
        let cache = ForwardCache::new("dns://:53");
        let q = request(1, "short.example.");
        let now = Instant::now();
        cache.insert_at(&q, &answer(&q, 1), now);
        assert!(
            cache
                .lookup(&q, 512, now + Duration::from_secs(4))
                .is_some(),
            "kept 5 s"
        );
        assert!(
            cache
                .lookup(&q, 512, now + Duration::from_secs(5))
                .is_none()
        );

        let missing = request(2, "nope.example.");
        cache.insert_at(&missing, &nxdomain(&missing, 3600, 10), now);
        let (hit, denial) = cache
            .lookup(&missing, 512, now + Duration::from_secs(9))
            .unwrap();
        assert!(denial);
        assert_eq!(hit.rcode, ResponseCode::NXDomain);
        assert!(
            cache
                .lookup(&missing, 512, now + Duration::from_secs(10))
                .is_none()
        );
    }

    #[test]
    fn failures_truncated_and_mismatched_answers_are_not_cached() {
        let cache = ForwardCache::new("dns://:53");
        let q = request(3, "fail.example.");
        let mut servfail = Message::from_vec(&answer(&q, 60)).unwrap();
        servfail.set_response_code(ResponseCode::ServFail);
        cache.insert(&q, &servfail.to_vec().unwrap());
        let mut truncated = Message::from_vec(&answer(&q, 60)).unwrap();
        truncated.set_truncated(true);
        cache.insert(&q, &truncated.to_vec().unwrap());
        cache.insert(&q, &answer(&request(99, "fail.example."), 60));
        cache.insert(&q, b"garbage");
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_evicts_the_oldest_answer() {
        let cache = ForwardCache::with_capacity("dns://:evict-test", 2);
        let now = Instant::now();
        for (i, name) in ["a.example.", "b.example.", "c.example."]
            .iter()
            .enumerate()
        {
            let q = request(10, name);
            cache.insert_at(&q, &answer(&q, 60), now + Duration::from_millis(i as u64));
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.entries_gauge(false).get(),
            2,
            "the gauge follows evictions"
        );
        let at = now + Duration::from_millis(5);
        assert!(cache.lookup(&request(1, "a.example."), 512, at).is_none());
        assert!(cache.lookup(&request(1, "c.example."), 512, at).is_some());
    }
}
