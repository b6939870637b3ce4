//! `POST /v1/auth/refresh`: rotation, reuse detection, the grace window, cookies.

use std::time::Duration;

use marquee_common::auth::AuthError;
use marquee_proto_events::sessions::v1::{RevocationReason, SessionRevoked};
use prost::Message;
use serde_json::{Value, json};

use crate::helpers::{Tokens, set_cookies, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshing_rotates_the_pair_and_keeps_the_session() {
    let app = spawn_app_with(|c| c.tokens.refresh_grace = Duration::ZERO).await;
    let (user_id, _, first) = app.signed_in_user().await;

    let response = app.refresh(&first.refresh).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second = Tokens::from(response.json::<Value>().await.unwrap());
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(second.session_id, first.session_id, "same session");
    let user = app.verifier().verify(&second.access).await.unwrap();
    assert_eq!(user.id.to_string(), user_id);

    // The new token rotates again; the session lives on.
    let third = app.refresh(&second.refresh).await;
    assert_eq!(third.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_a_rotated_refresh_token_revokes_the_session() {
    let app = spawn_app_with(|c| c.tokens.refresh_grace = Duration::ZERO).await;
    let events = app.session_events().await;
    let (user_id, _, first) = app.signed_in_user().await;
    let second = Tokens::from(
        app.refresh(&first.refresh)
            .await
            .json::<Value>()
            .await
            .unwrap(),
    );

    // Someone replays the first token (stolen, say).
    let reuse = app.refresh(&first.refresh).await;
    assert_eq!(reuse.status(), 401);
    let body: Value = reuse.json().await.unwrap();
    assert_eq!(body["code"], "refresh_token_reused");

    // The whole session is gone: the legitimate successor and the access token too.
    let successor = app.refresh(&second.refresh).await;
    assert_eq!(successor.status(), 401);
    let body: Value = successor.json().await.unwrap();
    assert_eq!(body["code"], "invalid_refresh_token");
    assert!(matches!(
        app.verifier().verify(&second.access).await,
        Err(AuthError::SessionEnded)
    ));

    let records = events.wait_for(1, Duration::from_secs(30)).await;
    let revoked = SessionRevoked::decode(records[0].payload.as_slice()).unwrap();
    assert_eq!(revoked.session_id, first.session_id);
    assert_eq!(revoked.user_id, user_id);
    assert_eq!(revoked.reason(), RevocationReason::RefreshTokenReuse);
    assert_eq!(records[0].key.as_deref(), Some(user_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_inside_the_grace_window_both_succeed_with_one_successor() {
    let app = spawn_app().await; // 10 s grace
    let (_, _, first) = app.signed_in_user().await;

    let (a, b) = tokio::join!(app.refresh(&first.refresh), app.refresh(&first.refresh));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let a = Tokens::from(a.json::<Value>().await.unwrap());
    let b = Tokens::from(b.json::<Value>().await.unwrap());
    assert_eq!(a.refresh, b.refresh, "both tabs hold the same successor");
    assert_ne!(a.refresh, first.refresh);

    // The successor works, and the session is intact.
    let next = app.refresh(&a.refresh).await;
    assert_eq!(next.status(), 200);
    assert!(app.verifier().verify(&b.access).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_grace_window_has_passed_the_old_token_is_reuse() {
    let app = spawn_app_with(|c| c.tokens.refresh_grace = Duration::from_millis(500)).await;
    let (_, _, first) = app.signed_in_user().await;
    let second = Tokens::from(
        app.refresh(&first.refresh)
            .await
            .json::<Value>()
            .await
            .unwrap(),
    );
    // Inside the window the old token keeps yielding the same successor; after it, reuse.
    let code = marquee_testkit::eventually_async(
        Duration::from_secs(10),
        "the grace window to end",
        || async {
            let response = app.refresh(&first.refresh).await;
            if response.status() == 200 {
                let replay = Tokens::from(response.json::<Value>().await.unwrap());
                assert_eq!(replay.refresh, second.refresh);
                return None;
            }
            let body: Value = response.json().await.unwrap();
            Some(body["code"].as_str().unwrap().to_owned())
        },
    )
    .await;
    assert_eq!(code, "refresh_token_reused");
    assert_eq!(app.refresh(&second.refresh).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_missing_refresh_tokens_are_clear_client_errors() {
    let app = spawn_app().await;
    for token in [
        "",
        "not-a-token",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let response = app.refresh(token).await;
        assert_eq!(response.status(), 401, "{token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_refresh_token");
    }
    // No body and no cookie.
    let response = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "refresh_token");
    // Unknown fields and non-JSON bodies.
    let response = app
        .post(
            "/v1/auth/refresh",
            &json!({"refresh_token": "x", "extra": 1}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let response = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .header("content-type", "text/plain")
        .body("refresh_token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_http_only_cookies_and_refresh_with_them() {
    let app = spawn_app().await;
    let address = crate::helpers::email();
    app.register(&address, crate::helpers::PASSWORD).await;

    let response = app
        .post(
            "/v1/auth/login?cookie=true",
            &json!({"email": address, "password": crate::helpers::PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(response.headers());
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "in cookie mode the refresh token is only in its HttpOnly cookie"
    );
    let access = cookies.iter().find(|c| c.0 == "marquee_access").unwrap();
    let refresh = cookies.iter().find(|c| c.0 == "marquee_refresh").unwrap();
    for (_, _, attributes) in [access, refresh] {
        assert!(attributes.contains("HttpOnly"), "{attributes}");
        assert!(attributes.contains("Secure"), "{attributes}");
        assert!(attributes.contains("SameSite=Strict"), "{attributes}");
    }
    assert!(refresh.2.contains("Path=/v1/auth"), "{}", refresh.2);
    assert_eq!(access.1, body["access_token"].as_str().unwrap());

    // The access cookie authenticates API calls…
    let sessions = app
        .client
        .get(app.url("/v1/auth/sessions"))
        .header("cookie", format!("marquee_access={}", access.1))
        .send()
        .await
        .unwrap();
    assert_eq!(sessions.status(), 200);

    // …and an empty refresh with the refresh cookie rotates it into new cookies.
    let response = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .header("cookie", format!("marquee_refresh={}", refresh.1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rotated = set_cookies(response.headers());
    let new_refresh = rotated.iter().find(|c| c.0 == "marquee_refresh").unwrap();
    assert_ne!(new_refresh.1, refresh.1);

    // Logging out clears both cookies.
    let response = app
        .client
        .post(app.url("/v1/auth/logout"))
        .header("cookie", format!("marquee_access={}", access.1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = set_cookies(response.headers());
    assert_eq!(cleared.len(), 2);
    assert!(
        cleared
            .iter()
            .all(|c| c.1.is_empty() && c.2.contains("Max-Age=0"))
    );
}
