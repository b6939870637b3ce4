//! The gateway in-process on a free port, in front of whatever upstreams a test names.

use std::{sync::OnceLock, time::Duration};

use gateway::{Application, config::Config};
use marquee_common::{
    Env,
    service::Service as _,
    shutdown::CancellationToken,
    telemetry::{self, TelemetryConfig, TelemetryGuard},
};
use marquee_testkit::{ApiClient, redis_url};

/// A running gateway, stopped when dropped.
pub struct TestGateway {
    pub api: ApiClient,
    pub port: u16,
    shutdown: CancellationToken,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a gateway configured by `vars` (on top of fast health checks and rate limits off:
/// tests that turn them on key them by a unique `X-Forwarded-For` address), and waits until
/// `/health/ready` passes when `wait_ready`.
pub async fn spawn_gateway(vars: &[(&str, String)], wait_ready: bool) -> TestGateway {
    // As in production, spans carry trace contexts (nothing is exported), so traceparent is
    // forwarded. One subscriber per process; nextest runs each test in its own.
    static TELEMETRY: OnceLock<Option<TelemetryGuard>> = OnceLock::new();
    TELEMETRY.get_or_init(|| telemetry::init(&TelemetryConfig::for_tests("gateway")).ok());
    let mut pairs: Vec<(String, String)> = vec![
        ("REDIS_URL".into(), redis_url()),
        ("GATEWAY_HEALTH_INTERVAL".into(), "100ms".into()),
        ("HTTP_WORKERS".into(), "2".into()),
        ("HTTP_SHUTDOWN_TIMEOUT".into(), "1s".into()),
        ("PORT".into(), "0".into()),
        ("RATE_LIMIT_ENABLED".into(), "false".into()),
        ("HTTP_HOST".into(), "127.0.0.1".into()),
        // No auth-service here: tokens are never verifiable, so limits are per IP.
        (
            "AUTH_JWKS_URL".into(),
            "http://127.0.0.1:9/.well-known/jwks.json".into(),
        ),
    ];
    pairs.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let config = Config::from_env(&Env::from_pairs(pairs)).expect("valid gateway config");
    let application = Application::build(config).await.expect("gateway starts");
    let port = application.port();
    let shutdown = CancellationToken::new();
    tokio::spawn(application.run_until_stopped(shutdown.clone()));
    let gateway = TestGateway {
        api: ApiClient::new(port),
        port,
        shutdown,
    };
    if wait_ready {
        marquee_testkit::eventually_async(Duration::from_secs(10), "gateway ready", || async {
            (gateway.api.get("/health/ready").await.status() == 200).then_some(())
        })
        .await;
    }
    gateway
}

/// A fake upstream service answering `/health/ready` with 200.
pub async fn healthy_upstream() -> wiremock::MockServer {
    use wiremock::{Mock, ResponseTemplate, matchers};
    let server = wiremock::MockServer::start().await;
    Mock::given(matchers::path("/health/ready"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}
