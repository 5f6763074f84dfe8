//! `GET /v1/nav` query strings: axum's `Query` extraction of [`NavParams`], as the handler
//! gets them, then the parameter checks. What passes must be what the planner expects.
#![no_main]

use axum::extract::Query;
use axum::http::Uri;
use libfuzzer_sys::fuzz_target;
use navigation::http::{NavParams, parse_nav_request};

const MAX_WAYPOINTS: usize = 23;

fuzz_target!(|data: &[u8]| {
    let mut target = b"/v1/nav?".to_vec();
    target.extend_from_slice(data);
    // What is not a valid request target never reaches the handler.
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let Ok(Query(params)) = Query::<NavParams>::try_from_uri(&uri) else {
        return;
    };
    let Ok(request) = parse_nav_request(&params, MAX_WAYPOINTS) else {
        return;
    };
    assert!((2..=MAX_WAYPOINTS + 2).contains(&request.stops.len()));
    for stop in &request.stops {
        geostack_fuzz::check_stop(stop);
    }
});
