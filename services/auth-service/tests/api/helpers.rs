//! `spawn_app`: a real auth-service on port 0 with its own database and topics.

use std::time::Duration;

use auth_service::{
    Application,
    config::{Config, KeySource, TokenConfig},
};
use marquee_common::{
    auth::{TokenVerifier, VerifierConfig},
    db::DatabaseConfig,
    http::HttpConfig,
    kafka::relay::RelayConfig,
    redis::{RedisConfig, connect},
    shutdown::CancellationToken,
    telemetry::{LogFormat, TelemetryConfig},
};
use marquee_proto_events::topics;
use marquee_testkit::{TestDatabase, TestTopics};
use serde_json::{Value, json};

pub const ISSUER: &str = "marquee-auth";
pub const AUDIENCE: &str = "marquee-api";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub topics: TestTopics,
    /// Kept so the database lives as long as the app (dropped after it).
    _database: TestDatabase,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub async fn spawn_app() -> TestApp {
    let db = TestDatabase::create(Some(auth_service::MIGRATIONS)).await;
    let topics = TestTopics::create(&[topics::USERS_V1, topics::SESSIONS_V1], &[]).await;
    let config = Config {
        http: HttpConfig {
            host: "127.0.0.1".into(),
            port: 0,
            workers: Some(2),
            shutdown_timeout: Duration::from_secs(1),
        },
        database: DatabaseConfig::for_url(db.url()),
        redis: RedisConfig::for_url(redis_url()),
        kafka: topics.config.clone(),
        relay: RelayConfig {
            poll_interval: Duration::from_millis(100),
            ..RelayConfig::default()
        },
        telemetry: TelemetryConfig {
            service_name: "auth-service".into(),
            otlp_endpoint: None,
            log_format: LogFormat::Json,
            log_filter: "info".into(),
        },
        tokens: TokenConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            refresh_grace: Duration::from_secs(10),
            keys: KeySource::Generated,
        },
        // The cheapest bcrypt cost: tests check behaviour, not hashing strength.
        bcrypt_cost: 4,
        hash_threads: 2,
        hash_queue: 32,
    };
    let application = Application::build(config)
        .await
        .expect("auth-service builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(application.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        topics,
        _database: db,
        shutdown,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    /// Registers `email` with a valid password and name; returns the user id.
    pub async fn register(&self, email: &str, password: &str) -> String {
        let response = self
            .post(
                "/v1/auth/register",
                &json!({"email": email, "password": password, "display_name": "Ada Lovelace"}),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        body["user_id"].as_str().unwrap().to_owned()
    }

    /// A verifier as every other service runs it, reading this app's JWKS.
    pub fn verifier(&self) -> TokenVerifier {
        let config = VerifierConfig {
            jwks_url: format!("{}/.well-known/jwks.json", self.address),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_cache_ttl: Duration::from_secs(300),
            session_cache_ttl: Duration::ZERO,
            leeway: Duration::from_secs(30),
        };
        TokenVerifier::new(config, connect(&RedisConfig::for_url(redis_url())).unwrap())
    }
}

/// A unique e-mail address per call.
pub fn email() -> String {
    format!("user-{}@example.com", uuid::Uuid::now_v7().simple())
}
