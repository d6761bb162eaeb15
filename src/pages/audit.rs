//! The audit log: every change with its actor, reason and diff; filters;
//! "roll back to before this" with a preview for those allowed; CSV export.
//! Read-only auditors (viewers) can use all of it but the rollback.

use leptos::{prelude::*, task::spawn_local};
use serde_json::Value;
use setpoint_core::{Change, ChangeKind, diff};

use crate::{
    Route,
    api::{self, Role},
    components::{DiffList, DiffRow, TextField},
    route::encode,
    session::use_session,
};

/// The kinds offered in the filter: all of them.
const KINDS: [ChangeKind; ChangeKind::ALL.len()] = ChangeKind::ALL;

/// The change log as CSV (RFC 4180: fields quoted, quotes doubled).
pub fn to_csv(changes: &[Change]) -> String {
    // A spreadsheet runs a cell starting with = + - @ (or a tab or carriage
    // return before one) as a formula: a reason like `=HYPERLINK(…)` must
    // open as text. A leading apostrophe is the convention that says so.
    let field = |text: &str| {
        let text = text.replace('"', "\"\"");
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("\"'{text}\"")
        } else {
            format!("\"{text}\"")
        }
    };
    let json = |value: Option<&Value>| value.map(Value::to_string).unwrap_or_default();
    let mut out =
        String::from("revision,at,actor,kind,service,environment,item,reason,before,after\r\n");
    for c in changes {
        let row = [
            c.revision.to_string(),
            c.at.clone(),
            c.actor.clone(),
            c.kind.as_str().to_string(),
            c.service.clone().unwrap_or_default(),
            c.environment.clone().unwrap_or_default(),
            c.item.clone().unwrap_or_default(),
            c.reason.clone(),
            json(c.before.as_ref()),
            json(c.after.as_ref()),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// `YYYY-MM-DD` from a date input as the start of that day in UTC.
fn day_start(date: &str) -> String {
    if date.is_empty() {
        String::new()
    } else {
        format!("{date}T00:00:00Z")
    }
}

/// The day after `YYYY-MM-DD`, so that "until" includes the whole day.
fn day_end(date: &str) -> String {
    setpoint_core::time::parse_timestamp(&format!("{date}T00:00:00Z"))
        .map(|ms| setpoint_core::time::format_timestamp(ms + 86_400_000))
        .unwrap_or_default()
}

/// The audit filters, as typed.
#[derive(Debug, Clone, Copy, Default)]
struct Filters {
    service: RwSignal<String>,
    environment: RwSignal<String>,
    actor: RwSignal<String>,
    kind: RwSignal<String>,
    /// `YYYY-MM-DD`, from a date input.
    since: RwSignal<String>,
    /// `YYYY-MM-DD`, included.
    until: RwSignal<String>,
}

impl Filters {
    /// What to read of the log, continuing after `cursor` if given.
    fn filter(self, cursor: Option<String>) -> api::ChangeFilter {
        let given = |text: String| (!text.is_empty()).then_some(text);
        api::ChangeFilter {
            service: given(self.service.get_untracked()),
            environment: given(self.environment.get_untracked()),
            actor: given(self.actor.get_untracked()),
            kind: ChangeKind::parse(&self.kind.get_untracked()),
            since: given(day_start(&self.since.get_untracked())),
            until: given(self.until.get_untracked()).map(|until| day_end(&until)),
            cursor,
            ..api::ChangeFilter::default()
        }
    }
}

/// The filter form and the CSV export link.
#[component]
fn FilterForm(
    filters: Filters,
    on_apply: impl Fn() + Copy + Send + Sync + 'static,
    csv_href: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <form
            class="toolbar"
            aria-label="Filter changes"
            on:submit=move |ev| {
                ev.prevent_default();
                on_apply();
            }
        >
            <TextField id="audit-service" label="Service" value=filters.service />
            <TextField id="audit-environment" label="Environment" value=filters.environment />
            <TextField id="audit-actor" label="Actor" value=filters.actor />
            <div class="field">
                <label class="field__label" for="audit-kind">"Kind"</label>
                <select id="audit-kind" class="field__select" on:change=move |ev| filters.kind.set(event_target_value(&ev))>
                    <option value="">"Any kind"</option>
                    {KINDS
                        .iter()
                        .map(|k| view! { <option value=k.as_str()>{k.as_str()}</option> })
                        .collect_view()}
                </select>
            </div>
            <TextField id="audit-since" label="From" value=filters.since kind="date" />
            <TextField id="audit-until" label="Until" value=filters.until kind="date" />
            <div class="toolbar__actions">
                <button class="button button--primary" type="submit">"Apply"</button>
                <a class="button" href=csv_href download="setpoint-changes.csv">"Export CSV"</a>
            </div>
        </form>
    }
}

/// The audit page.
#[component]
pub fn Audit() -> impl IntoView {
    let session = use_session();
    let filters = Filters::default();
    let changes = RwSignal::new(Vec::<Change>::new());
    let cursor = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let loading = RwSignal::new(false);

    let load = move |more: bool| {
        let after = if more { cursor.get_untracked() } else { None };
        let filter = filters.filter(after);
        loading.set(true);
        spawn_local(async move {
            match api::changes(&filter).await {
                Ok(page) => {
                    error.set(None);
                    if more {
                        changes.update(|c| c.extend(page.changes));
                    } else {
                        changes.set(page.changes);
                    }
                    cursor.set(page.next_cursor);
                }
                Err(e) => error.set(Some(session.check(e).message)),
            }
            loading.set(false);
        });
    };
    load(false);

    let csv_href = move || {
        format!(
            "data:text/csv;charset=utf-8,{}",
            changes.with(|c| encode(&to_csv(c)))
        )
    };

    view! {
        <section class="page">
            <h1 class="page__title">{Route::Audit.label()}</h1>
            <FilterForm filters=filters on_apply=move || load(false) csv_href=csv_href />
            <p class="status status--error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get().unwrap_or_default()}
            </p>
            <p class="muted" aria-live="polite">
                {move || if loading.get() { "Loading…".to_string() } else { format!("{} change(s)", changes.with(Vec::len)) }}
            </p>
            <ol class="changes" aria-label="Changes">
                <For
                    each=move || changes.get()
                    key=|c| c.revision
                    children=move |change| view! { <ChangeEntry change=change on_rolled_back=move || load(false) /> }
                />
            </ol>
            <Show when=move || cursor.with(Option::is_some)>
                <button class="button" on:click=move |_| load(true)>"Older changes"</button>
            </Show>
        </section>
    }
}

/// One change: a summary line, expandable to its diff and the rollback.
#[component]
fn ChangeEntry(
    change: Change,
    on_rolled_back: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let open = RwSignal::new(false);
    let entries: Vec<DiffRow> = diff(
        change.before.as_ref().unwrap_or(&Value::Null),
        change.after.as_ref().unwrap_or(&Value::Null),
    )
    .into_iter()
    .map(|e| (e.path.to_string(), e.before, e.after))
    .collect();
    let target = change
        .item
        .as_ref()
        .map(|item| format!(" · {item}"))
        .unwrap_or_default();
    let scope = format!(
        "{}{}{}",
        change.service.clone().unwrap_or_else(|| "—".into()),
        change
            .environment
            .as_ref()
            .map(|e| format!(" / {e}"))
            .unwrap_or_default(),
        target
    );
    // An environment's values or targeting roll back with `editor`; the
    // whole service needs `admin`.
    // Breaker transitions are not part of the document a rollback restores.
    let rollback = change
        .service
        .clone()
        .filter(|_| change.revision > 1 && change.kind != ChangeKind::BreakerTransition)
        .filter(|s| {
            let needed = if change.environment.is_some() {
                Role::Editor
            } else {
                Role::Admin
            };
            session.may(needed, s)
        });
    let details_id = format!("change-{}", change.revision);
    view! {
        <li class="changes__entry">
            <button
                class="changes__summary"
                aria-expanded=move || open.get().to_string()
                aria-controls=details_id.clone()
                on:click=move |_| open.update(|o| *o = !*o)
            >
                <span class="changes__revision">{format!("#{}", change.revision)}</span>
                <span class="badge">{change.kind.as_str()}</span>
                <span class="changes__scope">{scope}</span>
                <span class="changes__actor">{change.actor.clone()}</span>
                <time class="muted">{change.at.clone()}</time>
            </button>
            <div id=details_id class="changes__details" hidden=move || !open.get()>
                <p>{if change.reason.is_empty() { "No reason given.".to_string() } else { format!("Reason: {}", change.reason) }}</p>
                <DiffList entries=Signal::stored(entries) />
                {rollback.map(|service| view! {
                    <Rollback service=service environment=change.environment.clone() revision=change.revision on_done=on_rolled_back />
                })}
            </div>
        </li>
    }
}

/// "Roll back to before this": a dry run first, then the real one.
#[component]
fn Rollback(
    service: String,
    environment: Option<String>,
    revision: u64,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let preview = RwSignal::new(None::<(u64, Vec<DiffRow>)>);
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let args = StoredValue::new((service, environment));
    let to = revision - 1;
    // `None` previews; `Some(base)` confirms the preview computed at that
    // base, so a change landing in between is a conflict, never rolled
    // over unseen.
    let run = move |confirm: Option<u64>| {
        let (service, environment) = args.get_value();
        let why = reason.get_untracked();
        spawn_local(async move {
            match api::rollback(&service, to, environment.as_deref(), confirm, &why).await {
                Ok(outcome) if confirm.is_none() => {
                    error.set(None);
                    let lines = outcome
                        .diff
                        .into_iter()
                        .map(|l| (l.path.to_string(), l.before, l.after))
                        .collect();
                    preview.set(Some((outcome.base_revision, lines)));
                }
                Ok(_) => {
                    preview.set(None);
                    on_done();
                }
                // The preview is stale: drop it, so the next one shows what
                // rolling back would do now.
                Err(e) if e.is_conflict() => {
                    preview.set(None);
                    let now = e
                        .current
                        .as_ref()
                        .and_then(|current| current["revision"].as_u64())
                        .map(|revision| format!(" (it is now at revision {revision})"))
                        .unwrap_or_default();
                    error.set(Some(format!(
                        "The service changed since this preview{now}: preview again to see what rolling back does now."
                    )));
                }
                Err(e) => error.set(Some(session.check(e).message)),
            }
        });
    };
    view! {
        <div class="rollback">
            <Show
                when=move || preview.with(Option::is_some)
                fallback=move || view! {
                    <button class="button" on:click=move |_| run(None)>"Roll back to before this…"</button>
                }
            >
                <div class="card" role="region" aria-label="Rollback preview">
                    <h3 class="card__title">{format!("Roll back to revision {to}")}</h3>
                    <DiffList entries=Signal::derive(move || preview.get().map(|p| p.1).unwrap_or_default()) />
                    <div class="field">
                        <label class="field__label" for=format!("rollback-reason-{revision}")>"Reason"</label>
                        <input
                            id=format!("rollback-reason-{revision}")
                            class="field__input"
                            prop:value=move || reason.get()
                            on:input=move |ev| reason.set(event_target_value(&ev))
                        />
                    </div>
                    <div class="config__actions">
                        <button class="button button--primary" on:click=move |_| run(preview.with_untracked(|p| p.as_ref().map(|p| p.0)))>"Roll back"</button>
                        <button class="button" on:click=move |_| preview.set(None)>"Cancel"</button>
                    </div>
                </div>
            </Show>
            <p class="status status--error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get().unwrap_or_default()}
            </p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_text() {
        let change = Change {
            revision: 4,
            service: Some("search".into()),
            item: None,
            environment: None,
            actor: "@user:mallory".into(),
            at: "2026-11-22T06:00:00.000Z".into(),
            reason: "=HYPERLINK(\"http://evil\",\"x\")".into(),
            kind: ChangeKind::ValuesChanged,
            before: None,
            after: Some(json!(-1)),
        };
        let csv = to_csv(&[change]);
        let row = csv.split("\r\n").nth(1).expect("a row");
        assert_eq!(
            row,
            r#""4","2026-11-22T06:00:00.000Z","'@user:mallory","values_changed","search","","","'=HYPERLINK(""http://evil"",""x"")","","'-1""#
        );
    }

    #[test]
    fn csv_quotes_every_field_and_doubles_quotes() {
        let change = Change {
            revision: 3,
            service: Some("search".into()),
            item: None,
            environment: Some("dev".into()),
            actor: "user:ann".into(),
            at: "2026-11-22T06:00:00.000Z".into(),
            reason: "said \"now\", ok".into(),
            kind: ChangeKind::ValuesChanged,
            before: Some(json!({"a": 1})),
            after: None,
        };
        let csv = to_csv(&[change]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "revision,at,actor,kind,service,environment,item,reason,before,after"
        );
        assert_eq!(
            lines[1],
            r#""3","2026-11-22T06:00:00.000Z","user:ann","values_changed","search","dev","","said ""now"", ok","{""a"":1}","""#
        );
    }

    #[test]
    fn until_includes_the_whole_day() {
        assert_eq!(day_start("2026-11-22"), "2026-11-22T00:00:00Z");
        assert!(day_end("2026-11-22").starts_with("2026-11-23T00:00:00"));
        assert_eq!(day_start(""), "");
    }
}
