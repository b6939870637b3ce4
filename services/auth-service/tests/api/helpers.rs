//! `spawn_app`: a real auth-service on port 0 with its own database, topics, consumer group
//! and signing key.

use std::{path::PathBuf, time::Duration};

use auth_service::{
    Application,
    config::{Config, KeySource, ThrottleConfig, TokenConfig},
    keys::SigningKeys,
};
use marquee_common::{
    auth::{TokenVerifier, VerifierConfig},
    db::DatabaseConfig,
    http::HttpConfig,
    rate_limit::{FailMode, Quota},
    redis::{RedisConfig, connect},
    service::Service as _,
    shutdown::CancellationToken,
    telemetry::TelemetryConfig,
};
use marquee_proto_events::topics;
use marquee_testkit::{
    ApiClient, RecordCollector, TestDatabase, TestPublisher, TestTopics, redis_url, relay_config,
};
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

pub const ISSUER: &str = "marquee-auth";
pub const AUDIENCE: &str = "marquee-api";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub api: ApiClient,
    pub topics: TestTopics,
    /// The folder holding the service's signing key (tests forge tokens with it).
    pub keys_dir: PathBuf,
    pub database: TestDatabase,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.keys_dir);
    }
}

/// The settings every test starts from: cheap bcrypt, a generous per-IP budget (all tests
/// share 127.0.0.1), this test's own database, topics and consumer group.
pub fn test_config(db: &TestDatabase, topics: &TestTopics, keys_dir: PathBuf) -> Config {
    Config {
        http: HttpConfig::ephemeral(),
        database: DatabaseConfig::for_url(db.url()),
        redis: RedisConfig::for_url(redis_url()),
        kafka: topics.config.clone(),
        relay: relay_config(),
        telemetry: TelemetryConfig::for_tests("auth-service"),
        tokens: TokenConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            refresh_grace: Duration::from_secs(10),
            keys: KeySource::Dir {
                dir: keys_dir,
                signing_kid: None,
            },
            cookie_secure: true,
        },
        throttle: ThrottleConfig {
            lockout: auth_service::config::LockoutPolicy::progressive(5),
            ip_quota: Quota {
                burst: 100_000,
                per_minute: 100_000,
            },
            fail_mode: FailMode::Open,
        },
        consumer: topics.consumer_config("auth-service", &[topics::USERS_V1]),
        bootstrap_admin: None,
        // The cheapest bcrypt cost: tests check behaviour, not hashing strength.
        bcrypt_cost: 4,
        hash_threads: 2,
        hash_queue: Some(32),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A service whose configuration `customise` adjusts first.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    let database = TestDatabase::create(Some(auth_service::MIGRATIONS)).await;
    let topics =
        TestTopics::create(&[topics::USERS_V1, topics::SESSIONS_V1], &["auth-service"]).await;
    let keys_dir = std::env::temp_dir().join(format!("marquee-auth-{}", uuid::Uuid::now_v7()));
    SigningKeys::write_new(&keys_dir, "test-key").unwrap();
    let mut config = test_config(&database, &topics, keys_dir.clone());
    customise(&mut config);
    let application = Application::build(config)
        .await
        .expect("auth-service builds");
    let port = application.port();
    let shutdown = CancellationToken::new();
    tokio::spawn(application.run_until_stopped(shutdown.clone()));
    TestApp {
        api: ApiClient::new(port),
        topics,
        keys_dir,
        database,
        shutdown,
    }
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl TestApp {
    /// Registers `email` with `password` and a valid name; returns the user id.
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

    /// Signs in; returns the token response.
    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        let response = self
            .post(
                "/v1/auth/login",
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        Tokens::from(response.json::<Value>().await.unwrap())
    }

    /// A fresh user, signed in.
    pub async fn signed_in_user(&self) -> (String, String, Tokens) {
        let address = email();
        let user_id = self.register(&address, PASSWORD).await;
        let tokens = self.login(&address, PASSWORD).await;
        (user_id, address, tokens)
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// A verifier as every other service runs it, reading this app's JWKS (no session cache,
    /// so a revocation shows at once).
    pub fn verifier(&self) -> TokenVerifier {
        let config = VerifierConfig {
            jwks_url: self.url("/.well-known/jwks.json"),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_cache_ttl: Duration::from_secs(300),
            session_cache_ttl: Duration::ZERO,
            sessions_fail_open: true,
            leeway: Duration::from_secs(30),
        };
        TokenVerifier::new(config, connect(&RedisConfig::for_url(redis_url())).unwrap())
    }

    /// The service's signing key, to forge tokens with.
    pub fn signing_keys(&self) -> SigningKeys {
        SigningKeys::load_dir(&self.keys_dir, None).unwrap()
    }

    /// Reads `sessions.v1` from the beginning.
    pub async fn session_events(&self) -> RecordCollector {
        RecordCollector::start(
            &self.topics.config,
            &self.topics.config.topic(topics::SESSIONS_V1),
        )
        .await
    }

    pub fn publisher(&self) -> TestPublisher {
        TestPublisher::new(&self.topics.config)
    }
}

/// A token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
}

impl From<Value> for Tokens {
    fn from(body: Value) -> Self {
        Self {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            session_id: body["session_id"].as_str().unwrap().to_owned(),
        }
    }
}

/// A unique e-mail address per call.
pub fn email() -> String {
    format!("user-{}@example.com", uuid::Uuid::now_v7().simple())
}

/// The `Set-Cookie` headers of a response, by cookie name: `(value, attributes)`.
pub fn set_cookies(headers: &HeaderMap) -> Vec<(String, String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let raw = v.to_str().unwrap();
            let (pair, attributes) = raw.split_once(';').unwrap_or((raw, ""));
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned(), attributes.to_owned())
        })
        .collect()
}
