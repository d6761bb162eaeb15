//! etcd v3, through its JSON gateway (`/v3/kv/…` on the client port; see
//! docs/decisions.md for why not gRPC).
//!
//! The layout is [`setpoint_core::delivery`]'s.
//!
//! Every key but `meta` is immutable once written, and a part is written
//! only when its service's content changed: a change to one service of
//! 2,000 writes one part. The new parts may take several transactions
//! (etcd allows 128 operations and 1.5 MiB per request by default);
//! readers do not see them until one compare-and-swap moves `meta` — so a
//! reader that follows `meta` sees a whole snapshot, old or new, never a
//! mix. The swap compares `meta`'s `mod_revision` with the one read, and
//! is only tried for a higher revision than `meta` names: two agents
//! sharing a prefix never move it backwards. A part or snapshot no longer
//! named by `meta` is deleted once it has stayed unnamed for a grace
//! period, so a reader that has just read `meta` can still fetch it.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde_json::{Value, json};

use setpoint_core::delivery::{EtcdLayout, Published};

use super::Outcome;
use crate::{AgentError, verified::Verified};

/// Most operations in one transaction (etcd's default limit is 128).
const OPS_PER_TXN: usize = 64;
/// Most bytes of keys and values in one transaction: etcd refuses
/// requests above 1.5 MiB by default.
const BYTES_PER_TXN: usize = 1 << 20;
/// How often a contended swap is retried before the attempt fails.
const SWAP_ATTEMPTS: usize = 8;

/// An etcd sink.
#[derive(Debug)]
pub struct EtcdSink {
    http: reqwest::Client,
    endpoints: Vec<String>,
    /// The endpoint that answered last.
    current: usize,
    layout: EtcdLayout,
    grace: Duration,
    /// What this agent last published: each service's part revision and
    /// content fingerprint — the parts it may name again unchanged.
    published: BTreeMap<String, (u64, String)>,
    /// Keys found unnamed by `meta` at the last sweep, and when.
    unnamed: (BTreeSet<String>, Option<Instant>),
}

/// `meta` as read, with its `mod_revision` for the swap.
struct Current {
    meta: Published,
    mod_revision: String,
}

