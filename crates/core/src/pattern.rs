//! Regular expressions written in documents — a string key's `pattern`, a
//! JSON Schema's `pattern`, the `matches` operator — compiled and matched
//! in one place, within bounds.
//!
//! A document is untrusted input: `POST /api/v1/validate` takes one before
//! any authentication. `x{1000}{250}` is twelve characters that compile to
//! a quarter of a million states, and matching costs states × text. So:
//!
//! - a pattern is at most [`MAX_PATTERN_CHARS`] long and compiles to at
//!   most [`MAX_COMPILED_BYTES`], or it is refused as `invalid_regex`;
//! - each pattern is compiled once per thread and reused (a small memo),
//!   not once per value checked;
//! - the matching one validation may do is metered against a budget
//!   ([`Limits::max_match_work`](crate::Limits)): text matched, weighted by
//!   the size the pattern compiles to. Over it, matching stops and the
//!   document is refused as `too_costly`.
//!
//! The memo and the meter are per thread, so this stays free of locks and
//! builds for wasm32; nothing here reads a clock.

use std::{cell::RefCell, collections::HashMap};

use regex_lite::{Regex, RegexBuilder};

/// The longest pattern accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 1000;
/// The largest compiled form accepted, in bytes (regex-lite's size limit).
pub const MAX_COMPILED_BYTES: usize = 16 * 1024;
/// What matching a byte of text costs, in units, by the size the pattern
/// compiles to: the first class it fits. Matching costs about states ×
/// text, and measured on this project's machine a byte costs ~7 ns against
/// a small pattern and ~3 µs against one near the limit
/// (`cargo run --release -p setpoint-core --example validation_cost`).
const WEIGHTS: [(usize, u64); 3] = [(1024, 1), (4 * 1024, 64), (MAX_COMPILED_BYTES, 512)];
/// How deeply groups may nest in a pattern.
const NEST_LIMIT: u32 = 32;
/// Patterns remembered per thread before the memo starts over.
const MEMO_ENTRIES: usize = 256;

/// A compiled pattern and the cost of matching a byte against it.
#[derive(Debug, Clone)]
pub struct Pattern {
    regex: Regex,
    weight: u64,
    #[cfg(not(target_arch = "wasm32"))]
    required: Option<std::sync::Arc<required::Literals>>,
}

thread_local! {
    static MEMO: RefCell<HashMap<String, Result<Pattern, String>>> = RefCell::new(HashMap::new());
    static METER: RefCell<Option<u64>> = const { RefCell::new(None) };
}

/// Compiles `pattern` within the bounds, or says why not.
pub fn compile(pattern: &str) -> Result<Pattern, String> {
    if let Some(known) = MEMO.with_borrow(|memo| memo.get(pattern).cloned()) {
        return known;
    }
    let compiled = build(pattern);
    MEMO.with_borrow_mut(|memo| {
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(pattern.to_string(), compiled.clone());
    });
    compiled
}

fn build(pattern: &str) -> Result<Pattern, String> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!("longer than {MAX_PATTERN_CHARS} characters"));
    }
    let with_limit = |limit: usize| {
        RegexBuilder::new(pattern)
            .size_limit(limit)
            .nest_limit(NEST_LIMIT)
            .build()
    };
    let mut refused = None;
    for (limit, weight) in WEIGHTS {
        match with_limit(limit) {
            Ok(regex) => {
                return Ok(Pattern {
                    regex,
                    weight,
                    #[cfg(not(target_arch = "wasm32"))]
                    required: required::Literals::of(pattern).map(std::sync::Arc::new),
                });
            }
            Err(e) => refused = Some(e),
        }
    }
    Err(refused
        .map(|e| {
            let reason = e.to_string();
            if reason.contains("size limit") {
                format!("it compiles to more than {MAX_COMPILED_BYTES} bytes; simplify it")
            } else {
                reason
            }
        })
        .unwrap_or_default())
}

/// Matching stopped: the validation ran out of its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

