//! Business CRUD, owner authorisation and the bad-input table.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, assert_problem, spawn_app};

fn cafe() -> Value {
    json!({
        "name": "Café Ursula", "category": "cafe", "latitude": 60.1556, "longitude": 24.9563,
        "address": "Ehrenströmintie 3", "city": "Helsinki", "country": "FI",
        "opening_hours": "Mo-Su 09:00-20:00", "phone": "+358 9 652 817",
        "website": "https://ursula.fi"
    })
}

async fn crud_with_owner_authorisation(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, stranger) = (app.token(10), app.token(11));
    let created = app
        .send(Method::POST, "/v1/businesses", Some(&owner), Some(&cafe()))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(created.body["owner_id"], 10);
    let path = format!("/v1/businesses/{id}");

    let detail = app.get(&path).await;
    assert_eq!(detail.status, 200);
    for field in [
        "name",
        "category",
        "address",
        "city",
        "country",
        "opening_hours",
        "phone",
        "website",
    ] {
        assert_eq!(detail.body[field], cafe()[field], "{field}");
    }
    assert_eq!(detail.body["latitude"], 60.1556);

    let mut renamed = cafe();
    renamed["name"] = json!("Café Ursula Kaivopuisto");
    let forbidden = app
        .send(Method::PUT, &path, Some(&stranger), Some(&renamed))
        .await;
    assert_problem(&forbidden, 403, "stranger PUT");
    assert_eq!(app.get(&path).await.body["name"], "Café Ursula");

    let updated = app
        .send(Method::PUT, &path, Some(&owner), Some(&renamed))
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["name"], "Café Ursula Kaivopuisto");
    assert_eq!(updated.body["revision"], 2);

    // Full replace: omitted optional fields are cleared.
    let minimal =
        json!({"name": "U", "category": "cafe", "latitude": 60.1556, "longitude": 24.9563});
    let replaced = app
        .send(Method::PUT, &path, Some(&app.admin_token), Some(&minimal))
        .await;
    assert_eq!(replaced.status, 200, "admin may update");
    assert_eq!(replaced.body["phone"], Value::Null);

    assert_problem(
        &app.send(Method::DELETE, &path, Some(&stranger), None).await,
        403,
        "stranger DELETE",
    );
    assert_eq!(
        app.send(Method::DELETE, &path, Some(&owner), None)
            .await
            .status,
        204
    );
    assert_problem(&app.get(&path).await, 404, "deleted");
    assert_problem(
        &app.send(Method::DELETE, &path, Some(&owner), None).await,
        404,
        "deleted twice",
    );
}
both_backends!(
    crud_with_owner_authorisation_test,
    crud_with_owner_authorisation
);

