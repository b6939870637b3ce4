//! `DATABASE_READ_URLS`: listings and other users' profiles come from a replica, the caller's
//! own profile and just-changed data from the primary, and a dead replica costs nothing but
//! capacity. The "replica" here is a second database with different rows, so where a read
//! came from shows in what it returns.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use marquee_common::auth::Role;
use marquee_testkit::TestDatabase;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app_with};

async fn replica_with_profile(id: Uuid, name: &str) -> TestDatabase {
    let replica = TestDatabase::create(Some(user_service::MIGRATIONS)).await;
    let mut conn = replica.connection().await;
    diesel::sql_query(
        "INSERT INTO profiles (id, email, display_name, created_at, updated_at)
         VALUES ($1, 'replica@example.com', $2, now(), now())",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Text, _>(name)
    .execute(&mut conn)
    .await
    .unwrap();
    replica
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["display_name"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, token: &str) -> Value {
    let response = app.get_as(token, "/v1/users").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_and_other_users_profiles_are_read_from_the_replica() {
    let only_on_replica = Uuid::now_v7();
    let replica = replica_with_profile(only_on_replica, "Only on the replica").await;
    let replica_url = replica.url().to_owned();
    let app = spawn_app_with(|config| {
        config.database.read_urls = vec![SecretString::from(replica_url)];
        config.cache.recent_window = Duration::ZERO;
    })
    .await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let admin = app.admin().await;

    assert_eq!(
        names(&list(&app, &admin.token).await),
        ["Only on the replica"],
        "the listing came from the replica"
    );
    let other = app
        .get_as(&admin.token, &format!("/v1/users/{only_on_replica}"))
        .await;
    assert_eq!(
        other.status(),
        200,
        "another user's profile came from the replica"
    );
    let me: Value = app
        .get_as(&ada.token, "/v1/users/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["display_name"], "Ada",
        "one's own profile comes from the primary"
    );
    assert!(
        app.metric("db_read_connections_total", &[("target", "replica")])
            .await
            >= 2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_that_just_changed_is_read_from_the_primary() {
    let replica = TestDatabase::create(Some(user_service::MIGRATIONS)).await;
    let replica_url = replica.url().to_owned();
    let app = spawn_app_with(|config| {
        config.database.read_urls = vec![SecretString::from(replica_url)];
        config.cache.recent_window = Duration::from_secs(60);
    })
    .await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let admin = app.admin().await;
    let path = format!("/v1/users/{}", ada.id);

    // The replica lags (here: forever): a read routed there would be a 404.
    let changed = app
        .patch_as(
            &ada.token,
            "/v1/users/me",
            &json!({"display_name": "Ada L."}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let seen = app.get_as(&admin.token, &path).await;
    assert_eq!(
        seen.status(),
        200,
        "read from the primary right after the change"
    );
    let seen: Value = seen.json().await.unwrap();
    assert_eq!(seen["display_name"], "Ada L.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_is_down_falls_back_to_the_primary() {
    let app = spawn_app_with(|config| {
        config.database.read_urls = vec![SecretString::from(
            "postgres://postgres@127.0.0.1:1/nowhere".to_owned(),
        )];
        config.database.acquire_timeout = Duration::from_secs(2);
        config.cache.recent_window = Duration::ZERO;
    })
    .await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let admin = app.admin().await;
    for _ in 0..3 {
        assert_eq!(names(&list(&app, &admin.token).await), ["Ada"]);
        let seen = app
            .get_as(&admin.token, &format!("/v1/users/{}", ada.id))
            .await;
        assert_eq!(seen.status(), 200);
    }
    assert!(app.metric("db_replica_failures_total", &[]).await >= 1.0);
}
