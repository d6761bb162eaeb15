//! OpenFeature's own Rust SDK (`open-feature`) with its OFREP provider
//! (`open-feature-ofrep`) against the real `setpoint serve`: every value
//! type, targeting, a split, a missing flag, a type mismatch, a disabled
//! flag, and a change made through the API.
//!
//! The provider reports every success with reason `STATIC` and every `400`
//! as `INVALID_CONTEXT` whatever the server said: those are its choices,
//! so this test asserts values, variants and error kinds, and
//! `tests/ofrep.rs` asserts the reasons and codes on the wire.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::parts::Central;

use open_feature::{
    EvaluationContext, EvaluationErrorCode, OpenFeature, StructValue, Value as FeatureValue,
};
use open_feature_ofrep::{OfrepOptions, OfrepProvider};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

fn banner(default: &str) -> Value {
    json!({
        "variants": {"hello": "Hello", "hallo": "Hallo", "welcome": "Welcome"},
        "off": "hello",
        "environments": {"prod": {"enabled": true, "default": {"variant": default}, "rules": [
            {"when": [{"attribute": "country", "op": "in", "values": ["NL", "BE"]}], "serve": {"variant": "hallo"}}
        ]}}
    })
}

/// The demo's 25 % split of Benelux: sticky per user, both sides served.
async fn assert_split(client: &open_feature::Client) {
    let mut sides = BTreeMap::new();
    for i in 0..60 {
        let user = context(&format!("user-{i}"), &[("country", "NL")]);
        let first = client
            .get_bool_value("new-checkout-flow", Some(&user), None)
            .await
            .expect("evaluated");
        let again = client
            .get_bool_value("new-checkout-flow", Some(&user), None)
            .await
            .expect("evaluated");
        assert_eq!(first, again, "user-{i} stays in their bucket");
        *sides.entry(first).or_insert(0) += 1;
    }
    assert_eq!(sides.len(), 2, "both variants served: {sides:?}");
}

fn context(targeting_key: &str, fields: &[(&str, &str)]) -> EvaluationContext {
    fields.iter().fold(
        EvaluationContext::default().with_targeting_key(targeting_key),
        |context, (name, value)| context.with_custom_field(*name, *value),
    )
}

/// The real server with the demo data, a string, an integer, a float,
/// an object and a disabled flag added to `checkout`, and an OpenFeature
/// client whose OFREP provider holds a token for `checkout` in `prod`.
async fn start() -> (Central, open_feature::Client) {
    let mut server = Central::new();
    let app = server.token(
        "of-checkout-prod",
        &[
            "--role",
            "viewer",
            "--services",
            "checkout",
            "--environment",
            "prod",
        ],
    );
    server.restart(&["--demo"]).await;
    server
        .put_flag("checkout", "banner-text", banner("hello"))
        .await;
    server
        .put_flag(
            "checkout",
            "max-items",
            json!({"variants": {"few": 10, "many": 50}, "off": "few",
                   "environments": {"prod": {"enabled": true, "default": {"variant": "many"}}}}),
        )
        .await;
    server
        .put_flag(
            "checkout",
            "sample-rate",
            json!({"variants": {"low": 0.25, "high": 0.75}, "off": "low",
                   "environments": {"prod": {"enabled": true, "default": {"variant": "low"}}}}),
        )
        .await;
    server
        .put_flag(
            "checkout",
            "theme",
            json!({"variants": {"dark": {"background": "#000"}, "light": {"background": "#fff"}}, "off": "light",
                   "environments": {"prod": {"enabled": true, "default": {"variant": "dark"}}}}),
        )
        .await;
    server
        .put_flag(
            "checkout",
            "legacy-search",
            json!({"variants": {"on": true, "off": false}, "off": "off",
                   "environments": {"prod": {"enabled": false, "default": {"variant": "on"}}}}),
        )
        .await;

    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {app}")).expect("header"),
    );
    let provider = OfrepProvider::new(OfrepOptions {
        base_url: server.url(),
        headers,
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await
    .expect("provider");
    let mut api = OpenFeature::singleton_mut().await;
    api.set_provider(provider).await;
    (server, api.create_client())
}

#[tokio::test]
async fn open_feature_s_rust_provider_evaluates_against_the_real_server() {
    let (server, client) = start().await;

    // Targeting: the demo's `new-checkout-flow` serves staff `on`.
    let staff = client
        .get_bool_details(
            "new-checkout-flow",
            Some(&context("u1", &[("email", "ann@example.com")])),
            None,
        )
        .await
        .expect("evaluated");
    assert!(staff.value);
    assert_eq!(staff.variant.as_deref(), Some("on"));
    let guest = client
        .get_bool_value("new-checkout-flow", Some(&context("u2", &[])), None)
        .await;
    assert_eq!(guest.ok(), Some(false));

    assert_split(&client).await;

    let dutch = client
        .get_string_value(
            "banner-text",
            Some(&context("u3", &[("country", "NL")])),
            None,
        )
        .await;
    assert_eq!(dutch.ok().as_deref(), Some("Hallo"));
    let items = client
        .get_int_value("max-items", Some(&context("u4", &[])), None)
        .await;
    assert_eq!(items.ok(), Some(50));
    let rate = client
        .get_float_value("sample-rate", Some(&context("u4", &[])), None)
        .await;
    assert_eq!(rate.ok(), Some(0.25));
    let theme = client
        .get_struct_value::<StructValue>("theme", Some(&context("u4", &[])), None)
        .await
        .expect("evaluated");
    assert!(
        matches!(theme.fields.get("background"), Some(FeatureValue::String(s)) if s == "#000"),
        "{theme:?}"
    );

    let missing = client
        .get_bool_details("no-such-flag", Some(&context("u5", &[])), None)
        .await
        .expect_err("no such flag");
    assert_eq!(missing.code, EvaluationErrorCode::FlagNotFound);
    let mismatch = client
        .get_int_value("banner-text", Some(&context("u6", &[])), None)
        .await;
    assert!(mismatch.is_err(), "a string is no integer: {mismatch:?}");
    assert_eq!(mismatch.unwrap_or(7), 7, "the caller's default stands");

    let disabled = client
        .get_bool_details("legacy-search", Some(&context("u7", &[])), None)
        .await
        .expect("evaluated");
    assert_eq!(
        (disabled.value, disabled.variant.as_deref()),
        (false, Some("off"))
    );

    // A change through the API is the next answer.
    server
        .put_flag("checkout", "banner-text", banner("welcome"))
        .await;
    let changed = client
        .get_string_value(
            "banner-text",
            Some(&context("u3", &[("country", "FR")])),
            None,
        )
        .await;
    assert_eq!(changed.ok().as_deref(), Some("Welcome"));
}
