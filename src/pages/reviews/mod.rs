//! Change requests: edits held for review, or for a time. Those the user
//! may approve come first; each shows its diff, its reviews and the steps
//! the user may take — approve, reject or comment as a reviewer; withdraw
//! or rebase as its author. The server decides who may: a button it
//! refuses shows its reason, not a guess of the console's.
//!
//! Follows the change stream, so a request opened, reviewed or applied
//! elsewhere shows without a reload. Below the requests, admins of every
//! service set each environment's policy.

mod policies;

use leptos::{prelude::*, task::spawn_local};

use crate::{
    Route,
    api::{self, ChangeRequest, RequestState, RequestStep, ReviewVerdict as Verdict},
    components::{DiffList, Failed, Outcome, OutcomeLine},
    live,
    session::use_session,
};

/// Which requests the page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    /// Open requests the user may approve now.
    AwaitingMe,
    /// Open or approved, not yet applied: reviews and schedules.
    Pending,
    /// Everything, newest first.
    All,
}

impl Show {
    const ALL: [Self; 3] = [Self::AwaitingMe, Self::Pending, Self::All];

    fn value(self) -> &'static str {
        match self {
            Self::AwaitingMe => "awaiting_me",
            Self::Pending => "pending",
            Self::All => "all",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::AwaitingMe => "Awaiting my review",
            Self::Pending => "All pending",
            Self::All => "All, including closed",
        }
    }

    fn filter(self) -> api::RequestFilter {
        match self {
            Self::AwaitingMe => api::RequestFilter {
                awaiting_me: Some(true),
                ..api::RequestFilter::default()
            },
            Self::Pending => api::RequestFilter {
                state: Some("pending".into()),
                ..api::RequestFilter::default()
            },
            Self::All => api::RequestFilter::default(),
        }
    }
}

