//! Brute-force protection: the per-address lock and the per-IP budget.

use std::time::Duration;

use marquee_testkit::eventually_async;
use serde_json::{Value, json};

use auth_service::config::LockoutPolicy;
use marquee_common::{
    http::TrustedProxies,
    redis::{RedisConfig, connect},
};

use crate::helpers::{PASSWORD, TestApp, email, spawn_app_with};

/// Locks long enough that a loaded machine still sees them (the production schedule is
/// unit-tested in `store::throttle`).
async fn spawn_with_locks(seconds: &[u64]) -> TestApp {
    let schedule = seconds.iter().map(|s| Duration::from_secs(*s)).collect();
    spawn_app_with(|config| {
        config.throttle.lockout = LockoutPolicy {
            threshold: 5,
            schedule,
        }
    })
    .await
}

async fn attempt(
    app: &crate::helpers::TestApp,
    address: &str,
    password: &str,
) -> (u16, Value, Option<u64>) {
    let response = app
        .post(
            "/v1/auth/login",
            &json!({"email": address, "password": password}),
        )
        .await;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let mut body: Value = response.json().await.unwrap_or(Value::Null);
    if let Some(body) = body.as_object_mut() {
        body.remove("request_id");
    }
    (status, body, retry_after)
}

/// Polls until the address is no longer locked, then makes one attempt.
async fn after_the_lock(app: &TestApp, address: &str, password: &str) -> u16 {
    eventually_async(Duration::from_secs(30), "the lock to end", || async {
        let (status, _, _) = attempt(app, address, password).await;
        (status != 429).then_some(status)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_lock_the_address_progressively_and_a_success_resets_it() {
    let app = spawn_with_locks(&[2, 4]).await;
    let address = email();
    app.register(&address, PASSWORD).await;

    for _ in 0..5 {
        assert_eq!(attempt(&app, &address, "wrong password").await.0, 401);
    }
    // Five failures: locked for the first step, even for the right password.
    let (status, body, retry_after) = attempt(&app, &address, PASSWORD).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "too_many_attempts");
    assert_eq!(retry_after, Some(2));

    // The sixth failure locks for the next step.
    assert_eq!(after_the_lock(&app, &address, "wrong password").await, 401);
    let (status, _, retry_after) = attempt(&app, &address, PASSWORD).await;
    assert_eq!(status, 429);
    assert_eq!(retry_after, Some(4));

    // Once it passes, the right password signs in and the count starts over.
    assert_eq!(after_the_lock(&app, &address, PASSWORD).await, 200);
    for _ in 0..4 {
        assert_eq!(attempt(&app, &address, "wrong password").await.0, 401);
    }
    assert_eq!(attempt(&app, &address, PASSWORD).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_address_locks_exactly_like_a_real_one() {
    let app = spawn_with_locks(&[60]).await;
    let real = email();
    app.register(&real, PASSWORD).await;
    let unknown = email();

    let mut answers = Vec::new();
    for address in [&real, &unknown] {
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(attempt(&app, address, "wrong password").await);
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][5].0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_ip_has_a_budget_behind_the_gateway() {
    let app = spawn_app_with(|config| {
        config.http.trusted_proxies = TrustedProxies::new(1, vec!["127.0.0.0/8".parse().unwrap()]);
        config.throttle.ip_quota.burst = 3;
        config.throttle.ip_quota.per_minute = 1;
    })
    .await;
    // A fresh address per run: buckets outlive the test in the shared Redis.
    let id = uuid::Uuid::now_v7().as_bytes().to_owned();
    let client = format!("10.{}.{}.{}", id[13], id[14], id[15]);
    let neighbour = format!("10.{}.{}.{}", id[13], id[14], id[15].wrapping_add(1));
    let login = |ip: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/login"))
                // What the gateway appends: the address it saw.
                .header("x-forwarded-for", ip)
                .json(&json!({"email": email(), "password": "wrong password"}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(login(client.clone()).await.status(), 401);
    }
    let limited = login(client.clone()).await;
    assert_eq!(limited.status(), 429);
    let headers = limited.headers().clone();
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["ratelimit-limit"], "3");
    assert_eq!(headers["ratelimit-remaining"], "0");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Registering shares the budget; another client has its own.
    let register = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("x-forwarded-for", client.clone())
        .json(&json!({"email": email(), "password": PASSWORD, "display_name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 429);
    assert_eq!(login(neighbour).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_is_no_trusted_proxy_cannot_choose_its_address() {
    // A fresh forged address per run: which bucket a login is charged to tells whether the
    // service believed it (bucket keys outlive the test in the shared Redis).
    let id = uuid::Uuid::now_v7().as_bytes().to_owned();
    let forged = format!("198.51.{}.{}", id[14], id[15]);
    let charged = |trusted: TrustedProxies| {
        let forged = forged.clone();
        async move {
            let app = spawn_app_with(move |config| config.http.trusted_proxies = trusted).await;
            let response = app
                .client
                .post(app.url("/v1/auth/login"))
                .header("x-forwarded-for", &forged)
                .json(&json!({"email": email(), "password": "wrong password"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
            let mut redis = connect(&RedisConfig::for_url(marquee_testkit::redis_url())).unwrap();
            redis::cmd("EXISTS")
                .arg(format!("ratelimit:auth-ip:{forged}"))
                .query_async::<bool>(&mut redis)
                .await
                .unwrap()
        }
    };
    // This test's requests come from 127.0.0.1. Behind a proxy in 10.255.0.0/16 only, they
    // reach the service directly, as an attacker inside the network would: the forged
    // address names nobody.
    let elsewhere = TrustedProxies::new(1, vec!["10.255.0.0/16".parse().unwrap()]);
    assert!(!charged(elsewhere).await, "{forged} was believed");
    // From a trusted proxy the same header names the client (so the check above can fail).
    let loopback = TrustedProxies::new(1, vec!["127.0.0.0/8".parse().unwrap()]);
    assert!(
        charged(loopback).await,
        "{forged} was not believed from a trusted proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_fired_in_parallel_cannot_outrun_the_lock() {
    let app = spawn_with_locks(&[60]).await;
    let address = email();
    app.register(&address, PASSWORD).await;
    let bodies: Vec<serde_json::Value> = (0..20)
        .map(|i| json!({"email": address, "password": format!("guess number {i}")}))
        .collect();
    let answers =
        futures::future::join_all(bodies.iter().map(|b| app.post("/v1/auth/login", b))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        checked + locked,
        20,
        "every guess is checked or locked out: {statuses:?}"
    );
    assert_eq!(
        checked, 5,
        "only the threshold's worth of passwords is ever checked"
    );
}
