//! People and machines, for admins of every service: users — create,
//! change role and services, reset a password, delete — and API tokens —
//! create with a role, services and one environment (the bearer string is
//! shown once, with a copy button), revoke. The server checks each step
//! again, logs it, and ends the sessions a change of role or password
//! leaves standing.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::{
    Route,
    api::{self, Role, TokenView, UserChange, UserView},
    components::{Failed, Outcome, OutcomeLine, TextField},
    session::use_session,
};

/// `checkout, payments` → those services; nothing → every service.
pub fn parse_services(text: &str) -> Option<Vec<String>> {
    let list: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!list.is_empty()).then_some(list)
}

fn shown(services: Option<&Vec<String>>) -> String {
    services.map_or_else(|| "all".into(), |list| list.join(", "))
}

/// The people and tokens page.
#[component]
pub fn People() -> impl IntoView {
    let session = use_session();
    let body = if session.is_global_admin() {
        view! {
            <p class="page__lede">
                "People who log in to the console, and the tokens machines use. Every change is in the audit log; a new role or password ends the person's sessions."
            </p>
            <Users />
            <Tokens />
        }
        .into_any()
    } else {
        view! { <p class="page__lede">"Only admins of every service manage people and tokens."</p> }
            .into_any()
    };
    view! {
        <section class="page">
            <h1 class="page__title">{Route::People.label()}</h1>
            {body}
        </section>
    }
}

/// A role picker over `roles`.
#[component]
fn RoleSelect(
    /// The input's id, for a label, or `None` with `label` as its name.
    #[prop(optional)]
    id: Option<&'static str>,
    /// The accessible name when there is no visible label.
    #[prop(optional, into)]
    label: Option<String>,
    /// The roles offered.
    roles: Vec<Role>,
    /// The chosen role.
    value: RwSignal<Role>,
    /// Whether it is read-only.
    #[prop(optional)]
    disabled: bool,
) -> impl IntoView {
    view! {
        <select
            id=id
            class="field__select"
            aria-label=label
            disabled=disabled
            on:change=move |ev| {
                if let Some(role) = Role::parse(&event_target_value(&ev)) {
                    value.set(role);
                }
            }
        >
            {roles.into_iter().map(|role| view! {
                <option value=role.as_str() selected=move || value.get() == role>{role.as_str()}</option>
            }).collect_view()}
        </select>
    }
}

fn person_roles() -> Vec<Role> {
    Role::ALL.into_iter().filter(|r| !r.is_machine()).collect()
}

/// Users: the list, each editable in place, and a form for a new one.
#[component]
fn Users() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0u32);
    let outcome: Outcome = RwSignal::new(None);
    let users = LocalResource::new(move || {
        reload.track();
        async move { api::users().await.map_err(|e| session.check(e)) }
    });
    let me = session.me().map(|m| m.name).unwrap_or_default();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let services = RwSignal::new(String::new());
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (who, secret, scope) = (name.get(), password.get(), parse_services(&services.get()));
        spawn_local(async move {
            let made =
                api::create_user(&who, &secret, role.get_untracked(), scope.as_deref()).await;
            outcome.set(Some(match made {
                Ok(user) => {
                    name.set(String::new());
                    password.set(String::new());
                    services.set(String::new());
                    reload.update(|n| *n += 1);
                    Ok(format!(
                        "User {} created as {}.",
                        user.username,
                        user.role.as_str()
                    ))
                }
                Err(e) => Err(session.check(e).message),
            }));
        });
    };
    view! {
        <h2 class="section__title">"Users"</h2>
        {move || match users.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
            Some(Ok(list)) => {
                let me = me.clone();
                view! {
                    <div class="table-wrap">
                        <table class="table" aria-label="Users">
                            <thead>
                                <tr><th>"User"</th><th>"Role"</th><th>"Services"</th><th>"Since"</th><th>"Actions"</th></tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|user| {
                                    let own = user.username == me;
                                    view! { <UserRow user=user own=own outcome=outcome reload=reload /> }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            }
        }}
        <OutcomeLine outcome=outcome />
        <form class="card inline-form" aria-label="New user" on:submit=create>
            <TextField id="new-user-name" label="User name" value=name required=true />
            <TextField id="new-user-password" label="Password (12 characters or more)" value=password kind="password" autocomplete="new-password" required=true />
            <div class="field">
                <label class="field__label" for="new-user-role">"Role"</label>
                <RoleSelect id="new-user-role" roles=person_roles() value=role />
            </div>
            <TextField id="new-user-services" label="Services (comma-separated; empty for all)" value=services />
            <button class="button button--primary" type="submit">"Create user"</button>
        </form>
    }
}

