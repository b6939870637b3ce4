//! The `users.v1` consumer: e-mail changes move the login, deletions disable the account and
//! end its sessions.

use std::time::Duration;

use marquee_common::auth::AuthError;
use marquee_proto_events::{
    sessions::v1::{RevocationReason, SessionRevoked},
    users::v1::{UserDeleted, UserUpdated},
};
use marquee_testkit::eventually_async;
use prost::Message;
use serde_json::json;

use crate::helpers::{PASSWORD, email, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_cannot_sign_in_and_loses_every_session() {
    let app = spawn_app().await;
    let events = app.session_events().await;
    let (user_id, address, first) = app.signed_in_user().await;
    let second = app.login(&address, PASSWORD).await;

    app.publisher()
        .publish(&UserDeleted {
            user_id: user_id.clone(),
            deleted_at: Some(std::time::SystemTime::now().into()),
        })
        .await;

    let verifier = app.verifier();
    eventually_async(Duration::from_secs(30), "the sessions to end", || async {
        let ended = [&first, &second].map(|t| verifier.verify(&t.access));
        let [a, b] = ended;
        matches!(
            (a.await, b.await),
            (Err(AuthError::SessionEnded), Err(AuthError::SessionEnded))
        )
        .then_some(())
    })
    .await;
    let login = app
        .post(
            "/v1/auth/login",
            &json!({"email": address, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        login.status(),
        401,
        "a disabled account is refused like a wrong password"
    );
    assert_eq!(app.refresh(&first.refresh).await.status(), 401);

    let records = events.wait_for(2, Duration::from_secs(30)).await;
    for record in &records {
        let revoked = SessionRevoked::decode(record.payload.as_slice()).unwrap();
        assert_eq!(revoked.user_id, user_id);
        assert_eq!(revoked.reason(), RevocationReason::UserDeleted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_profile_e_mail_becomes_the_login() {
    // The test polls by signing in; its failures must not lock the new address.
    let app = crate::helpers::spawn_app_with(|config| {
        config.throttle.lockout = auth_service::config::LockoutPolicy::progressive(1_000_000)
    })
    .await;
    let (user_id, old_address, _) = app.signed_in_user().await;
    let new_address = email();

    app.publisher()
        .publish(&UserUpdated {
            user_id,
            version: 2,
            email: Some(new_address.to_uppercase()),
            ..Default::default()
        })
        .await;

    eventually_async(
        Duration::from_secs(30),
        "the new e-mail to sign in",
        || async {
            let response = app
                .post(
                    "/v1/auth/login",
                    &json!({"email": new_address, "password": PASSWORD}),
                )
                .await;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    let old = app
        .post(
            "/v1/auth/login",
            &json!({"email": old_address, "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status(), 401);
}
