//! OpenFeature Remote Evaluation (OFREP v1): flags evaluated by the server
//! for services that embed no SDK of ours — any OpenFeature SDK with its
//! OFREP provider (Node, Go, Java, Python, .NET, Rust, the browser).
//!
//! **Where.** A caller evaluates in the one environment its token is
//! limited to, over the services its scope lets it see; nothing else
//! exists for it, so a flag outside the scope is simply not found.
//!
//! **Keys.** OFREP has one flat namespace, and flags live in services, so
//! a key names its service unless the caller's scope leaves no doubt:
//! - a caller limited to one service reads that service's flags by their
//!   own keys (`new-checkout-flow`), and may also use the long form;
//! - every other caller reads `service:flag` (`checkout:new-checkout-flow`).
//!
//! Names never contain `:` (`validate::is_valid_name`), so a key names at
//! most one flag: two flags sharing a key is impossible by construction.
//!
//! **Cost.** Each snapshot part carries its flags prepared ([`FlagSet`]),
//! built by the writer when the part changes: patterns compiled, every
//! possible answer's value and variant already serialized. A request
//! decides and copies; nothing is compiled or serialized per flag.

use std::collections::BTreeMap;

use axum::http::HeaderValue;
use serde_json::Value;
use setpoint_core::{
    Context, ErrorCode, Reason, ResolvedFlag,
    eval::{Decision, PreparedFlag},
    pattern,
};
use sha2::{Digest, Sha256};

use crate::{auth::Principal, snapshots::EnvSnapshot};

/// What separates a service from a flag in a long key.
pub const SEPARATOR: char = ':';

/// One service's flags in one environment, ready to answer OFREP requests.
#[derive(Debug)]
pub struct FlagSet {
    flags: BTreeMap<String, Entry>,
    /// `"metadata":{…}`: the same for every flag of the service.
    metadata: Box<str>,
    /// The sha256 of the flags as resolved: what a bulk `ETag` covers, so
    /// that a change to a config value does not look like a flag change.
    digest: [u8; 32],
}

#[derive(Debug)]
struct Entry {
    flag: PreparedFlag,
    /// `"key":"flag"`.
    bare: Box<str>,
    /// `"key":"service:flag"`.
    qualified: Box<str>,
    /// Per variant, in [`PreparedFlag::variants`] order:
    /// `"value":…,"variant":"…"`.
    answers: Vec<Box<str>>,
}

