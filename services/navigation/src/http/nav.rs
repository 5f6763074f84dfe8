//! `GET /v1/nav`: directions between places given as `lat,lng` or text.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use geo_core::LatLon;
use kit::ApiError;
use kit::extract::AppQuery;
use routing::Mode;
use routing::astar::Avoid;
use serde::Deserialize;

use crate::planner::PlanOptions;
use crate::response::DirectionsResponse;
use crate::service::{Departure, NavRequest, NavState, Stop};

pub(super) fn router() -> Router<NavState> {
    Router::new().route("/v1/nav", get(directions))
}

/// Longest free-text place accepted.
pub const MAX_TEXT_CHARS: usize = 200;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NavParams {
    /// Where the route starts (format `place`): `lat,lng` in degrees (latitude -90..=90,
    /// longitude -180..=180, finite), or an address or place name to geocode (at most 200
    /// characters, no control characters, at least one letter or digit).
    #[param(required = true, value_type = String, format = "place")]
    pub origin: Option<String>,
    /// Where the route ends (format `place`, as `origin`).
    #[param(required = true, value_type = String, format = "place")]
    pub destination: Option<String>,
    /// `driving` (default), `walking` or `cycling` (`bicycling` also accepted).
    #[param(pattern = "^(driving|walking|cycling|bicycling)$")]
    pub mode: Option<String>,
    /// `true` (or `1`) for up to three meaningfully different routes, fastest first. Only
    /// between two stops: with `waypoints` or `exact=true` it is a 400.
    #[param(pattern = "^(true|false|1|0)$")]
    pub alternatives: Option<String>,
    /// Comma or `|` separated: `highways`, `tolls`, `ferries`.
    #[param(pattern = "^(highways|tolls|ferries)([,|](highways|tolls|ferries))*$")]
    pub avoid: Option<String>,
    /// Stops visited in the given order (format `waypoints`): `|` separated, each a `place`
    /// as `origin`, optionally prefixed `via:`; at most `MAX_WAYPOINTS` (default 23), more is
    /// a 400. Not with `alternatives=true` or `exact=true`.
    #[param(format = "waypoints")]
    pub waypoints: Option<String>,
    /// `now` or a Unix time in seconds, not in the past. With driving, each leg gets
    /// `duration_in_traffic`: live speeds for departures within 15 minutes, the typical
    /// speeds of that hour of the week beyond, free flow where traffic knows nothing.
    #[param(pattern = "^(now|[0-9]{1,19})$")]
    pub departure_time: Option<String>,
    /// `true` (or `1`) searches every road level everywhere (no hierarchy): for checking
    /// one route, so it takes neither `waypoints` nor `alternatives=true` (400).
    #[param(pattern = "^(true|false|1|0)$")]
    pub exact: Option<String>,
}

/// Google's `INVALID_REQUEST`, as a 400 problem (shared with geocoding).
pub(super) fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code: kit::problem::code::INVALID_REQUEST,
        detail: detail.into(),
    }
}

/// Exactly `true`, `false`, `1` or `0`, as the document states; absent is false.
fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(bad(format!("{name} must be true or false, not {other:?}"))),
    }
}