impl Pattern {
    /// Whether `text` matches, charged to the running validation's budget
    /// (see [`metered`]); unmetered outside one.
    pub fn is_match(&self, text: &str) -> Result<bool, OverBudget> {
        let cost = (text.len() as u64 + 1).saturating_mul(self.weight);
        METER.with_borrow_mut(|meter| match meter {
            Some(left) if *left < cost => {
                *left = 0;
                Err(OverBudget)
            }
            Some(left) => {
                *left -= cost;
                Ok(())
            }
            None => Ok(()),
        })?;
        #[cfg(not(target_arch = "wasm32"))]
        if self
            .required
            .as_ref()
            .is_some_and(|required| required.absent_from(text))
        {
            return Ok(false);
        }
        Ok(self.regex.is_match(text))
    }
}

/// regex-lite searches without a prefilter: matching `@(staff|ops)\.com$`
/// against a short e-mail address costs ~450 ns, which is most of a flag
/// evaluation. Native builds first look for the literals one of which
/// every match must contain (found by regex-syntax, as the `regex` crate
/// does) and answer "no match" without searching when none is there.
/// Only a "no" is ever short-cut, so the answers are regex-lite's; the
/// budget is charged the same either way, so the server and the console
/// (wasm, without this) refuse the same documents.
#[cfg(not(target_arch = "wasm32"))]
mod required {
    use memchr::memmem::Finder;
    use regex_syntax::hir::literal::{ExtractKind, Extractor};

    /// More literals than this cost more to look for than they save.
    const MOST: usize = 8;

    /// Literals one of which every match contains.
    #[derive(Debug)]
    pub struct Literals(Vec<Finder<'static>>);

    impl Literals {
        /// The best set for `pattern` (match prefixes or suffixes, whichever
        /// has the longer shortest literal), if there is a useful one.
        pub fn of(pattern: &str) -> Option<Self> {
            let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
            [ExtractKind::Prefix, ExtractKind::Suffix]
                .into_iter()
                .filter_map(|kind| {
                    let seq = Extractor::new().kind(kind).extract(&hir);
                    let literals = seq.literals()?;
                    let shortest = literals.iter().map(|l| l.as_bytes().len()).min()?;
                    (shortest > 0 && literals.len() <= MOST).then(|| {
                        let finders = literals
                            .iter()
                            .map(|l| Finder::new(l.as_bytes()).into_owned())
                            .collect();
                        (shortest, finders)
                    })
                })
                .max_by_key(|(shortest, _)| *shortest)
                .map(|(_, finders)| Self(finders))
        }

        /// Whether `text` holds none of them: then nothing matches.
        pub fn absent_from(&self, text: &str) -> bool {
            !self
                .0
                .iter()
                .any(|finder| finder.find(text.as_bytes()).is_some())
        }
    }
}

/// Runs `work` with a matching budget of `units`, and says whether it ran
/// out. Nested calls share the outermost budget.
pub fn metered<T>(units: u64, work: impl FnOnce() -> T) -> (T, bool) {
    let outermost = METER.with_borrow_mut(|meter| {
        if meter.is_some() {
            return false;
        }
        *meter = Some(units);
        true
    });
    let result = work();
    let exhausted = METER.with_borrow_mut(|meter| {
        let exhausted = *meter == Some(0);
        if outermost {
            *meter = None;
        }
        exhausted
    });
    (result, exhausted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_that_compiles_to_too_much_is_refused_quickly() {
        let error = compile("x{1000}{250}").expect_err("too large");
        assert!(error.contains("16384 bytes"), "{error}");
        assert!(compile(&"a".repeat(MAX_PATTERN_CHARS + 1)).is_err());
        assert!(compile("^[a-z]+$").is_ok());
    }

    #[test]
    fn matching_past_the_budget_stops() {
        let pattern = compile("^a+$").expect("compiles");
        let text = "a".repeat(100);
        let (outcome, exhausted) =
            metered(150, || (pattern.is_match(&text), pattern.is_match(&text)));
        assert_eq!(outcome, (Ok(true), Err(OverBudget)));
        assert!(exhausted);
        assert_eq!(pattern.is_match(&text), Ok(true), "unmetered outside");
    }
}
