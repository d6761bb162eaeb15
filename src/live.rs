//! Live updates: a page follows an environment's change stream
//! (`GET /api/v1/environments/{env}/events`, Server-Sent Events) and
//! refreshes what it shows without a reload.

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use setpoint_core::Change;
use wasm_bindgen::{JsCast, closure::Closure};

use crate::route::encode;

/// The latest change committed in `environment`, while the calling
/// component lives; `None` until one arrives. Following another environment
/// closes the previous stream. The browser reconnects on its own after a
/// network error, resuming from the last event id.
pub fn follow(environment: Signal<String>) -> ReadSignal<Option<Change>> {
    stream(Signal::derive(move || {
        let env = environment.get();
        (!env.is_empty()).then(|| format!("/api/v1/environments/{}/events", encode(&env)))
    }))
}

/// The latest change committed in any environment the user may read: one
/// connection for pages that watch them all (browsers allow six per server
/// over HTTP/1.1, so one stream per environment would starve the API).
pub fn follow_all() -> ReadSignal<Option<Change>> {
    stream(Signal::derive(|| Some("/api/v1/events".to_string())))
}

fn stream(url: Signal<Option<String>>) -> ReadSignal<Option<Change>> {
    let (latest, set_latest) = signal(None::<Change>);
    Effect::new(move |_| {
        let Some(url) = url.get() else {
            return;
        };
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let on_change = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(change) = event
                    .data()
                    .as_string()
                    .and_then(|text| serde_json::from_str::<Change>(&text).ok())
                {
                    set_latest.set(Some(change));
                }
            },
        );
        let _ =
            source.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        // The source and its callback live until the effect re-runs or the
        // component goes; both are browser objects, so not `Send`.
        let stream = SendWrapper::new((source, on_change));
        on_cleanup(move || {
            let (source, _callback) = stream.take();
            source.close();
        });
    });
    latest
}
