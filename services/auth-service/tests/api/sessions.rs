//! Logout, logout-all, the session list and deleting a session: each ends sessions
//! everywhere (the common verifier refuses their tokens) and publishes `SessionRevoked`.

use std::{collections::HashSet, time::Duration};

use marquee_common::auth::AuthError;
use marquee_proto_events::sessions::v1::{RevocationReason, SessionRevoked};
use prost::Message;
use serde_json::Value;

use crate::helpers::{PASSWORD, spawn_app};

fn revocations(records: &[marquee_testkit::CollectedRecord]) -> Vec<SessionRevoked> {
    records
        .iter()
        .map(|r| SessionRevoked::decode(r.payload.as_slice()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_makes_the_access_token_rejected_by_every_service() {
    let app = spawn_app().await;
    let events = app.session_events().await;
    let (user_id, _, tokens) = app.signed_in_user().await;
    let verifier = app.verifier();
    assert!(verifier.verify(&tokens.access).await.is_ok());

    let response = app.post_as(&tokens.access, "/v1/auth/logout", None).await;
    assert_eq!(response.status(), 204);

    assert!(matches!(
        verifier.verify(&tokens.access).await,
        Err(AuthError::SessionEnded)
    ));
    let again = app.post_as(&tokens.access, "/v1/auth/logout", None).await;
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], "session_ended");
    assert_eq!(app.refresh(&tokens.refresh).await.status(), 401);

    let records = events.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(
        records[0].headers["ce_type"],
        "marquee.sessions.v1.SessionRevoked"
    );
    let revoked = &revocations(&records)[0];
    assert_eq!(revoked.session_id, tokens.session_id);
    assert_eq!(revoked.user_id, user_id);
    assert_eq!(revoked.reason(), RevocationReason::Logout);
    assert!(revoked.revoked_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_all_ends_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let events = app.session_events().await;
    let (_, address, first) = app.signed_in_user().await;
    let second = app.login(&address, PASSWORD).await;
    let (_, _, stranger) = app.signed_in_user().await;

    let response = app
        .post_as(&second.access, "/v1/auth/logout-all", None)
        .await;
    assert_eq!(response.status(), 204);

    let verifier = app.verifier();
    for tokens in [&first, &second] {
        assert!(matches!(
            verifier.verify(&tokens.access).await,
            Err(AuthError::SessionEnded)
        ));
    }
    assert!(verifier.verify(&stranger.access).await.is_ok());
    let records = events.wait_for(2, Duration::from_secs(30)).await;
    let revoked: HashSet<String> = revocations(&records)
        .into_iter()
        .inspect(|r| assert_eq!(r.reason(), RevocationReason::LogoutAll))
        .map(|r| r.session_id)
        .collect();
    assert_eq!(
        revoked,
        HashSet::from([first.session_id.clone(), second.session_id.clone()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_list_shows_each_device_and_one_can_be_signed_out() {
    let app = spawn_app().await;
    let (_, address, laptop) = app.signed_in_user().await;
    let phone_response = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("user-agent", "MarqueePhone/1.0")
        .json(&serde_json::json!({"email": address, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let phone = crate::helpers::Tokens::from(phone_response.json::<Value>().await.unwrap());

    let response = app.get_as(&laptop.access, "/v1/auth/sessions").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["id"], phone.session_id, "newest first");
    assert_eq!(sessions[0]["user_agent"], "MarqueePhone/1.0");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["id"], laptop.session_id);
    assert_eq!(sessions[1]["current"], true);
    assert_eq!(sessions[1]["ip"], "127.0.0.1");
    for session in sessions {
        for field in ["created_at", "last_used_at"] {
            chrono::DateTime::parse_from_rfc3339(session[field].as_str().unwrap()).unwrap();
        }
    }

    // Sign the phone out from the laptop.
    let path = format!("/v1/auth/sessions/{}", phone.session_id);
    assert_eq!(app.delete_as(&laptop.access, &path).await.status(), 204);
    assert!(matches!(
        app.verifier().verify(&phone.access).await,
        Err(AuthError::SessionEnded)
    ));
    assert!(app.verifier().verify(&laptop.access).await.is_ok());
    let body: Value = app
        .get_as(&laptop.access, "/v1/auth/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);

    // Gone now, and never someone else's to delete.
    let again = app.delete_as(&laptop.access, &path).await;
    assert_eq!(again.status(), 404);
    let (_, _, stranger) = app.signed_in_user().await;
    let theirs = format!("/v1/auth/sessions/{}", stranger.session_id);
    let response = app.delete_as(&laptop.access, &theirs).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "session_not_found");
    assert!(app.verifier().verify(&stranger.access).await.is_ok());
    // A malformed id is a 400, not a 404 or 500.
    let response = app
        .delete_as(&laptop.access, "/v1/auth/sessions/not-a-uuid")
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_endpoints_need_a_valid_token() {
    let app = spawn_app().await;
    let response = app.get("/v1/auth/sessions").await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "missing_token");
}