/// `lat,lng` (range-checked) or free text (length- and sanity-checked).
pub fn parse_stop(name: &str, raw: &str) -> Result<Stop, ApiError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(bad(format!("{name} is empty")));
    }
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+' | ' ' | 'e' | 'E'));
    // "NaN,NaN" or "inf,0" is a coordinate pair with non-finite numbers, not a place name
    // to geocode: Rust's float syntax (which takes nan, inf and infinity in any case) decides.
    let is_float = |s: &str| s.trim().parse::<f64>().is_ok();
    if let Some((lat, lng)) = text.split_once(',')
        && (looks_numeric || (is_float(lat) && is_float(lng)))
    {
        let parse = |s: &str, what: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(format!("{name}: {what} {:?} is not a number", s.trim())))
        };
        let (lat, lng) = (parse(lat, "latitude")?, parse(lng, "longitude")?);
        return LatLon::new(lat, lng)
            .map(Stop::Point)
            .map_err(|e| bad(format!("{name}: {e}")));
    }
    if looks_numeric {
        return Err(bad(format!(
            "{name} must be \"lat,lng\" or a place name, not {text:?}"
        )));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(bad(format!(
            "{name} is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) || !text.chars().any(char::is_alphanumeric) {
        return Err(bad(format!("{name} is not a place name: {text:?}")));
    }
    Ok(Stop::Text(text.to_string()))
}

/// Exactly one of the documented names; absent is driving.
pub(super) fn parse_mode(value: Option<&str>) -> Result<Mode, ApiError> {
    match value {
        None | Some("driving") => Ok(Mode::Driving),
        Some("walking") => Ok(Mode::Walking),
        Some("cycling") | Some("bicycling") => Ok(Mode::Cycling),
        Some(other) => Err(bad(format!(
            "mode must be driving, walking or cycling, not {other:?}"
        ))),
    }
}

/// `highways`, `tolls` and `ferries`, separated by `,` or `|`, as the document states;
/// absent avoids nothing.
fn parse_avoid(value: Option<&str>) -> Result<Avoid, ApiError> {
    let mut avoid = Avoid::default();
    let Some(value) = value else {
        return Ok(avoid);
    };
    for part in value.split([',', '|']) {
        match part {
            "highways" => avoid.highways = true,
            "tolls" => avoid.tolls = true,
            "ferries" => avoid.ferries = true,
            other => {
                return Err(bad(format!(
                    "avoid takes highways, tolls and ferries separated by ',' or '|', not {other:?}"
                )));
            }
        }
    }
    Ok(avoid)
}

/// Longest Unix time accepted, in digits (every 19-digit number fits a `u64`).
const MAX_TIME_DIGITS: usize = 19;

/// How far in the past a departure time may be (clock skew, a slow request).
const PAST_SLACK_S: u64 = 60;

fn parse_departure(value: Option<&str>, now_s: u64) -> Result<Option<Departure>, ApiError> {
    match value {
        None => Ok(None),
        Some("now") => Ok(Some(Departure::Now)),
        Some(t)
            if (1..=MAX_TIME_DIGITS).contains(&t.len())
                && t.bytes().all(|b| b.is_ascii_digit()) =>
        {
            // Every 19-digit number fits a u64 (checked above).
            let at = t.parse::<u64>().unwrap_or(u64::MAX);
            if at + PAST_SLACK_S < now_s {
                return Err(bad(format!(
                    "departure_time {at} is in the past: give now or a time from now on"
                )));
            }
            Ok(Some(if at <= now_s {
                Departure::Now
            } else {
                Departure::At(at)
            }))
        }
        Some(other) => Err(bad(format!(
            "departure_time must be now or a Unix time in seconds, not {other:?}"
        ))),
    }
}

/// Checks every parameter; the request is only planned when all are valid.
pub fn parse_nav_request(params: &NavParams, max_waypoints: usize) -> Result<NavRequest, ApiError> {
    let origin = params
        .origin
        .as_deref()
        .ok_or_else(|| bad("origin is required"))?;
    let destination = params
        .destination
        .as_deref()
        .ok_or_else(|| bad("destination is required"))?;
    let mut stops = vec![parse_stop("origin", origin)?];
    if let Some(waypoints) = params.waypoints.as_deref() {
        let parts: Vec<&str> = waypoints.split('|').collect();
        if parts.len() > max_waypoints {
            return Err(bad(format!(
                "at most {max_waypoints} waypoints are allowed, got {}",
                parts.len()
            )));
        }
        for (i, part) in parts.iter().enumerate() {
            // Google's `via:` prefix (pass through without stopping) routes the same here.
            let part = part.trim().strip_prefix("via:").unwrap_or(part);
            stops.push(parse_stop(&format!("waypoint {}", i + 1), part)?);
        }
    }
    stops.push(parse_stop("destination", destination)?);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let departure = parse_departure(params.departure_time.as_deref(), now_s)?;
    let options = PlanOptions {
        mode: parse_mode(params.mode.as_deref())?,
        avoid: parse_avoid(params.avoid.as_deref())?,
        alternatives: parse_bool("alternatives", params.alternatives.as_deref())?,
        exact: parse_bool("exact", params.exact.as_deref())?,
    };
    check_work(stops.len(), &options)?;
    Ok(NavRequest {
        stops,
        options,
        departure,
    })
}

/// Refuses combinations that multiply one request's searches: alternatives take up to
/// seven searches per leg, and the exact mode has no hierarchy to keep any of them small.
fn check_work(stops: usize, options: &PlanOptions) -> Result<(), ApiError> {
    let waypoints = stops.saturating_sub(2);
    if options.alternatives && waypoints > 0 {
        return Err(bad(format!(
            "alternatives=true is offered between two stops only, not with {waypoints} waypoints"
        )));
    }
    if options.exact && (waypoints > 0 || options.alternatives) {
        return Err(bad(
            "exact=true checks one route: it takes neither waypoints nor alternatives",
        ));
    }
    Ok(())
}

/// Directions between places, in the Google Directions response shape.
#[utoipa::path(
    get,
    path = "/v1/nav",
    params(NavParams),
    responses(
        (status = 200, description = "`status` OK, NOT_FOUND (a place could not be geocoded) or ZERO_RESULTS (no route).", body = DirectionsResponse),
        (status = 400, description = "Google's INVALID_REQUEST (`/problems/invalid-request`): a missing, malformed or out-of-range parameter, more than `MAX_WAYPOINTS` waypoints, `alternatives=true` with waypoints, or `exact=true` with waypoints or alternatives."),
        (status = 422, description = "The route needs more search than one request may do (`ROUTE_MAX_SETTLED` road edges): fewer or closer stops, or no `exact`, `avoid` or alternatives (`/problems/unprocessable`)."),
        (status = 503, description = "Routing tiles or the database are unavailable, or no tile version is published yet (`/problems/dependency-unavailable`)."),
    ),
    tag = "navigation"
)]
pub(super) async fn directions(
    State(state): State<NavState>,
    AppQuery(params): AppQuery<NavParams>,
) -> Result<Response, ApiError> {
    let request = parse_nav_request(&params, state.config().max_waypoints)?;
    let body = state.directions(request).await?;
    // Already JSON (and maybe from the route cache): sent as it is, not serialised again.
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn stops_are_coordinates_or_sane_text() {
        assert_eq!(
            parse_stop("origin", " 60.17, 24.94 ").unwrap(),
            Stop::Point(LatLon::new(60.17, 24.94).unwrap())
        );
        assert_eq!(
            parse_stop("origin", "Mannerheimintie 5").unwrap(),
            Stop::Text("Mannerheimintie 5".into())
        );
        for bad_input in [
            "",
            "  ",
            "91,0",
            "0,181",
            "1,2,3",
            "1e999,1",
            "60.1",
            "--",
            "\u{7}x",
            "!!!",
            "NaN,NaN",
            "nan, 24.9",
            "60.1,inf",
            "-Infinity,0",
            "60.1,NAN",
        ] {
            assert!(parse_stop("origin", bad_input).is_err(), "{bad_input:?}");
        }
        assert!(parse_stop("origin", &"a".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }

    #[test]
    fn requests_are_checked_whole() {
        let params = NavParams {
            origin: Some("60.1,24.9".into()),
            destination: Some("60.2,24.95".into()),
            mode: Some("bicycling".into()),
            avoid: Some("tolls|ferries".into()),
            waypoints: Some("60.15,24.92|via:60.16,24.93".into()),
            ..NavParams::default()
        };
        let request = parse_nav_request(&params, 2).unwrap();
        assert_eq!(request.stops.len(), 4);
        assert_eq!(request.options.mode, Mode::Cycling);
        assert!(request.options.avoid.tolls && request.options.avoid.ferries);
        assert!(!request.options.avoid.highways);
        assert!(!request.options.alternatives);
        assert!(parse_nav_request(&params, 1).is_err());
        // Exactly the documented spellings: no case folding, padding or empty values.
        for (field, value) in [
            ("mode", "flying"),
            ("mode", "Walking"),
            ("mode", ""),
            ("avoid", "bridges"),
            ("avoid", "tolls, ferries"),
            ("avoid", "tolls,"),
            ("avoid", ""),
            ("alternatives", "maybe"),
            ("alternatives", " true"),
            ("alternatives", ""),
            ("departure_time", "tomorrow"),
            ("departure_time", "+5"),
            ("departure_time", "12345678901234567890"),
            ("departure_time", ""),
        ] {
            let mut p = NavParams {
                origin: params.origin.clone(),
                destination: params.destination.clone(),
                ..NavParams::default()
            };
            match field {
                "mode" => p.mode = Some(value.into()),
                "avoid" => p.avoid = Some(value.into()),
                "alternatives" => p.alternatives = Some(value.into()),
                _ => p.departure_time = Some(value.into()),
            }
            assert!(parse_nav_request(&p, 5).is_err(), "{field}={value}");
        }
        assert!(parse_nav_request(&NavParams::default(), 5).is_err());
    }

    #[test]
    fn work_multipliers_are_refused() {
        let two = |extra: fn(&mut NavParams)| {
            let mut p = NavParams {
                origin: Some("60.1,24.9".into()),
                destination: Some("60.2,24.95".into()),
                ..NavParams::default()
            };
            extra(&mut p);
            parse_nav_request(&p, 23)
        };
        assert!(two(|p| p.alternatives = Some("true".into())).is_ok());
        assert!(two(|p| p.exact = Some("true".into())).is_ok());
        assert!(two(|p| p.waypoints = Some("60.15,24.92".into())).is_ok());
        for (what, extra) in [
            (
                "alternatives with a waypoint",
                (|p: &mut NavParams| {
                    p.alternatives = Some("true".into());
                    p.waypoints = Some("60.15,24.92".into());
                }) as fn(&mut NavParams),
            ),
            ("exact with a waypoint", |p: &mut NavParams| {
                p.exact = Some("true".into());
                p.waypoints = Some("60.15,24.92".into());
            }),
            ("exact with alternatives", |p: &mut NavParams| {
                p.exact = Some("true".into());
                p.alternatives = Some("1".into());
            }),
        ] {
            let err = two(extra).expect_err(what);
            assert_eq!(err.status_code(), StatusCode::BAD_REQUEST, "{what}");
        }
    }
}
