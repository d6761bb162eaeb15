//! The overview: the server's health, for now.

use leptos::prelude::*;

use crate::{Route, api};

/// The landing page.
#[component]
pub fn Overview() -> impl IntoView {
    let health = LocalResource::new(api::health);
    view! {
        <section class="page">
            <h1 class="page__title">{Route::Overview.label()}</h1>
            <div class="card">
                <h2 class="card__title">"Server"</h2>
                <Transition fallback=|| view! { <p class="muted">"Checking…"</p> }>
                    {move || Suspend::new(async move {
                        match health.await {
                            Ok(h) => {
                                view! {
                                    <p class="status status--ok">
                                        {format!("Healthy — version {}", h.version)}
                                    </p>
                                }
                                    .into_any()
                            }
                            Err(e) => {
                                view! { <p class="status status--error" role="alert">{e.message}</p> }
                                    .into_any()
                            }
                        }
                    })}
                </Transition>
            </div>
            <p class="page__lede">
                "Check a service document in the "
                <a href=Route::Editor.href()>{Route::Editor.label()}</a>
                "."
            </p>
        </section>
    }
}
