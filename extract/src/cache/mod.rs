//! A response cache in memory (feature `cache`): the replies of a provider kept by everything that
//! decides them (the URL, the dialect, the exact request body), bounded in entries and bytes with
//! least-recently-used eviction, with an optional time to live. `Client::chat` consults it.
//!
//! ```no_run
//! use std::time::Duration;
//! use extract::cache::ResponseCache;
//!
//! # fn run() -> Result<(), extract::Error> {
//! let cache = ResponseCache::new()
//!     .max_entries(1_000)
//!     .max_bytes(32 * 1024 * 1024)
//!     .ttl(Duration::from_secs(600));
//! // Clones share the entries: two clients, one cache.
//! let fast = extract::Client::builder().base_url("http://127.0.0.1:8080/v1").model("small")
//!     .cache(cache.clone()).build()?;
//! let other = extract::Client::builder().base_url("http://127.0.0.1:8080/v1").model("small")
//!     .cache(cache.clone()).build()?;
//! # Ok(()) }
//! ```
//!
//! What is cached, and when:
//!
//! - The key is the request URL (the base URL, so the account and gateway in it, and the model where
//!   the path carries it), the dialect, the request's headers and the request body, byte for byte:
//!   the model, the messages (instructions, input, a reask's quoted reply and errors), the schema,
//!   the mode, `temperature`, `max_tokens`. Any difference is a different entry. The headers count
//!   whole — the API key (`Authorization`), a gateway token, every header set with
//!   [`ClientBuilder::header`](crate::ClientBuilder::header) — so two clients with different keys
//!   or headers that share a cache never share a reply: a revoked key is never served what another
//!   key was answered. Only AI Gateway's own cache directives (`cf-aig-cache-ttl`,
//!   `cf-aig-skip-cache`, `cf-aig-cache-key`) are left out, since they steer the gateway's cache,
//!   not the answer. The headers are kept as a 128-bit keyed hash (SipHash, keyed per cache), never
//!   as text: the cache holds no key. The rest of the key is hashed for the lookup and kept whole,
//!   so two requests whose hashes collide never get each other's reply.
//! - Only the replies of an extraction that **succeeded** are stored, once it has succeeded: all of
//!   them, the invalid replies that were reasked included. An identical extraction then replays the
//!   same conversation from memory (the reask bodies are identical too) and ends with the same value,
//!   without a request. The replies of an extraction that failed (still invalid, refused, cut off,
//!   filtered) are never stored, so a failure is never made permanent: asking again asks the provider.
//!   Error replies (4xx, 5xx) are never stored either.
//! - A reply answered from the cache reports `cache_status` `"HIT (local)"` in its
//!   [`Extraction`](crate::Extraction), no usage (no tokens were billed), and a `local_cache = "hit"`
//!   field in a DEBUG tracing event.
//! - A text completion ([`Client::complete`](crate::Client::complete)) is stored when it is
//!   returned whole, not when it was cut at `max_tokens`.
//! - Concurrent identical requests that both miss are both sent; the cache does not hold one back
//!   until the other is answered. Streams are not cached.
//! - [`ExtractRequest::skip_cache`](crate::ExtractRequest::skip_cache) asks the provider even when
//!   an answer is cached; its successful replies replace the cached ones.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::vocab::Reply;

/// What [`Extraction::cache_status`](crate::Extraction::cache_status) says of a reply served from a
/// [`ResponseCache`].
pub const LOCAL_HIT: &str = "HIT (local)";

/// Headers that steer AI Gateway's own cache rather than the answer: left out of the key, so an
/// extraction whose reasks skip the gateway's cache (and so differ in these) is still replayed whole.
const GATEWAY_CACHE_DIRECTIVES: [&str; 3] =
    ["cf-aig-cache-ttl", "cf-aig-skip-cache", "cf-aig-cache-key"];

/// The bytes an entry is counted for beyond its texts: the maps' nodes, the `Arc`s, the reply's
/// other fields. An estimate; what matters is that many tiny entries are not free.
const ENTRY_OVERHEAD: usize = 256;

/// An in-memory cache of provider replies, shared by every clone (an `Arc` inside) and so by every
/// client it is given to. See the [module docs](self) for what is cached and when.
///
/// The settings apply to every clone; lowering a bound evicts at the next insertion.
#[derive(Clone)]
pub struct ResponseCache {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Keyed per cache, so crafted request bodies cannot aim at one bucket.
    hasher: RandomState,
}

