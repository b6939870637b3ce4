//! The whole platform as real binaries — auth, user, movies, two chat instances and the
//! gateway — each with its own fresh database, on this test's own topics, exporting traces
//! to a local OTLP receiver; driven through the gateway only, the way the frontend uses it.

use std::time::Duration;

use marquee_proto_events::topics;
use marquee_testkit::{
    ApiClient, OtlpReceiver, ServiceProcess, TestDatabase, TestTopics, WsClient, eventually_async,
    free_port, redis_url, shared_brokers,
};
use serde_json::{Value, json};

/// How long a process may take to become ready (first start: migrations, consumer joins).
const READY: Duration = Duration::from_secs(90);

/// The running platform; everything stops when it is dropped.
struct Platform {
    gateway: ApiClient,
    gateway_port: u16,
    chat_ports: [u16; 2],
    otlp: OtlpReceiver,
    // Kept for their Drop: processes stop, databases are dropped, keys deleted.
    _processes: Vec<ServiceProcess>,
    _databases: Vec<TestDatabase>,
    _keys: KeysDir,
}

/// A temporary folder with a freshly generated signing key, deleted afterwards.
struct KeysDir(std::path::PathBuf);

impl Drop for KeysDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_platform() -> Platform {
    let services = [
        "auth-service",
        "user-service",
        "movies-service",
        "chat-service",
    ];
    let topics = TestTopics::create(&topics::ALL, &services).await;
    let otlp = OtlpReceiver::start().await;

    let keys = KeysDir(
        std::env::temp_dir().join(format!("marquee-keys-{}", uuid::Uuid::now_v7().simple())),
    );
    let generated = tokio::process::Command::new(marquee_testkit::binary("auth-service"))
        .args(["keys", "generate", "--dir"])
        .arg(&keys.0)
        .output()
        .await
        .expect("auth-service keys generate runs");
    assert!(generated.status.success(), "{generated:?}");

    let mut databases = Vec::new();
    for _ in 0..4 {
        databases.push(TestDatabase::create(None).await);
    }
    let auth_port = free_port();
    let users_port = free_port();
    let movies_port = free_port();
    let chat_ports = [free_port(), free_port()];
    let gateway_port = free_port();
    let local = |port: u16| format!("http://127.0.0.1:{port}");

