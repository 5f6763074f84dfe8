//! The parts of the OpenAPI document that kit's own layers decide: the one error schema,
//! [`Problem`], and the error answers that every operation can get whatever its handler does.
//!
//! Handlers' `#[utoipa::path]` list only the statuses the handler itself returns (404, 409,
//! 403, 422, ...), by status and description. [`ProblemResponses`] then runs once over the
//! whole document and:
//! - gives every error response (4xx and 5xx) the `application/problem+json` body
//!   [`Problem`], so no handler repeats it;
//! - adds to every operation the statuses of the layers in front of the handlers: 400 (a
//!   malformed request, query, path or body), 401 where the operation declares bearer
//!   security, 404 where a path parameter could leave the URL matching no route, 413 where
//!   it takes a body, 414 and 431 (request head too large), 429 (the
//!   per-IP rate limit), 500 and 503 (a dependency down, the request timeout, the connection
//!   cap);
//! - gives a response the handler left without a description its reason phrase;
//! - declares the `bearer` security scheme that operations refer to.

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::problem::{Problem, REQUEST_TIMEOUT};

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Name of the bearer-token security scheme (`security(("bearer" = []))` in a handler's
/// `#[utoipa::path]`).
pub const BEARER: &str = "bearer";

/// The [`utoipa::Modify`] that describes kit's error answers on every operation; see the
/// module documentation. Run it once over the merged document.
pub struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert(Problem::name().into_owned(), Problem::schema());
        let mut uses_bearer = false;
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let secured = declares_security(operation);
                uses_bearer |= secured;
                describe_operation(operation, secured);
            }
        }
        if uses_bearer {
            components.add_security_scheme(
                BEARER,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "An HS256 JWT with the user id in `sub` (and `\"role\": \"admin\"` \
                             for operator calls), as the `token` command prints.",
                        ))
                        .build(),
                ),
            );
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Whether the operation requires a bearer token (a non-empty security requirement).
fn declares_security(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|requirements| {
        requirements.iter().any(|requirement| {
            serde_json::to_value(requirement)
                .ok()
                .and_then(|v| v.as_object().map(|o| o.contains_key(BEARER)))
                .unwrap_or(false)
        })
    })
}

/// What kit's layers answer, by status, and when it applies to an operation.
fn layer_statuses(operation: &Operation, secured: bool) -> Vec<(&'static str, String)> {
    let has_body = operation.request_body.is_some();
    let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut statuses = Vec::new();
    let bad = match (has_parameters, has_body) {
        (_, true) => {
            "A body that is not JSON, lacks `content-type: application/json`, has an unknown \
             field or a field of the wrong type (`/problems/invalid-body`), or a parameter \
             that does not parse (`/problems/invalid-parameter`); or a request that is not \
             valid HTTP (`/problems/malformed-request`)."
        }
        (true, false) => {
            "A parameter that is missing, does not parse or is out of range \
             (`/problems/invalid-parameter`); or a request that is not valid HTTP \
             (`/problems/malformed-request`)."
        }
        (false, false) => "A request that is not valid HTTP (`/problems/malformed-request`).",
    };
    statuses.push(("400", bad.to_string()));
    if secured {
        statuses.push((
            "401",
            "No bearer token, or one that is malformed, badly signed or expired \
             (`/problems/unauthorized`)."
                .to_string(),
        ));
    }
    let has_path_parameters = operation.parameters.as_ref().is_some_and(|p| {
        p.iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path))
    });
    if has_path_parameters {
        statuses.push((
            "404",
            "A path parameter that is empty or holds `/` makes a URL that no route matches \
             (`/problems/not-found`)."
                .to_string(),
        ));
    }
    if has_body {
        statuses.push((
            "413",
            format!(
                "A body over {} KiB (`/problems/payload-too-large`).",
                crate::serve::MAX_BODY_BYTES / 1024
            ),
        ));
    }
    statuses.push((
        "414",
        format!(
            "A request line over {} KiB (`/problems/uri-too-long`).",
            crate::serve::MAX_HEAD_BYTES / 1024
        ),
    ));
    statuses.push((
        "429",
        "More requests per second from this address than `RATE_LIMIT_PER_IP` allows \
         (`/problems/rate-limited`); `Retry-After` says when to retry."
            .to_string(),
    ));
    statuses.push((
        "431",
        format!(
            "More than {} header fields, or over {} KiB of request head \
             (`/problems/headers-too-large`).",
            crate::serve::MAX_HEADERS,
            crate::serve::MAX_HEAD_BYTES / 1024
        ),
    ));
    statuses.push((
        "500",
        "A bug (`/problems/internal`): the cause is logged, never sent.".to_string(),
    ));
    statuses.push((
        "503",
        format!(
            "A dependency is unavailable (`/problems/dependency-unavailable`), the request \
             took over {} s (`/problems/timed-out`), or the server holds all the \
             connections it may (`/problems/too-many-connections`); `Retry-After` says when \
             to retry.",
            REQUEST_TIMEOUT.as_secs()
        ),
    ));
    statuses
}

fn describe_operation(operation: &mut Operation, secured: bool) {
    let layers = layer_statuses(operation, secured);
    let responses = &mut operation.responses.responses;
    for (status, description) in layers {
        match responses.get_mut(status) {
            // The handler's own words come first; the layers' follow.
            Some(RefOr::T(response)) => {
                let own = response.description.trim();
                response.description = if own.is_empty() {
                    description
                } else if own.ends_with('.') {
                    format!("{own} {description}")
                } else {
                    format!("{own}. {description}")
                };
            }
            Some(RefOr::Ref(_)) => {}
            None => {
                responses.insert(
                    status.to_string(),
                    RefOr::T(ResponseBuilder::new().description(description).build()),
                );
            }
        }
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if response.description.trim().is_empty() {
            // OpenAPI requires a description; the reason phrase is the least one.
            response.description = status
                .parse::<u16>()
                .ok()
                .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                .and_then(|code| code.canonical_reason())
                .unwrap_or("The answer.")
                .to_string();
        }
        if status.starts_with('4') || status.starts_with('5') {
            as_problem(status, response);
        }
    }
}

/// Gives an error response the problem body, and `Retry-After` where the server sends it.
fn as_problem(status: &str, response: &mut Response) {
    response.content = [(
        PROBLEM_JSON.to_string(),
        Content::new(Some(RefOr::Ref(Ref::from_schema_name(Problem::name())))),
    )]
    .into_iter()
    .collect();
    if matches!(status, "429" | "503") {
        let mut headers = BTreeMap::new();
        headers.insert(
            "Retry-After".to_string(),
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("Seconds to wait before retrying."))
                .build(),
        );
        response.headers.extend(headers);
    }
}
