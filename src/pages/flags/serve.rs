//! What a flag serves — the environment's default or one rule's — edited in
//! one way: a variant from a list, or a split with a per-variant input, a
//! bar, a live sum that must reach 100 and the attribute it buckets by. The
//! core's `validate_flag` (run by the flag panel) checks the result.

use leptos::prelude::*;
use setpoint_core::{Flag, FlagEnvironment, Serve, Split, Weighted};

/// Which serve of an environment's targeting an editor changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeSlot {
    /// What everyone no rule matches gets.
    Default,
    /// What the rule at this index serves.
    Rule(usize),
}

impl ServeSlot {
    fn get(self, targeting: &FlagEnvironment) -> Option<&Serve> {
        match self {
            Self::Default => Some(&targeting.default),
            Self::Rule(index) => targeting.rules.get(index).map(|r| &r.serve),
        }
    }

    fn get_mut(self, targeting: &mut FlagEnvironment) -> Option<&mut Serve> {
        match self {
            Self::Default => Some(&mut targeting.default),
            Self::Rule(index) => targeting.rules.get_mut(index).map(|r| &mut r.serve),
        }
    }

    /// Element ids: the default's keep the short `split-on` form.
    fn id(self, part: &str) -> String {
        match self {
            Self::Default => part.to_string(),
            Self::Rule(index) => format!("rule-{index}-{part}"),
        }
    }

    /// Labels: a rule's say which rule, so no two fields share a name.
    fn label(self, text: &str) -> String {
        match self {
            Self::Default => text.to_string(),
            Self::Rule(index) => format!("Rule {}: {text}", index + 1),
        }
    }
}

/// A split that starts where a fixed variant was: it keeps 100 %, every
/// other variant 0 %, so turning it into a split changes no one's variant.
pub fn split_from(current: &str, variants: &[String]) -> Split {
    Split {
        weights: variants
            .iter()
            .map(|v| Weighted {
                variant: v.clone(),
                weight: if v == current { 100 } else { 0 },
            })
            .collect(),
        bucket_by: None,
    }
}

/// The variant a split falls back to: its largest share (the first of
/// equals), so the most users keep what they had.
fn largest(split: &Split) -> String {
    split
        .weights
        .iter()
        .rev()
        .max_by_key(|w| w.weight)
        .map(|w| w.variant.clone())
        .unwrap_or_default()
}

