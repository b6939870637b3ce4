//! Profiles appear from `UserCreated` and are read through the API.

use std::time::Duration;

use marquee_common::auth::Role;
use marquee_testkit::eventually_async;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{created as created_as, spawn_app};

fn created(id: Uuid, email: &str) -> marquee_proto_events::users::v1::UserCreated {
    created_as(id, email, "Ada Lovelace")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_user_gets_a_profile_once_however_often_the_event_arrives() {
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    let me = app.identity.sign_in(id, &[Role::User]).await;
    let before = app.get_as(&me.token, "/v1/users/me").await;
    assert_eq!(before.status(), 404);
    let body: Value = before.json().await.unwrap();
    assert_eq!(body["code"], "profile_not_found");

    let publisher = app.publisher();
    // The same user announced twice (a redelivery with a new event id, say).
    publisher.publish(&created(id, "ada@example.com")).await;
    publisher.publish(&created(id, "ada@example.com")).await;

    let profile: Value = eventually_async(Duration::from_secs(30), "the profile", || async {
        let response = app.get_as(&me.token, "/v1/users/me").await;
        if response.status() != 200 {
            return None;
        }
        assert_eq!(response.headers()["etag"], "\"1\"");
        Some(response.json().await.unwrap())
    })
    .await;
    assert_eq!(profile["id"], id.to_string());
    assert_eq!(profile["email"], "ada@example.com");
    assert_eq!(profile["display_name"], "Ada Lovelace");
    assert_eq!(profile["version"], 1);
    assert!(profile["bio"].is_null());

    let mut conn = app.database.connection().await;
    use diesel::{ExpressionMethods, QueryDsl, dsl::count_star};
    use diesel_async::RunQueryDsl;
    diesel::table! { profiles (id) { id -> Uuid, } }
    let rows: i64 = profiles::table
        .filter(profiles::id.eq(id))
        .select(count_star())
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 1, "one profile, whatever the deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_see_a_profile_without_its_e_mail_and_admins_see_it_all() {
    let app = spawn_app().await;
    let owner = Uuid::now_v7();
    app.publisher()
        .publish(&created(owner, "grace@example.com"))
        .await;
    let stranger = app.identity.sign_in(Uuid::now_v7(), &[Role::User]).await;
    let admin = app
        .identity
        .sign_in(Uuid::now_v7(), &[Role::User, Role::Admin])
        .await;
    let path = format!("/v1/users/{owner}");

    let seen: Value = eventually_async(Duration::from_secs(30), "the profile", || async {
        let response = app.get_as(&stranger.token, &path).await;
        if response.status() == 200 {
            Some(response.json().await.unwrap())
        } else {
            None
        }
    })
    .await;
    assert_eq!(seen["display_name"], "Ada Lovelace");
    assert!(seen.get("email").is_none(), "{seen}");
    let by_admin: Value = app.get_as(&admin.token, &path).await.json().await.unwrap();
    assert_eq!(by_admin["email"], "grace@example.com");

    // Unknown, malformed, unauthenticated, signed out.
    let unknown = app
        .get_as(&admin.token, &format!("/v1/users/{}", Uuid::now_v7()))
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        app.get_as(&admin.token, "/v1/users/not-a-uuid")
            .await
            .status(),
        400
    );
    let anonymous = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    app.identity.sign_out(&stranger).await;
    let body: Value = app
        .get_as(&stranger.token, &path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["code"], "session_ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_current_etag_gets_304_and_the_openapi_document_is_served() {
    let app = spawn_app().await;
    let user = app.user_with_profile("Ada", &[Role::User]).await;
    let response = app
        .client
        .get(app.url("/v1/users/me"))
        .bearer_auth(&user.token)
        .header("If-None-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"], "\"1\"");

    // Another user's view has no e-mail, and so its own ETag: a shared cache cannot answer
    // one view with the other.
    let stranger = app.identity.sign_in(Uuid::now_v7(), &[Role::User]).await;
    let public = app
        .get_as(&stranger.token, &format!("/v1/users/{}", user.id))
        .await;
    assert_eq!(public.headers()["etag"], "\"1-public\"");
    assert!(
        public.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );

    let document: Value = app
        .client
        .get(app.url("/v1/users/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["/v1/users", "/v1/users/me", "/v1/users/{id}"] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }
    assert!(document["paths"]["/v1/users/{id}"].get("patch").is_some());
}
