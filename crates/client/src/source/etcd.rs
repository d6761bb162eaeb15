//! The agent's keys in etcd, through etcd's v3 JSON gateway (the agent's
//! choice, for the same reasons: docs/decisions.md).
//!
//! The source reads `meta` ([`Published`]), follows it to the service's
//! part, offers that, and watches `meta` from the revision it read at:
//! every later change arrives as a watch event, none is missed and none
//! replayed. When the watch breaks (etcd restarted, a network cut, a
//! compaction) the source backs off, reads `meta` again — the state as of
//! now — and watches on from there. A resync timer re-reads even while
//! the watch looks healthy, for a stream that died without a word.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde_json::{Value, json};
use setpoint_core::delivery::{DEFAULT_ETCD_PREFIX, EtcdLayout, Published};

use super::{Backoff, Feed, Running, Source, chain};

/// Follows one service's part under an agent's etcd prefix.
#[derive(Debug, Clone)]
pub struct EtcdSource {
    endpoints: Vec<String>,
    layout: EtcdLayout,
    service: String,
    resync: Duration,
    max_backoff: Duration,
}

impl EtcdSource {
    /// Follows `service` in `environment` on `endpoints` (client URLs, e.g.
    /// `http://etcd:2379`), under the agents' default prefix.
    pub fn new<E: AsRef<str>>(endpoints: &[E], environment: &str, service: &str) -> Self {
        Self {
            endpoints: endpoints
                .iter()
                .map(|e| e.as_ref().trim_end_matches('/').to_owned())
                .collect(),
            layout: EtcdLayout::new(DEFAULT_ETCD_PREFIX, environment),
            service: service.to_owned(),
            resync: Duration::from_mins(1),
            max_backoff: Duration::from_secs(30),
        }
    }

    /// Reads under `prefix` (the agent's `--etcd-prefix`) instead.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        let environment = self
            .layout
            .base()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.layout = EtcdLayout::new(prefix, &environment);
        self
    }

    /// How often `meta` is read again even while the watch is quiet
    /// (default 60 s).
    #[must_use]
    pub fn resync(mut self, every: Duration) -> Self {
        self.resync = every;
        self
    }

    /// The longest pause between failed attempts (default 30 s).
    #[must_use]
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }
}

/// One connection's worth of state.
struct Session {
    http: reqwest::Client,
    source: EtcdSource,
    /// The endpoint that answered last.
    current: usize,
    /// The part last offered: a change to another service does not fetch
    /// this one again.
    offered: Option<String>,
}

