//! Overload and outages: a saturated hashing pool and an unreachable Redis answer 503 with a
//! clear problem, never hang and never 500.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, email, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_hashing_pool_sheds_load_with_503() {
    // One hash at a time, nobody waiting, and a cost high enough for requests to overlap.
    let app = spawn_app_with(|config| {
        config.bcrypt_cost = 12;
        config.hash_threads = 1;
        config.hash_queue = Some(0);
    })
    .await;
    let bodies: Vec<Value> = (0..8)
        .map(|_| json!({"email": email(), "password": PASSWORD}))
        .collect();
    let attempts = bodies.iter().map(|body| app.post("/v1/auth/login", body));
    let responses = futures::future::join_all(attempts).await;
    let mut busy = 0;
    for response in responses {
        match response.status().as_u16() {
            401 => {}
            503 => {
                busy += 1;
                assert!(response.headers().contains_key("retry-after"));
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], "busy");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "some sign-ins are turned away rather than queued");
    assert!(busy < 8, "the pool still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_sign_in_and_refresh_are_503_and_the_service_stays_ready_degraded() {
    // Nothing listens on port 1.
    let app = spawn_app_with(|config| {
        config.redis = marquee_common::redis::RedisConfig::for_url("redis://127.0.0.1:1");
    })
    .await;
    // Registering needs no Redis (the per-IP limit fails open by default).
    let address = email();
    app.register(&address, PASSWORD).await;

    for response in [
        app.post(
            "/v1/auth/login",
            &json!({"email": address, "password": PASSWORD}),
        )
        .await,
        app.refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .await,
    ] {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "sessions_unavailable");
        assert!(
            !body.to_string().contains("127.0.0.1:1"),
            "no internals leak"
        );
    }
    // Registration and everything else that needs no session still works: the instance
    // stays in rotation and reports the outage.
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "down", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let response = app.get("/v1/auth/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/auth/logout-all",
        "/v1/auth/sessions",
        "/v1/auth/sessions/{id}",
        "/v1/auth/password",
        "/v1/auth/.well-known/jwks.json",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert!(document["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_shed_by_a_busy_pool_do_not_lock_the_address() {
    // One hash at a time and nobody waiting, kept busy by someone else signing in.
    let app = std::sync::Arc::new(
        spawn_app_with(|config| {
            config.bcrypt_cost = 12;
            config.hash_threads = 1;
            config.hash_queue = Some(0);
        })
        .await,
    );
    let (busy, target) = (email(), email());
    app.register(&busy, PASSWORD).await;
    app.register(&target, PASSWORD).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let blocker = tokio::spawn({
        let (app, stop) = (app.clone(), stop.clone());
        let body = json!({"email": busy, "password": PASSWORD});
        async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                app.post("/v1/auth/login", &body).await;
            }
        }
    });

    // Past the lock threshold (5) of consecutive sheds: counted, they would lock the
    // address and the next attempt would be 429.
    let body = json!({"email": target, "password": PASSWORD});
    let mut shed_in_a_row = 0;
    for _ in 0..200 {
        let response = app.post("/v1/auth/login", &body).await;
        match response.status().as_u16() {
            503 => shed_in_a_row += 1,
            200 => shed_in_a_row = 0,
            other => panic!("a correct sign-in answered {other} after {shed_in_a_row} sheds"),
        }
        if shed_in_a_row == 8 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    blocker.await.unwrap();
    assert_eq!(shed_in_a_row, 8, "the busy pool shed the sign-ins");
    let after = app.post("/v1/auth/login", &body).await;
    assert_eq!(after.status().as_u16(), 200, "not locked by the sheds");
}
