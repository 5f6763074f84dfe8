//! `/openapi.json` describes what the server does: every bound of every parameter, and every
//! status each operation can answer, errors as problem documents (`scripts/schemathesis.sh`
//! checks the server against it with generated requests; these tests check the document).

use serde_json::Value;

use crate::helpers::{Backend, Options, TestApp, assert_problem, spawn_app, spawn_app_with};

/// Every service mounted (the document then describes them all), no sample data.
async fn every_service() -> TestApp {
    let options = Options {
        services: geostack::app::ALL_SERVICES,
        ..Options::default()
    };
    spawn_app_with(Backend::Embedded, options).await
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, &'static str, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((path.clone(), method, operation));
            }
        }
    }
    found
}

/// The schema of a parameter of an operation.
fn parameter<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{path} has no parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
}

fn bounds(schema: &Value) -> (Option<f64>, Option<f64>) {
    (schema["minimum"].as_f64(), schema["maximum"].as_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_lists_its_problem_responses() {
    let app = every_service().await;
    let doc = app.get("/openapi.json").await.body;
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail"] {
        assert!(problem["properties"][field].is_object(), "Problem.{field}");
        assert!(
            problem["required"]
                .as_array()
                .is_some_and(|r| r.contains(&Value::from(field))),
            "Problem.{field} required"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let operations = operations(&doc);
    assert!(operations.len() >= 18, "{} operations", operations.len());
    for (path, method, operation) in operations {
        let label = format!("{} {path}", method.to_uppercase());
        let responses = operation["responses"].as_object().expect("responses");
        let mut expected = vec!["400", "414", "429", "431", "500", "503"];
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if secured {
            expected.push("401");
        }
        if operation.get("requestBody").is_some() {
            expected.push("413");
        }
        for status in expected {
            assert!(responses.contains_key(status), "{label} lacks {status}");
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2') || s == "101"),
            "{label} has no success"
        );
        for (status, response) in responses {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.trim().is_empty()),
                "{label} {status} has no description"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{label} {status} is not a problem document"
                );
            }
        }
    }
    // Handlers' own statuses are there too.
    for (path, method, status) in [
        ("/v1/businesses/{id}", "get", "404"),
        ("/v1/businesses/{id}", "put", "403"),
        ("/v1/friends", "post", "409"),
        ("/v1/friends/{friend_id}", "delete", "404"),
        ("/v1/users/{id}/locations", "get", "403"),
        ("/v1/nav", "get", "422"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"][status].is_object(),
            "{method} {path} lacks {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bound_is_stated() {
    let app = every_service().await;
    let doc = app.get("/openapi.json").await.body;
    for path in ["/v1/search/nearby", "/v1/search/nearest"] {
        let latitude = parameter(&doc, path, "latitude");
        assert_eq!(latitude["required"], true);
        assert_eq!(bounds(&latitude["schema"]), (Some(-90.0), Some(90.0)));
        let longitude = parameter(&doc, path, "longitude");
        assert_eq!(bounds(&longitude["schema"]), (Some(-180.0), Some(180.0)));
    }
    let nearby = "/v1/search/nearby";
    assert_eq!(
        bounds(&parameter(&doc, nearby, "radius")["schema"]),
        (Some(1.0), Some(20000.0))
    );
    assert_eq!(
        bounds(&parameter(&doc, nearby, "limit")["schema"]),
        (Some(1.0), Some(100.0))
    );
    assert_eq!(
        parameter(&doc, nearby, "cursor")["schema"]["format"],
        "cursor"
    );
    assert_eq!(
        bounds(&parameter(&doc, "/v1/search/nearest", "k")["schema"]),
        (Some(1.0), Some(100.0))
    );
    assert_eq!(
        bounds(&parameter(&doc, "/v1/geocode", "limit")["schema"]),
        (Some(1.0), Some(20.0))
    );
    assert_eq!(
        parameter(&doc, "/v1/geocode", "latlng")["schema"]["format"],
        "lat-lng"
    );
    let history_limit = parameter(&doc, "/v1/users/{id}/locations", "limit");
    assert_eq!(history_limit["in"], "query");
    assert_eq!(bounds(&history_limit["schema"]), (Some(1.0), Some(10000.0)));
    for name in ["origin", "destination"] {
        let stop = parameter(&doc, "/v1/nav", name);
        assert_eq!(stop["required"], true, "{name}");
        assert_eq!(stop["schema"]["format"], "place", "{name}");
    }
    for name in ["mode", "avoid", "alternatives", "exact", "departure_time"] {
        assert!(
            parameter(&doc, "/v1/nav", name)["schema"]["pattern"].is_string(),
            "{name}"
        );
    }
    for (path, method, name) in [
        ("/v1/businesses/{id}", "get", "id"),
        ("/v1/businesses/{id}", "delete", "id"),
        ("/v1/friends/{friend_id}", "delete", "friend_id"),
        ("/v1/users/{id}/locations", "get", "id"),
    ] {
        let id = doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("{method} {path} has no {name}"));
        assert_eq!(id["schema"]["type"], "integer", "{method} {path}");
        assert_eq!(id["schema"]["minimum"], 1, "{method} {path}");
    }
    assert_eq!(
        doc["components"]["schemas"]["NewFriend"]["properties"]["friend_id"]["minimum"],
        1
    );
    // A parameter is in the path exactly when the path template names it.
    for (path, method, operation) in operations(&doc) {
        for p in operation["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default();
            let templated = path.contains(&format!("{{{name}}}"));
            assert_eq!(p["in"] == "path", templated, "{method} {path} {name}");
        }
    }
    let input = &doc["components"]["schemas"]["BusinessInput"];
    assert_eq!(
        bounds(&input["properties"]["latitude"]),
        (Some(-90.0), Some(90.0))
    );
    assert_eq!(
        bounds(&input["properties"]["longitude"]),
        (Some(-180.0), Some(180.0))
    );
    assert_eq!(input["properties"]["name"]["maxLength"], 200);
    assert!(input["properties"]["category"]["pattern"].is_string());
    assert_eq!(input["additionalProperties"], false);
    assert_eq!(
        doc["components"]["schemas"]["NewUser"]["properties"]["name"]["maxLength"],
        200
    );
}

/// JSON Schema's `integer` takes `5.0`, so the server does too; a fraction stays a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_may_be_written_as_whole_floats() {
    let app = spawn_app(Backend::Embedded).await;
    let owner = app.token(42);
    let body = serde_json::json!({"name": "Kahvila", "category": "cafe",
        "latitude": 60.17, "longitude": 24.94});
    let created = app
        .send(
            reqwest::Method::POST,
            "/v1/businesses",
            Some(&owner),
            Some(&body),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().expect("id");
    let business = app.get(&format!("/v1/businesses/{id}.0")).await;
    assert_eq!(business.status, 200);
    assert_eq!(business.body["id"], id);
    let mut with_float_id = body.clone();
    with_float_id["id"] = serde_json::json!(id as f64);
    let replaced = app
        .send(
            reqwest::Method::PUT,
            &format!("/v1/businesses/{id}e0"),
            Some(&owner),
            Some(&with_float_id),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    for query in ["limit=2.0", "limit=2e0"] {
        let page = app
            .get(&format!(
                "/v1/search/nearby?latitude=60.17&longitude=24.94&{query}"
            ))
            .await;
        assert_eq!(page.status, 200, "{query}");
    }
    for path in [
        format!("/v1/businesses/{id}.5"),
        "/v1/search/nearby?latitude=60.17&longitude=24.94&limit=2.5".to_string(),
        "/v1/search/nearest?latitude=60.17&longitude=24.94&k=inf".to_string(),
    ] {
        assert_problem(&app.get(&path).await, 400, &path);
    }
    let mut string_id = body.clone();
    string_id["id"] = serde_json::json!(id.to_string());
    let refused = app
        .send(
            reqwest::Method::PUT,
            &format!("/v1/businesses/{id}"),
            Some(&owner),
            Some(&string_id),
        )
        .await;
    assert_problem(&refused, 400, "a JSON id in a string");
}
