//! Flag evaluation: a flag's targeting in one environment plus a context
//! gives a value, a variant and the reason — the same answer in the
//! server, the console's simulator and the SDK.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    Condition, Flag, Op, Rule, Serve, Weighted, json_schema::json_equal, murmur3::Murmur3,
    pattern::Pattern, time::parse_timestamp,
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
    /// No snapshot has been loaded yet: the caller's default.
    ProviderNotReady,
    /// Anything else.
    General,
}

impl Reason {
    /// The name OpenFeature gives it, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "STATIC",
            Self::TargetingMatch => "TARGETING_MATCH",
            Self::Split => "SPLIT",
            Self::Disabled => "DISABLED",
            Self::Default => "DEFAULT",
            Self::Error => "ERROR",
        }
    }
}

impl ErrorCode {
    /// The name OpenFeature gives it, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlagNotFound => "FLAG_NOT_FOUND",
            Self::ParseError => "PARSE_ERROR",
            Self::TypeMismatch => "TYPE_MISMATCH",
            Self::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            Self::InvalidContext => "INVALID_CONTEXT",
            Self::ProviderNotReady => "PROVIDER_NOT_READY",
            Self::General => "GENERAL",
        }
    }
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

/// Evaluates `flag` for `context`. To evaluate one flag many times,
/// prepare it once ([`PreparedFlag`]): this prepares it on every call.
pub fn evaluate(flag: &ResolvedFlag, context: &Context) -> Evaluation {
    PreparedFlag::new(flag).decide(context).to_evaluation()
}

/// A flag made ready to be evaluated many times: its patterns compiled,
/// its versions and instants parsed, its variants found and its splits'
/// weights summed — once, when a snapshot arrives, rather than on every
/// evaluation. Deciding allocates nothing.
#[derive(Debug, Clone)]
pub struct PreparedFlag {
    /// Variant name and value, by name.
    variants: Vec<(String, Value)>,
    off: Target,
    salt: String,
    enabled: bool,
    rules: Vec<PreparedRule>,
    default: PreparedServe,
}

/// A variant's index, or `None` when the flag names a variant it does not
/// have: serving it is a `PARSE_ERROR`.
type Target = Option<usize>;

#[derive(Debug, Clone)]
struct PreparedRule {
    when: Vec<PreparedCondition>,
    serve: PreparedServe,
}

#[derive(Debug, Clone)]
enum PreparedServe {
    Variant(Target),
    Split(PreparedSplit),
}

#[derive(Debug, Clone)]
struct PreparedSplit {
    attribute: String,
    /// Each variant with the cumulative weight its bucket range ends at.
    ends: Vec<(u32, Target)>,
    /// The sum of the weights; `None` when it is zero or overflows, and
    /// nobody can be placed.
    total: Option<u32>,
}

/// A condition with its operand converted once: what the attribute is
/// tested against.
#[derive(Debug, Clone)]
pub struct PreparedCondition {
    attribute: String,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Equal(Value),
    NotEqual(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Matches(Pattern),
    Number(Op, f64),
    Semver(Op, semver::Version),
    Instant(Op, f64),
    /// The operand cannot be compared this way (a number for `starts_with`,
    /// a pattern that does not compile): nothing satisfies it.
    Never,
}

/// The outcome of a prepared evaluation, borrowed from the flag: nothing
/// is copied until the caller asks ([`Decision::to_evaluation`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision<'a> {
    /// The served value; `None` on error.
    pub value: Option<&'a Value>,
    /// The served variant.
    pub variant: Option<&'a str>,
    /// Why.
    pub reason: Reason,
    /// The index of the rule that decided, if one did.
    pub rule: Option<usize>,
    /// What went wrong, when `reason` is `ERROR`.
    pub error: Option<ErrorCode>,
}

impl Decision<'_> {
    fn error(code: ErrorCode, rule: Option<usize>) -> Self {
        Self {
            value: None,
            variant: None,
            reason: Reason::Error,
            rule,
            error: Some(code),
        }
    }

    /// The owned form, as the API and the golden vectors write it.
    pub fn to_evaluation(&self) -> Evaluation {
        Evaluation {
            value: self.value.cloned(),
            variant: self.variant.map(str::to_owned),
            reason: self.reason,
            rule: self.rule,
            error: self.error,
        }
    }
}

