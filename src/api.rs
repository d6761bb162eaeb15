//! The typed client of the server's API. Errors arrive in the server's one
//! envelope and become [`ApiError`], whose details have the same shape as
//! the core's violations, so the console shows both the same way.

use serde::{Deserialize, de::DeserializeOwned};

/// The base path of the API.
const BASE: &str = "/api/v1";

/// A field-level problem, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct Problem {
    /// Where, e.g. `values.prod["throttle.rps"]`.
    pub path: String,
    /// The stable machine code.
    pub code: String,
    /// For people.
    pub message: String,
}

/// A failed call: the server's envelope, or a transport failure.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// HTTP status (0 when the server could not be reached).
    #[serde(skip)]
    pub status: u16,
    /// Stable machine code, e.g. `validation_failed`.
    pub code: String,
    /// For people.
    pub message: String,
    /// Field-level problems.
    #[serde(default)]
    pub details: Vec<Problem>,
}

#[derive(Deserialize)]
struct Envelope {
    error: ApiError,
}

impl ApiError {
    fn transport(message: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            code: "unreachable".into(),
            message: format!("cannot reach the server: {message}"),
            details: Vec::new(),
        }
    }
}

/// The server's verdict on a valid document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Verdict {
    /// Always true: invalid documents come back as an [`ApiError`].
    pub valid: bool,
    /// The document's service name.
    pub service: String,
}

/// The server's health.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    /// `ok` when serving.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// `GET /healthz`.
pub async fn health() -> Result<Health, ApiError> {
    decode(gloo_net::http::Request::get("/healthz").send().await).await
}

/// `POST /api/v1/validate` with a service document's text, sent as is so
/// that the server reports syntax errors with their position too.
pub async fn validate(document: &str) -> Result<Verdict, ApiError> {
    let request = gloo_net::http::Request::post(&format!("{BASE}/validate"))
        .header("Content-Type", "application/json")
        .body(document.to_owned())
        .map_err(ApiError::transport)?;
    decode(request.send().await).await
}

async fn decode<T: DeserializeOwned>(
    response: Result<gloo_net::http::Response, gloo_net::Error>,
) -> Result<T, ApiError> {
    let response = response.map_err(ApiError::transport)?;
    let status = response.status();
    if response.ok() {
        return response.json::<T>().await.map_err(ApiError::transport);
    }
    match response.json::<Envelope>().await {
        Ok(Envelope { mut error }) => {
            error.status = status;
            Err(error)
        }
        Err(_) => Err(ApiError {
            status,
            code: "unexpected_response".into(),
            message: format!("the server answered {status} {}", response.status_text()),
            details: Vec::new(),
        }),
    }
}
