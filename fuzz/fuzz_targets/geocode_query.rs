//! `GET /v1/geocode` query strings: axum's `Query` extraction of [`GeocodeParams`], then
//! the parameter checks that decide between a forward and a reverse search.
#![no_main]

use axum::extract::Query;
use axum::http::Uri;
use libfuzzer_sys::fuzz_target;
use navigation::http::{GeocodeParams, GeocodeQuery, parse_geocode_query};
use navigation::service::Stop;

fuzz_target!(|data: &[u8]| {
    let mut target = b"/v1/geocode?".to_vec();
    target.extend_from_slice(data);
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let Ok(Query(params)) = Query::<GeocodeParams>::try_from_uri(&uri) else {
        return;
    };
    match parse_geocode_query(&params) {
        Ok(GeocodeQuery::Forward { text, limit }) => {
            assert!((1..=20).contains(&limit));
            geostack_fuzz::check_stop(&Stop::Text(text));
        }
        Ok(GeocodeQuery::Reverse { point, limit }) => {
            assert!((1..=20).contains(&limit));
            geostack_fuzz::check_stop(&Stop::Point(point));
        }
        Err(_) => {}
    }
});
