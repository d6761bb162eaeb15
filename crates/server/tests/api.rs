//! Validation, errors and console hosting through `app()`, without a socket.

mod common;

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use common::{EXAMPLE, TestApp};
use serde_json::{Value, json};
use setpoint_server::{AppState, app};
use tower::ServiceExt;

async fn test_app(console: &std::path::Path) -> Router {
    let test = TestApp::new().await;
    app(AppState::new(
        test.engine,
        test.store,
        console.to_path_buf(),
    ))
}

async fn send(
    app: Router,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = app
        .oneshot(request.body(body.into()).expect("request builds"))
        .await
        .expect("the router never fails");
    let reply = common::reply(response).await;
    (reply.status, reply.json, reply.text)
}

async fn validate(body: impl Into<Body>) -> (StatusCode, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, json, _) = send(
        test_app(dir.path()).await,
        Method::POST,
        "/api/v1/validate",
        Some("application/json"),
        body,
    )
    .await;
    (status, json)
}

#[tokio::test]
async fn healthz_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, json, _) = send(
        test_app(dir.path()).await,
        Method::GET,
        "/healthz",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "ok");
}

#[tokio::test]
async fn a_valid_document_is_accepted() {
    let (status, json) = validate(EXAMPLE).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, json!({"valid": true, "service": "checkout"}));
}

#[tokio::test]
async fn an_invalid_document_gets_422_with_the_cores_errors() {
    let mut doc: Value = serde_json::from_str(EXAMPLE).expect("example parses");
    doc["values"]["prod"]["throttle.rps"] = json!(0);
    doc["flags"]["new-checkout-flow"]["off"] = json!("nope");
    let (status, json) = validate(doc.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["error"]["code"], "validation_failed");
    assert_eq!(
        json["error"]["details"],
        json!([
            {"path": "values.prod[\"throttle.rps\"]", "code": "below_min", "message": "0 is below the minimum 1"},
            {"path": "flags.new-checkout-flow.off", "code": "unknown_variant", "message": "variant \"nope\" is not defined by the flag"}
        ])
    );
}

#[tokio::test]
async fn malformed_requests_get_4xx_with_a_message() {
    // (name, content type, body, expected status, expected error code)
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<u8>,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "broken JSON",
            Some("application/json"),
            b"{\"service\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "trailing garbage",
            Some("application/json"),
            format!("{EXAMPLE} x").into_bytes(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "not an object",
            Some("application/json"),
            b"[1,2]".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "unknown field",
            Some("application/json"),
            br#"{"service": "x", "colour": "red"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "wrong field type",
            Some("application/json"),
            br#"{"service": 7}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "empty body",
            Some("application/json"),
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "no content type",
            None,
            EXAMPLE.as_bytes().to_vec(),
            StatusCode::BAD_REQUEST,
            "unsupported_content_type",
        ),
        (
            "form content type",
            Some("application/x-www-form-urlencoded"),
            b"a=b".to_vec(),
            StatusCode::BAD_REQUEST,
            "unsupported_content_type",
        ),
        (
            "invalid UTF-8",
            Some("application/json"),
            vec![b'"', 0xff, 0xfe, b'"'],
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
        ),
        (
            "too large",
            Some("application/json"),
            vec![b' '; 1024 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (name, content_type, body, expected, code) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let (status, json, text) = send(
            test_app(dir.path()).await,
            Method::POST,
            "/api/v1/validate",
            content_type,
            body,
        )
        .await;
        assert_eq!(status, expected, "{name}: {text}");
        assert_eq!(json["error"]["code"], code, "{name}: {text}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name} has no message: {text}"
        );
    }
}

#[tokio::test]
async fn syntax_errors_say_where() {
    let (status, json) = validate("{\n  \"service\": \"x\",\n  \"owners\": [\"a\",]\n}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"]["details"][0]["code"], "json_syntax");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 3")),
        "{json}"
    );
}

#[tokio::test]
async fn unknown_api_routes_and_methods_get_the_envelope() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, json, _) = send(
        test_app(dir.path()).await,
        Method::GET,
        "/api/v1/nope",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["code"], "not_found");
    let (status, json, _) = send(
        test_app(dir.path()).await,
        Method::GET,
        "/api/v1/validate",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn the_console_is_served_with_a_fallback_for_client_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<html>console</html>").expect("write");
    std::fs::write(dir.path().join("app.js"), "console.log(1)").expect("write");
    let (status, _, text) = send(
        test_app(dir.path()).await,
        Method::GET,
        "/app.js",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "console.log(1)"));
    let (status, _, text) = send(
        test_app(dir.path()).await,
        Method::GET,
        "/services/checkout",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "<html>console</html>")
    );
    let (status, json, _) = send(
        test_app(dir.path()).await,
        Method::GET,
        "/api/v1/no/such/route",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "API paths never fall back to the console"
    );
    assert_eq!(json["error"]["code"], "not_found");
}

#[tokio::test]
async fn built_modules_are_cached_for_good_and_a_missing_one_is_a_plain_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<html>console</html>").expect("write");
    let build = dir.path().join("pkg").join("0123abcd");
    std::fs::create_dir_all(&build).expect("mkdir");
    std::fs::write(build.join("split_flags.wasm"), b"\0asm").expect("write");
    let get = |uri: &'static str| {
        let dir = dir.path().to_path_buf();
        async move {
            let response = test_app(&dir)
                .await
                .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
                .await
                .expect("the router never fails");
            let cache = response
                .headers()
                .get(header::CACHE_CONTROL)
                .map(|v| v.to_str().expect("ascii").to_owned());
            (common::reply(response).await, cache)
        }
    };

    let (reply, cache) = get("/pkg/0123abcd/split_flags.wasm").await;
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (StatusCode::OK, "\0asm")
    );
    assert_eq!(
        cache.as_deref(),
        Some("public, max-age=31536000, immutable")
    );

    // A tab open across a rebuild asks for the old build's modules: it gets
    // a 404 that says why, not index.html.
    let (reply, cache) = get("/pkg/77777777/split_flags.wasm").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json["error"]["code"], "not_found");
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("reload")),
        "{}",
        reply.json
    );
    assert_eq!(cache, None, "a miss is not cached for good");

    // index.html is revalidated, so a new build's hash is seen at once.
    let (reply, cache) = get("/services/checkout").await;
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (StatusCode::OK, "<html>console</html>")
    );
    assert_eq!(cache.as_deref(), Some("no-cache"));
}

