//! The Rust types a key or a flag can be read as, and how each is read
//! from a snapshot's JSON.
//!
//! A snapshot is checked against these conversions when it arrives: a
//! registered key whose value does not convert rejects the whole snapshot,
//! so a read never fails later.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A type a registered key or flag is read as.
///
/// Implemented for `bool`, the integer types (the value must be a JSON
/// integer in the type's range), `f64` and `f32`, `String`, [`Duration`]
/// (Setpoint's `duration` keys: `"250ms"`, `"2s"`, `"1h30m"`),
/// [`serde_json::Value`] (anything), `Option<T>` (`null` is `None`),
/// `Vec<T>`, maps of `String` to `T` (a `weights` key), and [`Json<T>`]
/// for any `serde` type (a `json` key read as a struct).
pub trait Setting: Clone + Send + Sync + 'static {
    /// What the JSON must be, in words, for the reason of a rejected
    /// snapshot ("an integer from 0 to 4294967295").
    fn expected() -> String;

    /// The value, or `None` when the JSON is not of this type.
    fn from_json(value: &Value) -> Option<Self>;
}

impl Setting for bool {
    fn expected() -> String {
        "a boolean".into()
    }

    fn from_json(value: &Value) -> Option<Self> {
        value.as_bool()
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl Setting for $t {
            fn expected() -> String {
                format!("an integer from {} to {}", <$t>::MIN, <$t>::MAX)
            }

            fn from_json(value: &Value) -> Option<Self> {
                match value {
                    Value::Number(n) if n.is_u64() => n.as_u64().and_then(|n| n.try_into().ok()),
                    Value::Number(n) => n.as_i64().and_then(|n| n.try_into().ok()),
                    _ => None,
                }
            }
        }
    )*};
}

integers!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl Setting for f64 {
    fn expected() -> String {
        "a number".into()
    }

    fn from_json(value: &Value) -> Option<Self> {
        value.as_f64()
    }
}

impl Setting for f32 {
    fn expected() -> String {
        "a number".into()
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "an f32 reader asked for f32 precision"
    )]
    fn from_json(value: &Value) -> Option<Self> {
        value.as_f64().map(|n| n as f32)
    }
}

impl Setting for String {
    fn expected() -> String {
        "a string".into()
    }

    fn from_json(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
}

impl Setting for Duration {
    fn expected() -> String {
        "a duration such as \"250ms\" or \"2s\"".into()
    }

    fn from_json(value: &Value) -> Option<Self> {
        let millis = setpoint_core::time::parse_duration(value.as_str()?).ok()?;
        Some(Duration::from_millis(millis))
    }
}

impl Setting for Value {
    fn expected() -> String {
        "any JSON".into()
    }

    fn from_json(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
}

impl<T: Setting> Setting for Option<T> {
    fn expected() -> String {
        format!("null or {}", T::expected())
    }

    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            value => T::from_json(value).map(Some),
        }
    }
}

impl<T: Setting> Setting for Vec<T> {
    fn expected() -> String {
        format!("a list, each {}", T::expected())
    }

    fn from_json(value: &Value) -> Option<Self> {
        value.as_array()?.iter().map(T::from_json).collect()
    }
}

impl<T: Setting> Setting for BTreeMap<String, T> {
    fn expected() -> String {
        format!("an object, each value {}", T::expected())
    }

    fn from_json(value: &Value) -> Option<Self> {
        value
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), T::from_json(v)?)))
            .collect()
    }
}

impl<T, S> Setting for HashMap<String, T, S>
where
    T: Setting,
    S: std::hash::BuildHasher + Default + Clone + Send + Sync + 'static,
{
    fn expected() -> String {
        BTreeMap::<String, T>::expected()
    }

    fn from_json(value: &Value) -> Option<Self> {
        value
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), T::from_json(v)?)))
            .collect()
    }
}

/// A key read as any `serde` type — a `json` key as the struct it holds:
/// `builder.key("retry.policy", Json(Retry { attempts: 3 }))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T> Setting for Json<T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn expected() -> String {
        format!("JSON that reads as {}", std::any::type_name::<T>())
    }

    fn from_json(value: &Value) -> Option<Self> {
        T::deserialize(value).ok().map(Json)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[test]
    fn integers_are_read_only_within_their_range() {
        assert_eq!(u32::from_json(&json!(500)), Some(500));
        assert_eq!(u32::from_json(&json!(-1)), None);
        assert_eq!(u8::from_json(&json!(256)), None);
        assert_eq!(i64::from_json(&json!(-7)), Some(-7));
        assert_eq!(u64::from_json(&json!(u64::MAX)), Some(u64::MAX));
        assert_eq!(i64::from_json(&json!(1.5)), None, "no silent rounding");
        assert_eq!(i64::from_json(&json!("5")), None);
        assert!(u32::expected().contains("4294967295"));
    }

    #[test]
    fn durations_read_setpoint_duration_text() {
        assert_eq!(
            Duration::from_json(&json!("2s")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            Duration::from_json(&json!("250ms")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(Duration::from_json(&json!(2)), None);
        assert_eq!(Duration::from_json(&json!("soon")), None);
    }

    #[test]
    fn containers_read_every_element_or_nothing() {
        assert_eq!(
            BTreeMap::<String, u32>::from_json(&json!({"us": 60, "eu": 40})),
            Some(BTreeMap::from([("eu".into(), 40), ("us".into(), 60)]))
        );
        assert_eq!(Vec::<u32>::from_json(&json!([1, "two"])), None);
        assert_eq!(Option::<bool>::from_json(&json!(null)), Some(None));
        assert_eq!(Option::<bool>::from_json(&json!(1)), None);
    }

    #[test]
    fn json_keys_read_as_structs() {
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        struct Retry {
            attempts: u8,
        }
        assert_eq!(
            Json::<Retry>::from_json(&json!({"attempts": 3})),
            Some(Json(Retry { attempts: 3 }))
        );
        assert_eq!(Json::<Retry>::from_json(&json!({"tries": 3})), None);
    }
}
