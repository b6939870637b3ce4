//! `spawn_app`: a real user-service on port 0 with its own database, topics, consumer group
//! and cache keys, and a [`TestIdentity`] standing in for auth-service.

use std::time::Duration;

use marquee_common::{
    auth::Role, cache::CacheConfig, db::DatabaseConfig, http::HttpConfig, redis::RedisConfig,
    service::Service as _, shutdown::CancellationToken, telemetry::TelemetryConfig,
};
use marquee_proto_events::{
    Event, topics,
    users::v1::{UserCreated, UserDeleted, UserUpdated},
};
use marquee_testkit::{
    ApiClient, RecordCollector, TestDatabase, TestIdentity, TestPublisher, TestTopics, TestUser,
    eventually_async, redis_url, relay_config,
};
use serde_json::Value;
use user_service::{Application, config::Config};
use uuid::Uuid;

pub struct TestApp {
    pub api: ApiClient,
    pub topics: TestTopics,
    pub identity: TestIdentity,
    pub database: TestDatabase,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A user-service whose config `adjust` may change first (replicas, the cache's Redis, …).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let database = TestDatabase::create(Some(user_service::MIGRATIONS)).await;
    let topics = TestTopics::create(&[topics::USERS_V1], &["user-service"]).await;
    let identity = TestIdentity::start().await;
    let mut cache = CacheConfig::for_url(redis_url());
    // Keys of their own, so parallel tests never share cached pages.
    cache.key_prefix = format!("test-{}", Uuid::now_v7().simple());
    let mut config = Config {
        http: HttpConfig::ephemeral(),
        database: DatabaseConfig::for_url(database.url()),
        redis: RedisConfig::for_url(redis_url()),
        cache,
        kafka: topics.config.clone(),
        relay: relay_config(),
        telemetry: TelemetryConfig::for_tests("user-service"),
        verifier: identity.verifier_config(),
        consumer: topics.consumer_config("user-service", &[topics::USERS_V1]),
    };
    adjust(&mut config);
    let application = Application::build(config)
        .await
        .expect("user-service builds");
    let port = application.port();
    let shutdown = CancellationToken::new();
    tokio::spawn(application.run_until_stopped(shutdown.clone()));
    TestApp {
        api: ApiClient::new(port),
        topics,
        identity,
        database,
        shutdown,
    }
}

pub fn created(id: Uuid, email: &str, display_name: &str) -> UserCreated {
    UserCreated {
        user_id: id.to_string(),
        email: email.to_owned(),
        display_name: display_name.to_owned(),
        created_at: Some(std::time::SystemTime::now().into()),
        roles: vec!["user".to_owned()],
    }
}

/// A unique e-mail address.
pub fn email() -> String {
    format!("user-{}@example.com", Uuid::now_v7().simple())
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl TestApp {
    pub fn publisher(&self) -> TestPublisher {
        TestPublisher::new(&self.topics.config)
    }

    /// A signed-in user whose profile exists (announced by `UserCreated`, as auth-service
    /// would, and waited for).
    pub async fn user_with_profile(&self, display_name: &str, roles: &[Role]) -> TestUser {
        let user = self.identity.sign_in(Uuid::now_v7(), roles).await;
        self.publisher()
            .publish(&created(user.id, &email(), display_name))
            .await;
        self.wait_for_profile(&user.token, user.id).await;
        user
    }

    pub async fn admin(&self) -> TestUser {
        self.identity
            .sign_in(Uuid::now_v7(), &[Role::User, Role::Admin])
            .await
    }

    /// The profile `id` once it is readable.
    pub async fn wait_for_profile(&self, token: &str, id: Uuid) -> Value {
        let path = format!("/v1/users/{id}");
        eventually_async(Duration::from_secs(30), "the profile", || async {
            let response = self.get_as(token, &path).await;
            if response.status() == 200 {
                Some(response.json().await.unwrap())
            } else {
                None
            }
        })
        .await
    }

    /// Reads `users.v1` from the beginning.
    pub async fn user_events(&self) -> UserEvents {
        UserEvents(
            RecordCollector::start(
                &self.topics.config,
                &self.topics.config.topic(topics::USERS_V1),
            )
            .await,
        )
    }
}

/// What user-service published on `users.v1`, decoded.
pub struct UserEvents(RecordCollector);

impl UserEvents {
    /// The `UserUpdated` events about `user`, waiting until there are `n`.
    pub async fn updated(&self, user: Uuid, n: usize) -> Vec<UserUpdated> {
        self.wait(n, |event: &UserUpdated| event.user_id == user.to_string())
            .await
    }

    /// The `UserDeleted` events about `user`, waiting until there are `n`.
    pub async fn deleted(&self, user: Uuid, n: usize) -> Vec<UserDeleted> {
        self.wait(n, |event: &UserDeleted| event.user_id == user.to_string())
            .await
    }

    /// Every event of type `E` about anyone, as read so far.
    pub fn all<E: Event>(&self) -> Vec<E> {
        self.0.events()
    }

    async fn wait<E: Event>(&self, n: usize, about: impl Fn(&E) -> bool) -> Vec<E> {
        self.0.wait_for_events(n, about).await
    }
}