impl EtcdSink {
    /// A sink writing under `prefix/environment` on `endpoints`.
    pub fn new(
        endpoints: &[String],
        prefix: &str,
        environment: &str,
        grace: Duration,
    ) -> Result<Self, AgentError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| AgentError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoints: endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_owned())
                .collect(),
            current: 0,
            layout: EtcdLayout::new(prefix, environment),
            grace,
            published: BTreeMap::new(),
            unnamed: (BTreeSet::new(), None),
        })
    }

    /// `etcd:<prefix>/<environment>`.
    pub fn name(&self) -> String {
        format!("etcd:{}", self.layout.base())
    }

    fn error(&self, message: impl std::fmt::Display) -> AgentError {
        AgentError::Sink {
            sink: self.name(),
            message: message.to_string(),
        }
    }

    /// Every key `meta` names.
    fn named(&self, meta: &Published) -> BTreeSet<String> {
        let mut keys: BTreeSet<String> = meta
            .services
            .iter()
            .map(|(service, revision)| self.layout.part(service, *revision))
            .collect();
        if meta.whole {
            keys.insert(self.layout.snapshot(meta.revision));
        }
        keys
    }

    /// One gateway call, trying each endpoint from the last that answered.
    async fn call(&mut self, path: &str, body: &Value) -> Result<Value, AgentError> {
        let mut last = String::new();
        for step in 0..self.endpoints.len() {
            let index = (self.current + step) % self.endpoints.len();
            let url = format!("{}{path}", self.endpoints[index]);
            match self.http.post(&url).json(body).send().await {
                Ok(response) => {
                    self.current = index;
                    let status = response.status();
                    let value: Value = response
                        .json()
                        .await
                        .map_err(|e| self.error(format!("{url}: {e}")))?;
                    if !status.is_success() {
                        let message = value["message"]
                            .as_str()
                            .or_else(|| value["error"].as_str())
                            .unwrap_or("no message");
                        return Err(self.error(format!("{url}: {status}: {message}")));
                    }
                    return Ok(value);
                }
                Err(error) => {
                    last = format!("{url}: {error}");
                    if let Some(cause) = std::error::Error::source(&error) {
                        last = format!("{last}: {cause}");
                    }
                }
            }
        }
        Err(self.error(last))
    }

    async fn read_meta(&mut self) -> Result<Option<Current>, AgentError> {
        let key = self.layout.meta();
        let answer = self
            .call("/v3/kv/range", &json!({ "key": B64.encode(&key) }))
            .await?;
        let Some(kv) = answer["kvs"].as_array().and_then(|kvs| kvs.first()) else {
            return Ok(None);
        };
        let value = B64
            .decode(kv["value"].as_str().unwrap_or_default())
            .map_err(|e| self.error(format!("{key}: {e}")))?;
        let meta: Published = serde_json::from_slice(&value)
            .map_err(|e| self.error(format!("{key} is not a Setpoint meta: {e}")))?;
        Ok(Some(Current {
            meta,
            mod_revision: int(&kv["mod_revision"]),
        }))
    }

    /// Every part and snapshot key under the prefix (keys only).
    async fn stored_keys(&mut self) -> Result<BTreeSet<String>, AgentError> {
        let mut keys = BTreeSet::new();
        for start in self.layout.stored_prefixes() {
            let answer = self
                .call(
                    "/v3/kv/range",
                    &json!({
                        "key": B64.encode(&start),
                        "range_end": B64.encode(prefix_end(&start)),
                        "keys_only": true,
                    }),
                )
                .await?;
            for kv in answer["kvs"].as_array().into_iter().flatten() {
                let key = B64
                    .decode(kv["key"].as_str().unwrap_or_default())
                    .map_err(|e| self.error(e))?;
                keys.insert(String::from_utf8_lossy(&key).into_owned());
            }
        }
        Ok(keys)
    }

    /// The revision `meta` names, when every key it names is there (a
    /// wiped or half-deleted etcd holds nothing).
    pub async fn held(&mut self) -> Result<Option<u64>, AgentError> {
        let Some(current) = self.read_meta().await? else {
            return Ok(None);
        };
        let stored = self.stored_keys().await?;
        Ok(self
            .named(&current.meta)
            .is_subset(&stored)
            .then_some(current.meta.revision))
    }

    /// Writes the parts that changed, then swaps `meta` to the snapshot.
    pub async fn publish(
        &mut self,
        snapshot: &Verified,
        meta: &Published,
    ) -> Result<Outcome, AgentError> {
        for _ in 0..SWAP_ATTEMPTS {
            let current = self.read_meta().await?;
            if let Some(current) = &current {
                let held = current.meta.revision;
                if held > snapshot.revision
                    || (held == snapshot.revision && self.held().await? == Some(held))
                {
                    return Ok(Outcome::Kept(held));
                }
            }
            // Repairing a sink that holds this revision with parts missing:
            // every part is written again.
            let keep_from = current
                .as_ref()
                .map(|c| &c.meta)
                .filter(|m| m.revision < snapshot.revision);
            let next = self.next_meta(snapshot, meta, keep_from);
            self.write_parts(snapshot, &next).await?;
            if self.swap(current.as_ref(), &next).await? {
                self.published = snapshot
                    .services
                    .iter()
                    .map(|(name, part)| (name.clone(), (next.services[name], part.content.clone())))
                    .collect();
                return Ok(Outcome::Written);
            }
            // Another agent moved `meta` between the read and the swap:
            // read it again and decide again.
        }
        Err(self.error(format!(
            "{} kept changing under {SWAP_ATTEMPTS} attempts to swap it",
            self.layout.meta()
        )))
    }

    /// The meta to publish: a service whose content this agent last
    /// published unchanged, and which `meta` still names at that revision,
    /// keeps its part; every other gets a new one at this revision.
    fn next_meta(
        &self,
        snapshot: &Verified,
        meta: &Published,
        current: Option<&Published>,
    ) -> Published {
        let mut next = meta.clone();
        next.whole = snapshot.json.len() <= BYTES_PER_TXN;
        for (name, part) in &snapshot.services {
            let kept = self
                .published
                .get(name)
                .filter(|(revision, content)| {
                    *content == part.content
                        && current.and_then(|m| m.services.get(name)) == Some(revision)
                })
                .map(|(revision, _)| *revision);
            next.services
                .insert(name.clone(), kept.unwrap_or(snapshot.revision));
        }
        next
    }

    /// Puts the parts new in `next` (and the whole snapshot), in as many
    /// transactions as etcd's limits need. Nobody reads them until `meta`
    /// names them.
    async fn write_parts(
        &mut self,
        snapshot: &Verified,
        next: &Published,
    ) -> Result<(), AgentError> {
        let mut puts: Vec<(String, Vec<u8>)> = next
            .services
            .iter()
            .filter(|(_, revision)| **revision == snapshot.revision)
            .filter_map(|(name, revision)| {
                let json = snapshot.sealed_part(name, *revision)?;
                Some((self.layout.part(name, *revision), json))
            })
            .collect();
        if next.whole {
            puts.push((
                self.layout.snapshot(snapshot.revision),
                snapshot.json.clone(),
            ));
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        for (key, value) in puts {
            let size = key.len() + value.len();
            if size > BYTES_PER_TXN {
                return Err(self.error(format!(
                    "{key} is {size} bytes, more than one etcd request may carry"
                )));
            }
            if batch.len() == OPS_PER_TXN || bytes + size > BYTES_PER_TXN {
                self.transact(std::mem::take(&mut batch)).await?;
                bytes = 0;
            }
            bytes += size;
            batch.push(json!({ "request_put": {
                "key": B64.encode(&key),
                "value": B64.encode(value),
            }}));
        }
        if !batch.is_empty() {
            self.transact(batch).await?;
        }
        Ok(())
    }

    /// Moves `meta` from `current` to `next` if nobody moved it since it
    /// was read; whether it did.
    async fn swap(
        &mut self,
        current: Option<&Current>,
        next: &Published,
    ) -> Result<bool, AgentError> {
        let key = B64.encode(self.layout.meta());
        let compare = match current {
            Some(current) => json!({
                "key": key, "target": "MOD", "result": "EQUAL",
                "mod_revision": current.mod_revision,
            }),
            None => json!({
                "key": key, "target": "CREATE", "result": "EQUAL",
                "create_revision": "0",
            }),
        };
        let value = serde_json::to_vec(next).map_err(|e| self.error(e))?;
        let answer = self
            .call(
                "/v3/kv/txn",
                &json!({
                    "compare": [compare],
                    "success": [{ "request_put": { "key": key, "value": B64.encode(value) }}],
                }),
            )
            .await?;
        Ok(answer["succeeded"].as_bool() == Some(true))
    }

    async fn transact(&mut self, success: Vec<Value>) -> Result<(), AgentError> {
        self.call("/v3/kv/txn", &json!({ "success": success }))
            .await
            .map(|_| ())
    }

    /// Deletes parts and snapshots that `meta` has not named for a grace
    /// period: each sweep deletes what was already unnamed at the previous
    /// one (at least a grace period ago), and notes what is unnamed now.
    pub async fn tidy(&mut self) -> Result<(), AgentError> {
        let due = self.unnamed.1.is_none_or(|at| at.elapsed() >= self.grace);
        if !due {
            return Ok(());
        }
        let Some(current) = self.read_meta().await? else {
            return Ok(());
        };
        let named = self.named(&current.meta);
        // Parts written for a later revision than `meta` names may be
        // another agent's, about to be published: never garbage.
        let garbage: BTreeSet<String> = self
            .stored_keys()
            .await?
            .into_iter()
            .filter(|key| !named.contains(key) && key_revision(key) <= current.meta.revision)
            .collect();
        let expired: Vec<Value> = garbage
            .intersection(&self.unnamed.0)
            .map(|key| json!({ "request_delete_range": { "key": B64.encode(key) }}))
            .collect();
        for batch in expired.chunks(OPS_PER_TXN) {
            self.transact(batch.to_vec()).await?;
        }
        self.unnamed = (garbage, Some(Instant::now()));
        Ok(())
    }
}

/// The revision a part or snapshot key ends with.
fn key_revision(key: &str) -> u64 {
    key.rsplit('/')
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The gateway writes 64-bit integers as strings; accept numbers too.
fn int(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".to_owned(),
    }
}

/// The end of the range of keys starting with `prefix` (etcd's
/// convention: the prefix with its last byte incremented).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_come_back_from_keys_and_ranges_end_after_the_prefix() {
        let layout = EtcdLayout::new("/setpoint", "prod");
        assert_eq!(key_revision(&layout.snapshot(7)), 7);
        assert_eq!(key_revision(&layout.part("checkout", 42)), 42);
        assert_eq!(prefix_end("/a/"), b"/a0");
        assert_eq!(int(&json!("12")), "12");
        assert_eq!(int(&json!(12)), "12");
    }
}