    let common = |database: Option<&TestDatabase>| {
        let mut env: Vec<(String, String)> = vec![
            ("REDIS_URL".into(), redis_url()),
            ("KAFKA_BROKERS".into(), shared_brokers()),
            (
                "KAFKA_TOPIC_PREFIX".into(),
                topics.config.topic_prefix.clone(),
            ),
            (
                "AUTH_JWKS_URL".into(),
                format!("{}/.well-known/jwks.json", local(auth_port)),
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), otlp.endpoint()),
            // Export spans promptly (the batch processor's default waits 5 s).
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
            ("HTTP_TRUSTED_PROXY_HOPS".into(), "1".into()),
            ("HTTP_WORKERS".into(), "2".into()),
            ("HTTP_SHUTDOWN_TIMEOUT".into(), "2s".into()),
            ("OUTBOX_POLL_INTERVAL".into(), "100ms".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        if let Some(database) = database {
            env.push(("DATABASE_URL".into(), database.url().to_owned()));
        }
        env
    };
    let with = |mut env: Vec<(String, String)>, extra: &[(&str, String)]| {
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    };

    let mut processes = vec![
        ServiceProcess::start(
            "auth",
            "auth-service",
            auth_port,
            &with(
                common(Some(&databases[0])),
                &[
                    ("AUTH_KEYS_DIR", keys.0.display().to_string()),
                    ("AUTH_COOKIE_SECURE", "false".into()),
                    ("BCRYPT_COST", "4".into()),
                ],
            ),
        ),
        ServiceProcess::start(
            "users",
            "user-service",
            users_port,
            &common(Some(&databases[1])),
        ),
        ServiceProcess::start(
            "movies",
            "movies-service",
            movies_port,
            // No TMDb credentials: the bundled offline catalogue.
            &with(
                common(Some(&databases[2])),
                &[("TMDB_API_TOKEN", String::new())],
            ),
        ),
    ];
    let attachments = std::env::temp_dir().join(format!(
        "marquee-attachments-{}",
        uuid::Uuid::now_v7().simple()
    ));
    for (i, port) in chat_ports.iter().enumerate() {
        processes.push(ServiceProcess::start(
            ["chat-1", "chat-2"][i],
            "chat-service",
            *port,
            &with(
                common(Some(&databases[3])),
                &[("ATTACHMENTS_STORE", attachments.display().to_string())],
            ),
        ));
    }
    for process in &mut processes {
        process.wait_ready(READY).await;
    }
    let mut gateway = ServiceProcess::start(
        "gateway",
        "gateway",
        gateway_port,
        &with(
            common(None),
            &[
                ("HTTP_TRUSTED_PROXY_HOPS", "0".into()),
                ("GATEWAY_HEALTH_INTERVAL", "200ms".into()),
                ("AUTH_UPSTREAMS", local(auth_port)),
                ("USERS_UPSTREAMS", local(users_port)),
                ("MOVIES_UPSTREAMS", local(movies_port)),
                (
                    "CHAT_UPSTREAMS",
                    format!("{},{}", local(chat_ports[0]), local(chat_ports[1])),
                ),
            ],
        ),
    );
    gateway.wait_ready(READY).await;
    processes.push(gateway);

    Platform {
        gateway: ApiClient::new(gateway_port),
        gateway_port,
        chat_ports,
        otlp,
        _processes: processes,
        _databases: databases,
        _keys: keys,
    }
}

/// Registers and signs in; returns (user id, access token).
async fn sign_up(platform: &Platform, email: &str, name: &str) -> (String, String) {
    let registered = platform
        .gateway
        .post(
            "/v1/auth/register",
            &json!({"email": email, "password": "correct horse battery", "display_name": name}),
        )
        .await;
    assert_eq!(registered.status(), 201, "{:?}", registered.text().await);
    let user: Value = registered.json().await.unwrap();
    let token = sign_in(platform, email).await;
    (
        user["user_id"].as_str().unwrap_or_default().to_owned(),
        token,
    )
}

async fn sign_in(platform: &Platform, email: &str) -> String {
    let response = platform
        .gateway
        .post(
            "/v1/auth/login",
            &json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Open chat sockets on one chat instance, read from its metrics.
async fn open_sockets(port: u16) -> f64 {
    ApiClient::new(port).metric("chat_connections", &[]).await
}

#[tokio::test]
async fn a_user_journey_through_the_gateway() {
    let platform = start_platform().await;
    let api = &platform.gateway;

    // Register with a trace of our own: every hop must continue it.
    let trace_id = format!("{:032x}", uuid::Uuid::now_v7().as_u128());
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let registered = marquee_testkit::test_client()
        .post(api.url("/v1/auth/register"))
        .header("traceparent", &traceparent)
        .json(&json!({
            "email": "ada@example.com",
            "password": "correct horse battery",
            "display_name": "Ada"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert!(registered.headers().contains_key("x-request-id"));
    let ada_id = registered.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ada = sign_in(&platform, "ada@example.com").await;
    let (_, bob) = sign_up(&platform, "bob@example.com", "Bob").await;

    // The profile appears once user-service has consumed UserCreated.
    let profile: Value = eventually_async(
        Duration::from_secs(20),
        "profile from UserCreated",
        || async {
            let response = api.get_as(&ada, "/v1/users/me").await;
            (response.status() == 200).then_some(response.json().await.unwrap())
        },
    )
    .await;
    assert_eq!(profile["display_name"], "Ada");
    assert_eq!(profile["id"], ada_id.as_str());

    // One trace: gateway → auth handler → outbox publish → user-service's consumer.
    let spans = platform
        .otlp
        .wait_for_trace(&trace_id, Duration::from_secs(20), |spans| {
            let has = |service: &str, name: &dyn Fn(&str) -> bool| {
                spans.iter().any(|s| s.service == service && name(&s.name))
            };
            has("gateway", &|_| true)
                && has("auth-service", &|n| n.contains("/v1/auth/register"))
                && has("auth-service", &|n| n == "publish")
                && has("user-service", &|n| n == "consume")
        })
        .await;
    let gateway_span = spans.iter().find(|s| s.service == "gateway").unwrap();
    assert_eq!(gateway_span.parent_span_id, "00f067aa0ba902b7");
    let auth_span = spans
        .iter()
        .find(|s| s.service == "auth-service" && s.name.contains("/v1/auth/register"))
        .unwrap();
    assert!(
        spans
            .iter()
            .any(|s| s.service == "gateway" && s.span_id == auth_span.parent_span_id),
        "auth's request span hangs under a gateway span: {spans:#?}"
    );
    let publish = spans.iter().find(|s| s.name == "publish").unwrap();
    let consume = spans
        .iter()
        .find(|s| s.service == "user-service" && s.name == "consume")
        .unwrap();
    assert_eq!(consume.parent_span_id, publish.span_id);

    // A new display name, which chat learns from UserUpdated.
    let etag = format!("\"{}\"", profile["version"]);
    let renamed = marquee_testkit::test_client()
        .patch(api.url("/v1/users/me"))
        .bearer_auth(&ada)
        .header("if-match", etag)
        .json(&json!({"display_name": "Ada Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200, "{:?}", renamed.text().await);

    // A room, and two sockets through the gateway on different chat instances.
    let room = api
        .post_as(
            &ada,
            "/v1/chat/rooms",
            Some(&json!({"name": "Film club", "visibility": "public"})),
        )
        .await;
    assert_eq!(room.status(), 201, "{:?}", room.text().await);
    let room_id = room.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let joined = api
        .post_as(&bob, &format!("/v1/chat/rooms/{room_id}/join"), None)
        .await;
    assert!(joined.status().is_success(), "{:?}", joined.text().await);

    let mut ada_socket = WsClient::connect(platform.gateway_port, "/v1/chat/ws", &ada).await;
    let mut bob_socket = WsClient::connect(platform.gateway_port, "/v1/chat/ws", &bob).await;
    let [first, second] = platform.chat_ports;
    eventually_async(
        Duration::from_secs(5),
        "one socket on each chat instance",
        || async {
            (open_sockets(first).await == 1.0 && open_sockets(second).await == 1.0).then_some(())
        },
    )
    .await;
    for socket in [&mut ada_socket, &mut bob_socket] {
        socket
            .send_json(&json!({"type": "join", "room_id": room_id}))
            .await;
        socket.next_of_type("joined").await;
    }

    // Chat's directory may take a moment to apply UserUpdated: send until the new name shows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let message = loop {
        ada_socket
            .send_json(&json!({
                "type": "send",
                "room_id": room_id,
                "client_msg_id": uuid::Uuid::now_v7().to_string(),
                "body": "Seen Metropolis?"
            }))
            .await;
        ada_socket.next_of_type("ack").await;
        let seen: Value = bob_socket.next_of_type("message").await;
        if seen["sender"]["display_name"] == "Ada Lovelace" {
            break seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chat never showed the new display name: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(message["body"], "Seen Metropolis?");
    // Bob's name reaches chat's directory from his UserCreated, too.
    let members = format!("/v1/chat/rooms/{room_id}/members");
    eventually_async(
        Duration::from_secs(20),
        "Bob's name in chat's directory",
        || async {
            let text = api
                .get_as(&bob, &members)
                .await
                .text()
                .await
                .unwrap_or_default();
            text.contains("\"Bob\"").then_some(())
        },
    )
    .await;
    bob_socket
        .send_json(&json!({
            "type": "send",
            "room_id": room_id,
            "client_msg_id": "bob-1",
            "body": "Twice!"
        }))
        .await;
    loop {
        let seen = ada_socket.next_of_type("message").await;
        if seen["body"] == "Twice!" {
            assert_eq!(seen["sender"]["display_name"], "Bob");
            break;
        }
    }

    // Movies from the offline catalogue, and a watchlist.
    let popular = api.get_as(&ada, "/v1/movies/popular").await;
    assert_eq!(popular.status(), 200);
    let popular: Value = popular.json().await.unwrap();
    let movie_id = popular["results"][0]["id"].as_i64().unwrap();
    let added = api
        .put_as(&ada, &format!("/v1/movies/watchlist/{movie_id}"))
        .await;
    assert!(added.status().is_success(), "{:?}", added.text().await);
    let watchlist: Value = api
        .get_as(&ada, "/v1/movies/watchlist")
        .await
        .json()
        .await
        .unwrap();
    assert!(watchlist.to_string().contains(&movie_id.to_string()));

    // Logout: within a second the old token is refused everywhere, and chat closes sockets.
    let logout = api.post_as(&ada, "/v1/auth/logout", None).await;
    assert!(logout.status().is_success(), "{:?}", logout.text().await);
    eventually_async(
        Duration::from_secs(1),
        "the old token refused everywhere",
        || async {
            let users = api.get_as(&ada, "/v1/users/me").await.status();
            let movies = api.get_as(&ada, "/v1/movies/watchlist").await.status();
            let chat = api.get_as(&ada, "/v1/chat/me/rooms").await.status();
            (users == 401 && movies == 401 && chat == 401).then_some(())
        },
    )
    .await;
    assert_eq!(ada_socket.closed().await, Some(4001));

    // Deleting the account (as the user, with a fresh sign-in) ends signing in.
    let ada = sign_in(&platform, "ada@example.com").await;
    let deleted = api.delete_as(&ada, &format!("/v1/users/{ada_id}")).await;
    assert!(deleted.status().is_success(), "{:?}", deleted.text().await);
    eventually_async(
        Duration::from_secs(20),
        "sign-in refused after deletion",
        || async {
            let response = api
                .post(
                    "/v1/auth/login",
                    &json!({"email": "ada@example.com", "password": "correct horse battery"}),
                )
                .await;
            (response.status() == 401).then_some(())
        },
    )
    .await;
}
