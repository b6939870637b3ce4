//! `POST /v1/auth/password`.

use std::time::Duration;

use marquee_common::auth::AuthError;
use marquee_proto_events::sessions::v1::{RevocationReason, SessionRevoked};
use prost::Message;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_revokes_every_other_session() {
    let app = spawn_app().await;
    let events = app.session_events().await;
    let (_, address, current) = app.signed_in_user().await;
    let other = app.login(&address, PASSWORD).await;

    let response = app
        .post_as(
            &current.access,
            "/v1/auth/password",
            Some(&json!({"current_password": PASSWORD, "new_password": "a brand new secret"})),
        )
        .await;
    assert_eq!(response.status(), 204);

    let verifier = app.verifier();
    assert!(
        verifier.verify(&current.access).await.is_ok(),
        "this one stays"
    );
    assert!(matches!(
        verifier.verify(&other.access).await,
        Err(AuthError::SessionEnded)
    ));
    let records = events.wait_for(1, Duration::from_secs(30)).await;
    let revoked = SessionRevoked::decode(records[0].payload.as_slice()).unwrap();
    assert_eq!(revoked.session_id, other.session_id);
    assert_eq!(revoked.reason(), RevocationReason::PasswordChanged);

    // Only the new password signs in now.
    let old = app
        .post(
            "/v1/auth/login",
            &json!({"email": address, "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status(), 401);
    app.login(&address, "a brand new secret").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_current_password_or_a_bad_new_one_changes_nothing() {
    let app = spawn_app().await;
    let (_, address, tokens) = app.signed_in_user().await;

    let wrong = app
        .post_as(
            &tokens.access,
            "/v1/auth/password",
            Some(&json!({"current_password": "not my password", "new_password": "whatever works"})),
        )
        .await;
    assert_eq!(wrong.status(), 403);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["code"], "wrong_password");

    let too_long = "x".repeat(73);
    let invalid = app
        .post_as(
            &tokens.access,
            "/v1/auth/password",
            Some(&json!({"current_password": PASSWORD, "new_password": too_long})),
        )
        .await;
    assert_eq!(invalid.status(), 422);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "new_password");

    app.login(&address, PASSWORD).await;
}
