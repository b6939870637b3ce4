//! `Idempotency-Key` through a real server and Redis: replay, reuse with another body, a
//! concurrent duplicate, server errors not kept, and keys scoped to the caller.

use std::{
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use actix_web::{App, HttpResponse, HttpServer, middleware::from_fn, web};
use marquee_common::{
    http::{
        self, Problem,
        idempotency::{self, IdempotencyStore},
    },
    redis::{RedisConfig, connect},
};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Counts the things it creates; `"slow"` waits for the test's signal, `"fail"` is a 503.
#[derive(Default)]
struct Things {
    created: AtomicUsize,
    /// Handlers waiting for `release`.
    waiting: AtomicUsize,
    release: Notify,
}

async fn create(
    things: web::Data<Arc<Things>>,
    body: web::Json<Value>,
) -> Result<HttpResponse, Problem> {
    if body["name"] == "slow" {
        things.waiting.fetch_add(1, Ordering::SeqCst);
        things.release.notified().await;
    }
    if body["name"] == "fail" {
        return Err(Problem::unavailable(
            "busy",
            std::time::Duration::from_secs(1),
        ));
    }
    if body["name"] == "limited" {
        return Err(Problem::too_many_requests(std::time::Duration::from_secs(
            1,
        )));
    }
    let n = things.created.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/things/{n}")))
        .json(json!({ "id": n, "name": body["name"] })))
}

/// A server on port 0 with the middleware on `POST /things`; returns its URL.
fn serve(things: Arc<Things>) -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = web::Data::new(IdempotencyStore::new(
        connect(&RedisConfig::for_url(url)).unwrap(),
        "idempotency-test",
    ));
    let things = web::Data::new(things);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}/things", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(things.clone())
            .app_data(store.clone())
            .app_data(http::problem::json_config())
            .service(
                web::resource("/things")
                    .wrap(from_fn(idempotency::middleware))
                    .route(web::post().to(create)),
            )
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    address
}

async fn post(url: &str, key: &str, body: Value, caller: Option<&str>) -> reqwest::Response {
    let mut request = marquee_testkit::test_client()
        .post(url)
        .header("idempotency-key", key)
        .json(&body);
    if let Some(caller) = caller {
        request = request.bearer_auth(caller);
    }
    request.send().await.unwrap()
}

fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_and_body_replay_the_first_response() {
    let things = Arc::new(Things::default());
    let url = serve(things.clone());
    let key = key();

    let first = post(&url, &key, json!({"name": "a"}), None).await;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();

    let again = post(&url, &key, json!({"name": "a"}), None).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(things.created.load(Ordering::SeqCst), 1, "done once");

    let other = post(&url, &key, json!({"name": "b"}), None).await;
    assert_eq!(other.status(), 422);
    let problem: Value = other.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_reused");

    // Without a key, nothing is remembered.
    let plain = marquee_testkit::test_client()
        .post(&url)
        .json(&json!({"name": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 201);
    assert_eq!(things.created.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_while_the_first_runs_is_409() {
    let things = Arc::new(Things::default());
    let url = serve(things.clone());
    let key = key();

    let first = tokio::spawn({
        let (url, key) = (url.clone(), key.clone());
        async move { post(&url, &key, json!({"name": "slow"}), None).await }
    });
    // Once the first is in its handler (holding the key), send the twin.
    marquee_testkit::eventually(
        std::time::Duration::from_secs(10),
        "the first request to reach its handler",
        || (things.waiting.load(Ordering::SeqCst) == 1).then_some(()),
    )
    .await;
    let second = post(&url, &key, json!({"name": "slow"}), None).await;
    assert_eq!(second.status(), 409);
    assert!(second.headers().contains_key("retry-after"));
    let problem: Value = second.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_in_flight");

    things.release.notify_one();
    assert_eq!(first.await.unwrap().status(), 201);
    assert_eq!(things.created.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_not_kept_and_keys_belong_to_their_caller() {
    let things = Arc::new(Things::default());
    let url = serve(things.clone());

    let key = key();
    let failed = post(&url, &key, json!({"name": "fail"}), None).await;
    assert_eq!(failed.status(), 503);
    let retried = post(&url, &key, json!({"name": "fail"}), None).await;
    assert_eq!(retried.status(), 503);
    assert!(
        retried.headers().get("idempotent-replayed").is_none(),
        "ran again"
    );
    let key = self::key();
    let limited = post(&url, &key, json!({"name": "limited"}), None).await;
    assert_eq!(limited.status(), 429);
    let again = post(&url, &key, json!({"name": "limited"}), None).await;
    assert!(
        again.headers().get("idempotent-replayed").is_none(),
        "a 429 is not kept"
    );

    let key = self::key();
    let alice = post(&url, &key, json!({"name": "a"}), Some("alice")).await;
    assert_eq!(alice.status(), 201);
    let bob = post(&url, &key, json!({"name": "a"}), Some("bob")).await;
    assert_eq!(bob.status(), 201);
    assert!(bob.headers().get("idempotent-replayed").is_none());
    assert_eq!(things.created.load(Ordering::SeqCst), 2);

    let bad_key = post(&url, &"x".repeat(300), json!({"name": "a"}), None).await;
    assert_eq!(bad_key.status(), 400);
    let problem: Value = bad_key.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_idempotency_key");
}
