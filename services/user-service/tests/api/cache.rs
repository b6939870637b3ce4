//! Reads are cache-aside in Redis: a second read is a hit, a change invalidates it, and a
//! Redis outage only costs database reads.

use diesel_async::RunQueryDsl;
use marquee_common::{auth::Role, cache::CacheConfig};
use marquee_testkit::RedisProcess;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn name_seen(app: &TestApp, token: &str, path: &str) -> String {
    let response = app.get_as(token, path).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["display_name"].as_str().unwrap().to_owned()
}

/// Changes the row behind the service's back: only a read that reaches PostgreSQL sees it.
async fn rename_in_database(app: &TestApp, id: uuid::Uuid, name: &str) {
    let mut conn = app.database.connection().await;
    diesel::sql_query("UPDATE profiles SET display_name = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Text, _>(name)
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_read_is_served_from_the_cache_until_a_change_invalidates_it() {
    let app = spawn_app().await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let reader = app.user_with_profile("Reader", &[Role::User]).await;
    let path = format!("/v1/users/{}", ada.id);

    assert_eq!(name_seen(&app, &reader.token, &path).await, "Ada");
    let hits = app
        .metric("cache_lookups_total", &[("outcome", "hit")])
        .await;
    rename_in_database(&app, ada.id, "Behind the cache").await;
    assert_eq!(
        name_seen(&app, &reader.token, &path).await,
        "Ada",
        "served from the cache"
    );
    assert!(
        app.metric("cache_lookups_total", &[("outcome", "hit")])
            .await
            > hits
    );

    let changed = app
        .patch_as(
            &ada.token,
            "/v1/users/me",
            &json!({"display_name": "Ada L."}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(
        name_seen(&app, &reader.token, &path).await,
        "Ada L.",
        "the change invalidated the entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_s_redis_stopped_reads_and_changes_are_served_from_postgres() {
    let mut redis = RedisProcess::start().await;
    let url = redis.url();
    let app = spawn_app_with(|config| {
        let prefix = config.cache.key_prefix.clone();
        config.cache = CacheConfig {
            key_prefix: prefix,
            ..CacheConfig::for_url(url)
        };
    })
    .await;
    let ada = app.user_with_profile("Ada", &[Role::User]).await;
    let reader = app.user_with_profile("Reader", &[Role::User]).await;
    let path = format!("/v1/users/{}", ada.id);
    assert_eq!(name_seen(&app, &reader.token, &path).await, "Ada");

    redis.stop().await;
    rename_in_database(&app, ada.id, "From PostgreSQL").await;
    for _ in 0..3 {
        assert_eq!(
            name_seen(&app, &reader.token, &path).await,
            "From PostgreSQL"
        );
    }
    let changed = app
        .patch_as(&ada.token, "/v1/users/me", &json!({"bio": "Still works"}))
        .await;
    assert_eq!(changed.status(), 200);
    let me: Value = app
        .get_as(&ada.token, "/v1/users/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["bio"], "Still works");
    assert!(
        app.metric("cache_lookups_total", &[("outcome", "error")])
            .await
            + app
                .metric("cache_lookups_total", &[("outcome", "bypassed")])
                .await
            > 0.0
    );

    // Back, empty: the cache fills again.
    redis.start_again().await;
    marquee_testkit::eventually_async(
        std::time::Duration::from_secs(20),
        "cache hits again",
        || async {
            name_seen(&app, &reader.token, &path).await;
            let hits = app
                .metric("cache_lookups_total", &[("outcome", "hit")])
                .await;
            (hits > 0.0).then_some(())
        },
    )
    .await;
}
