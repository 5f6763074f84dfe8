//! `AppJson` and `AppQuery`: axum's extractors with rejections turned into problem documents,
//! so that a malformed body or query string gets the same error shape as everything else.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// JSON body extractor and responder.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::BytesRejection(inner)
            if inner.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::PayloadTooLarge("request body is too large".into())
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::invalid_body("expected a body with content-type application/json")
        }
        other => ApiError::invalid_body(other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query-string extractor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    // serde_urlencoded's messages name the field: "latitude: invalid float literal".
    ApiError::bad_request(
        rejection
            .body_text()
            .replace("Failed to deserialize query string: ", ""),
    )
}

/// Path parameter extractor (`/{id}`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(AppPath(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// An integer as clients write it: `42`, and also a whole number written as a float, `42.0`
/// or `4.2e1`, which JSON Schema's `integer` allows and generated clients send. A fraction,
/// a non-finite value or one outside `i64` is refused. This one reads query and path
/// strings (and JSON numbers): `AppPath<Integer>`, or [`integer`] and [`optional_integer`]
/// in `#[serde(deserialize_with = ...)]` of a query's fields. JSON bodies use
/// [`json_integer`] and [`json_optional_integer`], which refuse a number in a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer(pub i64);

impl<'de> serde::Deserialize<'de> for Integer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(IntegerVisitor { strings: true })
            .map(Integer)
    }
}

/// A JSON number that is an integer, possibly written as a whole float (see [`Integer`]).
struct JsonInteger(i64);

impl<'de> serde::Deserialize<'de> for JsonInteger {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(IntegerVisitor { strings: false })
            .map(JsonInteger)
    }
}

/// `#[serde(deserialize_with = "kit::extract::integer")]` on an `i64` query field: see
/// [`Integer`].
pub fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    <Integer as serde::Deserialize>::deserialize(deserializer).map(|i| i.0)
}

/// `#[serde(default, deserialize_with = "kit::extract::optional_integer")]` on an
/// `Option<i64>` query field: see [`Integer`].
pub fn optional_integer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    <Option<Integer> as serde::Deserialize>::deserialize(deserializer).map(|o| o.map(|i| i.0))
}

/// `#[serde(deserialize_with = "kit::extract::json_integer")]` on an `i64` field of a JSON
/// body: a number, integer or whole float (see [`Integer`]); a string is refused.
pub fn json_integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    <JsonInteger as serde::Deserialize>::deserialize(deserializer).map(|i| i.0)
}

/// `#[serde(default, deserialize_with = "kit::extract::json_optional_integer")]` on an
/// `Option<i64>` field of a JSON body: `null`, absent, or as [`json_integer`].
pub fn json_optional_integer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    <Option<JsonInteger> as serde::Deserialize>::deserialize(deserializer).map(|o| o.map(|i| i.0))
}

struct IntegerVisitor {
    /// Whether a string holding an integer is taken (query and path values are strings).
    strings: bool,
}

/// `value` as an `i64` when it is a whole number within range.
fn whole(value: f64) -> Option<i64> {
    // -2^63 and 2^63 are exact in f64; `fract` of an infinity or NaN is NaN.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value)).then_some(value as i64)
}

impl<'de> serde::de::Visitor<'de> for IntegerVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(value), &self))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i64, E> {
        whole(value).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Float(value), &self))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<i64, E> {
        let unexpected = serde::de::Unexpected::Str(value);
        if !self.strings {
            return Err(E::invalid_type(unexpected, &self));
        }
        value
            .parse::<i64>()
            .ok()
            .or_else(|| value.parse::<f64>().ok().and_then(whole))
            .ok_or_else(|| E::invalid_value(unexpected, &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Query {
        #[serde(default, deserialize_with = "optional_integer")]
        limit: Option<i64>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "json_integer")]
        id: i64,
        #[serde(default, deserialize_with = "json_optional_integer")]
        other: Option<i64>,
    }

    fn query(text: &str) -> Result<Query, axum::extract::rejection::QueryRejection> {
        let uri: axum::http::Uri = format!("/x?{text}").parse().unwrap();
        axum::extract::Query::<Query>::try_from_uri(&uri).map(|q| q.0)
    }

    #[test]
    fn query_integers_may_be_written_as_whole_floats() {
        for (text, want) in [
            ("limit=7", Some(7)),
            ("limit=-368.0", Some(-368)),
            ("limit=1e2", Some(100)),
            ("limit=-0.0", Some(0)),
            ("limit=9223372036854775807", Some(i64::MAX)),
            ("", None),
        ] {
            assert_eq!(query(text).unwrap().limit, want, "{text}");
        }
        for bad in [
            "limit=1.5",
            "limit=",
            "limit=x",
            "limit=inf",
            "limit=NaN",
            "limit=1e19",
            "limit=9223372036854775808",
        ] {
            assert!(query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_integers_are_numbers_maybe_whole_floats() {
        for (json, id, other) in [
            (r#"{"id": 5}"#, 5, None),
            (r#"{"id": -368.0, "other": null}"#, -368, None),
            (
                r#"{"id": 9223372036854775807, "other": 2.0}"#,
                i64::MAX,
                Some(2),
            ),
        ] {
            let body: Body = serde_json::from_str(json).unwrap();
            assert_eq!((body.id, body.other), (id, other), "{json}");
        }
        for bad in [
            r#"{"id": 0.5}"#,
            r#"{"id": "5"}"#,
            r#"{"id": 9223372036854775808}"#,
            r#"{"id": -1e300}"#,
            r#"{"id": null}"#,
            r#"{"id": 1, "other": "2"}"#,
        ] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }
}