/// One user: role and services edited in place, a password reset, and
/// deletion asked twice. An admin cannot change or delete themselves.
#[component]
fn UserRow(user: UserView, own: bool, outcome: Outcome, reload: RwSignal<u32>) -> impl IntoView {
    let session = use_session();
    let name = StoredValue::new(user.username.clone());
    let saved = StoredValue::new((user.role, user.services.clone()));
    let role = RwSignal::new(user.role);
    let services = RwSignal::new(
        user.services
            .as_ref()
            .map(|s| s.join(", "))
            .unwrap_or_default(),
    );
    let password = RwSignal::new(String::new());
    let resetting = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let changed = move || {
        let now = (role.get(), parse_services(&services.get()));
        saved.with_value(|before| *before != now)
    };
    let apply = move |change: UserChange, done: String| {
        spawn_local(async move {
            let answer = api::update_user(&name.get_value(), &change).await;
            outcome.set(Some(match answer {
                Ok(_) => {
                    reload.update(|n| *n += 1);
                    Ok(done)
                }
                Err(e) => Err(session.check(e).message),
            }));
        });
    };
    let save = move |_| {
        let change = UserChange {
            role: Some(role.get_untracked()),
            services: Some(parse_services(&services.get_untracked())),
            password: None,
        };
        apply(
            change,
            format!(
                "{} is now {} for {}; their sessions ended.",
                name.get_value(),
                role.get_untracked().as_str(),
                shown(parse_services(&services.get_untracked()).as_ref())
            ),
        );
    };
    let reset = move |_| {
        let change = UserChange {
            password: Some(password.get_untracked()),
            ..UserChange::default()
        };
        password.set(String::new());
        resetting.set(false);
        apply(
            change,
            format!(
                "{}'s password is reset; their sessions ended.",
                name.get_value()
            ),
        );
    };
    let delete = move |_| {
        spawn_local(async move {
            let answer = api::delete_user(&name.get_value()).await;
            outcome.set(Some(match answer {
                Ok(()) => {
                    reload.update(|n| *n += 1);
                    Ok(format!("User {} deleted.", name.get_value()))
                }
                Err(e) => Err(session.check(e).message),
            }));
        });
    };
    let who = user.username.clone();
    view! {
        <tr data-user=user.username.clone()>
            <th scope="row">{user.username.clone()}{own.then_some(" (you)")}</th>
            <td><RoleSelect label=format!("Role of {who}") roles=person_roles() value=role disabled=own /></td>
            <td>
                <input
                    class="field__input"
                    aria-label=format!("Services of {who}")
                    placeholder="all"
                    disabled=own
                    prop:value=move || services.get()
                    on:input=move |ev| services.set(event_target_value(&ev))
                />
            </td>
            <td>{user.created_at.clone()}</td>
            <td class="people__actions">
                {(!own).then(|| view! {
                    <button type="button" class="button" disabled=move || !changed() on:click=save>"Save"</button>
                })}
                <button type="button" class="button button--quiet" on:click=move |_| resetting.update(|r| *r = !*r)>
                    "Reset password"
                </button>
                <span class="field--inline" hidden=move || !resetting.get()>
                    <input
                        class="field__input"
                        type="password"
                        autocomplete="new-password"
                        aria-label=format!("New password of {who}")
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                    <button type="button" class="button" disabled=move || password.with(String::is_empty) on:click=reset>
                        "Set password"
                    </button>
                </span>
                {(!own).then(|| view! {
                    <button type="button" class="button button--quiet" hidden=move || confirming.get() on:click=move |_| confirming.set(true)>
                        "Delete"
                    </button>
                    <button type="button" class="button" hidden=move || !confirming.get() on:click=delete>
                        {format!("Confirm: delete {}", user.username)}
                    </button>
                })}
            </td>
        </tr>
    }
}

