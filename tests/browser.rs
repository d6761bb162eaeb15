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

/// A flag with prod's default split 10 / 90 and no rules.
fn split_flag() -> setpoint_core::Flag {
    serde_json::from_value(serde_json::json!({
        "variants": {"on": true, "off": false},
        "off": "off",
        "environments": {"prod": {"enabled": true, "default": {"split": {"weights": [
            {"variant": "on", "weight": 10}, {"variant": "off", "weight": 90}
        ]}}}}
    }))
    .expect("a flag")
}

fn set_input(container: &HtmlElement, selector: &str, value: &str, event: &str) {
    let input: web_sys::HtmlInputElement = container
        .query_selector(selector)
        .expect("query")
        .unwrap_or_else(|| panic!("{selector} is there"))
        .unchecked_into();
    input.set_value(value);
    input
        .dispatch_event(&Event::new(event).expect("event"))
        .expect("dispatch");
}

#[wasm_bindgen_test]
async fn the_split_editor_sums_as_you_edit_and_flags_a_wrong_total() {
    use setpoint_console::pages::flags::serve::{ServeEditor, ServeSlot};
    let draft = RwSignal::new(split_flag());
    let env = StoredValue::new("prod".to_string());
    let container = mount(move || {
        view! { <ServeEditor draft=draft env=env which=ServeSlot::Default editable=true /> }
    });
    tick().await;
    assert_eq!(text_of(&container, ".weights__sum"), "Sum: 100 of 100");
    set_input(&container, "#split-on", "50", "change");
    tick().await;
    assert_eq!(text_of(&container, ".weights__sum"), "Sum: 140 of 100");
    let sum = container
        .query_selector(".weights__sum")
        .expect("query")
        .expect("sum");
    assert!(
        sum.class_name().contains("status--error"),
        "a wrong total is an error"
    );
    set_input(&container, "#split-off", "50", "change");
    tick().await;
    assert_eq!(text_of(&container, ".weights__sum"), "Sum: 100 of 100");
    let weights = draft.with_untracked(|f| match &f.environments["prod"].default {
        setpoint_core::Serve::Split(split) => {
            split.weights.iter().map(|w| w.weight).collect::<Vec<_>>()
        }
        setpoint_core::Serve::Variant(_) => Vec::new(),
    });
    assert_eq!(weights, [50, 50], "the draft holds what was typed");
}

