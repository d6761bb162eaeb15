//! Making and removing flags (editors): a new flag with an on and an off
//! variant, targeted nowhere yet; and deleting one, with a reason.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use serde_json::Value;
use setpoint_core::{FieldPath, Flag, Limits, validate::validate_flag};

use crate::{
    api,
    components::{Outcome, OutcomeLine, ReasonedButton, TextField},
    session::use_session,
};

/// A new boolean flag: `on` and `off`, serving `off` wherever it is not
/// targeted — everywhere, until someone adds targeting.
pub fn new_flag(description: &str) -> Flag {
    Flag {
        description: description.trim().to_owned(),
        variants: [
            ("off".to_owned(), Value::Bool(false)),
            ("on".to_owned(), Value::Bool(true)),
        ]
        .into_iter()
        .collect(),
        off: "off".into(),
        salt: None,
        environments: std::collections::BTreeMap::new(),
    }
}

/// The form for a new flag in `service`, saved at `revision`; `on_created`
/// gets its key.
#[component]
pub fn NewFlag(
    service: String,
    revision: u64,
    /// Keys already taken in the service.
    taken: Vec<String>,
    on_created: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let key = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let outcome: Outcome = RwSignal::new(None);
    let service = StoredValue::new(service);
    let taken = StoredValue::new(taken);
    // The core's own check of a flag and its key, before anything is sent.
    let problem = Memo::new(move |_| {
        let key = key.get();
        if key.is_empty() {
            return None;
        }
        if taken.with_value(|t| t.contains(&key)) {
            return Some(format!("{key} exists in this service"));
        }
        let path = FieldPath::root().key("flags").key(&key);
        validate_flag(&key, &new_flag(""), &path, &Limits::default())
            .first()
            .map(|v| v.kind.to_string())
    });
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (name, flag) = (key.get(), new_flag(&description.get()));
        spawn_local(async move {
            let why = format!("new flag {name}");
            let made =
                api::put_flag(&service.get_value(), &name, &flag, revision, &why, None).await;
            match made {
                Ok(_) => on_created(name),
                Err(e) => outcome.set(Some(Err(session.check(e).message))),
            }
        });
    };
    view! {
        <form class="card inline-form" aria-label="New flag" on:submit=create>
            <TextField id="new-flag-key" label="New flag key" value=key required=true />
            <TextField id="new-flag-description" label="What it gates" value=description />
            <button class="button" type="submit" disabled=move || key.with(String::is_empty) || problem.with(Option::is_some)>
                "Create flag"
            </button>
            <p class="field__errors" role="alert" hidden=move || problem.with(Option::is_none)>
                {move || problem.get()}
            </p>
        </form>
        <OutcomeLine outcome=outcome />
    }
}

/// Deletes the flag (editors), with a reason.
#[component]
pub fn DeleteFlag(
    service: String,
    key: String,
    revision: u64,
    on_deleted: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let at = StoredValue::new((service, key));
    let action = move |why: String| async move {
        let (service, key) = at.get_value();
        match api::delete_flag(&service, &key, revision, &why).await {
            Ok(_) => {
                on_deleted();
                Ok(())
            }
            Err(e) => Err(session.check(e).message),
        }
    };
    view! { <ReasonedButton id="delete-flag" label="Delete flag…" confirm="Delete" action=action /> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_flag_is_valid_and_serves_off_everywhere() {
        let flag = new_flag("  Fuzzy matching  ");
        let path = FieldPath::root().key("flags").key("typo-tolerance");
        assert_eq!(
            validate_flag("typo-tolerance", &flag, &path, &Limits::default()),
            []
        );
        assert_eq!(flag.description, "Fuzzy matching");
        assert!(flag.environments.is_empty(), "targeted nowhere");
        assert!(!validate_flag("bad key!", &flag, &path, &Limits::default()).is_empty());
    }
}