/// Every bad request gets the right 4xx problem document, changes nothing, and the service
/// stays up.
#[expect(
    clippy::too_many_lines,
    reason = "a table of bad inputs, one after another"
)]
async fn bad_input_is_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.token(20);
    let existing = app
        .send(Method::POST, "/v1/businesses", Some(&owner), Some(&cafe()))
        .await;
    let id = existing.body["id"].as_i64().unwrap();
    app.publish().await;
    let search = "/v1/search/nearby?latitude=60.1556&longitude=24.9563&radius=1000";
    let before_search = app.get(search).await.body;
    let before_count = app.count_businesses().await;
    let before_detail = app.get(&format!("/v1/businesses/{id}")).await.body;

    let gets: &[(&str, u16)] = &[
        ("/v1/search/nearby?latitude=91&longitude=0", 400),
        ("/v1/search/nearby?latitude=-90.5&longitude=0", 400),
        ("/v1/search/nearby?latitude=0&longitude=180.01", 400),
        ("/v1/search/nearby?latitude=abc&longitude=0", 400),
        ("/v1/search/nearby?latitude=NaN&longitude=0", 400),
        ("/v1/search/nearby?latitude=0&longitude=inf", 400),
        ("/v1/search/nearby?latitude=0&longitude=-infinity", 400),
        ("/v1/search/nearby?longitude=0", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&radius=0", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&radius=-5", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&radius=20001", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&radius=NaN", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&limit=0", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&limit=101", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&limit=ten", 400),
        ("/v1/search/nearby?latitude=0&longitude=0&cursor=%%%", 400),
        (
            "/v1/search/nearby?latitude=0&longitude=0&cursor=bm90LWEtY3Vyc29y",
            400,
        ),
        (
            "/v1/search/nearby?latitude=0&longitude=0&open_now=maybe",
            400,
        ),
        ("/v1/search/nearest?latitude=0&longitude=0&k=0", 400),
        ("/v1/search/nearest?latitude=0&longitude=0&k=101", 400),
        ("/v1/search/nearest?latitude=95&longitude=0", 400),
        ("/v1/businesses/999999", 404),
        ("/v1/businesses/abc", 400),
    ];
    for (path, status) in gets {
        assert_problem(&app.get(path).await, *status, path);
    }

    let too_big =
        json!({"name": "x".repeat(100_000), "category": "cafe", "latitude": 0, "longitude": 0});
    let mut unknown_field = cafe();
    unknown_field["stars"] = json!(5);
    let mut bad_hours = cafe();
    bad_hours["opening_hours"] = json!("whenever we feel like it");
    let mut bad_lat = cafe();
    bad_lat["latitude"] = json!(200);
    let mut no_name = cafe();
    no_name.as_object_mut().unwrap().remove("name");
    let mut empty_name = cafe();
    empty_name["name"] = json!("  ");
    let mut bad_category = cafe();
    bad_category["category"] = json!("<script>");
    let mut string_lat = cafe();
    string_lat["latitude"] = json!("sixty");
    let bodies: &[(&str, Value, u16)] = &[
        ("oversized", too_big, 413),
        ("unknown field", unknown_field, 400),
        ("bad opening_hours", bad_hours, 400),
        ("latitude 200", bad_lat, 400),
        ("missing name", no_name, 400),
        ("blank name", empty_name, 400),
        ("bad category", bad_category, 400),
        ("string latitude", string_lat, 400),
        ("array body", json!([1, 2]), 400),
    ];
    // Control characters: PostgreSQL's text refuses NUL (a 500 before) while SQLite stored
    // it; both now refuse every control character alike.
    let mut controls: Vec<(String, Value, u16)> = Vec::new();
    for (field, text) in [
        ("name", "Kahvila\u{0}"),
        ("address", "Aleksanterinkatu\u{0} 20"),
        ("city", "Hel\nsinki"),
        ("phone", "+358\t1"),
        ("website", "https://e.fi/\u{1b}[31m"),
        ("opening_hours", "Mo-Fr 08:00-18:00\u{85}"),
    ] {
        let mut body = cafe();
        body[field] = json!(text);
        controls.push((format!("control character in {field}"), body, 400));
    }
    let bodies: Vec<(&str, Value, u16)> = bodies
        .iter()
        .cloned()
        .chain(controls.iter().map(|(w, b, s)| (w.as_str(), b.clone(), *s)))
        .collect();
    for (what, body, status) in &bodies {
        let post = app
            .send(Method::POST, "/v1/businesses", Some(&owner), Some(body))
            .await;
        assert_problem(&post, *status, &format!("POST {what}"));
        let put = app
            .send(
                Method::PUT,
                &format!("/v1/businesses/{id}"),
                Some(&owner),
                Some(body),
            )
            .await;
        assert_problem(&put, *status, &format!("PUT {what}"));
    }
    // Malformed JSON and wrong content type.
    let malformed = app
        .client
        .post(app.url("/v1/businesses"))
        .bearer_auth(&owner)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let text = app
        .client
        .post(app.url("/v1/businesses"))
        .bearer_auth(&owner)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 400);

    // Authentication and authorisation.
    let expired = signed_token(&json!({"sub": "20", "exp": 1_000_000_000u64}));
    for (what, token) in [
        ("missing token", None),
        ("garbage token", Some("not.a.jwt")),
        ("expired token", Some(expired.as_str())),
    ] {
        let post = app
            .send(Method::POST, "/v1/businesses", token, Some(&cafe()))
            .await;
        assert_problem(&post, 401, what);
        let delete = app
            .send(Method::DELETE, &format!("/v1/businesses/{id}"), token, None)
            .await;
        assert_problem(&delete, 401, what);
    }
    let foreign = app.token(21);
    assert_problem(
        &app.send(
            Method::DELETE,
            &format!("/v1/businesses/{id}"),
            Some(&foreign),
            None,
        )
        .await,
        403,
        "foreign delete",
    );
    assert_problem(
        &app.send(Method::POST, "/v1/admin/index/refresh", Some(&owner), None)
            .await,
        403,
        "non-admin refresh",
    );
    assert_problem(
        &app.send(Method::POST, "/v1/admin/index/refresh", None, None)
            .await,
        401,
        "anonymous refresh",
    );
    assert_problem(
        &app.send(
            Method::PUT,
            "/v1/businesses/999999",
            Some(&owner),
            Some(&cafe()),
        )
        .await,
        404,
        "PUT unknown id",
    );
    let mut mismatched = cafe();
    mismatched["id"] = json!(id + 1);
    assert_problem(
        &app.send(
            Method::PUT,
            &format!("/v1/businesses/{id}"),
            Some(&owner),
            Some(&mismatched),
        )
        .await,
        400,
        "id mismatch",
    );

    // Nothing changed, and the service is up.
    assert_eq!(app.count_businesses().await, before_count);
    assert_eq!(
        app.get(&format!("/v1/businesses/{id}")).await.body,
        before_detail
    );
    app.publish().await;
    assert_eq!(app.get(search).await.body, before_search);
    assert_eq!(app.get("/healthz").await.status, 200);
}
both_backends!(bad_input_is_rejected_test, bad_input_is_rejected);

/// An HS256 token signed with the test secret, with the given claims.
fn signed_token(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret"),
    )
    .unwrap()
}