struct State {
    max_entries: usize,
    max_bytes: usize,
    ttl: Option<Duration>,
    entries: HashMap<Arc<Key>, Entry>,
    /// Last use → key: the first is the least recently used.
    by_use: BTreeMap<u64, Arc<Key>>,
    /// Insertion → key: with one time to live for all, the first is the first to expire.
    by_age: BTreeMap<u64, Arc<Key>>,
    clock: u64,
    bytes: usize,
    stats: CacheStats,
}

struct Entry {
    reply: Reply,
    stored: Instant,
    used: u64,
    inserted: u64,
    bytes: usize,
}

/// What the cache has done since it was made (or since [`ResponseCache::clear`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests that found no live entry and went to the provider.
    pub misses: u64,
    /// Replies stored.
    pub insertions: u64,
    /// Entries removed to keep within `max_entries` or `max_bytes`.
    pub evictions: u64,
    /// Entries removed because their time to live had passed.
    pub expirations: u64,
}

/// Everything that decides a reply. Hashed once; compared whole, but for the headers, which are
/// compared by a keyed 128-bit hash so the cache never holds a credential.
pub(crate) struct Key {
    hash: u64,
    url: String,
    dialect: &'static str,
    headers: [u64; 2],
    body: Bytes,
}

impl Key {
    fn bytes(&self) -> usize {
        self.url.len() + self.dialect.len() + 16 + self.body.len()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.headers == other.headers
            && self.dialect == other.dialect
            && self.url == other.url
            && self.body == other.body
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Default for ResponseCache {
    fn default() -> Self {
        ResponseCache::new()
    }
}

impl ResponseCache {
    /// An empty cache holding at most 1,000 replies and 64 MiB (requests and replies counted), with
    /// no time to live.
    pub fn new() -> ResponseCache {
        ResponseCache {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    max_entries: 1_000,
                    max_bytes: 64 * 1024 * 1024,
                    ttl: None,
                    entries: HashMap::new(),
                    by_use: BTreeMap::new(),
                    by_age: BTreeMap::new(),
                    clock: 0,
                    bytes: 0,
                    stats: CacheStats::default(),
                }),
                hasher: RandomState::new(),
            }),
        }
    }

    /// The most replies kept; the least recently used goes first. 0 stores nothing.
    pub fn max_entries(self, entries: usize) -> Self {
        self.state().max_entries = entries;
        self
    }

    /// The most bytes kept, each entry counted for its request body, URL and reply texts plus a
    /// fixed overhead. A reply larger than this on its own is not stored.
    pub fn max_bytes(self, bytes: usize) -> Self {
        self.state().max_bytes = bytes;
        self
    }

    /// How long a reply stays valid after it was stored; an expired reply is never served.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.state().ttl = Some(ttl);
        self
    }

    /// Replies kept now (expired ones are dropped first).
    pub fn len(&self) -> usize {
        let mut state = self.state();
        state.expire(Instant::now());
        state.entries.len()
    }

    /// Whether no reply is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the kept replies are counted for.
    pub fn bytes(&self) -> usize {
        let mut state = self.state();
        state.expire(Instant::now());
        state.bytes
    }

    /// Drops every reply and resets the statistics.
    pub fn clear(&self) {
        let mut state = self.state();
        state.entries.clear();
        state.by_use.clear();
        state.by_age.clear();
        state.bytes = 0;
        state.stats = CacheStats::default();
    }

    /// Hits, misses, insertions and removals so far.
    pub fn stats(&self) -> CacheStats {
        self.state().stats
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, but a poisoned lock must not take the cache down.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self, url: &str, dialect: &'static str, headers: &HeaderMap, body: &Bytes) -> Key {
        let headers = self.fingerprint(headers);
        Key {
            hash: self
                .shared
                .hasher
                .hash_one((url, dialect, headers, &body[..])),
            url: url.to_owned(),
            dialect,
            headers,
            body: body.clone(),
        }
    }

    /// The request's headers as two keyed hashes (128 bits, so two tenants' keys never meet by
    /// chance): every header but the gateway's cache directives, sorted, so the order they were set
    /// in does not matter. Credentials go in hashed and are never kept.
    fn fingerprint(&self, headers: &HeaderMap) -> [u64; 2] {
        let mut pairs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .filter(|(name, _)| !GATEWAY_CACHE_DIRECTIVES.contains(name))
            .collect();
        pairs.sort_unstable();
        [0u8, 1].map(|seed| self.shared.hasher.hash_one((seed, &pairs)))
    }

    fn get(&self, key: &Key) -> Option<Reply> {
        let mut state = self.state();
        state.expire(Instant::now());
        let Some((shared, last_used)) = state
            .entries
            .get_key_value(key)
            .map(|(shared, entry)| (shared.clone(), entry.used))
        else {
            state.stats.misses += 1;
            return None;
        };
        state.clock += 1;
        let now = state.clock;
        state.by_use.remove(&last_used);
        state.by_use.insert(now, shared.clone());
        state.stats.hits += 1;
        let entry = state.entries.get_mut(&shared)?;
        entry.used = now;
        Some(entry.reply.clone())
    }

    fn insert(&self, key: Arc<Key>, reply: Reply) {
        let bytes = key.bytes() + reply_bytes(&reply) + ENTRY_OVERHEAD;
        let mut state = self.state();
        let now = Instant::now();
        state.expire(now);
        state.remove(&key);
        if state.max_entries == 0 || bytes > state.max_bytes {
            return;
        }
        state.clock += 1;
        let tick = state.clock;
        state.by_use.insert(tick, key.clone());
        state.by_age.insert(tick, key.clone());
        state.bytes += bytes;
        state.entries.insert(
            key,
            Entry {
                reply,
                stored: now,
                used: tick,
                inserted: tick,
                bytes,
            },
        );
        state.stats.insertions += 1;
        while state.entries.len() > state.max_entries || state.bytes > state.max_bytes {
            let Some((_, oldest)) = state.by_use.pop_first() else {
                break;
            };
            state.remove(&oldest);
            state.stats.evictions += 1;
        }
    }
}