/// The change-requests page.
#[component]
pub fn Reviews() -> impl IntoView {
    let session = use_session();
    let show = RwSignal::new(Show::AwaitingMe);
    let reload = RwSignal::new(0u32);
    // Here, not in a card: a step reloads the list, which rebuilds them.
    let notice = RwSignal::new(None::<Result<String, String>>);
    let latest = live::follow_all();
    let requests = LocalResource::new(move || {
        reload.track();
        // Every step of a request is a change-log entry, so the stream says
        // when to look again.
        latest.with(|c| c.as_ref().map(|c| c.kind.is_change_request()));
        let filter = show.get().filter();
        async move {
            api::change_requests(&filter)
                .await
                .map_err(|e| session.check(e))
        }
    });
    view! {
        <section class="page reviews">
            <h1 class="page__title">"Changes awaiting review"</h1>
            <p class="page__lede">
                "Where an environment's policy asks for approvals, writes by non-admins wait here; scheduled changes wait for their time. Each applies as it was reviewed, on the revision it was based on."
            </p>
            <div class="toolbar">
                <div class="field">
                    <label class="field__label" for="reviews-show">"Show"</label>
                    <select
                        id="reviews-show"
                        class="field__select"
                        on:change=move |ev| {
                            let value = event_target_value(&ev);
                            if let Some(choice) = Show::ALL.into_iter().find(|s| s.value() == value) {
                                show.set(choice);
                            }
                        }
                    >
                        {Show::ALL
                            .into_iter()
                            .map(|s| view! { <option value=s.value() selected=move || show.get() == s>{s.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
            </div>
            <OutcomeLine outcome=notice />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || requests.get().map(|answer| match answer {
                    Err(e) => view! { <Failed error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted">{if show.get() == Show::AwaitingMe { "Nothing awaits your review." } else { "No change requests." }}</p>
                    }
                    .into_any(),
                    Ok(list) => list
                        .into_iter()
                        .map(|request| view! { <RequestCard request=request reload=reload notice=notice /> })
                        .collect_view()
                        .into_any(),
                })}
            </Transition>
            <policies::Policies />
        </section>
    }
}

/// One request: what it changes, who said what, and the user's steps.
#[component]
fn RequestCard(
    request: ChangeRequest,
    reload: RwSignal<u32>,
    /// What the user's last step came to.
    notice: Outcome,
) -> impl IntoView {
    let session = use_session();
    let me = session.me().map(|m| m.actor).unwrap_or_default();
    let id = request.id;
    let is_author = request.author == me;
    let pending = request.state.is_pending();
    let stale = request
        .outcome
        .as_deref()
        .is_some_and(|o| o.starts_with("stale"));
    let text = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let act = move |step: RequestStep| {
        busy.set(true);
        spawn_local(async move {
            let outcome = api::step_request(id, &step).await;
            notice.set(Some(match outcome {
                Ok(after) => Ok(format!("Change request #{id} is {}.", after.state.as_str())),
                Err(e) => Err(session.check(e).message),
            }));
            busy.set(false);
            text.set(String::new());
            reload.update(|n| *n += 1);
        });
    };
    let review = move |verdict: Verdict| act(RequestStep::Review(verdict, text.get_untracked()));
    let title = format!(
        "#{id} {} in {}",
        request.service,
        request.environments.join(", ")
    );
    let diff = request
        .diff
        .iter()
        .map(|e| (e.path.to_string(), e.before.clone(), e.after.clone()))
        .collect::<Vec<_>>();
    let approvals = format!(
        "{} of {} approval(s)",
        request.approvals(),
        request.approvals_required
    );
    view! {
        <article class="card request" aria-label=format!("Change request #{id}") data-state=request.state.as_str()>
            <h2 class="card__title">
                <a href=Route::Service(request.service.clone()).href()>{title}</a>
                " "
                <span class="badge">{request.state.as_str()}</span>
            </h2>
            <p class="muted">
                {format!("By {} ({}) at {} · base revision {} · {approvals}", request.author, request.author_role.as_str(), request.opened_at, request.base)}
            </p>
            <p class="request__reason">{request.reason.clone()}</p>
            {request.apply_at.clone().map(|at| view! { <p class="status status--warn">{format!("Scheduled for {at}.")}</p> })}
            {request.outcome.clone().map(|o| view! { <p class="status status--warn">{format!("Not applied: {o}")}</p> })}
            {request.applied_revision.map(|r| view! { <p class="status status--ok">{format!("Applied as revision {r}.")}</p> })}
            <DiffList entries=Signal::derive(move || diff.clone()) />
            <ul class="request__reviews">
                {request
                    .reviews
                    .iter()
                    .map(|r| {
                        let verdict = match r.verdict {
                            Verdict::Approve => "approved",
                            Verdict::Reject => "rejected",
                            Verdict::Comment => "commented",
                        };
                        let words = if r.text.is_empty() { String::new() } else { format!(": {}", r.text) };
                        view! { <li>{format!("{} {verdict} at {}{words}", r.by, r.at)}</li> }
                    })
                    .collect_view()}
            </ul>
            <div class="field">
                <label class="field__label" for=format!("review-text-{id}")>"Comment"</label>
                <textarea
                    id=format!("review-text-{id}")
                    class="field__input"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                ></textarea>
            </div>
            <div class="config__actions">
                {(pending && !is_author && request.state == RequestState::Open).then(|| view! {
                    <button type="button" class="button button--primary" disabled=move || busy.get() on:click=move |_| review(Verdict::Approve)>"Approve"</button>
                    <button type="button" class="button" disabled=move || busy.get() on:click=move |_| review(Verdict::Reject)>"Reject"</button>
                })}
                <button
                    type="button"
                    class="button"
                    disabled=move || busy.get() || text.with(|t| t.trim().is_empty())
                    on:click=move |_| review(Verdict::Comment)
                >
                    "Comment"
                </button>
                {(pending && is_author && stale).then(|| view! {
                    <button type="button" class="button button--primary" disabled=move || busy.get() on:click=move |_| act(RequestStep::Rebase)>"Rebase on the current revision"</button>
                })}
                {(pending && is_author).then(|| view! {
                    <button type="button" class="button button--quiet" disabled=move || busy.get() on:click=move |_| act(RequestStep::Withdraw)>"Withdraw"</button>
                })}
                {(request.state == RequestState::Approved && request.apply_at.is_none() && !stale).then(|| view! {
                    <button type="button" class="button" disabled=move || busy.get() on:click=move |_| act(RequestStep::Apply)>"Try to apply again"</button>
                })}
            </div>
        </article>
    }
}