#[tokio::test]
async fn without_a_built_console_the_root_says_how_to_build_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, json, _) = send(
        test_app(dir.path()).await,
        Method::GET,
        "/",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("trunk build"))
    );
}

#[tokio::test]
async fn console_pages_carry_a_content_security_policy_and_odd_paths_are_404() {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().expect("tempdir");
    let loader = "import init from \"/app.js\"; init();";
    std::fs::write(
        dir.path().join("index.html"),
        format!(
            "<html><script type=\"module\">{loader}</script><script src=\"/x.js\"></script></html>"
        ),
    )
    .expect("write");
    let request = |uri: String| Request::get(uri).body(Body::empty()).expect("request");
    let app = test_app(dir.path()).await;
    let response = app
        .clone()
        .oneshot(request("/services/checkout".into()))
        .await
        .expect("router");
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("text")
        .to_owned();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(loader));
    assert!(
        policy.contains(&format!(
            "script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}';"
        )),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(
        response.headers()[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff"
    );

    for uri in [
        format!("/{}", "a".repeat(256)),
        format!("/x/{}", "b/".repeat(600)),
    ] {
        let reply = common::reply(
            app.clone()
                .oneshot(request(uri.clone()))
                .await
                .expect("router"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}: {}", reply.text);
        assert_eq!(reply.json["error"]["code"], "not_found");
    }
}

/// `GET uri` with `Accept-Encoding: accept` (none when `None`), from an
/// app serving the console in `console`.
async fn get_accepting(
    console: &std::path::Path,
    uri: &str,
    accept: Option<&str>,
) -> axum::response::Response {
    let mut request = Request::get(uri);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT_ENCODING, accept);
    }
    test_app(console)
        .await
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("the router never fails")
}

/// A console file and its build-time brotli and gzip copies, each with
/// different content, so the answer shows which one was sent.
#[tokio::test]
async fn console_files_go_out_as_compressed_at_build_time_by_accept_encoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = dir.path().join("pkg").join("0123abcd");
    std::fs::create_dir_all(&build).expect("mkdir");
    for (base, name) in [(dir.path(), "index.html"), (build.as_path(), "main.wasm")] {
        std::fs::write(base.join(name), "plain").expect("write");
        std::fs::write(base.join(format!("{name}.br")), "as brotli").expect("write");
        std::fs::write(base.join(format!("{name}.gz")), "as gzip").expect("write");
    }
    let get = |uri: &'static str, accept: Option<&'static str>| {
        let dir = dir.path().to_path_buf();
        async move { common::reply(get_accepting(&dir, uri, accept).await).await }
    };
    for uri in [
        "/pkg/0123abcd/main.wasm",
        "/index.html",
        "/services/checkout",
    ] {
        let br = get(uri, Some("gzip, deflate, br")).await;
        assert_eq!(
            (br.status, br.text.as_str()),
            (StatusCode::OK, "as brotli"),
            "{uri}"
        );
        assert_eq!(br.headers[header::CONTENT_ENCODING], "br");
        let vary: Vec<_> = br.headers.get_all(header::VARY).iter().collect();
        assert!(
            vary.iter().any(|v| *v == "accept-encoding"),
            "{uri}: {vary:?}"
        );

        let gz = get(uri, Some("gzip")).await;
        assert_eq!(gz.text, "as gzip", "{uri}");
        assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");

        let plain = get(uri, None).await;
        assert_eq!(plain.text, "plain", "{uri}");
        assert_eq!(plain.headers.get(header::CONTENT_ENCODING), None);
        assert!(
            plain.headers.get(header::VARY).is_some(),
            "{uri}: caches must keep them apart"
        );
    }
}

#[tokio::test]
async fn api_answers_from_a_kilobyte_are_compressed_as_the_client_accepts() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let get = |uri: &'static str, accept: Option<&'static str>| {
        let dir = dir.path().to_path_buf();
        async move {
            let response = get_accepting(&dir, uri, accept).await;
            let headers = response.headers().clone();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("body reads")
                .to_bytes();
            (headers, bytes)
        }
    };
    // The OpenAPI description is large; plain, it is the JSON itself.
    let (headers, plain) = get("/api/v1/openapi.json", None).await;
    assert_eq!(headers.get(header::CONTENT_ENCODING), None);
    let spec: Value = serde_json::from_slice(&plain).expect("JSON");

    let (headers, zipped) = get("/api/v1/openapi.json", Some("gzip")).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(
        zipped.len() * 4 < plain.len(),
        "{} of {} bytes",
        zipped.len(),
        plain.len()
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut text)
        .expect("gzip");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("JSON"), spec);

    let (headers, _) = get("/api/v1/openapi.json", Some("br;q=1.0, gzip;q=0.5")).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "br");

    // A small answer (an error envelope) is not worth it.
    let (headers, body) = get("/api/v1/me", Some("gzip, br")).await;
    assert_eq!(headers.get(header::CONTENT_ENCODING), None);
    assert!(body.len() < 1024);
}