impl PreparedFlag {
    /// Prepares `flag`.
    pub fn new(flag: &ResolvedFlag) -> Self {
        let variants: Vec<(String, Value)> = flag
            .variants
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let target = |name: &str| variants.iter().position(|(n, _)| n == name);
        let serve = |serve: &Serve| match serve {
            Serve::Variant(name) => PreparedServe::Variant(target(name)),
            Serve::Split(split) => {
                let mut cumulative = Some(0u32);
                let ends = split
                    .weights
                    .iter()
                    .map(|w| {
                        cumulative = cumulative.and_then(|sum| sum.checked_add(w.weight));
                        (cumulative.unwrap_or(u32::MAX), target(&w.variant))
                    })
                    .collect();
                PreparedServe::Split(PreparedSplit {
                    attribute: split.bucket_attribute().to_owned(),
                    ends,
                    total: cumulative.filter(|total| *total > 0),
                })
            }
        };
        Self {
            off: target(&flag.off),
            salt: flag.salt.clone(),
            enabled: flag.enabled,
            rules: flag
                .rules
                .iter()
                .map(|rule| PreparedRule {
                    when: rule.when.iter().map(PreparedCondition::new).collect(),
                    serve: serve(&rule.serve),
                })
                .collect(),
            default: serve(&flag.default),
            variants,
        }
    }

    /// The flag's variants, by name.
    pub fn variants(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.variants
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// Evaluates the flag for `context`.
    pub fn decide(&self, context: &Context) -> Decision<'_> {
        if !self.enabled {
            return self.serve_variant(self.off, Reason::Disabled, None);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.when.iter().all(|c| c.holds(context)) {
                return self.serve(&rule.serve, context, Reason::TargetingMatch, Some(i));
            }
        }
        let reason = if self.rules.is_empty() {
            Reason::Static
        } else {
            Reason::Default
        };
        self.serve(&self.default, context, reason, None)
    }

    fn serve(
        &self,
        serve: &PreparedServe,
        context: &Context,
        reason: Reason,
        rule: Option<usize>,
    ) -> Decision<'_> {
        match serve {
            PreparedServe::Variant(target) => self.serve_variant(*target, reason, rule),
            PreparedServe::Split(split) => match self.place(split, context) {
                Ok(target) => self.serve_variant(target, Reason::Split, rule),
                Err(code) => Decision::error(code, rule),
            },
        }
    }

    fn serve_variant(&self, target: Target, reason: Reason, rule: Option<usize>) -> Decision<'_> {
        match target.and_then(|i| self.variants.get(i)) {
            Some((name, value)) => Decision {
                value: Some(value),
                variant: Some(name),
                reason,
                rule,
                error: None,
            },
            None => Decision::error(ErrorCode::ParseError, rule),
        }
    }

    /// The variant `context`'s bucketing attribute falls in.
    fn place(&self, split: &PreparedSplit, context: &Context) -> Result<Target, ErrorCode> {
        let mut hasher = Murmur3::new(0);
        hasher.write(self.salt.as_bytes());
        match context.get(&split.attribute) {
            None | Some(Value::Null) => return Err(ErrorCode::TargetingKeyMissing),
            Some(Value::String(s)) => hasher.write(s.as_bytes()),
            Some(Value::Number(n)) => hasher.write(n.to_string().as_bytes()),
            Some(Value::Bool(b)) => hasher.write(if *b { b"true" } else { b"false" }),
            Some(Value::Array(_) | Value::Object(_)) => return Err(ErrorCode::InvalidContext),
        }
        let total = split.total.ok_or(ErrorCode::ParseError)?;
        let target = scale(hasher.finish(), total);
        split
            .ends
            .iter()
            .find(|(end, _)| target < *end)
            .map(|(_, target)| *target)
            .ok_or(ErrorCode::ParseError)
    }
}

/// The bucket, in `0..total`, that `salt + key` hashes to: flagd's
/// `fractional`, high-precision form.
pub fn bucket(salt: &str, key: &str, total: u32) -> u32 {
    let mut hasher = Murmur3::new(0);
    hasher.write(salt.as_bytes());
    hasher.write(key.as_bytes());
    scale(hasher.finish(), total)
}

fn scale(hash: u32, total: u32) -> u32 {
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
    PreparedCondition::new(condition).holds(context)
}

