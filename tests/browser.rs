//! Console components in a real browser (headless Chromium through
//! wasm-bindgen-test-runner): the core's validation running as wasm.
#![cfg(target_arch = "wasm32")]

use leptos::{prelude::*, wasm_bindgen::JsCast};
use setpoint_console::pages::{Editor, STARTER};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Event, HtmlElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("a document")
}

/// Mounts `view` into a fresh container and returns the container.
fn mount<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> HtmlElement {
    let container: HtmlElement = document()
        .create_element("div")
        .expect("div")
        .unchecked_into();
    document()
        .body()
        .expect("body")
        .append_child(&container)
        .expect("append");
    mount_to(container.clone(), view).forget();
    container
}

async fn tick() {
    gloo_timers::future::TimeoutFuture::new(20).await;
}

fn type_into(container: &HtmlElement, text: &str) {
    let area: HtmlTextAreaElement = container
        .query_selector("#document")
        .expect("query")
        .expect("the editor's textarea")
        .unchecked_into();
    area.set_value(text);
    area.dispatch_event(&Event::new("input").expect("event"))
        .expect("dispatch");
}

fn text_of(container: &HtmlElement, selector: &str) -> String {
    container
        .query_selector(selector)
        .expect("query")
        .map(|e| e.text_content().unwrap_or_default())
        .unwrap_or_default()
}

fn problem_paths(container: &HtmlElement) -> Vec<String> {
    let items = container
        .query_selector_all(".problems__path")
        .expect("query");
    (0..items.length())
        .filter_map(|i| items.item(i).and_then(|n| n.text_content()))
        .collect()
}

#[wasm_bindgen_test]
async fn the_starter_document_is_valid() {
    let container = mount(Editor);
    tick().await;
    assert!(text_of(&container, "#document-status").starts_with("Valid: checkout"));
    assert!(problem_paths(&container).is_empty());
}

#[wasm_bindgen_test]
async fn errors_appear_at_their_field_path_and_clear_when_fixed() {
    let container = mount(Editor);
    tick().await;
    let broken = STARTER.replace("\"throttle.rps\": 2000", "\"throttle.rps\": 0");
    assert_ne!(broken, STARTER, "the edit applies to the starter");
    type_into(&container, &broken);
    tick().await;
    assert_eq!(text_of(&container, "#document-status"), "1 problem");
    assert_eq!(
        problem_paths(&container),
        vec![r#"values.prod["throttle.rps"]"#]
    );
    assert!(text_of(&container, ".problems__message").contains("below the minimum 1"));
    let button: HtmlElement = container
        .query_selector(".button--primary")
        .expect("query")
        .expect("the check button")
        .unchecked_into();
    assert!(
        button.has_attribute("disabled"),
        "an invalid document cannot be sent"
    );

    type_into(&container, STARTER);
    tick().await;
    assert!(text_of(&container, "#document-status").starts_with("Valid"));
    assert!(problem_paths(&container).is_empty());
    assert!(!button.has_attribute("disabled"));
}

#[wasm_bindgen_test]
async fn syntax_errors_are_reported_not_panicked_on() {
    let container = mount(Editor);
    tick().await;
    type_into(&container, "{\"service\": ");
    tick().await;
    assert_eq!(text_of(&container, "#document-status"), "1 problem");
    assert_eq!(text_of(&container, ".problems__code"), "json_syntax");
}

#[wasm_bindgen_test]
async fn values_are_shown_as_text_never_as_markup() {
    let container = mount(Editor);
    tick().await;
    let hostile = STARTER.replace("payments@example.com", "<img src=x onerror=alert(1)>@x");
    type_into(&container, &hostile);
    tick().await;
    assert!(container.query_selector("img").expect("query").is_none());
    assert!(
        container
            .text_content()
            .unwrap_or_default()
            .contains("<img src=x onerror=alert(1)>@x")
    );
}
