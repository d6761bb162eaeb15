//! The OpenAPI description lists every route, and every route it lists is
//! served.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::TestApp;

/// Every `/api/v1` operation the API documents (docs/api.md), and OFREP's.
const OPERATIONS: &[(&str, &str)] = &[
    ("post", "/api/v1/validate"),
    ("post", "/api/v1/session"),
    ("delete", "/api/v1/session"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{username}"),
    ("delete", "/api/v1/users/{username}"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("post", "/api/v1/fleet/reports"),
    ("get", "/api/v1/fleet"),
    ("delete", "/api/v1/fleet/{environment}/{cluster}"),
    ("get", "/api/v1/environments"),
    ("post", "/api/v1/environments"),
    ("get", "/api/v1/services"),
    ("post", "/api/v1/services"),
    ("get", "/api/v1/services/{service}"),
    ("put", "/api/v1/services/{service}"),
    ("delete", "/api/v1/services/{service}"),
    ("post", "/api/v1/services/{service}/restore"),
    ("patch", "/api/v1/services/{service}/values/{environment}"),
    ("put", "/api/v1/services/{service}/schema"),
    ("put", "/api/v1/services/{service}/flags/{flag}"),
    ("delete", "/api/v1/services/{service}/flags/{flag}"),
    ("get", "/api/v1/services/{service}/history"),
    ("post", "/api/v1/services/{service}/rollback"),
    ("get", "/api/v1/changes"),
    ("put", "/api/v1/environments/{environment}/policy"),
    ("get", "/api/v1/change-requests"),
    ("get", "/api/v1/change-requests/{id}"),
    ("post", "/api/v1/change-requests/{id}/reviews"),
    ("post", "/api/v1/change-requests/{id}/withdraw"),
    ("post", "/api/v1/change-requests/{id}/rebase"),
    ("post", "/api/v1/change-requests/{id}/apply"),
    ("get", "/api/v1/environments/{environment}/snapshot"),
    (
        "get",
        "/api/v1/environments/{environment}/snapshot/{service}",
    ),
    ("get", "/api/v1/environments/{environment}/events"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/export"),
    ("post", "/api/v1/import"),
    ("post", "/api/v1/apply"),
    ("put", "/api/v1/services/{service}/breakers/{breaker}"),
    ("delete", "/api/v1/services/{service}/breakers/{breaker}"),
    (
        "post",
        "/api/v1/services/{service}/breakers/{breaker}/environments/{environment}/trip",
    ),
    (
        "post",
        "/api/v1/services/{service}/breakers/{breaker}/environments/{environment}/close",
    ),
    ("get", "/api/v1/environments/{environment}/breakers"),
    ("get", "/api/v1/alerts/unrouted"),
    (
        "put",
        "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout",
    ),
    (
        "post",
        "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/pause",
    ),
    (
        "post",
        "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/resume",
    ),
    (
        "post",
        "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/retry",
    ),
    (
        "post",
        "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/abort",
    ),
    ("get", "/api/v1/flags"),
    ("get", "/api/v1/rollouts"),
    ("post", "/api/v1/hooks/alertmanager"),
    ("post", "/ofrep/v1/evaluate/flags"),
    ("post", "/ofrep/v1/evaluate/flags/{key}"),
];

#[tokio::test]
async fn the_description_lists_every_route_and_each_is_served() {
    let app = TestApp::seeded().await;
    let reply = app.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let spec = reply.json;
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{spec}"
    );
    let mut listed = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                listed.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| ((*m).to_string(), (*p).to_string()))
        .collect();
    assert_eq!(listed, expected);

    for (method, path) in OPERATIONS {
        let uri = path
            .replace("{service}", "checkout")
            .replace("{environment}", "prod")
            .replace("{flag}", "new-checkout-flow")
            .replace("{breaker}", "payments-provider")
            .replace("{id}", "nope")
            .replace("{cluster}", "nope")
            .replace("{key}", "checkout:new-checkout-flow");
        let method: Method = method.to_uppercase().parse().expect("method");
        // An event stream never ends; a bad resume point answers at once
        // and still proves the route is there.
        let headers: &[(&str, &str)] = if uri.ends_with("/events") {
            &[("last-event-id", "x")]
        } else {
            &[]
        };
        let reply = app.raw(method.clone(), &uri, headers, None).await;
        let unrouted = reply.json["error"]["message"] == "no such API route"
            || reply.json["error"]["message"] == "no such OFREP route"
            || reply.status == StatusCode::METHOD_NOT_ALLOWED;
        assert!(
            !unrouted,
            "{method} {uri} is listed but not served: {}",
            reply.text
        );
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    assert!(spec["components"]["schemas"]["ErrorEnvelope"].is_object());
}

/// A path template names parameters that its operation must declare, or
/// generated clients (and schemathesis in CI) reject the whole description.
#[tokio::test]
async fn every_path_parameter_is_declared() {
    let app = TestApp::seeded().await;
    let spec = app.get("/api/v1/openapi.json").await.json;
    let mut undeclared = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let named: BTreeSet<&str> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in item.as_object().expect("item") {
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            if declared != named {
                undeclared.push(format!("{method} {path}: declares {declared:?}"));
            }
        }
    }
    assert!(undeclared.is_empty(), "{undeclared:#?}");
}

/// Values in documents are any JSON, not only objects: a schema saying
/// otherwise fails every client that validates answers (schemathesis did).
#[tokio::test]
async fn document_values_may_be_any_json() {
    let app = TestApp::seeded().await;
    let spec = app.get("/api/v1/openapi.json").await.json;
    let value = &spec["components"]["schemas"]["ServiceDoc"]["properties"]["values"]["additionalProperties"]
        ["additionalProperties"];
    assert!(value.get("type").is_none(), "{value}");
}