impl PreparedCondition {
    /// Prepares `condition`.
    pub fn new(condition: &Condition) -> Self {
        let Some(operand) = condition.value.as_ref() else {
            let values = condition.values.clone().unwrap_or_default();
            return Self {
                attribute: condition.attribute.clone(),
                test: match condition.op {
                    Op::In => Test::In(values),
                    Op::NotIn => Test::NotIn(values),
                    _ => Test::Never,
                },
            };
        };
        let string = || operand.as_str().map(str::to_owned);
        let test = match condition.op {
            Op::Eq => Some(Test::Equal(operand.clone())),
            Op::Neq => Some(Test::NotEqual(operand.clone())),
            Op::In | Op::NotIn => None,
            Op::StartsWith => string().map(Test::StartsWith),
            Op::EndsWith => string().map(Test::EndsWith),
            Op::Contains => string().map(Test::Contains),
            Op::Matches => operand
                .as_str()
                .and_then(|p| crate::pattern::compile(p).ok())
                .map(Test::Matches),
            op @ (Op::Lt | Op::Le | Op::Gt | Op::Ge) => {
                operand.as_f64().map(|b| Test::Number(op, b))
            }
            op @ (Op::SemverLt | Op::SemverLe | Op::SemverGt | Op::SemverGe) => operand
                .as_str()
                .and_then(parse_semver)
                .map(|b| Test::Semver(op, b)),
            op @ (Op::Before | Op::After) => timestamp(operand).map(|b| Test::Instant(op, b)),
        };
        Self {
            attribute: condition.attribute.clone(),
            test: test.unwrap_or(Test::Never),
        }
    }

    /// Whether it holds for `context`.
    pub fn holds(&self, context: &Context) -> bool {
        let actual = match context.get(&self.attribute) {
            None | Some(Value::Null) => return false,
            Some(actual) => actual,
        };
        match &self.test {
            Test::Equal(operand) => json_equal(actual, operand),
            Test::NotEqual(operand) => !json_equal(actual, operand),
            Test::In(values) => values.iter().any(|v| json_equal(v, actual)),
            Test::NotIn(values) => !values.iter().any(|v| json_equal(v, actual)),
            Test::StartsWith(b) => actual.as_str().is_some_and(|a| a.starts_with(b.as_str())),
            Test::EndsWith(b) => actual.as_str().is_some_and(|a| a.ends_with(b.as_str())),
            Test::Contains(b) => actual.as_str().is_some_and(|a| a.contains(b.as_str())),
            Test::Matches(pattern) => actual
                .as_str()
                .is_some_and(|a| pattern.is_match(a) == Ok(true)),
            Test::Number(op, b) => actual.as_f64().is_some_and(|a| compare(*op, &a, b)),
            Test::Semver(op, b) => actual
                .as_str()
                .and_then(parse_semver)
                .is_some_and(|a| compare(*op, &a, b)),
            Test::Instant(op, b) => timestamp(actual).is_some_and(|a| compare(*op, &a, b)),
            Test::Never => false,
        }
    }
}

/// `a op b` for the ordering operators (any other is false).
fn compare<T: PartialOrd>(op: Op, a: &T, b: &T) -> bool {
    match op {
        Op::Lt | Op::SemverLt | Op::Before => a < b,
        Op::Le | Op::SemverLe => a <= b,
        Op::Gt | Op::SemverGt | Op::After => a > b,
        Op::Ge | Op::SemverGe => a >= b,
        _ => false,
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

    #[test]
    fn names_are_what_serde_writes() {
        use ErrorCode as E;
        use Reason as R;
        let reasons = [
            R::Static,
            R::TargetingMatch,
            R::Split,
            R::Disabled,
            R::Default,
            R::Error,
        ];
        for reason in reasons {
            assert_eq!(
                serde_json::to_value(reason).expect("serializes"),
                reason.as_str()
            );
        }
        let codes = [
            E::FlagNotFound,
            E::ParseError,
            E::TypeMismatch,
            E::TargetingKeyMissing,
            E::InvalidContext,
            E::ProviderNotReady,
            E::General,
        ];
        for code in codes {
            assert_eq!(
                serde_json::to_value(code).expect("serializes"),
                code.as_str()
            );
        }
    }

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
