//! The TMDb client under trouble: rate limits, outages, stampedes — and what clients see.

use std::time::{Duration, Instant};

use futures::future::join_all;
use marquee_testkit::eventually_async;
use movies_service::catalogue::tmdb::Credentials;
use serde_json::Value;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{fixture, spawn, spawn_app, spawn_app_with, tmdb_config};

#[tokio::test]
async fn a_429_is_retried_after_the_wait_tmdb_asks_for() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/3/movie/603"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(fixture("rate_limited")),
        )
        .up_to_n_times(1)
        .mount(app.tmdb())
        .await;
    app.tmdb_serves("/movie/603", "movie_603").await;

    let started = Instant::now();
    let response = app.get("/v1/movies/603").await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited for Retry-After ({:?})",
        started.elapsed()
    );
    assert_eq!(app.tmdb_calls("/movie/603").await, 2);
    assert_eq!(
        app.metric("tmdb_requests_total", &[("outcome", "rate_limited")])
            .await,
        1.0
    );
}

#[tokio::test]
async fn five_consecutive_failures_open_the_breaker_until_the_cooldown() {
    let app = spawn_app_with(|config| {
        let tmdb = config.catalogue.tmdb.as_mut().unwrap();
        tmdb.max_retries = 0;
        tmdb.breaker_failures = 5;
        tmdb.breaker_cooldown = Duration::from_secs(1);
    })
    .await;
    let failing = Mock::given(method("GET"))
        .and(path("/3/movie/popular"))
        .respond_with(ResponseTemplate::new(500))
        .mount_as_scoped(app.tmdb())
        .await;
    app.tmdb_serves("/genre/movie/list", "genres").await;

    for page in 1..=5 {
        let response = app.get(&format!("/v1/movies/popular?page={page}")).await;
        assert_eq!(response.status(), 503, "page {page}");
    }
    assert_eq!(app.tmdb_calls("/movie/popular").await, 5);

    // Open: the next calls fail fast without reaching TMDb.
    for page in 6..=8 {
        let response = app.get(&format!("/v1/movies/popular?page={page}")).await;
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "catalogue_unavailable");
    }
    assert_eq!(
        app.tmdb_calls("/movie/popular").await,
        5,
        "nothing sent while open"
    );
    assert_eq!(app.metric("tmdb_circuit_state", &[]).await, 1.0);
    assert!(
        app.metric("tmdb_requests_total", &[("outcome", "circuit_open")])
            .await
            >= 3.0
    );

    // TMDb recovers; after the cooldown a trial call closes the breaker.
    drop(failing);
    app.tmdb_serves("/movie/popular", "popular").await;
    eventually_async(Duration::from_secs(10), "the breaker to close", || async {
        (app.get("/v1/movies/popular?page=9").await.status() == 200).then_some(())
    })
    .await;
    assert_eq!(app.metric("tmdb_circuit_state", &[]).await, 0.0);
    assert_eq!(app.get("/v1/movies/popular?page=10").await.status(), 200);
}

#[tokio::test]
async fn fifty_concurrent_misses_make_one_upstream_call() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/3/movie/popular"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("popular"))
                .set_delay(Duration::from_millis(300)),
        )
        .mount(app.tmdb())
        .await;
    app.tmdb_serves("/genre/movie/list", "genres").await;

    let responses = join_all((0..50).map(|_| async {
        let response = app.get("/v1/movies/popular?page=3").await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    }))
    .await;
    assert!(responses.iter().all(|body| body == &responses[0]));
    assert_eq!(responses[0]["results"][0]["id"], 603);
    assert_eq!(
        app.tmdb_calls("/movie/popular").await,
        1,
        "one upstream call"
    );
}

#[tokio::test]
async fn a_stale_copy_is_served_with_a_warning_when_tmdb_fails() {
    let app = spawn_app_with(|config| {
        config.catalogue.cache.details_ttl = Duration::from_millis(300);
        config.catalogue.tmdb.as_mut().unwrap().max_retries = 0;
    })
    .await;
    let healthy = Mock::given(method("GET"))
        .and(path("/3/movie/603"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("movie_603")))
        .mount_as_scoped(app.tmdb())
        .await;
    let fresh = app.get("/v1/movies/603").await;
    assert_eq!(fresh.status(), 200);
    assert!(!fresh.headers().contains_key("warning"));
    let fresh: Value = fresh.json().await.unwrap();

    drop(healthy);
    Mock::given(method("GET"))
        .and(path("/3/movie/603"))
        .respond_with(ResponseTemplate::new(503))
        .mount(app.tmdb())
        .await;
    let stale = eventually_async(Duration::from_secs(10), "the entry to expire", || async {
        let response = app.get("/v1/movies/603").await;
        assert_eq!(response.status(), 200, "never an error while a copy exists");
        response
            .headers()
            .contains_key("warning")
            .then_some(response)
    })
    .await;
    let warning = stale.headers()["warning"].to_str().unwrap().to_owned();
    assert!(warning.starts_with("110 "), "{warning}");
    let cache_status = stale.headers()["cache-status"].to_str().unwrap().to_owned();
    assert!(
        cache_status.contains("; hit; ttl=-") && cache_status.contains("stale"),
        "{cache_status}"
    );
    assert!(stale.headers().contains_key("age"));
    assert_eq!(stale.json::<Value>().await.unwrap(), fresh);
    assert!(
        app.metric(
            "cache_lookups_total",
            &[("cache", "tmdb"), ("outcome", "stale_served")]
        )
        .await
            >= 1.0
    );
}

#[tokio::test]
async fn tmdb_down_with_nothing_cached_is_a_503_problem() {
    // Nothing listens on port 9 of this machine: every attempt is a connection failure.
    let config = tmdb_config(
        Credentials::Bearer("token".to_owned().into()),
        "http://127.0.0.1:9/3".to_owned(),
    );
    let app = spawn(Some(config), None, |_| {}).await;

    for path in [
        "/v1/movies/603",
        "/v1/movies/popular",
        "/v1/movies/search?q=x",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert!(response.headers().contains_key("retry-after"));
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "catalogue_unavailable");
        assert!(problem["request_id"].is_string());
        let text = problem.to_string();
        assert!(
            !text.contains("127.0.0.1") && !text.contains("connect"),
            "{text}"
        );
    }
    assert!(
        app.metric("tmdb_requests_total", &[("outcome", "connect_error")])
            .await
            >= 1.0
    );
}
