//! Validation errors: what rule was broken, where, in words and as a code.

use serde::Serialize;

use crate::FieldPath;

/// One problem found in a document, at a field path.
///
/// Serializes to `{"path", "code", "message"}` — the shape the server's
/// `422` responses and the console's field errors share.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Where the problem is.
    pub path: FieldPath,
    /// What rule was broken.
    pub kind: ViolationKind,
}

impl Violation {
    /// A violation of `kind` at `path`.
    pub fn new(path: FieldPath, kind: ViolationKind) -> Self {
        Self { path, kind }
    }

    /// The stable machine code, e.g. `above_max`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.segments().is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl Serialize for Violation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Violation", 3)?;
        s.serialize_field("path", &self.path)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.kind.to_string())?;
        s.end()
    }
}

/// The rules a document can break. Each carries what a person needs to fix
/// it; [`ViolationKind::code`] is the stable name clients switch on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ViolationKind {
    /// The text is not JSON.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    JsonSyntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's explanation.
        message: String,
    },
    /// The JSON does not have the document's shape (wrong type, unknown field).
    #[error("{0}")]
    Structure(String),
    /// A name (service, environment, key, flag, variant, …) is malformed.
    #[error(
        "{what} name {name:?} is invalid: use 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidName {
        /// What kind of name.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// The same name appears twice in a list.
    #[error("{name:?} appears more than once")]
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// A constraint was given that this type of key does not have.
    #[error("`{constraint}` does not apply to {kind} keys")]
    ConstraintNotApplicable {
        /// The constraint's field name.
        constraint: &'static str,
        /// The key's type.
        kind: &'static str,
    },
    /// A constraint's own value is unusable.
    #[error("`{constraint}` {reason}")]
    InvalidConstraint {
        /// The constraint's field name.
        constraint: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// A regular expression does not compile.
    #[error("regular expression {pattern:?} does not compile: {reason}")]
    InvalidRegex {
        /// The expression.
        pattern: String,
        /// The compiler's explanation.
        reason: String,
    },
    /// A value has the wrong JSON type for its key.
    #[error("expected {expected}, found {found}")]
    TypeMismatch {
        /// What the key's type needs.
        expected: &'static str,
        /// What was given.
        found: &'static str,
    },
    /// A value is below its minimum.
    #[error("{value} is below the minimum {min}")]
    BelowMin {
        /// The value.
        value: String,
        /// The bound.
        min: String,
    },
    /// A value is above its maximum.
    #[error("{value} is above the maximum {max}")]
    AboveMax {
        /// The value.
        value: String,
        /// The bound.
        max: String,
    },
    /// A string is shorter than allowed.
    #[error("{length} characters is shorter than the minimum {min}")]
    TooShort {
        /// Its length in characters.
        length: u64,
        /// The bound.
        min: u64,
    },
    /// A string is longer than allowed.
    #[error("{length} characters is longer than the maximum {max}")]
    TooLong {
        /// Its length in characters.
        length: u64,
        /// The bound.
        max: u64,
    },
    /// A string does not match its key's pattern.
    #[error("{value:?} does not match the pattern {pattern:?}")]
    PatternMismatch {
        /// The value.
        value: String,
        /// The pattern.
        pattern: String,
    },
    /// A string is not one of the allowed values.
    #[error("{value:?} is not one of {}", allowed.join(", "))]
    NotInEnum {
        /// The value.
        value: String,
        /// The allowed values.
        allowed: Vec<String>,
    },
    /// A duration is not written the way durations are.
    #[error("{value:?} is not a duration: {reason}")]
    InvalidDuration {
        /// The text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Weights do not sum to 100.
    #[error("weights sum to {sum}, not 100")]
    WeightsSum {
        /// The actual sum.
        sum: u64,
    },
    /// A weights map lacks names its key requires, or has others.
    #[error("{}", weights_keys_message(missing, unexpected))]
    WeightsKeys {
        /// Required names that are absent.
        missing: Vec<String>,
        /// Names that are not allowed.
        unexpected: Vec<String>,
    },
    /// A `ref` is malformed.
    #[error("{0}")]
    InvalidRef(String),
    /// A `json` value breaks its key's JSON Schema.
    #[error("{0}")]
    JsonSchema(String),
    /// A value nests arrays and objects too deeply.
    #[error("value nests {depth} levels deep, over the limit of {limit}")]
    TooDeep {
        /// Its nesting depth.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// Checking the document's patterns would cost more than the budget.
    #[error(
        "checking this document's values against their patterns costs more than the budget of {limit} units; shorten the values or simplify the patterns"
    )]
    TooCostly {
        /// The budget.
        limit: u64,
    },
    /// A value is larger than the size limit.
    #[error(
        "value is {size} bytes, over the limit of {limit} bytes; keep large data elsewhere and point to it with a `ref` key"
    )]
    TooLarge {
        /// Its size as compact JSON.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A value is set for a key the schema does not have.
    #[error("key {key:?} is not in the schema")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// An environment that does not exist.
    #[error("environment {environment:?} does not exist")]
    UnknownEnvironment {
        /// The environment.
        environment: String,
    },
    /// A flag has no variants.
    #[error("a flag needs at least one variant")]
    NoVariants,
    /// A variant's value has a different JSON type from the others.
    #[error("variant {variant:?} is {found} but the flag's variants are {expected}")]
    VariantTypeMismatch {
        /// The odd variant.
        variant: String,
        /// The type of the flag's other variants.
        expected: &'static str,
        /// This variant's type.
        found: &'static str,
    },
    /// A variant is referenced that the flag does not define.
    #[error("variant {variant:?} is not defined by the flag")]
    UnknownVariant {
        /// The name referenced.
        variant: String,
    },
    /// A split's weights do not sum to 100.
    #[error("split weights sum to {sum}, not 100")]
    SplitSum {
        /// The actual sum.
        sum: u64,
    },
    /// A condition lacks the operand its operator needs.
    #[error("operator `{op}` needs `{field}`")]
    MissingOperand {
        /// The operator.
        op: &'static str,
        /// The field it needs.
        field: &'static str,
    },
    /// A condition has an operand its operator does not use.
    #[error("operator `{op}` does not use `{field}`")]
    UnexpectedOperand {
        /// The operator.
        op: &'static str,
        /// The field given.
        field: &'static str,
    },
    /// A condition's operand has the wrong form for its operator.
    #[error("operator `{op}` needs {expected}")]
    InvalidOperand {
        /// The operator.
        op: &'static str,
        /// What it needs.
        expected: &'static str,
    },
    /// An alert label matcher is malformed.
    #[error("matcher {matcher:?} is invalid: {reason}")]
    InvalidMatcher {
        /// The matcher text.
        matcher: String,
        /// What is wrong.
        reason: String,
    },
    /// An alert matcher set is empty, which would match every alert.
    #[error("a matcher set must not be empty: it would match every alert")]
    EmptyMatcherSet,
    /// In a folder of documents, one per service, a file is named for
    /// another service than the one it defines.
    #[error(
        "the file is named for {file:?} but defines {service:?}: name each file for its service"
    )]
    NameNotFile {
        /// The service the document defines.
        service: String,
        /// The file's name without its extension.
        file: String,
    },
    /// An environment policy is malformed.
    #[error("{0}")]
    InvalidPolicy(String),
    /// A rollout plan is malformed or does not fit its flag.
    #[error("{0}")]
    InvalidRollout(String),
    /// In a folder of documents, more than one file defines a service.
    #[error("{service:?} is also defined in {}", others.join(", "))]
    ClaimedTwice {
        /// The service.
        service: String,
        /// The other files defining it.
        others: Vec<String>,
    },
}

