//! Flag evaluation: a flag's targeting in one environment plus a context
//! gives a value, a variant and the reason — the same answer in the
//! server, the console's simulator and the SDK.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    Condition, Flag, Op, Rule, Serve, Split, Weighted, json_schema::json_equal,
    murmur3::murmur3_x86_32, time::parse_timestamp,
};

/// Attributes of the subject being evaluated (`targetingKey`, `country`, …).
pub type Context = Map<String, Value>;

/// A flag as one environment sees it: the flattened form snapshots carry
/// and evaluation reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedFlag {
    /// Variant name → value.
    pub variants: BTreeMap<String, Value>,
    /// The variant served while disabled.
    pub off: String,
    /// Hash salt for splits (the flag key unless set).
    pub salt: String,
    /// Whether targeting runs.
    pub enabled: bool,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// Served when no rule matches.
    pub default: Serve,
}

impl Flag {
    /// This flag as environment `env` sees it. An environment the flag has
    /// no targeting for serves the off variant.
    pub fn resolve(&self, key: &str, env: &str) -> ResolvedFlag {
        let targeting = self.environments.get(env);
        ResolvedFlag {
            variants: self.variants.clone(),
            off: self.off.clone(),
            salt: self.salt.clone().unwrap_or_else(|| key.to_string()),
            enabled: targeting.is_some_and(|t| t.enabled),
            rules: targeting.map(|t| t.rules.clone()).unwrap_or_default(),
            default: targeting
                .map_or_else(|| Serve::Variant(self.off.clone()), |t| t.default.clone()),
        }
    }
}

/// Why an evaluation returned what it did (OpenFeature's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// No rules: the environment's default variant, the same for everyone.
    Static,
    /// A rule's conditions held and it served a variant.
    TargetingMatch,
    /// A percentage split (of a rule or of the default) placed the subject.
    Split,
    /// The flag is disabled here: its off variant.
    Disabled,
    /// Rules exist but none matched: the default variant.
    Default,
    /// No value could be determined; see the error code.
    Error,
}

/// Why an evaluation failed (OpenFeature's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// There is no flag with that key.
    FlagNotFound,
    /// The flag's definition is unusable (e.g. refers to a missing variant).
    ParseError,
    /// The value is not of the type the caller asked for.
    TypeMismatch,
    /// A split needs the bucketing attribute and the context lacks it.
    TargetingKeyMissing,
    /// The context has an attribute of a form that cannot be used.
    InvalidContext,
    /// Anything else.
    General,
}

/// The outcome of evaluating a flag for a context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// The served value; absent on error, so callers use their own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The served variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Why.
    pub reason: Reason,
    /// The index of the rule that decided, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// What went wrong, when `reason` is `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
}

impl Evaluation {
    fn error(code: ErrorCode, rule: Option<usize>) -> Self {
        Self {
            value: None,
            variant: None,
            reason: Reason::Error,
            rule,
            error: Some(code),
        }
    }
}

/// Evaluates `flag` for `context`.
pub fn evaluate(flag: &ResolvedFlag, context: &Context) -> Evaluation {
    if !flag.enabled {
        return serve_variant(flag, &flag.off, Reason::Disabled, None);
    }
    for (i, rule) in flag.rules.iter().enumerate() {
        if rule.when.iter().all(|c| condition_holds(c, context)) {
            return serve(flag, &rule.serve, context, Reason::TargetingMatch, Some(i));
        }
    }
    let reason = if flag.rules.is_empty() {
        Reason::Static
    } else {
        Reason::Default
    };
    serve(flag, &flag.default, context, reason, None)
}

fn serve(
    flag: &ResolvedFlag,
    serve: &Serve,
    context: &Context,
    reason: Reason,
    rule: Option<usize>,
) -> Evaluation {
    match serve {
        Serve::Variant(variant) => serve_variant(flag, variant, reason, rule),
        Serve::Split(split) => match split_variant(flag, split, context) {
            Ok(variant) => serve_variant(flag, variant, Reason::Split, rule),
            Err(code) => Evaluation::error(code, rule),
        },
    }
}

fn serve_variant(
    flag: &ResolvedFlag,
    variant: &str,
    reason: Reason,
    rule: Option<usize>,
) -> Evaluation {
    match flag.variants.get(variant) {
        Some(value) => Evaluation {
            value: Some(value.clone()),
            variant: Some(variant.to_string()),
            reason,
            rule,
            error: None,
        },
        None => Evaluation::error(ErrorCode::ParseError, rule),
    }
}

fn split_variant<'a>(
    flag: &ResolvedFlag,
    split: &'a Split,
    context: &Context,
) -> Result<&'a str, ErrorCode> {
    let key = match context.get(split.bucket_attribute()) {
        None | Some(Value::Null) => return Err(ErrorCode::TargetingKeyMissing),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(_) | Value::Object(_)) => return Err(ErrorCode::InvalidContext),
    };
    pick(&split.weights, &flag.salt, &key).ok_or(ErrorCode::ParseError)
}

