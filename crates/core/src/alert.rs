//! Alertmanager-style label matchers (`alertname=X`, `env!=dev`,
//! `service=~check.*`, `team!~ops|sre`) that decide which alerts trip which
//! breakers.

use std::collections::BTreeMap;

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (anchored, as in Alertmanager)
    Regex,
    /// `!~`
    NotRegex,
}

/// One parsed label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub label: String,
    /// The comparison.
    pub op: MatchOp,
    /// The operand as written.
    pub value: String,
    regex: Option<regex_lite::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Parses `label<op>value`; the value may be double-quoted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let at = text.find(['=', '!']).ok_or_else(|| {
            "expected label=value, label!=value, label=~regex or label!~regex".to_string()
        })?;
        let label = text[..at].trim();
        let rest = &text[at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err("expected =, !=, =~ or !~ after the label".into());
        };
        if label.is_empty()
            || !label
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("{label:?} is not a label name"));
        }
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(unquoted) => unquoted,
            None => value,
        };
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex_lite::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("the regular expression does not compile: {e}"))?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            label: label.into(),
            op,
            value: value.into(),
            regex,
        })
    }

    /// Whether an alert's labels satisfy this matcher. A missing label
    /// reads as empty, as in Alertmanager.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let actual = labels.get(&self.label).map_or("", String::as_str);
        let regex_match = || self.regex.as_ref().is_some_and(|re| re.is_match(actual));
        match self.op {
            MatchOp::Equal => actual == self.value,
            MatchOp::NotEqual => actual != self.value,
            MatchOp::Regex => regex_match(),
            MatchOp::NotRegex => !regex_match(),
        }
    }
}

/// Whether every matcher of a set holds for `labels`. Unparsable matchers
/// never match (validation rejects them before they are stored).
pub fn set_matches(set: &[String], labels: &BTreeMap<String, String>) -> bool {
    !set.is_empty()
        && set
            .iter()
            .all(|m| Matcher::parse(m).is_ok_and(|m| m.matches(labels)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn matches_like_alertmanager() {
        let l = labels(&[("alertname", "PaymentsErrorRate"), ("service", "checkout")]);
        assert!(set_matches(
            &[
                "alertname=PaymentsErrorRate".into(),
                "service=checkout".into()
            ],
            &l
        ));
        assert!(set_matches(&["service=~check.*".into()], &l));
        assert!(
            !set_matches(&["service=~check".into()], &l),
            "regexes are anchored"
        );
        assert!(
            set_matches(&["env!=prod".into()], &l),
            "a missing label reads as empty"
        );
        assert!(set_matches(
            &[r#"alertname="PaymentsErrorRate""#.into()],
            &l
        ));
        assert!(!set_matches(&["service!~check.*".into()], &l));
        assert!(!set_matches(&[], &l), "an empty set matches nothing");
    }

    #[test]
    fn rejects_malformed_matchers() {
        for bad in ["alertname", "=x", "1abc=x", "a b=x", "svc=~(", "svc!x"] {
            assert!(Matcher::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
