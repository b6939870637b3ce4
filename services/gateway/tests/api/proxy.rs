//! The gateway in front of fake upstreams: what a client and an upstream each see.

use std::time::Duration;

use serde_json::Value;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header_exists, method, path},
};

use crate::helpers::{healthy_upstream, spawn_gateway};

fn users_at(server: &MockServer) -> (&'static str, String) {
    ("USERS_UPSTREAMS", server.uri())
}

/// Routes with only the users service (a fake one).
fn only_users() -> (&'static str, String) {
    ("GATEWAY_ROUTES", "/v1/users=users".to_owned())
}

#[tokio::test]
async fn requests_reach_the_service_and_answers_come_back_whole() {
    let users = healthy_upstream().await;
    Mock::given(method("POST"))
        .and(path("/v1/users/echo"))
        .and(header_exists("x-forwarded-for"))
        .and(header_exists("traceparent"))
        .respond_with(
            ResponseTemplate::new(201)
                .append_header("set-cookie", "a=1; HttpOnly")
                .append_header("set-cookie", "b=2; HttpOnly")
                .append_header("x-upstream", "users")
                .set_body_string("made it"),
        )
        .mount(&users)
        .await;
    let gateway = spawn_gateway(&[only_users(), users_at(&users)], true).await;

    let response = marquee_testkit::test_client()
        .post(gateway.api.url("/v1/users/echo?x=1"))
        .header("x-request-id", "req-42")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "hop")
        .body(vec![b'z'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-request-id"], "req-42");
    assert_eq!(response.headers()["x-upstream"], "users");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 2);
    assert_eq!(response.text().await.unwrap(), "made it");

    let received = users.received_requests().await.unwrap();
    let echo = received
        .iter()
        .find(|r| r.url.path() == "/v1/users/echo")
        .unwrap();
    assert_eq!(echo.url.query(), Some("x=1"));
    assert_eq!(echo.body.len(), 100_000);
    assert_eq!(echo.headers["x-request-id"], "req-42");
    assert_eq!(echo.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(echo.headers["x-forwarded-proto"], "http");
    assert!(
        !echo.headers.contains_key("x-private"),
        "hop-by-hop forwarded"
    );
}

#[tokio::test]
async fn unknown_routes_and_unserved_versions_are_problems() {
    let users = healthy_upstream().await;
    let gateway = spawn_gateway(&[only_users(), users_at(&users)], true).await;

    let response = gateway.api.get("/v1/nowhere").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "route_not_found");
    assert!(problem["request_id"].is_string());

    let response = marquee_testkit::test_client()
        .get(gateway.api.url("/users/me"))
        .header("x-api-version", "7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "unsupported_api_version");
}

#[tokio::test]
async fn unversioned_paths_are_served_as_the_requested_version() {
    let users = healthy_upstream().await;
    Mock::given(method("GET"))
        .and(path("/v1/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_string("v1 me"))
        .mount(&users)
        .await;
    let gateway = spawn_gateway(&[only_users(), users_at(&users)], true).await;
    for (name, value) in [
        ("x-api-version", "1"),
        ("accept", "application/vnd.marquee.v1+json"),
    ] {
        let response = marquee_testkit::test_client()
            .get(gateway.api.url("/users/me"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.text().await.unwrap(), "v1 me");
    }
}

#[tokio::test]
async fn instances_take_turns_and_a_dead_one_is_skipped() {
    let first = healthy_upstream().await;
    let second = healthy_upstream().await;
    for server in [&first, &second] {
        Mock::given(path("/v1/users/ping"))
            .respond_with(ResponseTemplate::new(200))
            .mount(server)
            .await;
    }
    // Port 9 (discard) has no listener here: never healthy, never chosen.
    let instances = format!("{},http://127.0.0.1:9,{}", first.uri(), second.uri());
    let gateway = spawn_gateway(&[only_users(), ("USERS_UPSTREAMS", instances)], true).await;
    // Ready means one instance in rotation; wait for both live ones.
    marquee_testkit::eventually_async(Duration::from_secs(10), "both in rotation", || async {
        let metrics = gateway.api.get("/metrics").await.text().await.ok()?;
        let in_rotation = metrics
            .lines()
            .filter(|line| line.starts_with("gateway_upstream_healthy{") && line.ends_with(" 1"))
            .count();
        (in_rotation == 2).then_some(())
    })
    .await;
    for _ in 0..10 {
        assert_eq!(gateway.api.get("/v1/users/ping").await.status(), 200);
    }
    let count = |requests: Vec<wiremock::Request>| {
        requests
            .iter()
            .filter(|r| r.url.path() == "/v1/users/ping")
            .count()
    };
    let first_count = count(first.received_requests().await.unwrap());
    let second_count = count(second.received_requests().await.unwrap());
    assert_eq!(first_count + second_count, 10);
    assert_eq!(
        (first_count, second_count),
        (5, 5),
        "round-robin splits requests evenly between the live instances"
    );
}

#[tokio::test]
async fn instances_that_all_fail_readiness_are_still_tried() {
    // Every instance reports a dependency down (say the broker): they still serve, and the
    // gateway, failing open, lets them.
    let users = MockServer::start().await;
    Mock::given(path("/health/ready"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&users)
        .await;
    Mock::given(path("/v1/users/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_string("pong"))
        .mount(&users)
        .await;
    let gateway = spawn_gateway(&[only_users(), users_at(&users)], false).await;
    marquee_testkit::eventually_async(Duration::from_secs(10), "a failed check", || async {
        let body: Value = gateway.api.get("/health/ready").await.json().await.ok()?;
        (body["status"] == "degraded").then_some(body)
    })
    .await;
    assert_eq!(
        gateway.api.get("/health/ready").await.status(),
        200,
        "the gateway itself still serves"
    );
    let response = gateway.api.get("/v1/users/ping").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "pong");
}

#[tokio::test]
async fn a_service_that_refuses_connections_is_a_502_then_503_once_ejected() {
    let gateway = spawn_gateway(
        &[
            only_users(),
            ("USERS_UPSTREAMS", "http://127.0.0.1:9".to_owned()),
            ("GATEWAY_EJECT_AFTER", "2".to_owned()),
            ("GATEWAY_EJECT_FOR", "60s".to_owned()),
        ],
        false,
    )
    .await;
    // Two attempts (the single instance gets a second connection), both refused: ejected.
    let response = gateway.api.get("/v1/users/me").await;
    assert_eq!(response.status(), 502);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "upstream_failed");

    let response = gateway.api.get("/v1/users/me").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "upstream_unavailable");
    assert!(problem["request_id"].is_string());
    assert_eq!(gateway.api.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn a_request_whose_connection_breaks_unanswered_is_retried_only_when_repeatable() {
    let upstream = HangsUpEveryOther::start().await;
    let gateway = spawn_gateway(
        &[
            only_users(),
            (
                "USERS_UPSTREAMS",
                format!("http://127.0.0.1:{}", upstream.port),
            ),
        ],
        true,
    )
    .await;
    let client = marquee_testkit::test_client();
    let post = |key: Option<&str>| {
        let mut request = client
            .post(gateway.api.url("/v1/users/things"))
            .header("content-type", "application/json")
            .body(r#"{"name":"ada"}"#);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };

    // A GET is sent again: the first attempt's connection breaks, the second is answered.
    let response = gateway.api.get("/v1/users/things").await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.seen(), 2);

    // So is a POST with an Idempotency-Key, body and all.
    let response = post(Some("k-1")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"name":"ada"}"#);
    assert_eq!(upstream.seen(), 4);

    // A POST without one, which the upstream may have acted on, is not.
    let response = post(None).await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(upstream.seen(), 5);
}

/// An upstream that is always ready and, of the other requests, closes the connection of the
/// 1st, 3rd, 5th… without an answer and answers the rest with their body.
struct HangsUpEveryOther {
    port: u16,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HangsUpEveryOther {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;

        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    // One request per connection: head, then Content-Length bytes of body.
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    let body = loop {
                        let Ok(n) = stream.read(&mut buffer).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buffer[..n]);
                        let text = String::from_utf8_lossy(&request).to_string();
                        let Some(end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break request[end + 4..end + 4 + length].to_vec();
                        }
                    };
                    let answer = if request.starts_with(b"GET /health/ready ") {
                        true
                    } else {
                        counter.fetch_add(1, Ordering::SeqCst) % 2 == 1
                    };
                    if answer {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(&body).await;
                    }
                });
            }
        });
        Self { port, seen }
    }

    /// Requests other than readiness checks received so far.
    fn seen(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_slow_upstream_is_a_504() {
    let users = healthy_upstream().await;
    Mock::given(path("/v1/users/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&users)
        .await;
    let gateway = spawn_gateway(
        &[
            only_users(),
            users_at(&users),
            ("USERS_TIMEOUT", "300ms".to_owned()),
        ],
        true,
    )
    .await;
    let response = gateway.api.get("/v1/users/slow").await;
    assert_eq!(response.status(), 504);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "upstream_timeout");
    assert!(problem["request_id"].is_string());
}

#[tokio::test]
async fn an_upstream_that_hangs_up_is_a_502() {
    let port = hanging_up_upstream().await;
    let gateway = spawn_gateway(
        &[
            only_users(),
            ("USERS_UPSTREAMS", format!("http://127.0.0.1:{port}")),
        ],
        true,
    )
    .await;
    let response = gateway.api.get("/v1/users/me").await;
    assert_eq!(response.status(), 502);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "upstream_failed");
    let errors = gateway
        .api
        .metric("gateway_upstream_errors_total", &[("service", "users")])
        .await;
    assert!(errors >= 1.0);
}

/// An upstream that is ready but closes every other request's connection unanswered.
async fn hanging_up_upstream() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = stream.read(&mut request).await.unwrap_or(0);
                if request[..n].starts_with(b"GET /health/ready ") {
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let users = healthy_upstream().await;
    let gateway = spawn_gateway(
        &[
            only_users(),
            users_at(&users),
            ("GATEWAY_MAX_BODY_BYTES", "2048".to_owned()),
        ],
        true,
    )
    .await;
    let client = marquee_testkit::test_client();
    let declared = client
        .post(gateway.api.url("/v1/users/upload"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 413);
    // Chunked: no length up front, cut off while streaming.
    let (status, body) = chunked_post(gateway.port, "/v1/users/upload", 8, 1024).await;
    assert_eq!(status, 413, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "payload_too_large");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_ratelimit_headers() {
    let users = healthy_upstream().await;
    Mock::given(path("/v1/users/me"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&users)
        .await;
    let gateway = spawn_gateway(
        &[
            only_users(),
            users_at(&users),
            ("RATE_LIMIT_ENABLED", "true".to_owned()),
            ("RATE_LIMIT_API_IP_BURST", "2".to_owned()),
            ("RATE_LIMIT_API_IP_PER_MINUTE", "1".to_owned()),
            // Believe X-Forwarded-For, so this test's client has an address of its own.
            ("HTTP_TRUSTED_PROXY_HOPS", "1".to_owned()),
        ],
        true,
    )
    .await;
    let client_ip = format!("10.{}.{}.{}", rand_octet(), rand_octet(), rand_octet());
    let call = || {
        marquee_testkit::test_client()
            .get(gateway.api.url("/v1/users/me"))
            .header("x-forwarded-for", &client_ip)
            .send()
    };
    let first = call().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-limit"], "2");
    assert_eq!(first.headers()["ratelimit-remaining"], "1");
    assert_eq!(call().await.unwrap().status(), 200);
    let refused = call().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
}

fn rand_octet() -> u8 {
    uuid::Uuid::now_v7().as_bytes()[15]
}

#[tokio::test]
async fn cors_answers_preflights_for_allowed_origins_only() {
    let users = healthy_upstream().await;
    let gateway = spawn_gateway(
        &[
            only_users(),
            users_at(&users),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com".to_owned()),
        ],
        true,
    )
    .await;
    let preflight = |origin: &'static str| {
        marquee_testkit::test_client()
            .request(reqwest::Method::OPTIONS, gateway.api.url("/v1/users/me"))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// POSTs `chunks` chunks of `size` bytes with `Transfer-Encoding: chunked` (which reqwest
/// only does for streams), returning the status and body.
async fn chunked_post(port: u16, path: &str, chunks: usize, size: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..chunks {
        let chunk = format!("{size:x}\r\n{}\r\n", "y".repeat(size));
        // The gateway may answer (and close) before every chunk is written.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