impl FlagSet {
    /// Prepares `service`'s `flags`.
    pub fn new(service: &str, flags: &BTreeMap<String, ResolvedFlag>) -> Self {
        let prepared = flags
            .iter()
            .map(|(key, resolved)| {
                let flag = PreparedFlag::new(resolved);
                let answers = flag
                    .variants()
                    .map(|(name, value)| {
                        format!(r#""value":{},"variant":{}"#, json(value), json(name)).into()
                    })
                    .collect();
                let entry = Entry {
                    bare: format!(r#""key":{}"#, json(key)).into(),
                    qualified: format!(r#""key":{}"#, json(&format!("{service}{SEPARATOR}{key}")))
                        .into(),
                    answers,
                    flag,
                };
                (key.clone(), entry)
            })
            .collect();
        let canonical = serde_json::to_vec(flags).unwrap_or_default();
        Self {
            flags: prepared,
            metadata: format!(r#""metadata":{{"service":{}}}"#, json(service)).into(),
            digest: Sha256::digest(&canonical).into(),
        }
    }
}

/// `value` as JSON. Values and names always serialize; were one not to,
/// the answer would be invalid JSON, never a wrong value passed off as right.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// How a caller names flags (see the module's documentation).
#[derive(Debug, Clone, Copy)]
enum Keys<'a> {
    /// Limited to this one service: its flags by their own keys.
    Bare(&'a str),
    /// `service:flag`.
    Qualified,
}

/// One caller's view of one environment's flags.
#[derive(Debug)]
pub struct View<'a> {
    snapshot: &'a EnvSnapshot,
    principal: &'a Principal,
    keys: Keys<'a>,
}

/// Why a single evaluation has no value.
#[derive(Debug)]
pub struct Failure {
    /// OFREP's code: `FLAG_NOT_FOUND` (a `404`) or an evaluation error.
    pub code: ErrorCode,
    /// For people.
    pub details: String,
}

impl<'a> View<'a> {
    /// What `principal` sees of `snapshot`.
    pub fn new(snapshot: &'a EnvSnapshot, principal: &'a Principal) -> Self {
        let keys = match principal.services.as_deref() {
            Some([only]) => Keys::Bare(only),
            _ => Keys::Qualified,
        };
        Self {
            snapshot,
            principal,
            keys,
        }
    }

    /// The services the caller sees, with their flags.
    fn parts(&self) -> impl Iterator<Item = (&'a str, &'a FlagSet)> + use<'a> {
        let principal = self.principal;
        self.snapshot
            .services
            .iter()
            .filter(move |(name, _)| principal.sees_service(name))
            .map(|(name, part)| (name.as_str(), &part.flags))
    }

    /// The flag `key` names for this caller, if it sees one.
    fn find(&self, key: &str) -> Option<(&'a FlagSet, &'a Entry)> {
        let (service, flag) = match (key.split_once(SEPARATOR), self.keys) {
            (Some(long), _) => long,
            (None, Keys::Bare(service)) => (service, key),
            (None, Keys::Qualified) => return None,
        };
        if !self.principal.sees_service(service) {
            return None;
        }
        let set = &self.snapshot.services.get(service)?.flags;
        Some((set, set.flags.get(flag)?))
    }

    /// Evaluates flag `key` for `context`: the body of a `200`, or why not.
    pub fn evaluate(
        &self,
        key: &str,
        context: &Context,
        tally: &mut Tally,
    ) -> Result<Vec<u8>, Failure> {
        metered(|| self.evaluate_unmetered(key, context, tally))?
    }

    fn evaluate_unmetered(
        &self,
        key: &str,
        context: &Context,
        tally: &mut Tally,
    ) -> Result<Vec<u8>, Failure> {
        let Some((set, entry)) = self.find(key) else {
            tally.count(Reason::Error, Some(ErrorCode::FlagNotFound));
            let details = match self.keys {
                Keys::Qualified if !key.contains(SEPARATOR) => format!(
                    "no flag {key:?}: name flags `service{SEPARATOR}flag`, e.g. `checkout{SEPARATOR}{key}`"
                ),
                _ => format!("no flag {key:?} in {:?}", self.snapshot.environment),
            };
            return Err(Failure {
                code: ErrorCode::FlagNotFound,
                details,
            });
        };
        let decision = entry.flag.decide(context);
        tally.count(decision.reason, decision.error);
        let answer = answer(entry, &decision).map_err(|code| Failure {
            code,
            details: explain(code).to_string(),
        })?;
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"key\":");
        out.extend_from_slice(json(key).as_bytes());
        write_success(&mut out, decision.reason, answer, set);
        Ok(out)
    }

    /// Evaluates every flag the caller sees for `context`: the body of a
    /// bulk `200`, each flag a success or a failure — or, when the context
    /// costs more pattern matching than a request may, why not.
    pub fn bulk(&self, context: &Context, tally: &mut Tally) -> Result<Vec<u8>, Failure> {
        metered(|| self.bulk_unmetered(context, tally))
    }

    fn bulk_unmetered(&self, context: &Context, tally: &mut Tally) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"flags\":[");
        let mut first = true;
        for (_, set) in self.parts() {
            for entry in set.flags.values() {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                out.push(b'{');
                out.extend_from_slice(match self.keys {
                    Keys::Bare(_) => entry.bare.as_bytes(),
                    Keys::Qualified => entry.qualified.as_bytes(),
                });
                let decision = entry.flag.decide(context);
                tally.count(decision.reason, decision.error);
                match answer(entry, &decision) {
                    Ok(answer) => write_success(&mut out, decision.reason, answer, set),
                    Err(code) => {
                        out.extend_from_slice(b",\"errorCode\":\"");
                        out.extend_from_slice(code.as_str().as_bytes());
                        out.extend_from_slice(b"\",\"errorDetails\":\"");
                        out.extend_from_slice(explain(code).as_bytes());
                        out.extend_from_slice(b"\",");
                        out.extend_from_slice(set.metadata.as_bytes());
                        out.push(b'}');
                    }
                }
            }
        }
        out.extend_from_slice(b"],\"metadata\":{\"environment\":");
        out.extend_from_slice(json(&self.snapshot.environment).as_bytes());
        out.extend_from_slice(b"}}");
        out
    }

    /// The bulk answer's `ETag`: it changes when a flag the caller sees
    /// changes, appears or goes, and with the request (a new context is a
    /// new answer) — so an unchanged poll is a `304` without evaluating.
    pub fn etag(&self, request: &[u8]) -> HeaderValue {
        let mut hash = Sha256::new();
        match self.keys {
            Keys::Bare(service) => {
                hash.update(b"b");
                hash.update(service.as_bytes());
            }
            Keys::Qualified => hash.update(b"q"),
        }
        hash.update([0]);
        for (name, set) in self.parts() {
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(set.digest);
        }
        hash.update(request);
        let digest = hash.finalize();
        crate::snapshots::etag(&crate::auth::hex(&digest[..16]))
    }
}