impl State {
    /// Drops the expired entries: a prefix of `by_age`, since every entry has the same time to live.
    fn expire(&mut self, now: Instant) {
        let Some(ttl) = self.ttl else { return };
        while let Some((_, key)) = self.by_age.first_key_value() {
            let expired = self
                .entries
                .get(key)
                .is_none_or(|e| now.saturating_duration_since(e.stored) >= ttl);
            if !expired {
                break;
            }
            let key = key.clone();
            self.remove(&key);
            self.stats.expirations += 1;
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_use.remove(&entry.used);
            self.by_age.remove(&entry.inserted);
            self.bytes -= entry.bytes;
        }
    }
}

fn reply_bytes(reply: &Reply) -> usize {
    [
        &reply.content,
        &reply.tool_arguments,
        &reply.refusal,
        &reply.model,
        &reply.cache_status,
    ]
    .iter()
    .map(|s| s.as_ref().map_or(0, String::len))
    .sum()
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("ResponseCache")
            .field("entries", &state.entries.len())
            .field("bytes", &state.bytes)
            .field("max_entries", &state.max_entries)
            .field("max_bytes", &state.max_bytes)
            .field("ttl", &state.ttl)
            .field("stats", &state.stats)
            .finish()
    }
}

/// The replies one call received, stored only once it succeeds.
#[derive(Default)]
pub(crate) struct Staged(Mutex<Vec<(ResponseCache, Arc<Key>, Reply)>>);

impl Staged {
    /// Stores every staged reply: called once the call they belong to has succeeded.
    pub(crate) fn commit(&self) {
        let staged = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        for (cache, key, reply) in staged {
            cache.insert(key, reply);
        }
    }
}

impl fmt::Debug for Staged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staged").finish_non_exhaustive()
    }
}

/// What the cache said about a request about to be sent.
pub(crate) enum Lookup {
    /// Answer with this reply; send nothing.
    Hit(Reply),
    /// Send the request; hand its reply to [`Miss::stage`].
    Miss(Miss),
}

/// A request the cache could not answer; its reply is staged for storing.
pub(crate) struct Miss(Option<(ResponseCache, Arc<Key>)>);

impl Miss {
    /// Stages the reply of the request, to be stored if the extraction succeeds.
    pub(crate) fn stage(self, staged: &Staged, reply: &Reply) {
        if let Some((cache, key)) = self.0 {
            staged
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((cache, key, reply.clone()));
        }
    }
}

/// Looks the request up in the client's cache, if it has one.
pub(crate) fn lookup(
    cache: Option<&ResponseCache>,
    skip: bool,
    url: &str,
    dialect: &'static str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Lookup {
    let Some(cache) = cache else {
        return Lookup::Miss(Miss(None));
    };
    let key = cache.key(url, dialect, headers, body);
    if !skip {
        if let Some(mut reply) = cache.get(&key) {
            tracing::debug!(local_cache = "hit", "answered from the response cache");
            reply.cache_status = Some(LOCAL_HIT.to_owned());
            // Nothing was billed for this answer.
            reply.usage = None;
            return Lookup::Hit(reply);
        }
        tracing::trace!(local_cache = "miss");
    }
    Lookup::Miss(Miss(Some((cache.clone(), Arc::new(key)))))
}

#[cfg(test)]
mod tests;
