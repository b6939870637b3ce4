//! `spawn_app`: a real movies-service on port 0 with its own database, topics, consumer group
//! and cache keys, TMDb played by a local [`MockServer`] (or the offline catalogue), and a
//! [`TestIdentity`] standing in for auth-service.

use std::time::Duration;

use marquee_common::{
    auth::Role, db::DatabaseConfig, http::HttpConfig, redis::RedisConfig, service::Service as _,
    shutdown::CancellationToken, telemetry::TelemetryConfig,
};
use marquee_proto_events::{movies::v1::WatchlistChanged, topics};
use marquee_testkit::{
    ApiClient, RecordCollector, TestDatabase, TestIdentity, TestPublisher, TestTopics, TestUser,
    redis_url, relay_config,
};
use movies_service::{
    Application,
    catalogue::{
        CatalogueConfig, ResponseCacheConfig,
        tmdb::{Credentials, TmdbConfig},
    },
    config::Config,
};
use uuid::Uuid;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

/// The bearer token the fake TMDb expects by default.
pub const TMDB_TOKEN: &str = "test-read-token";

pub struct TestApp {
    pub api: ApiClient,
    pub topics: TestTopics,
    pub identity: TestIdentity,
    pub database: TestDatabase,
    /// The fake TMDb (`None` for the offline catalogue).
    pub tmdb: Option<MockServer>,
    pub provider: &'static str,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

/// TMDb settings for a fake at `base_url`: quick retries, a breaker that opens after 5
/// failures and cools down in a second.
pub fn tmdb_config(credentials: Credentials, base_url: String) -> TmdbConfig {
    TmdbConfig {
        timeout: Duration::from_secs(2),
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        breaker_cooldown: Duration::from_secs(1),
        ..TmdbConfig::new(credentials, base_url)
    }
}

/// movies-service on a fresh fake TMDb, authenticated with [`TMDB_TOKEN`].
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// movies-service on a fresh fake TMDb; `adjust` may change the config first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let tmdb = MockServer::start().await;
    let credentials = Credentials::Bearer(TMDB_TOKEN.to_owned().into());
    let config = tmdb_config(credentials, format!("{}/3", tmdb.uri()));
    spawn(Some(config), Some(tmdb), adjust).await
}

/// movies-service without TMDb credentials: the offline catalogue.
pub async fn spawn_offline() -> TestApp {
    spawn(None, None, |_| {}).await
}

/// movies-service with `tmdb` settings (their base URL may point anywhere).
pub async fn spawn(
    tmdb_config: Option<TmdbConfig>,
    tmdb: Option<MockServer>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let database = TestDatabase::create(Some(movies_service::MIGRATIONS)).await;
    let topics =
        TestTopics::create(&[topics::USERS_V1, topics::MOVIES_V1], &["movies-service"]).await;
    let identity = TestIdentity::start().await;
    let mut cache = ResponseCacheConfig::for_url(redis_url());
    // Keys of their own, so parallel tests never share cached answers.
    cache.key_prefix = format!("test-{}", Uuid::now_v7().simple());
    let mut config = Config {
        http: HttpConfig::ephemeral(),
        database: DatabaseConfig::for_url(database.url()),
        redis: RedisConfig::for_url(redis_url()),
        catalogue: CatalogueConfig::new(tmdb_config, cache),
        kafka: topics.config.clone(),
        relay: relay_config(),
        telemetry: TelemetryConfig::for_tests("movies-service"),
        verifier: identity.verifier_config(),
        consumer: topics.consumer_config("movies-service", &[topics::USERS_V1]),
        watchlist_max_items: 5000,
    };
    adjust(&mut config);
    let application = Application::build(config)
        .await
        .expect("movies-service builds");
    let port = application.port();
    let provider = application.provider();
    let shutdown = CancellationToken::new();
    tokio::spawn(application.run_until_stopped(shutdown.clone()));
    TestApp {
        api: ApiClient::new(port),
        topics,
        identity,
        database,
        tmdb,
        provider,
        shutdown,
    }
}

/// A TMDb fixture (`tests/fixtures/tmdb/<name>.json`).
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/tmdb/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture JSON")
}

impl TestApp {
    pub fn tmdb(&self) -> &MockServer {
        self.tmdb.as_ref().expect("this app talks to a fake TMDb")
    }

    /// Makes the fake TMDb answer `GET /3{tmdb_path}` with the fixture `name`.
    pub async fn tmdb_serves(&self, tmdb_path: &str, name: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/3{tmdb_path}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(name)))
            .mount(self.tmdb())
            .await;
    }

    /// How many requests the fake TMDb received for `tmdb_path`.
    pub async fn tmdb_calls(&self, tmdb_path: &str) -> usize {
        let wanted = format!("/3{tmdb_path}");
        self.tmdb()
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == wanted)
            .count()
    }

    pub fn publisher(&self) -> TestPublisher {
        TestPublisher::new(&self.topics.config)
    }

    pub async fn user(&self) -> TestUser {
        self.identity.sign_in(Uuid::now_v7(), &[Role::User]).await
    }

    /// Reads `movies.v1` from the beginning.
    pub async fn watchlist_events(&self) -> WatchlistEvents {
        WatchlistEvents(
            RecordCollector::start(
                &self.topics.config,
                &self.topics.config.topic(topics::MOVIES_V1),
            )
            .await,
        )
    }
}

/// What movies-service published on `movies.v1`.
pub struct WatchlistEvents(RecordCollector);

impl WatchlistEvents {
    /// The events about `user`, waiting until there are at least `n`.
    pub async fn about(&self, user: Uuid, n: usize) -> Vec<WatchlistChanged> {
        self.0
            .wait_for_events(n, |e: &WatchlistChanged| e.user_id == user.to_string())
            .await
    }
}
