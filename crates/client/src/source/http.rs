//! A snapshot over HTTP: central's (or any server's) sealed snapshot of one
//! service, long-polled — `?index=R&wait=…` holds the request until the
//! revision passes `R`, and `If-None-Match` turns an unchanged answer
//! into a `304`. A change is seen as soon as it is published; a quiet
//! service costs one request per `wait`.

use std::time::Duration;

use reqwest::{StatusCode, header};

use super::{Backoff, Feed, Running, Source, chain};
use crate::client::MAX_PAYLOAD_BYTES;

/// Follows one URL that serves a sealed snapshot.
#[derive(Debug, Clone)]
pub struct HttpSource {
    url: String,
    token: Option<String>,
    wait: Duration,
    max_backoff: Duration,
}

impl HttpSource {
    /// Follows `url`, which serves a sealed snapshot and understands
    /// `index`/`wait` and `If-None-Match` as central does.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            token: None,
            wait: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30),
        }
    }

    /// Follows central at `server`: `service`'s snapshot in `environment`.
    pub fn central(server: &str, environment: &str, service: &str) -> Self {
        Self::new(&format!(
            "{}/api/v1/environments/{environment}/snapshot/{service}",
            server.trim_end_matches('/')
        ))
    }

    /// Sends `Authorization: Bearer <token>` (a viewer or agent token
    /// limited to the service is enough).
    #[must_use]
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// How long each long-poll may be held (default 30 s, at most 300 s).
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_mins(5));
        self
    }

    /// The longest pause between failed attempts (default 30 s).
    #[must_use]
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }
}

/// What one request brought.
enum Answer {
    Changed {
        bytes: Vec<u8>,
        etag: Option<String>,
        revision: Option<u64>,
    },
    Unchanged,
}

impl HttpSource {
    async fn fetch(
        &self,
        http: &reqwest::Client,
        etag: Option<&str>,
        index: Option<u64>,
    ) -> Result<Answer, String> {
        let mut request = http.get(&self.url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(index) = index {
            request = request
                .query(&[
                    ("index", index.to_string()),
                    ("wait", format!("{}ms", self.wait.as_millis())),
                ])
                .timeout(self.wait + Duration::from_secs(15));
        } else {
            request = request.timeout(Duration::from_secs(30));
        }
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(|e| chain(&e))?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(Answer::Unchanged),
            StatusCode::OK => {}
            status => {
                let text = response.text().await.unwrap_or_default();
                return Err(format!(
                    "{status}: {}",
                    text.chars().take(200).collect::<String>()
                ));
            }
        }
        let text_header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = text_header(header::ETAG.as_str());
        let revision = text_header("x-setpoint-revision").and_then(|r| r.parse().ok());
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| chain(&e))? {
            if bytes.len() + chunk.len() > MAX_PAYLOAD_BYTES {
                return Err(format!(
                    "the snapshot is larger than {MAX_PAYLOAD_BYTES} bytes"
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Answer::Changed {
            bytes,
            etag,
            revision,
        })
    }
}

impl Source for HttpSource {
    fn name(&self) -> String {
        format!("http:{}", self.url)
    }

    fn run(self: Box<Self>, feed: Feed) -> Running {
        Box::pin(async move {
            let http = match reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("setpoint-client/", env!("CARGO_PKG_VERSION")))
                .build()
            {
                Ok(http) => http,
                Err(error) => {
                    feed.failed(&chain(&error));
                    return;
                }
            };
            let mut backoff = Backoff::new(self.max_backoff);
            let mut etag: Option<String> = None;
            let mut seen: Option<u64> = None;
            while !feed.closed() {
                match self.fetch(&http, etag.as_deref(), seen).await {
                    Ok(Answer::Unchanged) => backoff.reset(),
                    Ok(Answer::Changed {
                        bytes,
                        etag: tag,
                        revision,
                    }) => {
                        if feed.offer(&bytes).is_none() {
                            return;
                        }
                        backoff.reset();
                        // A refused payload is not asked for again until it
                        // changes: its ETag is kept all the same.
                        etag = tag;
                        seen = revision;
                        if seen.is_none() {
                            // Without a revision there is no long-poll: poll.
                            tokio::time::sleep(self.wait.min(Duration::from_secs(5))).await;
                        }
                    }
                    Err(error) => {
                        feed.failed(&error);
                        backoff.wait().await;
                    }
                }
            }
        })
    }
}