/// Runs an evaluation within the pattern-matching budget one document's
/// validation gets (`Limits::max_match_work`, some tens of milliseconds
/// at worst): a context is the caller's text, matched against patterns an
/// editor wrote, and a token in a web page is anyone's.
fn metered<T>(evaluate: impl FnOnce() -> T) -> Result<T, Failure> {
    let limit = setpoint_core::Limits::default().max_match_work;
    match pattern::metered(limit, evaluate) {
        (answer, false) => Ok(answer),
        (_, true) => Err(Failure {
            code: ErrorCode::InvalidContext,
            details: format!(
                "matching the context against the flags' patterns costs more than the limit of {limit} units: send shorter attributes"
            ),
        }),
    }
}

/// The pre-serialized value and variant `decision` serves, or the error.
fn answer<'e>(entry: &'e Entry, decision: &Decision<'_>) -> Result<&'e str, ErrorCode> {
    if let Some(code) = decision.error {
        return Err(code);
    }
    decision
        .variant
        .and_then(|served| entry.flag.variants().position(|(name, _)| name == served))
        .and_then(|i| entry.answers.get(i))
        .map(|answer| &**answer)
        .ok_or(ErrorCode::General)
}

/// The rest of a success after its key: reason, value, variant, metadata.
fn write_success(out: &mut Vec<u8>, reason: Reason, answer: &str, set: &FlagSet) {
    out.extend_from_slice(b",\"reason\":\"");
    out.extend_from_slice(reason.as_str().as_bytes());
    out.extend_from_slice(b"\",");
    out.extend_from_slice(answer.as_bytes());
    out.push(b',');
    out.extend_from_slice(set.metadata.as_bytes());
    out.push(b'}');
}

/// What an evaluation error means, for the person reading the response.
/// Constant text: written into JSON without escaping.
fn explain(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::TargetingKeyMissing => {
            "the flag splits by an attribute the context lacks (targetingKey, unless the split names another)"
        }
        ErrorCode::InvalidContext => {
            "the attribute the flag splits by is an object or an array in the context"
        }
        ErrorCode::ParseError => "the flag serves a variant it does not define",
        _ => "the flag could not be evaluated",
    }
}

/// Every outcome an evaluation can have, as `/metrics` labels it:
/// `(reason, error_code)`.
pub const OUTCOMES: [(&str, &str); 10] = [
    ("STATIC", ""),
    ("TARGETING_MATCH", ""),
    ("SPLIT", ""),
    ("DISABLED", ""),
    ("DEFAULT", ""),
    ("ERROR", "FLAG_NOT_FOUND"),
    ("ERROR", "PARSE_ERROR"),
    ("ERROR", "TARGETING_KEY_MISSING"),
    ("ERROR", "INVALID_CONTEXT"),
    ("ERROR", "GENERAL"),
];

/// One request's evaluations by outcome ([`OUTCOMES`]), added to the
/// metrics once per request rather than once per flag: a bulk request
/// evaluates hundreds, and shared counters would bounce between cores.
#[derive(Debug, Default)]
pub struct Tally(pub [u64; OUTCOMES.len()]);

impl Tally {
    /// Counts one evaluation.
    pub fn count(&mut self, reason: Reason, error: Option<ErrorCode>) {
        let index = match (reason, error) {
            (Reason::Static, None) => 0,
            (Reason::TargetingMatch, None) => 1,
            (Reason::Split, None) => 2,
            (Reason::Disabled, None) => 3,
            (Reason::Default, None) => 4,
            (_, Some(ErrorCode::FlagNotFound)) => 5,
            (_, Some(ErrorCode::ParseError)) => 6,
            (_, Some(ErrorCode::TargetingKeyMissing)) => 7,
            (_, Some(ErrorCode::InvalidContext)) => 8,
            _ => 9,
        };
        self.0[index] += 1;
    }
}

/// A context as OFREP sends it, checked: an object whose `targetingKey`,
/// when present, is a string.
pub fn context(value: Option<Value>) -> Result<Context, &'static str> {
    let context = match value {
        None | Some(Value::Null) => Context::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err("`context` must be an object"),
    };
    match context.get(setpoint_core::TARGETING_KEY) {
        None | Some(Value::String(_)) => Ok(context),
        Some(_) => Err("`context.targetingKey` must be a string"),
    }
}