/// The bucket, in `0..total`, that `salt + key` hashes to: flagd's
/// `fractional`, high-precision form.
pub fn bucket(salt: &str, key: &str, total: u32) -> u32 {
    let mut input = Vec::with_capacity(salt.len() + key.len());
    input.extend_from_slice(salt.as_bytes());
    input.extend_from_slice(key.as_bytes());
    let hash = murmur3_x86_32(&input, 0);
    let scaled = (u64::from(hash) * u64::from(total)) >> 32;
    u32::try_from(scaled).unwrap_or(u32::MAX)
}

/// The variant a split gives `key`: its bucket walked through the
/// cumulative weights. `None` when the weights are all zero.
pub fn pick<'a>(weights: &'a [Weighted], salt: &str, key: &str) -> Option<&'a str> {
    let total = weights
        .iter()
        .try_fold(0u32, |sum, w| sum.checked_add(w.weight))?;
    if total == 0 {
        return None;
    }
    let target = bucket(salt, key, total);
    let mut cumulative = 0u32;
    weights.iter().find_map(|w| {
        cumulative += w.weight;
        (target < cumulative).then_some(w.variant.as_str())
    })
}

/// Whether one condition holds. A missing (or null) attribute, or one of a
/// type the operator cannot compare, never satisfies a condition — not even
/// a negated one, so `country neq NL` does not match a context without a
/// country.
pub fn condition_holds(condition: &Condition, context: &Context) -> bool {
    let actual = match context.get(&condition.attribute) {
        None | Some(Value::Null) => return false,
        Some(actual) => actual,
    };
    let Some(operand) = condition.value.as_ref() else {
        let values = condition.values.as_deref().unwrap_or_default();
        return match condition.op {
            Op::In => values.iter().any(|v| json_equal(v, actual)),
            Op::NotIn => !values.iter().any(|v| json_equal(v, actual)),
            _ => false,
        };
    };
    let strings = || actual.as_str().zip(operand.as_str());
    let numbers = || actual.as_f64().zip(operand.as_f64());
    let versions = || {
        actual
            .as_str()
            .and_then(parse_semver)
            .zip(operand.as_str().and_then(parse_semver))
    };
    let instants = || timestamp(actual).zip(timestamp(operand));
    match condition.op {
        Op::Eq => json_equal(actual, operand),
        Op::Neq => !json_equal(actual, operand),
        Op::In | Op::NotIn => false,
        Op::StartsWith => strings().is_some_and(|(a, b)| a.starts_with(b)),
        Op::EndsWith => strings().is_some_and(|(a, b)| a.ends_with(b)),
        Op::Contains => strings().is_some_and(|(a, b)| a.contains(b)),
        Op::Matches => strings().is_some_and(|(a, pattern)| {
            crate::pattern::compile(pattern).is_ok_and(|re| re.is_match(a) == Ok(true))
        }),
        Op::Lt => numbers().is_some_and(|(a, b)| a < b),
        Op::Le => numbers().is_some_and(|(a, b)| a <= b),
        Op::Gt => numbers().is_some_and(|(a, b)| a > b),
        Op::Ge => numbers().is_some_and(|(a, b)| a >= b),
        Op::SemverLt => versions().is_some_and(|(a, b)| a < b),
        Op::SemverLe => versions().is_some_and(|(a, b)| a <= b),
        Op::SemverGt => versions().is_some_and(|(a, b)| a > b),
        Op::SemverGe => versions().is_some_and(|(a, b)| a >= b),
        Op::Before => instants().is_some_and(|(a, b)| a < b),
        Op::After => instants().is_some_and(|(a, b)| a > b),
    }
}

/// Parses a semantic version, accepting a leading `v` (`v1.4.0`).
pub fn parse_semver(text: &str) -> Option<semver::Version> {
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    semver::Version::parse(text).ok()
}

/// An instant in milliseconds: RFC 3339 text, or seconds since the epoch.
fn timestamp(value: &Value) -> Option<f64> {
    match value {
        Value::String(s) => parse_timestamp(s).ok().map(|ms| ms as f64),
        Value::Number(n) => n.as_f64().map(|s| s * 1_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(weights: &[(&str, u32)]) -> Vec<Weighted> {
        weights
            .iter()
            .map(|(v, w)| Weighted {
                variant: (*v).into(),
                weight: *w,
            })
            .collect()
    }

    #[test]
    fn fractional_boundaries_match_flagd() {
        let halves = split(&[("first", 50), ("second", 50)]);
        assert_eq!(pick(&halves, "", "ejOoVL"), Some("first"));
        assert_eq!(pick(&halves, "", "SI7p-"), Some("first"));
        assert_eq!(pick(&halves, "", "6LvT0"), Some("second"));
        assert_eq!(pick(&halves, "", "ceQdGm"), Some("second"));
    }

    #[test]
    fn zero_weights_pick_nothing() {
        assert_eq!(pick(&split(&[("a", 0), ("b", 0)]), "s", "k"), None);
        assert_eq!(pick(&[], "s", "k"), None);
    }
}