impl Session {
    /// POSTs to each endpoint in turn, from the last that answered.
    async fn post(&mut self, path: &str, body: &Value) -> Result<reqwest::Response, String> {
        let endpoints = &self.source.endpoints;
        let mut last = String::from("no endpoints");
        for step in 0..endpoints.len() {
            let index = (self.current + step) % endpoints.len();
            match self
                .http
                .post(format!("{}{path}", endpoints[index]))
                .json(body)
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => {
                    self.current = index;
                    return Ok(response);
                }
                Ok(response) => last = format!("{}: {}", endpoints[index], response.status()),
                Err(error) => last = format!("{}: {}", endpoints[index], chain(&error)),
            }
        }
        Err(last)
    }

    /// A key's value and the store's revision at the read.
    async fn range(&mut self, key: &str) -> Result<(Option<Vec<u8>>, u64), String> {
        let answer: Value = self
            .post("/v3/kv/range", &json!({ "key": B64.encode(key) }))
            .await?
            .json()
            .await
            .map_err(|e| chain(&e))?;
        let revision = int(&answer["header"]["revision"]);
        let value = match answer["kvs"].as_array().and_then(|kvs| kvs.first()) {
            None => None,
            Some(kv) => Some(
                B64.decode(kv["value"].as_str().unwrap_or_default())
                    .map_err(|e| format!("{key}: {e}"))?,
            ),
        };
        Ok((value, revision))
    }

    /// Follows `meta` to the service's part and offers it. `false` once
    /// the client is gone.
    async fn follow(&mut self, feed: &Feed, meta: &[u8]) -> Result<bool, String> {
        let meta_key = self.source.layout.meta();
        let published: Published =
            serde_json::from_slice(meta).map_err(|e| format!("{meta_key}: {e}"))?;
        let revision = published
            .services
            .get(&self.source.service)
            .ok_or_else(|| {
                format!(
                    "{meta_key} (revision {}) publishes no {:?}",
                    published.revision, self.source.service
                )
            })?;
        let key = self.source.layout.part(&self.source.service, *revision);
        if self.offered.as_ref() == Some(&key) {
            return Ok(true);
        }
        let (part, _) = self.range(&key).await?;
        // The agent keeps a part a grace period after `meta` moves on; gone
        // means `meta` has moved again, and its event is on the way.
        let Some(part) = part else {
            return Ok(true);
        };
        if feed.offer(&part).is_none() {
            return Ok(false);
        }
        self.offered = Some(key);
        Ok(true)
    }

    /// Reads `meta`, offers what it names, then follows the watch until it
    /// ends, fails or the resync is due. `false` once the client is gone.
    async fn round(&mut self, feed: &Feed) -> Result<bool, String> {
        let meta_key = self.source.layout.meta();
        let (meta, revision) = self.range(&meta_key).await?;
        if let Some(meta) = meta
            && !self.follow(feed, &meta).await?
        {
            return Ok(false);
        }
        let request = json!({ "create_request": {
            "key": B64.encode(&meta_key),
            "start_revision": (revision + 1).to_string(),
        }});
        let mut stream = self.post("/v3/watch", &request).await?;
        let mut buffer = Vec::new();
        let deadline = tokio::time::Instant::now() + self.source.resync;
        loop {
            let chunk = match tokio::time::timeout_at(deadline, stream.chunk()).await {
                Err(_) => return Ok(true),
                Ok(chunk) => chunk.map_err(|e| chain(&e))?,
            };
            let Some(chunk) = chunk else {
                return Err("the watch ended".into());
            };
            buffer.extend_from_slice(&chunk);
            for message in drain_messages(&mut buffer)? {
                let result = &message["result"];
                if result["canceled"].as_bool() == Some(true) {
                    let reason = result["cancel_reason"].as_str().unwrap_or("no reason");
                    return Err(format!("the watch was canceled: {reason}"));
                }
                let newest = result["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|event| event["kv"]["value"].as_str())
                    .next_back();
                if let Some(value) = newest {
                    let meta = B64.decode(value).map_err(|e| format!("{meta_key}: {e}"))?;
                    if !self.follow(feed, &meta).await? {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

impl Source for EtcdSource {
    fn name(&self) -> String {
        let endpoint = self.endpoints.first().map_or("", String::as_str);
        format!("etcd:{endpoint}{}", self.layout.base())
    }

    fn run(self: Box<Self>, feed: Feed) -> Running {
        Box::pin(async move {
            let http = match reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .build()
            {
                Ok(http) => http,
                Err(error) => {
                    feed.failed(&chain(&error));
                    return;
                }
            };
            let mut backoff = Backoff::new(self.max_backoff);
            let mut session = Session {
                http,
                source: *self,
                current: 0,
                offered: None,
            };
            while !feed.closed() {
                match session.round(&feed).await {
                    Ok(true) => backoff.reset(),
                    Ok(false) => return,
                    Err(error) => {
                        feed.failed(&error);
                        backoff.wait().await;
                    }
                }
            }
        })
    }
}

/// The whole JSON messages at the front of `buffer`, removed from it; a
/// message cut off by the end of a chunk stays for the next one.
fn drain_messages(buffer: &mut Vec<u8>) -> Result<Vec<Value>, String> {
    let mut messages = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(buffer).into_iter::<Value>();
    let mut consumed = 0;
    loop {
        match stream.next() {
            Some(Ok(message)) => {
                messages.push(message);
                consumed = stream.byte_offset();
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(e)) => return Err(format!("the watch sent something else than JSON: {e}")),
            None => break,
        }
    }
    buffer.drain(..consumed);
    Ok(messages)
}

/// The gateway writes 64-bit integers as strings.
fn int(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_chunks_are_read_whole() {
        let mut buffer = br#"{"result":{"created":true}}
{"result":{"events":[{"kv":{"val"#
            .to_vec();
        let first = drain_messages(&mut buffer).expect("json");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["result"]["created"], true);
        buffer.extend_from_slice(br#"ue":"eA=="}}]}}"#);
        let second = drain_messages(&mut buffer).expect("json");
        assert_eq!(second[0]["result"]["events"][0]["kv"]["value"], "eA==");
        assert!(buffer.iter().all(u8::is_ascii_whitespace));
        assert!(drain_messages(&mut b"}{".to_vec()).is_err());
    }

    #[test]
    fn a_prefix_keeps_the_environment() {
        let source = EtcdSource::new(&["http://e:2379/"], "prod", "checkout").prefix("/cfg");
        assert_eq!(source.name(), "etcd:http://e:2379/cfg/prod");
        assert_eq!(int(&json!("42")), 42);
    }
}
