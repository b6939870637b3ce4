//! `spawn_cluster`: real chat-service instances on port 0 sharing one fresh database, one
//! set of topics, one Redis key prefix and one attachment directory, with a
//! [`TestIdentity`] standing in for auth-service.

use std::time::Duration;

use chat_service::{
    Application,
    attachments::AttachmentConfig,
    config::{ChatConfig, Config},
};
use marquee_common::{
    auth::Role, db::DatabaseConfig, http::HttpConfig, redis::RedisConfig, service::Service as _,
    shutdown::CancellationToken, telemetry::TelemetryConfig,
};
use marquee_proto_events::topics;
use marquee_testkit::{
    ApiClient, TestDatabase, TestIdentity, TestPublisher, TestTopics, TestUser, WsClient,
    WsOptions, eventually_async, redis_url, relay_config,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// One running instance.
pub struct Instance {
    pub api: ApiClient,
    pub port: u16,
    pub shutdown: CancellationToken,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl std::ops::Deref for Instance {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl Instance {
    /// A WebSocket for `user` on this instance.
    pub async fn socket(&self, user: &TestUser) -> WsClient {
        WsClient::connect(self.port, "/v1/chat/ws", &user.token).await
    }

    /// A socket of `user` whose client reads through a 4 KiB receive buffer: a reader that
    /// stops reading fills it within a few frames, so the server's back-pressure shows.
    pub async fn socket_with_small_buffer(&self, user: &TestUser) -> WsClient {
        let options = WsOptions {
            bearer: Some(user.token.clone()),
            recv_buffer: Some(4096),
            ..WsOptions::default()
        };
        let (socket, _) = WsClient::try_connect(self.port, "/v1/chat/ws", &options)
            .await
            .expect("a socket with a small receive buffer");
        socket
    }
}

pub struct Cluster {
    pub instances: Vec<Instance>,
    /// One connected producer for the whole test (a new one per event costs a connection).
    publisher: TestPublisher,
    pub identity: TestIdentity,
    pub database: TestDatabase,
    pub attachments_dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.attachments_dir);
    }
}

impl std::ops::Deref for Cluster {
    type Target = Instance;

    fn deref(&self) -> &Instance {
        &self.instances[0]
    }
}

/// Settings for tests: quick heartbeats, short presence.
pub fn test_chat_config(prefix: &str) -> ChatConfig {
    ChatConfig {
        redis_prefix: prefix.to_owned(),
        heartbeat: Duration::from_millis(500),
        presence_ttl: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        send_rate: 1000.0,
        send_burst: 1000,
        ..ChatConfig::defaults()
    }
}

/// One instance.
pub async fn spawn_app() -> Cluster {
    spawn_cluster(1, |_| {}).await
}

/// `n` instances; `adjust` may change each one's config first.
pub async fn spawn_cluster(n: usize, adjust: impl Fn(&mut Config)) -> Cluster {
    let database = TestDatabase::create(Some(chat_service::MIGRATIONS)).await;
    let topics = TestTopics::create(
        &[
            topics::CHAT_MESSAGES_V1,
            topics::SESSIONS_V1,
            topics::USERS_V1,
        ],
        &["chat-service"],
    )
    .await;
    let identity = TestIdentity::start().await;
    let prefix = format!("test-{}:", Uuid::now_v7().simple());
    let attachments_dir = std::env::temp_dir().join(format!("marquee-chat-{}", Uuid::now_v7()));
    let mut instances = Vec::new();
    for _ in 0..n {
        let mut config = Config {
            http: HttpConfig::ephemeral(),
            database: DatabaseConfig::for_url(database.url()),
            redis: RedisConfig::for_url(redis_url()),
            kafka: topics.config.clone(),
            relay: relay_config(),
            telemetry: TelemetryConfig::for_tests("chat-service"),
            verifier: identity.verifier_config(),
            consumer: topics.consumer_config("chat-service", &[topics::USERS_V1]),
            chat: test_chat_config(&prefix),
            attachments: AttachmentConfig::local(&attachments_dir),
        };
        adjust(&mut config);
        let application = Application::build(config)
            .await
            .expect("chat-service builds");
        let port = application.port();
        let shutdown = CancellationToken::new();
        tokio::spawn(application.run_until_stopped(shutdown.clone()));
        let api = ApiClient::new(port);
        // Ready means tailing the topics: a socket routed here will not miss messages.
        eventually_async(
            Duration::from_secs(20),
            "the instance to be ready",
            || async { (api.get("/health/ready").await.status() == 200).then_some(()) },
        )
        .await;
        instances.push(Instance {
            api,
            port,
            shutdown,
        });
    }
    Cluster {
        instances,
        publisher: TestPublisher::new(&topics.config),
        identity,
        database,
        attachments_dir,
    }
}

impl Cluster {
    pub fn publisher(&self) -> &TestPublisher {
        &self.publisher
    }

    /// A signed-in user whose display name the directory knows (as after `UserCreated`).
    pub async fn user(&self, name: &str) -> TestUser {
        let mut users = self.users(&[name]).await;
        users.remove(0)
    }

    /// Signed-in users, one per name, announced together and waited for together.
    pub async fn users(&self, names: &[&str]) -> Vec<TestUser> {
        let mut users = Vec::new();
        let mut events = Vec::new();
        for name in names {
            let user = self.identity.sign_in(Uuid::now_v7(), &[Role::User]).await;
            let event = marquee_proto_events::users::v1::UserCreated {
                user_id: user.id.to_string(),
                email: format!("{}@example.com", user.id.simple()),
                display_name: (*name).to_owned(),
                created_at: Some(std::time::SystemTime::now().into()),
                roles: vec!["user".into()],
            };
            events.push(self.publisher.publish(&event).await);
            users.push(user);
        }
        for id in events {
            self.database.wait_applied(id).await;
        }
        users
    }

    /// A room created by `owner`.
    pub async fn room(&self, owner: &TestUser, name: &str, visibility: &str) -> Uuid {
        let response = self
            .post_as(
                &owner.token,
                "/v1/chat/rooms",
                Some(&json!({"name": name, "visibility": visibility})),
            )
            .await;
        assert_eq!(response.status(), 201);
        let room: Value = response.json().await.unwrap();
        room["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn join(&self, user: &TestUser, room: Uuid) {
        let response = self
            .post_as(&user.token, &format!("/v1/chat/rooms/{room}/join"), None)
            .await;
        assert_eq!(response.status(), 200);
    }
}

/// Sends over the socket and waits for the ack; returns it.
pub async fn send(socket: &mut WsClient, room: Uuid, client_msg_id: &str, body: &str) -> Value {
    socket
        .send_json(&json!({
            "type": "send", "room_id": room, "client_msg_id": client_msg_id, "body": body
        }))
        .await;
    socket.next_of_type("ack").await
}

/// Opens `room` on the socket and waits for `joined`.
pub async fn join_socket(socket: &mut WsClient, room: Uuid) -> Value {
    socket
        .send_json(&json!({"type": "join", "room_id": room}))
        .await;
    socket.next_of_type("joined").await
}