fn weights_keys_message(missing: &[String], unexpected: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("not allowed: {}", unexpected.join(", ")));
    }
    parts.join("; ")
}

impl ViolationKind {
    /// The stable machine code of this rule.
    pub fn code(&self) -> &'static str {
        match self {
            Self::JsonSyntax { .. } => "json_syntax",
            Self::Structure(_) => "invalid_structure",
            Self::InvalidName { .. } => "invalid_name",
            Self::Duplicate { .. } => "duplicate",
            Self::ConstraintNotApplicable { .. } => "constraint_not_applicable",
            Self::InvalidConstraint { .. } => "invalid_constraint",
            Self::InvalidRegex { .. } => "invalid_regex",
            Self::TypeMismatch { .. } => "type_mismatch",
            Self::BelowMin { .. } => "below_min",
            Self::AboveMax { .. } => "above_max",
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::PatternMismatch { .. } => "pattern_mismatch",
            Self::NotInEnum { .. } => "not_in_enum",
            Self::InvalidDuration { .. } => "invalid_duration",
            Self::WeightsSum { .. } => "weights_sum",
            Self::WeightsKeys { .. } => "weights_keys",
            Self::InvalidRef(_) => "invalid_ref",
            Self::JsonSchema(_) => "json_schema",
            Self::TooLarge { .. } => "too_large",
            Self::TooDeep { .. } => "too_deep",
            Self::TooCostly { .. } => "too_costly",
            Self::UnknownKey { .. } => "unknown_key",
            Self::UnknownEnvironment { .. } => "unknown_environment",
            Self::NoVariants => "no_variants",
            Self::VariantTypeMismatch { .. } => "variant_type_mismatch",
            Self::UnknownVariant { .. } => "unknown_variant",
            Self::SplitSum { .. } => "split_sum",
            Self::MissingOperand { .. } => "missing_operand",
            Self::UnexpectedOperand { .. } => "unexpected_operand",
            Self::InvalidOperand { .. } => "invalid_operand",
            Self::InvalidMatcher { .. } => "invalid_matcher",
            Self::EmptyMatcherSet => "empty_matcher_set",
            Self::NameNotFile { .. } => "name_not_file",
            Self::ClaimedTwice { .. } => "claimed_twice",
            Self::InvalidPolicy(_) => "invalid_policy",
            Self::InvalidRollout(_) => "invalid_rollout",
        }
    }
}

/// The JSON type name of a value, for messages.
pub fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
