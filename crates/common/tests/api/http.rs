//! HTTP conventions through a real actix app: problem+json for every kind of bad input,
//! request ids, health with real dependency checks, and Prometheus metrics.

use actix_web::{
    App, HttpResponse,
    http::{StatusCode, header},
    middleware::from_fn,
    test, web,
};
use marquee_common::{
    db::DatabaseCheck,
    http::{self, Problem, health::Readiness, metrics::Metrics},
    redis::{RedisCheck, RedisConfig, connect},
};
use marquee_testkit::TestDatabase;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NewThing {
    name: String,
}

async fn create(body: web::Json<NewThing>) -> HttpResponse {
    HttpResponse::Created().json(json!({ "name": body.name }))
}

async fn get(id: web::Path<uuid::Uuid>) -> Result<HttpResponse, Problem> {
    Err(Problem::not_found("thing_not_found", "No such thing")
        .with_detail(format!("no thing {id}")))
}

async fn broken() -> Result<HttpResponse, Problem> {
    Err(Problem::internal(
        &"password authentication failed for user postgres",
    ))
}

macro_rules! app {
    ($readiness:expr) => {
        test::init_service(
            App::new()
                .configure(http::configure($readiness, Metrics::new()))
                .service(web::resource("/v1/things").post(create))
                .service(web::resource("/v1/things/{id}").get(get))
                .service(web::resource("/v1/broken").get(broken))
                .service(web::scope("/v1/scoped").service(web::resource("/{id}").get(get)))
                .default_service(web::to(http::not_found))
                .wrap(from_fn(http::method_not_allowed_problem))
                .wrap(from_fn(http::header_limits::middleware))
                .wrap(from_fn(http::metrics::middleware))
                .wrap(http::tracing::logger())
                .wrap(from_fn(http::request_id::middleware)),
        )
        .await
    };
}

async fn problem<B: actix_web::body::MessageBody>(
    response: actix_web::dev::ServiceResponse<B>,
) -> (StatusCode, Value) {
    let status = response.status();
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .as_deref(),
        Some("application/problem+json"),
        "status {status} is a problem"
    );
    (status, test::read_body_json(response).await)
}