/// Tokens: the list with revocation, and a form for a new one whose
/// bearer string is shown once.
#[component]
fn Tokens() -> impl IntoView {
    let session = use_session();
    let reload = RwSignal::new(0u32);
    let outcome: Outcome = RwSignal::new(None);
    let tokens = LocalResource::new(move || {
        reload.track();
        async move { api::tokens().await.map_err(|e| session.check(e)) }
    });
    let environments = LocalResource::new(move || async move {
        api::environments().await.map_err(|e| session.check(e))
    });
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let services = RwSignal::new(String::new());
    let environment = RwSignal::new(String::new());
    let fresh = RwSignal::new(None::<TokenView>);
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (label, scope, env) = (
            name.get(),
            parse_services(&services.get()),
            environment.get(),
        );
        spawn_local(async move {
            let env = (!env.is_empty()).then_some(env);
            let made = api::create_token(
                &label,
                role.get_untracked(),
                scope.as_deref(),
                env.as_deref(),
            )
            .await;
            match made {
                Ok(token) => {
                    name.set(String::new());
                    services.set(String::new());
                    outcome.set(None);
                    fresh.set(Some(token));
                    reload.update(|n| *n += 1);
                }
                Err(e) => outcome.set(Some(Err(session.check(e).message))),
            }
        });
    };
    view! {
        <h2 class="section__title">"Tokens"</h2>
        {move || match tokens.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e /> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! { <p class="muted">"No tokens."</p> }.into_any(),
            Some(Ok(list)) => view! {
                <div class="table-wrap">
                    <table class="table" aria-label="Tokens">
                        <thead>
                            <tr><th>"Name"</th><th>"Id"</th><th>"Role"</th><th>"Services"</th><th>"Environment"</th><th>"Created"</th><th>"Actions"</th></tr>
                        </thead>
                        <tbody>
                            {list.into_iter().map(|token| view! { <TokenRow token=token outcome=outcome reload=reload /> }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }
            .into_any(),
        }}
        <OutcomeLine outcome=outcome />
        {move || fresh.get().and_then(|token| token.token.map(|bearer| view! { <NewToken name=token.name bearer=bearer /> }))}
        <form class="card inline-form" aria-label="New token" on:submit=create>
            <TextField id="new-token-name" label="Token name" value=name required=true />
            <div class="field">
                <label class="field__label" for="new-token-role">"Role"</label>
                <RoleSelect id="new-token-role" roles=Role::ALL.to_vec() value=role />
            </div>
            <TextField id="new-token-services" label="Services (comma-separated; empty for all)" value=services />
            <div class="field">
                <label class="field__label" for="new-token-environment">"Environment"</label>
                <select id="new-token-environment" class="field__select" on:change=move |ev| environment.set(event_target_value(&ev))>
                    <option value="">"Every environment"</option>
                    {move || environments.get().and_then(Result::ok).map(|list| list.into_iter().map(|e| view! {
                        <option value=e.name.clone()>{e.name.clone()}</option>
                    }).collect_view())}
                </select>
            </div>
            <button class="button button--primary" type="submit">"Create token"</button>
        </form>
    }
}

/// A token just made: its bearer string, which the server never shows
/// again, with a button that copies it.
#[component]
fn NewToken(name: String, bearer: String) -> impl IntoView {
    let copied = RwSignal::new(None::<Result<(), ()>>);
    let text = StoredValue::new(bearer.clone());
    let copy = move |_| {
        let Some(window) = web_sys::window() else {
            return;
        };
        let promise = window.navigator().clipboard().write_text(&text.get_value());
        spawn_local(async move {
            let done = wasm_bindgen_futures::JsFuture::from(promise).await;
            copied.set(Some(done.map(|_| ()).map_err(|_| ())));
        });
    };
    view! {
        <div class="card status status--ok" role="region" aria-label="New token">
            <p>{format!("Token {name} created. Copy it now: it is shown only once.")}</p>
            <div class="field--inline">
                <input class="field__input people__bearer" readonly aria-label="Bearer token" prop:value=bearer />
                <button type="button" class="button" on:click=copy>"Copy"</button>
                <span role="status">
                    {move || match copied.get() {
                        Some(Ok(())) => "Copied.",
                        Some(Err(())) => "The browser refused; select the text and copy it.",
                        None => "",
                    }}
                </span>
            </div>
        </div>
    }
}

/// One token, revoked after a second click.
#[component]
fn TokenRow(token: TokenView, outcome: Outcome, reload: RwSignal<u32>) -> impl IntoView {
    let session = use_session();
    let confirming = RwSignal::new(false);
    let id = StoredValue::new(token.id.clone());
    let label = StoredValue::new(token.name.clone());
    let revoke = move |_| {
        spawn_local(async move {
            let answer = api::revoke_token(&id.get_value()).await;
            outcome.set(Some(match answer {
                Ok(()) => {
                    reload.update(|n| *n += 1);
                    Ok(format!("Token {} revoked.", label.get_value()))
                }
                Err(e) => Err(session.check(e).message),
            }));
        });
    };
    view! {
        <tr data-token=token.name.clone()>
            <th scope="row">{token.name.clone()}</th>
            <td><code>{token.id.clone()}</code></td>
            <td>{token.role.as_str()}</td>
            <td>{shown(token.services.as_ref())}</td>
            <td>{token.environment.clone().unwrap_or_else(|| "all".into())}</td>
            <td>{format!("{} by {}", token.created_at, token.created_by)}</td>
            <td>
                <button type="button" class="button button--quiet" hidden=move || confirming.get() on:click=move |_| confirming.set(true)>
                    "Revoke"
                </button>
                <button type="button" class="button" hidden=move || !confirming.get() on:click=revoke>
                    {format!("Confirm: revoke {}", token.name)}
                </button>
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_a_comma_list_and_nothing_means_all() {
        assert_eq!(
            parse_services(" checkout, payments ,, "),
            Some(vec!["checkout".to_string(), "payments".to_string()])
        );
        assert_eq!(parse_services("  "), None);
        assert_eq!(shown(None), "all");
    }
}
