//! [`JsonText`]: a JSON document kept as its text.
//!
//! Results, audit details and change-feed rows are written once and then only stored and
//! sent on. Keeping them as text (not as a `serde_json::Value` tree) means a value is
//! serialized once, straight from the typed struct that made it, is stored and answered
//! with a copy of the bytes, and costs one allocation to keep and to drop.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A valid JSON document, held as its text. Serializes verbatim; two are equal when their
/// texts are (a stored document reads back byte for byte as it was written).
#[derive(Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// Serializes `value` (a typed struct or a `serde_json::Value`).
    ///
    /// Fails only for values JSON cannot hold (a map with non-string keys, a failing
    /// custom `Serialize`), which none of the wire or record types is.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(JsonText)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(value: serde_json::Value) -> Self {
        JsonText::from(&value)
    }
}

impl From<&serde_json::Value> for JsonText {
    fn from(value: &serde_json::Value) -> Self {
        // A `Value`'s map keys are strings, so serializing it cannot fail.
        JsonText(serde_json::value::to_raw_value(value).expect("a serde_json::Value always serializes"))
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JsonText {}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(JsonText)
    }
}

/// In the OpenAPI document a `JsonText` is any JSON value (its shape is the op's or the
/// answer's own, documented where it is used).
impl utoipa::PartialSchema for JsonText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
            .description(Some("Any JSON value, kept as sent."))
            .into()
    }
}

impl utoipa::ToSchema for JsonText {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_verbatim_and_round_trips() {
        let t = JsonText::of(&json!({"b": 1, "a": [true, null]})).unwrap();
        assert_eq!(t.as_str(), r#"{"a":[true,null],"b":1}"#);
        let outer = serde_json::to_string(&json!({"x": 1})).unwrap();
        assert_eq!(outer, r#"{"x":1}"#);
        #[derive(Serialize, Deserialize)]
        struct Wrap {
            r: Option<JsonText>,
        }
        let s = serde_json::to_string(&Wrap { r: Some(t.clone()) }).unwrap();
        assert_eq!(s, r#"{"r":{"a":[true,null],"b":1}}"#);
        let back: Wrap = serde_json::from_str(&s).unwrap();
        assert_eq!(back.r, Some(t.clone()));
        let from_value: Wrap = serde_json::from_value(json!({"r": {"k": "v"}})).unwrap();
        assert_eq!(from_value.r.unwrap().as_str(), r#"{"k":"v"}"#);
    }

    #[test]
    fn refuses_text_that_is_not_json() {
        // How a store reads a column back.
        assert!(serde_json::from_str::<JsonText>("{\"a\":").is_err());
        assert!(serde_json::from_str::<JsonText>("1 2").is_err());
        assert_eq!(serde_json::from_str::<JsonText>("[1]").unwrap().as_str(), "[1]");
    }
}
