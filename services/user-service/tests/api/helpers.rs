//! `spawn_app`: a real user-service on port 0 with its own database, topics and consumer
//! group, and a [`TestIdentity`] standing in for auth-service.

use std::time::Duration;

use marquee_common::{
    db::DatabaseConfig,
    http::HttpConfig,
    kafka::{consumer::ConsumerConfig, relay::RelayConfig},
    redis::RedisConfig,
    shutdown::CancellationToken,
    telemetry::TelemetryConfig,
};
use marquee_proto_events::topics;
use marquee_testkit::{TestDatabase, TestIdentity, TestPublisher, TestTopics};
use user_service::{Application, config::Config};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
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
    let database = TestDatabase::create(Some(user_service::MIGRATIONS)).await;
    let topics = TestTopics::create(&[topics::USERS_V1], &["user-service"]).await;
    let identity = TestIdentity::start().await;
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let config = Config {
        http: HttpConfig::ephemeral(),
        database: DatabaseConfig::for_url(database.url()),
        redis: RedisConfig::for_url(redis_url),
        kafka: topics.config.clone(),
        relay: RelayConfig {
            poll_interval: Duration::from_millis(100),
            ..RelayConfig::default()
        },
        telemetry: TelemetryConfig::for_tests("user-service"),
        verifier: identity.verifier_config(),
        consumer: ConsumerConfig {
            retry_initial: Duration::from_millis(20),
            ..ConsumerConfig::new(&topics.group("user-service"), &[topics::USERS_V1])
        },
    };
    let application = Application::build(config)
        .await
        .expect("user-service builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(application.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        topics,
        identity,
        database,
        shutdown,
    }
}

impl TestApp {
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub fn publisher(&self) -> TestPublisher {
        TestPublisher::new(&self.topics.config)
    }
}