/// Edits one serve of the environment's targeting in the draft.
#[component]
pub fn ServeEditor(
    /// The flag being edited.
    draft: RwSignal<Flag>,
    /// The environment whose targeting is edited.
    env: StoredValue<String>,
    /// Which serve. (Not `slot`: the view macro reserves that name.)
    which: ServeSlot,
    /// Whether the user may change it.
    editable: bool,
) -> impl IntoView {
    let slot = which;
    let read = move || {
        draft.with(|f| env.with_value(|e| f.environments.get(e).and_then(|t| slot.get(t).cloned())))
    };
    // Re-rendered only when this serve changes, not on every edit of the
    // flag: the inputs below are not recreated while others are typed in.
    let serve = Memo::new(move |_| read());
    let change = move |edit: &dyn Fn(&mut Serve)| {
        draft.update(|f| {
            if let Some(serve) =
                env.with_value(|e| f.environments.get_mut(e).and_then(|t| slot.get_mut(t)))
            {
                edit(serve);
            }
        });
    };
    let variants =
        Memo::new(move |_| draft.with(|f| f.variants.keys().cloned().collect::<Vec<_>>()));
    let to_split = move |_| {
        let names = variants.get_untracked();
        change(&|serve| {
            if let Serve::Variant(current) = serve {
                *serve = Serve::Split(split_from(current, &names));
            }
        });
    };
    move || {
        match serve.get() {
        None => ().into_any(),
        Some(Serve::Variant(current)) => view! {
            <div class="serve">
                <label class="field field--inline">
                    <span class="field__label field__label--small">{slot.label("Serve")}</span>
                    <select id=slot.id("serve") class="field__select" disabled=!editable
                        on:change=move |ev| {
                            let variant = event_target_value(&ev);
                            change(&|serve| *serve = Serve::Variant(variant.clone()));
                        }>
                        {move || variants.get().into_iter().map(|v| {
                            let (selected, label) = (v == current, v.clone());
                            view! { <option value=v selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {editable.then(|| view! {
                    <button class="button button--quiet" type="button" on:click=to_split>"Split between variants"</button>
                })}
            </div>
        }
        .into_any(),
        Some(Serve::Split(split)) => split_view(&split, slot, editable, change).into_any(),
    }
    }
}

/// The split: bar, one input per variant, the sum, the bucketing attribute.
fn split_view(
    split: &Split,
    slot: ServeSlot,
    editable: bool,
    change: impl Fn(&dyn Fn(&mut Serve)) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let total: u32 = split.weights.iter().map(|w| w.weight).sum();
    let set_weight = move |index: usize, text: String| {
        // What does not parse counts as 0; the sum check then says so.
        let weight = text.trim().parse().unwrap_or(0);
        change(&|serve| {
            if let Serve::Split(split) = serve
                && let Some(entry) = split.weights.get_mut(index)
            {
                entry.weight = weight;
            }
        });
    };
    let set_bucket = move |text: String| {
        let attribute = Some(text.trim().to_string()).filter(|t| !t.is_empty());
        change(&|serve| {
            if let Serve::Split(split) = serve {
                split.bucket_by.clone_from(&attribute);
            }
        });
    };
    let fallback = largest(split);
    let only = format!("Serve only {fallback}");
    let sum = match slot {
        ServeSlot::Default => format!("Sum: {total} of 100"),
        ServeSlot::Rule(index) => format!("Rule {} split: {total} of 100", index + 1),
    };
    view! {
        <div class="split">
            <div class="split__bar" aria-hidden="true">
                {split.weights.iter().map(|w| view! {
                    <span class="split__segment" style:flex-grow=w.weight.to_string()>{w.variant.clone()}</span>
                }).collect_view()}
            </div>
            <div class="config__group">
                {split.weights.iter().enumerate().map(|(i, w)| view! {
                    <label class="field">
                        <span class="field__label field__label--small">{slot.label(&format!("{} %", w.variant))}</span>
                        <input
                            id=slot.id(&format!("split-{}", w.variant))
                            class="field__input field__input--short"
                            type="number"
                            min="0"
                            max="100"
                            disabled=!editable
                            prop:value=w.weight.to_string()
                            on:change=move |ev| set_weight(i, event_target_value(&ev))
                        />
                    </label>
                }).collect_view()}
                <label class="field">
                    <span class="field__label field__label--small">{slot.label("Bucket by")}</span>
                    <input
                        id=slot.id("bucket-by")
                        class="field__input"
                        placeholder="targetingKey"
                        disabled=!editable
                        prop:value=split.bucket_by.clone().unwrap_or_default()
                        on:change=move |ev| set_bucket(event_target_value(&ev))
                    />
                </label>
            </div>
            <p class=if total == 100 { "weights__sum status--ok" } else { "weights__sum status--error" } aria-live="polite">
                {sum}
            </p>
            {editable.then(|| view! {
                <button class="button button--quiet" type="button"
                    on:click=move |_| change(&|serve| *serve = Serve::Variant(fallback.clone()))>
                    {only}
                </button>
            })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_split_keeps_everyone_on_the_current_variant() {
        let names = ["off".to_string(), "on".to_string()];
        let split = split_from("on", &names);
        let weights: Vec<_> = split
            .weights
            .iter()
            .map(|w| (w.variant.as_str(), w.weight))
            .collect();
        assert_eq!(weights, [("off", 0), ("on", 100)]);
        assert_eq!(largest(&split), "on");
    }

    #[test]
    fn falling_back_from_a_split_keeps_the_largest_share_first_of_equals() {
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let mut split = split_from("a", &names);
        for (w, weight) in split.weights.iter_mut().zip([30, 40, 40]) {
            w.weight = weight;
        }
        assert_eq!(largest(&split), "b");
    }
}
