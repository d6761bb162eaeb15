//! The login form, shown in place of any page while nobody is logged in.

use leptos::{prelude::*, task::spawn_local};

use crate::{api, components::TextField, session::use_session};

/// The login page.
#[component]
pub fn Login() -> impl IntoView {
    let session = use_session();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let (user, pass) = (username.get_untracked(), password.get_untracked());
        spawn_local(async move {
            match api::login(&user, &pass).await {
                Ok(me) => session.logged_in(me),
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <main class="login" id="main">
            <form class="card login__card" on:submit=submit>
                <h1 class="page__title">"Setpoint"</h1>
                <p class="muted">"Log in to manage config, flags and breakers."</p>
                <TextField id="username" label="User name" value=username autocomplete="username" required=true />
                <TextField
                    id="password"
                    label="Password"
                    value=password
                    kind="password"
                    autocomplete="current-password"
                    required=true
                />
                <p class="status status--error" role="alert" hidden=move || error.with(Option::is_none)>
                    {move || error.get().unwrap_or_default()}
                </p>
                <button class="button button--primary" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
        </main>
    }
}
