//! etcd v3, through its JSON gateway (`/v3/kv/…` on the client port; see
//! docs/decisions.md for why not gRPC).
//!
//! Layout under `<prefix>/<environment>/`:
//!
//! - `generations/<revision, 20 digits>/services/<service>`: each service's
//!   sealed snapshot;
//! - `generations/<revision, 20 digits>/snapshot`: the whole sealed
//!   snapshot, when it fits in one request (≤ 1 MiB);
//! - `meta`: which generation is current, with its revision, checksum,
//!   services and writer.
//!
//! A generation is immutable once written. Writing it may take several
//! transactions (etcd allows 128 operations and 1.5 MiB per request by
//! default); readers do not see it until one compare-and-swap moves `meta`
//! to it — so a reader that follows `meta` sees a whole snapshot, old or
//! new, never a mix. The swap compares `meta`'s `mod_revision` with the
//! one read, and is only tried for a higher revision than `meta` names: two
//! agents sharing a prefix never move it backwards. A superseded
//! generation stays readable for a grace period, then is deleted.

use std::time::{Duration, Instant};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde_json::{Value, json};

use super::{Meta, Outcome};
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
    /// `<prefix>/<environment>`.
    base: String,
    grace: Duration,
    /// Generations superseded, with when: deleted after `grace`.
    retired: Vec<(u64, Instant)>,
    /// Whether leftovers from before this process were scheduled.
    swept: bool,
}