#[wasm_bindgen_test]
async fn the_simulator_evaluates_the_draft_and_follows_its_changes() {
    use setpoint_console::pages::flags::Simulator;
    let draft = RwSignal::new(split_flag());
    let (key, env) = (
        StoredValue::new("f".to_string()),
        StoredValue::new("prod".to_string()),
    );
    let container = mount(move || view! { <Simulator draft=draft key=key env=env /> });
    tick().await;
    let share = |container: &HtmlElement| {
        text_of(container, r#"tr[data-variant="on"] td"#)
            .trim_end_matches(" %")
            .parse::<f64>()
            .expect("a percentage")
    };
    let before = share(&container);
    assert!(
        (6.0..=14.0).contains(&before),
        "about 10 % on, got {before}"
    );
    assert!(text_of(&container, ".simulator__result").contains("reason SPLIT"));

    draft.update(|f| {
        if let Some(t) = f.environments.get_mut("prod") {
            t.rules.push(setpoint_core::Rule {
                name: "eu".into(),
                when: vec![setpoint_core::Condition {
                    attribute: "country".into(),
                    op: setpoint_core::Op::Eq,
                    value: Some(serde_json::json!("DE")),
                    values: None,
                }],
                serve: setpoint_core::Serve::Variant("on".into()),
            });
        }
    });
    let area: HtmlTextAreaElement = container
        .query_selector("#simulator-context")
        .expect("query")
        .expect("context")
        .unchecked_into();
    area.set_value(r#"{"targetingKey": "u", "country": "DE"}"#);
    area.dispatch_event(&Event::new("input").expect("event"))
        .expect("dispatch");
    tick().await;
    let result = text_of(&container, ".simulator__result");
    assert!(
        result.contains("variant on") && result.contains("rule 1"),
        "{result}"
    );
    area.set_value("{not json");
    area.dispatch_event(&Event::new("input").expect("event"))
        .expect("dispatch");
    tick().await;
    assert!(text_of(&container, ".simulator__result").starts_with("not JSON"));
}

#[wasm_bindgen_test]
async fn the_rule_builder_edits_the_draft_in_place() {
    use setpoint_console::pages::flags::rules::RuleBuilder;
    let draft = RwSignal::new(split_flag());
    let env = StoredValue::new("prod".to_string());
    let container = mount(move || view! { <RuleBuilder draft=draft env=env editable=true /> });
    tick().await;
    let add: HtmlElement = container
        .query_selector("button")
        .expect("query")
        .expect("Add rule")
        .unchecked_into();
    add.click();
    tick().await;
    let attribute = r#"input[aria-label="Attribute of rule 1 condition 1"]"#;
    let field_before = container
        .query_selector(attribute)
        .expect("query")
        .expect("field");
    set_input(&container, attribute, "plan", "change");
    set_input(
        &container,
        r#"input[aria-label="Value of rule 1 condition 1"]"#,
        "pro",
        "change",
    );
    tick().await;
    let field_after = container
        .query_selector(attribute)
        .expect("query")
        .expect("field");
    assert!(
        field_before.is_same_node(Some(&field_after)),
        "editing does not rebuild the field"
    );
    let rule = draft.with_untracked(|f| f.environments["prod"].rules[0].clone());
    assert_eq!(rule.when[0].attribute, "plan");
    assert_eq!(rule.when[0].value, Some(serde_json::json!("pro")));
}

/// Finds a button by its text.
fn button(container: &HtmlElement, text: &str) -> HtmlElement {
    let buttons = container.query_selector_all("button").expect("query");
    (0..buttons.length())
        .filter_map(|i| buttons.item(i))
        .map(JsCast::unchecked_into::<HtmlElement>)
        .find(|b| b.text_content().is_some_and(|t| t.trim() == text))
        .unwrap_or_else(|| panic!("a button {text:?}"))
}

#[wasm_bindgen_test]
async fn a_rule_serves_a_split_edited_like_the_default() {
    use setpoint_console::pages::flags::serve::{ServeEditor, ServeSlot};
    use setpoint_core::Serve;
    let mut flag = split_flag();
    let prod = flag.environments.get_mut("prod").expect("prod");
    prod.rules
        .push(setpoint_console::pages::flags::rules::new_rule("on"));
    let draft = RwSignal::new(flag);
    let env = StoredValue::new("prod".to_string());
    let container = mount(move || {
        view! { <ServeEditor draft=draft env=env which=ServeSlot::Rule(0) editable=true /> }
    });
    tick().await;
    button(&container, "Split between variants").click();
    tick().await;
    // Everyone the rule matched keeps "on" until the shares are changed.
    assert_eq!(
        text_of(&container, ".weights__sum"),
        "Rule 1 split: 100 of 100"
    );
    set_input(&container, "#rule-0-split-on", "30", "change");
    tick().await;
    assert_eq!(
        text_of(&container, ".weights__sum"),
        "Rule 1 split: 30 of 100"
    );
    set_input(&container, "#rule-0-split-off", "70", "change");
    set_input(&container, "#rule-0-bucket-by", " userId ", "change");
    tick().await;
    let served = draft.with_untracked(|f| f.environments["prod"].rules[0].serve.clone());
    let Serve::Split(split) = served else {
        panic!("the rule serves a split, not {served:?}");
    };
    let weights: Vec<_> = split
        .weights
        .iter()
        .map(|w| (w.variant.as_str(), w.weight))
        .collect();
    assert_eq!(weights, [("off", 70), ("on", 30)]);
    assert_eq!(split.bucket_by.as_deref(), Some("userId"));
    let default = draft.with_untracked(|f| f.environments["prod"].default.clone());
    assert!(
        matches!(&default, Serve::Split(s) if s.weights[0].weight == 10),
        "the default is untouched: {default:?}"
    );
    button(&container, "Serve only off").click();
    tick().await;
    assert!(draft.with_untracked(|f| matches!(
        &f.environments["prod"].rules[0].serve,
        Serve::Variant(v) if v == "off"
    )));
}
