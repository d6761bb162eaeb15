//! Live updates: a page follows an environment's change stream
//! (`GET /api/v1/environments/{env}/events`, Server-Sent Events) and
//! refreshes what it shows without a reload; the same streams carry the
//! agents' reports (`event: fleet`) for the fleet view.

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use setpoint_core::{Change, fleet::ClusterStatus};
use wasm_bindgen::{JsCast, closure::Closure};

use crate::route::encode;

/// The latest change committed in `environment`, while the calling
/// component lives; `None` until one arrives. Following another environment
/// closes the previous stream. The browser reconnects on its own after a
/// network error, resuming from the last event id.
pub fn follow(environment: Signal<String>) -> ReadSignal<Option<Change>> {
    stream_changes(Signal::derive(move || {
        let env = environment.get();
        (!env.is_empty()).then(|| format!("/api/v1/environments/{}/events", encode(&env)))
    }))
}

/// The latest change committed in any environment the user may read: one
/// connection for pages that watch them all (browsers allow six per server
/// over HTTP/1.1, so one stream per environment would starve the API).
pub fn follow_all() -> ReadSignal<Option<Change>> {
    follow_everything().change
}

/// What a stream brings: the latest change, and the latest agent report
/// (`event: fleet`).
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// The latest change committed.
    pub change: ReadSignal<Option<Change>>,
    /// The latest cluster status an agent's report produced.
    pub fleet: ReadSignal<Option<ClusterStatus>>,
}

/// Every environment's changes and agent reports, on one connection.
pub fn follow_everything() -> Live {
    stream(Signal::derive(|| Some("/api/v1/events".to_string())))
}

fn stream_changes(url: Signal<Option<String>>) -> ReadSignal<Option<Change>> {
    stream(url).change
}

fn stream(url: Signal<Option<String>>) -> Live {
    let (latest, set_latest) = signal(None::<Change>);
    let (fleet, set_fleet) = signal(None::<ClusterStatus>);
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
        let on_fleet = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(status) = event
                    .data()
                    .as_string()
                    .and_then(|text| serde_json::from_str::<ClusterStatus>(&text).ok())
                {
                    set_fleet.set(Some(status));
                }
            },
        );
        let _ =
            source.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("fleet", on_fleet.as_ref().unchecked_ref());
        // The source and its callbacks live until the effect re-runs or the
        // component goes; all are browser objects, so not `Send`.
        let stream = SendWrapper::new((source, on_change, on_fleet));
        on_cleanup(move || {
            let (source, _on_change, _on_fleet) = stream.take();
            source.close();
        });
    });
    Live {
        change: latest,
        fleet,
    }
}
