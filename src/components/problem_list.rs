//! A list of field problems — from the core in the browser or from the
//! server's envelope, which share one shape (`setpoint_wire::Problem`).

use leptos::prelude::*;

use crate::api::Problem;

/// Lists problems by field path. Renders nothing when there are none.
#[component]
pub fn ProblemList(
    /// The problems to show, in order.
    #[prop(into)]
    problems: Signal<Vec<Problem>>,
) -> impl IntoView {
    view! {
        <Show when=move || problems.with(|p| !p.is_empty())>
            <ul class="problems">
                <For
                    each=move || problems.get().into_iter().enumerate()
                    key=|(i, p)| (*i, p.clone())
                    children=|(_, problem)| {
                        let path = if problem.path.is_empty() { "(document)".to_string() } else { problem.path };
                        let code = problem.code.clone();
                        view! {
                            <li class="problems__item" data-code=code>
                                <code class="problems__path">{path}</code>
                                <span class="problems__message">{problem.message}</span>
                                <span class="problems__code">{problem.code}</span>
                            </li>
                        }
                    }
                />
            </ul>
        </Show>
    }
}