#[actix_web::test]
async fn bad_input_of_every_kind_is_a_clear_4xx_problem() {
    let app = app!(Readiness::new(&Metrics::new()));
    let cases = [
        (
            test::TestRequest::post()
                .uri("/v1/things")
                .set_payload("{\"name\":")
                .insert_header(("content-type", "application/json")),
            400,
            "malformed_json",
        ),
        (
            test::TestRequest::post()
                .uri("/v1/things")
                .set_json(json!({"name": "x", "extra": 1})),
            422,
            "invalid_body",
        ),
        (
            test::TestRequest::post()
                .uri("/v1/things")
                .set_json(json!({})),
            422,
            "invalid_body",
        ),
        (
            test::TestRequest::post()
                .uri("/v1/things")
                .set_payload("name=x")
                .insert_header(("content-type", "text/plain")),
            415,
            "unsupported_media_type",
        ),
        (
            test::TestRequest::post()
                .uri("/v1/things")
                .set_json(json!({"name": "x".repeat(70_000)})),
            413,
            "payload_too_large",
        ),
        (
            test::TestRequest::get().uri("/v1/things/not-a-uuid"),
            400,
            "invalid_path",
        ),
        (
            test::TestRequest::get().uri("/v1/nowhere"),
            404,
            "route_not_found",
        ),
        (
            // Inside a scope, under no resource of it.
            test::TestRequest::get().uri("/v1/scoped/a/b"),
            404,
            "route_not_found",
        ),
        (
            test::TestRequest::delete().uri("/v1/things/0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"),
            405,
            "method_not_allowed",
        ),
        (
            test::TestRequest::get()
                .uri("/v1/things/0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b")
                .insert_header(("authorization", format!("Bearer {}", "a".repeat(60_000)))),
            431,
            "headers_too_large",
        ),
        (
            test::TestRequest::get()
                .uri("/v1/things/0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b")
                .insert_header(("x-padding", "b".repeat(100_000))),
            431,
            "headers_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let response = test::call_service(&app, request.to_request()).await;
        if status == 405 {
            // RFC 9110 §15.5.6: a 405 says which methods the route serves.
            assert_eq!(response.headers().get("allow").unwrap(), "GET");
        }
        let (actual, body) = problem(response).await;
        assert_eq!(
            (actual.as_u16(), body["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert_eq!(body["status"], status);
        assert!(body["title"].is_string());
    }
}

#[actix_web::test]
async fn error_bodies_carry_the_request_id_and_hide_internal_causes() {
    let app = app!(Readiness::new(&Metrics::new()));
    let request = test::TestRequest::get()
        .uri("/v1/broken")
        .insert_header(("x-request-id", "req-42"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.headers().get("x-request-id").unwrap(), "req-42");
    let (status, body) = problem(response).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["request_id"], "req-42");
    assert!(!body.to_string().contains("postgres"), "{body}");

    let response = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/v1/things/{}", uuid::Uuid::now_v7()))
            .to_request(),
    )
    .await;
    let generated = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let (_, body) = problem(response).await;
    assert_eq!(
        body["request_id"],
        generated.as_str(),
        "a generated id is echoed and in the body"
    );
    assert_eq!(body["code"], "thing_not_found");
}

/// `GET /health/ready` of `app`: `(status, body)`.
macro_rules! ready {
    ($app:expr) => {{
        let response = test::call_service(
            $app,
            test::TestRequest::get().uri("/health/ready").to_request(),
        )
        .await;
        let status = response.status();
        let body: Value = test::read_body_json(response).await;
        (status, body)
    }};
}

#[actix_web::test]
async fn readiness_fails_only_for_a_required_dependency_and_reports_every_one() {
    let db = TestDatabase::create(None).await;
    let redis = connect(&RedisConfig::for_url("redis://127.0.0.1:6379")).unwrap();
    let app = app!(
        Readiness::new(&Metrics::new())
            .with(DatabaseCheck::new("postgres", db.pool()))
            .reporting(RedisCheck::new(redis))
    );
    let (status, body) = ready!(&app);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ready", "checks": {
            "postgres": {"status": "up", "role": "required"},
            "redis": {"status": "up", "role": "degrades"},
        }})
    );

    // A Redis nobody listens on: the port of a socket we bound and closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = connect(&RedisConfig::for_url(format!("redis://127.0.0.1:{port}"))).unwrap();
    let metrics = Metrics::new();
    let degraded = Readiness::new(&metrics)
        .with(DatabaseCheck::new("postgres", db.pool()))
        .reporting(RedisCheck::new(dead.clone()));
    let app = app!(degraded.clone());
    let (status, body) = ready!(&app);
    assert_eq!(
        status,
        StatusCode::OK,
        "a service that degrades without Redis still takes traffic: {body}"
    );
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert!(body["checks"]["redis"]["error"].is_string(), "{body}");
    assert_eq!(
        metrics.value(
            "dependency_up",
            &[("dependency", "redis"), ("role", "degrades")]
        ),
        Some(0.0),
        "the outage is visible to alerts"
    );
    assert_eq!(
        metrics.value(
            "dependency_up",
            &[("dependency", "postgres"), ("role", "required")]
        ),
        Some(1.0)
    );

    let app = app!(
        Readiness::new(&Metrics::new())
            .with(DatabaseCheck::new("postgres", db.pool()))
            .with(RedisCheck::new(dead))
    );
    let (status, body) = ready!(&app);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["postgres"]["status"], "up");
    assert_eq!(body["checks"]["redis"]["status"], "down");

    let response = test::call_service(
        &app,
        test::TestRequest::get().uri("/health/live").to_request(),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "liveness does not depend on dependencies"
    );
}

#[actix_web::test]
async fn a_draining_instance_is_not_ready_but_still_live() {
    let metrics = Metrics::new();
    let readiness = Readiness::new(&metrics);
    let app = app!(readiness.clone());
    assert_eq!(ready!(&app).0, StatusCode::OK);
    readiness.drain();
    let (status, body) = ready!(&app);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "draining");
    let live = test::call_service(
        &app,
        test::TestRequest::get().uri("/health/live").to_request(),
    )
    .await;
    assert_eq!(live.status(), StatusCode::OK);
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = app!(Readiness::new(&Metrics::new()));
    for _ in 0..3 {
        let uri = format!("/v1/things/{}", uuid::Uuid::now_v7());
        test::call_service(&app, test::TestRequest::get().uri(&uri).to_request()).await;
    }
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/v1/things/{id}",status="404"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[actix_web::test]
async fn the_healthcheck_probe_passes_against_a_serving_process_and_fails_without_one() {
    let mut config = http::HttpConfig::ephemeral();
    let bound = http::serve_app(
        &config,
        Readiness::new(&Metrics::new()),
        Metrics::new(),
        |_| {},
    )
    .expect("listen");
    let handle = bound.server.handle();
    let server = actix_web::rt::spawn(bound.server);
    config.port = bound.port;
    let timeout = std::time::Duration::from_secs(2);

    let probed = config.clone();
    actix_web::rt::task::spawn_blocking(move || http::health::probe_live(&probed, timeout))
        .await
        .expect("probe task")
        .expect("a serving process is live");

    handle.stop(true).await;
    server.await.expect("server task").expect("server stopped");
    let refused =
        actix_web::rt::task::spawn_blocking(move || http::health::probe_live(&config, timeout))
            .await
            .expect("probe task");
    assert!(refused.is_err(), "nothing listens any more: {refused:?}");
}