/// `meta` as read, with its `mod_revision` for the swap.
struct Current {
    meta: Meta,
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
            base: format!("{prefix}/{environment}"),
            grace,
            retired: Vec::new(),
            swept: false,
        })
    }

    /// `etcd:<prefix>/<environment>`.
    pub fn name(&self) -> String {
        format!("etcd:{}", self.base)
    }

    fn error(&self, message: impl std::fmt::Display) -> AgentError {
        AgentError::Sink {
            sink: self.name(),
            message: message.to_string(),
        }
    }

    /// The key readers watch.
    pub fn meta_key(&self) -> String {
        format!("{}/meta", self.base)
    }

    fn generations(&self) -> String {
        format!("{}/generations/", self.base)
    }

    fn generation(&self, revision: u64) -> String {
        format!("{}{revision:020}/", self.generations())
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
        let key = self.meta_key();
        let answer = self
            .call("/v3/kv/range", &json!({ "key": B64.encode(&key) }))
            .await?;
        let Some(kv) = answer["kvs"].as_array().and_then(|kvs| kvs.first()) else {
            return Ok(None);
        };
        let value = B64
            .decode(kv["value"].as_str().unwrap_or_default())
            .map_err(|e| self.error(format!("{key}: {e}")))?;
        let meta: Meta = serde_json::from_slice(&value)
            .map_err(|e| self.error(format!("{key} is not a Setpoint meta: {e}")))?;
        Ok(Some(Current {
            meta,
            mod_revision: int(&kv["mod_revision"]),
        }))
    }

    /// How many keys a generation holds.
    async fn count(&mut self, revision: u64) -> Result<u64, AgentError> {
        let start = self.generation(revision);
        let answer = self
            .call(
                "/v3/kv/range",
                &json!({
                    "key": B64.encode(&start),
                    "range_end": B64.encode(prefix_end(&start)),
                    "count_only": true,
                }),
            )
            .await?;
        Ok(int(&answer["count"]).parse().unwrap_or(0))
    }

    /// Whether the generation `meta` points at is all there.
    async fn complete(&mut self, meta: &Meta) -> Result<bool, AgentError> {
        let expected = meta.services.len() as u64 + u64::from(meta.whole);
        Ok(self.count(meta.revision).await? == expected)
    }

    /// The revision `meta` names, when its generation is all there (a
    /// wiped or half-deleted etcd holds nothing).
    pub async fn held(&mut self) -> Result<Option<u64>, AgentError> {
        let Some(current) = self.read_meta().await? else {
            return Ok(None);
        };
        self.sweep_before(current.meta.revision);
        Ok(self
            .complete(&current.meta)
            .await?
            .then_some(current.meta.revision))
    }

    /// Generations older than `revision` left by an earlier process are
    /// retired once, when first seen.
    fn sweep_before(&mut self, revision: u64) {
        if !self.swept && revision > 0 {
            self.swept = true;
            self.retired.push((revision - 1, Instant::now()));
        }
    }

    /// Writes the generation, then swaps `meta` to it.
    pub async fn publish(
        &mut self,
        snapshot: &Verified,
        meta: &Meta,
    ) -> Result<Outcome, AgentError> {
        let mut meta = meta.clone();
        meta.generation = format!("{:020}", snapshot.revision);
        meta.whole = snapshot.json.len() <= BYTES_PER_TXN;
        let mut generation_written = false;
        for _ in 0..SWAP_ATTEMPTS {
            let current = self.read_meta().await?;
            if let Some(current) = &current {
                let held = current.meta.revision;
                if held > snapshot.revision
                    || (held == snapshot.revision && self.complete(&current.meta).await?)
                {
                    return Ok(Outcome::Kept(held));
                }
            }
            if !generation_written {
                self.write_generation(snapshot, meta.whole).await?;
                generation_written = true;
            }
            let compare = match &current {
                Some(current) => json!({
                    "key": B64.encode(self.meta_key()),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": current.mod_revision,
                }),
                None => json!({
                    "key": B64.encode(self.meta_key()),
                    "target": "CREATE",
                    "result": "EQUAL",
                    "create_revision": "0",
                }),
            };
            let value = serde_json::to_vec(&meta).map_err(|e| self.error(e))?;
            let answer = self
                .call(
                    "/v3/kv/txn",
                    &json!({
                        "compare": [compare],
                        "success": [{ "request_put": {
                            "key": B64.encode(self.meta_key()),
                            "value": B64.encode(value),
                        }}],
                    }),
                )
                .await?;
            if answer["succeeded"].as_bool() == Some(true) {
                if let Some(old) = current.filter(|c| c.meta.revision != snapshot.revision) {
                    self.retired.push((old.meta.revision, Instant::now()));
                }
                self.sweep_before(snapshot.revision);
                return Ok(Outcome::Written);
            }
            // Another agent moved `meta` between the read and the swap:
            // read it again and decide again.
        }
        Err(self.error(format!(
            "{} kept changing under {SWAP_ATTEMPTS} attempts to swap it",
            self.meta_key()
        )))
    }

    /// Puts a generation's keys, in as many transactions as etcd's limits
    /// need. Nobody reads them until `meta` points here.
    async fn write_generation(
        &mut self,
        snapshot: &Verified,
        whole: bool,
    ) -> Result<(), AgentError> {
        let root = self.generation(snapshot.revision);
        let mut puts: Vec<(String, &[u8])> = snapshot
            .services
            .iter()
            .map(|(name, json)| (format!("{root}services/{name}"), json.as_slice()))
            .collect();
        if whole {
            puts.push((format!("{root}snapshot"), snapshot.json.as_slice()));
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
                self.put_all(std::mem::take(&mut batch)).await?;
                bytes = 0;
            }
            bytes += size;
            batch.push(json!({ "request_put": {
                "key": B64.encode(&key),
                "value": B64.encode(value),
            }}));
        }
        if !batch.is_empty() {
            self.put_all(batch).await?;
        }
        Ok(())
    }

    async fn put_all(&mut self, success: Vec<Value>) -> Result<(), AgentError> {
        self.call("/v3/kv/txn", &json!({ "success": success }))
            .await
            .map(|_| ())
    }

    /// Deletes generations superseded more than the grace period ago.
    pub async fn tidy(&mut self) -> Result<(), AgentError> {
        let now = Instant::now();
        let Some(oldest_kept) = self
            .retired
            .iter()
            .filter(|(_, at)| now.duration_since(*at) >= self.grace)
            .map(|(revision, _)| *revision)
            .max()
        else {
            return Ok(());
        };
        let start = self.generations();
        let end = self.generation(oldest_kept + 1);
        self.call(
            "/v3/kv/deleterange",
            &json!({ "key": B64.encode(&start), "range_end": B64.encode(&end) }),
        )
        .await?;
        self.retired.retain(|(revision, _)| *revision > oldest_kept);
        Ok(())
    }
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
    fn generations_sort_by_revision_and_ranges_end_after_the_prefix() {
        let sink = EtcdSink::new(
            &["http://127.0.0.1:2379".into()],
            "/setpoint",
            "prod",
            Duration::ZERO,
        )
        .expect("sink");
        assert_eq!(
            sink.generation(42),
            "/setpoint/prod/generations/00000000000000000042/"
        );
        assert!(sink.generation(9) < sink.generation(10));
        assert_eq!(prefix_end("/a/"), b"/a0");
        assert_eq!(int(&json!("12")), "12");
        assert_eq!(int(&json!(12)), "12");
    }
}
