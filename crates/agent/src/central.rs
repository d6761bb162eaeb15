//! The client for central: a long-polled fetch of the whole sealed
//! snapshot, and the fleet report.

use std::time::Duration;

use reqwest::{StatusCode, header};
use setpoint_core::fleet::{AgentReport, ClusterStatus};

use crate::AgentError;

/// Longest snapshot body the agent reads (central's 2,000-service
/// environments are well under a megabyte).
const MAX_SNAPSHOT_BYTES: usize = 256 << 20;

/// Central's API, as one agent uses it.
#[derive(Debug, Clone)]
pub struct Central {
    http: reqwest::Client,
    snapshot_url: String,
    report_url: String,
    authorization: String,
}

/// A fetched snapshot, not yet verified.
#[derive(Debug)]
pub struct Fetched {
    /// The body.
    pub bytes: Vec<u8>,
    /// Its `ETag`, for the next `If-None-Match`.
    pub etag: Option<String>,
}

impl Central {
    /// A client for `server`'s snapshots of `environment`.
    pub fn new(server: &str, token: &str, environment: &str) -> Result<Self, AgentError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("setpoint-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AgentError::Config(format!("HTTP client: {e}")))?;
        let server = server.trim_end_matches('/');
        Ok(Self {
            http,
            snapshot_url: format!("{server}/api/v1/environments/{environment}/snapshot"),
            report_url: format!("{server}/api/v1/fleet/reports"),
            authorization: format!("Bearer {token}"),
        })
    }

    /// The snapshot, or `None` when it still has `etag`. With `index`,
    /// central holds the request until the revision passes it or `wait`
    /// runs out (then it answers with the unchanged snapshot: `304`).
    pub async fn snapshot(
        &self,
        etag: Option<&str>,
        index: Option<u64>,
        wait: Duration,
    ) -> Result<Option<Fetched>, AgentError> {
        let mut request = self
            .http
            .get(&self.snapshot_url)
            .header(header::AUTHORIZATION, &self.authorization);
        if let Some(index) = index {
            let wait = wait.min(Duration::from_mins(5));
            request = request
                .query(&[
                    ("index", index.to_string()),
                    ("wait", format!("{}ms", wait.as_millis())),
                ])
                .timeout(wait + Duration::from_secs(15));
        } else {
            request = request.timeout(Duration::from_secs(30));
        }
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(|e| central(&e))?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(None),
            StatusCode::OK => {}
            status => return Err(refused(status, response).await),
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| central(&e))? {
            if bytes.len() + chunk.len() > MAX_SNAPSHOT_BYTES {
                return Err(AgentError::Central(format!(
                    "the snapshot is larger than {MAX_SNAPSHOT_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(Fetched { bytes, etag }))
    }

    /// Reports to the fleet view; central answers with the cluster's
    /// status as it sees it.
    pub async fn report(&self, report: &AgentReport) -> Result<ClusterStatus, AgentError> {
        let response = self
            .http
            .post(&self.report_url)
            .header(header::AUTHORIZATION, &self.authorization)
            .timeout(Duration::from_secs(10))
            .json(report)
            .send()
            .await
            .map_err(|e| central(&e))?;
        if !response.status().is_success() {
            return Err(refused(response.status(), response).await);
        }
        response.json().await.map_err(|e| central(&e))
    }
}

fn central(error: &reqwest::Error) -> AgentError {
    // reqwest's outermost message is generic ("error sending request");
    // the cause says what happened (connection refused, timed out, …).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    AgentError::Central(message)
}

/// A non-success answer, with the message from central's error envelope.
async fn refused(status: StatusCode, response: reqwest::Response) -> AgentError {
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect());
    AgentError::Central(format!("{status}: {message}"))
}
