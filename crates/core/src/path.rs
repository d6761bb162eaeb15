//! Field paths: where in a document a problem or a difference sits.

use std::fmt;

/// A location inside a JSON document, printed as `flags.new-checkout.environments.prod.rules[2].serve`.
///
/// Keys that are not plain identifiers (schema keys contain dots, e.g.
/// `routing.us-east.weight`) are printed in brackets and quotes so that the
/// path stays unambiguous: `schema["routing.us-east.weight"].default`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<Segment>);

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by an object member.
    #[must_use]
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }

    /// This path extended by an array element.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// `other`, taken as relative to this path.
    #[must_use]
    pub fn join(&self, other: &Self) -> Self {
        let mut next = self.clone();
        next.0.extend(other.0.iter().cloned());
        next
    }

    /// The steps from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{}]", serde_json::Value::from(key.as_str()))?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl serde::Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A printed path that does not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a field path at character {at}: {path:?}")]
pub struct BadPath {
    /// The text.
    pub path: String,
    /// Where it stops making sense.
    pub at: usize,
}

impl std::str::FromStr for FieldPath {
    type Err = BadPath;

    /// Reads what [`Display`](fmt::Display) prints.
    fn from_str(text: &str) -> Result<Self, BadPath> {
        let bad = |at: usize| BadPath {
            path: text.to_string(),
            at,
        };
        let mut path = Self::root();
        let mut rest = text;
        while !rest.is_empty() {
            let at = text.len() - rest.len();
            if let Some(inner) = rest.strip_prefix('[') {
                let end = if inner.starts_with('"') {
                    // A JSON string: its end is the first unescaped quote.
                    let mut stream =
                        serde_json::Deserializer::from_str(inner).into_iter::<String>();
                    let key = stream.next().and_then(Result::ok).ok_or_else(|| bad(at))?;
                    path.0.push(Segment::Key(key));
                    stream.byte_offset()
                } else {
                    let digits = inner.find(']').ok_or_else(|| bad(at))?;
                    let index = inner[..digits].parse().map_err(|_| bad(at))?;
                    path.0.push(Segment::Index(index));
                    digits
                };
                rest = inner[end..].strip_prefix(']').ok_or_else(|| bad(at))?;
            } else {
                let key = if path.0.is_empty() {
                    rest
                } else {
                    rest.strip_prefix('.').ok_or_else(|| bad(at))?
                };
                let end = key.find(['.', '[']).unwrap_or(key.len());
                if !is_plain(&key[..end]) {
                    return Err(bad(at));
                }
                path.0.push(Segment::Key(key[..end].to_string()));
                rest = &key[end..];
            }
        }
        Ok(path)
    }
}

impl<'de> serde::Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_prints() {
        let path = FieldPath::root()
            .key("schema")
            .key("routing.us-east.weight")
            .key("a\"b]")
            .index(12)
            .key("default");
        assert_eq!(path.to_string().parse(), Ok(path.clone()));
        assert_eq!("".parse(), Ok(FieldPath::root()));
        for bad in ["a..b", "a[", "a[x]", "[\"open", "a b", ".a"] {
            assert!(bad.parse::<FieldPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_plain_keys_with_dots_and_indexes_in_brackets() {
        let path = FieldPath::root()
            .key("flags")
            .key("new-checkout")
            .key("environments")
            .key("prod")
            .key("rules")
            .index(2)
            .key("serve");
        assert_eq!(
            path.to_string(),
            "flags.new-checkout.environments.prod.rules[2].serve"
        );
    }

    #[test]
    fn quotes_keys_that_contain_dots() {
        let path = FieldPath::root()
            .key("schema")
            .key("routing.us-east.weight")
            .key("default");
        assert_eq!(
            path.to_string(),
            r#"schema["routing.us-east.weight"].default"#
        );
    }

    #[test]
    fn root_is_empty() {
        assert_eq!(FieldPath::root().to_string(), "");
    }
}
