//! `POST /v1/auth/register`.

use std::time::Duration;

use marquee_proto_events::{Event, topics, users::v1::UserCreated};
use marquee_testkit::RecordCollector;
use prost::Message;
use serde_json::{Value, json};

use crate::helpers::{email, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_creates_the_account_and_publishes_user_created() {
    let app = spawn_app().await;
    let collector = RecordCollector::start(
        &app.topics.config,
        &app.topics.config.topic(topics::USERS_V1),
    )
    .await;
    let address = email();

    let user_id = app
        .register(&address.to_uppercase(), "correct horse battery")
        .await;

    let records = collector.wait_for(1, Duration::from_secs(30)).await;
    let record = &records[0];
    assert_eq!(record.headers["ce_type"], UserCreated::CE_TYPE);
    assert_eq!(record.headers["ce_source"], "auth-service");
    assert_eq!(
        record.key.as_deref(),
        Some(user_id.as_str()),
        "keyed by the user id"
    );
    let event = UserCreated::decode(record.payload.as_slice()).unwrap();
    assert_eq!(event.user_id, user_id);
    assert_eq!(
        event.email, address,
        "the e-mail is normalised to lower case"
    );
    assert_eq!(event.display_name, "Ada Lovelace");
    assert_eq!(event.roles, ["user"]);
    assert!(event.created_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_registers_once_whatever_its_case() {
    let app = spawn_app().await;
    let address = email();
    app.register(&address, "correct horse battery").await;

    let response = app
        .post("/v1/auth/register", &json!({"email": format!(" {} ", address.to_uppercase()), "password": "another password", "display_name": "Someone"}))
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "email_taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fields_are_all_reported_with_422() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/auth/register",
            &json!({"email": "not-an-address", "password": "x".repeat(73), "display_name": "  "}),
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "display_name"]);
    assert!(
        body["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("72 bytes"),
        "{body}"
    );

    // 72 bytes exactly is fine, 7 is too short.
    let ok = app
        .post(
            "/v1/auth/register",
            &json!({"email": email(), "password": "x".repeat(72), "display_name": "Max"}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    let short = app
        .post(
            "/v1/auth/register",
            &json!({"email": email(), "password": "1234567", "display_name": "Min"}),
        )
        .await;
    assert_eq!(short.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_missing_fields_are_refused() {
    let app = spawn_app().await;
    let extra = app
        .post("/v1/auth/register", &json!({"email": email(), "password": "correct horse", "display_name": "Ada", "role": "admin"}))
        .await;
    assert_eq!(extra.status(), 422);
    let missing = app
        .post("/v1/auth/register", &json!({"email": email()}))
        .await;
    assert_eq!(missing.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_registration_with_the_same_idempotency_key_is_replayed() {
    let app = spawn_app().await;
    let key = uuid::Uuid::now_v7().to_string();
    let body =
        json!({"email": email(), "password": "correct horse battery", "display_name": "Ada"});
    let send = |body: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            app.client
                .post(app.url("/v1/auth/register"))
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    let first = send(body.clone()).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    let retry = send(body.clone()).await;
    assert_eq!(retry.status(), 201, "replayed, not 409 email_taken");
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["user_id"], first["user_id"]);

    let mut other = body.clone();
    other["display_name"] = json!("Someone Else");
    let reused = send(other).await;
    assert_eq!(reused.status(), 422);
    let problem: Value = reused.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_reused");
}
