//! Boot-time configuration: every concern's settings come from the environment, and a missing
//! required variable or an invalid value fails with an error naming the variable (which a
//! service's `main` prints before exiting non-zero).

use std::time::Duration;

use marquee_common::{
    Env,
    db::DatabaseConfig,
    http::HttpConfig,
    kafka::{KafkaConfig, consumer::ConsumerConfig, relay::RelayConfig},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use secrecy::ExposeSecret;

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().copied())
}

#[test]
fn defaults_apply_when_only_the_required_variables_are_set() {
    let env = env(&[("DATABASE_URL", "postgres://postgres@127.0.0.1/users")]);
    let db = DatabaseConfig::from_env(&env).unwrap();
    assert_eq!(
        db.url.expose_secret(),
        "postgres://postgres@127.0.0.1/users"
    );
    assert!(db.read_urls.is_empty());
    assert_eq!(db.max_connections, 16);
    let kafka = KafkaConfig::from_env(&env, "user-service").unwrap();
    assert_eq!(kafka.brokers, "127.0.0.1:9092");
    assert_eq!(kafka.linger_ms, 0, "the local profile does not batch");
    assert_eq!(kafka.client_id, "user-service");
    assert_eq!(
        RedisConfig::from_env(&env).unwrap().url.expose_secret(),
        "redis://127.0.0.1:6379"
    );
    assert_eq!(HttpConfig::from_env(&env, 8082).unwrap().port, 8082);
    assert_eq!(
        RelayConfig::from_env(&env).unwrap().poll_interval,
        Duration::from_secs(1)
    );
    assert_eq!(
        ConsumerConfig::from_env(&env, "g", &["users.v1"])
            .unwrap()
            .max_attempts,
        5
    );
    assert_eq!(
        TelemetryConfig::from_env(&env, "user-service")
            .unwrap()
            .service_name,
        "user-service"
    );
}

#[test]
fn a_missing_required_variable_is_named() {
    let error = DatabaseConfig::from_env(&env(&[])).unwrap_err();
    assert_eq!(error.variable, "DATABASE_URL");
    assert_eq!(
        error.to_string(),
        "configuration variable DATABASE_URL: is required but not set"
    );
}

#[test]
fn invalid_values_are_named_with_what_is_wrong() {
    type Loader = Box<dyn Fn(&Env) -> Option<String>>;
    let cases: [(&str, &str, Loader); 9] = [
        (
            "DATABASE_URL",
            "mysql://x",
            Box::new(|e| DatabaseConfig::from_env(e).err().map(|e| e.variable)),
        ),
        (
            "DATABASE_MAX_CONNECTIONS",
            "0",
            Box::new(|e| DatabaseConfig::from_env(e).err().map(|e| e.variable)),
        ),
        (
            "KAFKA_BROKERS",
            "localhost",
            Box::new(|e| KafkaConfig::from_env(e, "s").err().map(|e| e.variable)),
        ),
        (
            "KAFKA_PRODUCER_LINGER_MS",
            "soon",
            Box::new(|e| KafkaConfig::from_env(e, "s").err().map(|e| e.variable)),
        ),
        (
            "KAFKA_SECURITY_PROTOCOL",
            "tls",
            Box::new(|e| KafkaConfig::from_env(e, "s").err().map(|e| e.variable)),
        ),
        (
            "REDIS_URL",
            "http://redis",
            Box::new(|e| RedisConfig::from_env(e).err().map(|e| e.variable)),
        ),
        (
            "PORT",
            "99999",
            Box::new(|e| HttpConfig::from_env(e, 1).err().map(|e| e.variable)),
        ),
        (
            "OUTBOX_POLL_INTERVAL",
            "often",
            Box::new(|e| RelayConfig::from_env(e).err().map(|e| e.variable)),
        ),
        (
            "CONSUMER_MAX_ATTEMPTS",
            "-1",
            Box::new(|e| {
                ConsumerConfig::from_env(e, "g", &[])
                    .err()
                    .map(|e| e.variable)
            }),
        ),
    ];
    for (variable, value, load) in cases {
        let env = env(&[("DATABASE_URL", "postgres://localhost/db")]).with(variable, value);
        assert_eq!(
            load(&env).as_deref(),
            Some(variable),
            "{variable}={value} must be rejected"
        );
    }
}

#[test]
fn sasl_needs_credentials() {
    let env = env(&[("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")]);
    assert_eq!(
        KafkaConfig::from_env(&env, "s").unwrap_err().variable,
        "KAFKA_SASL_MECHANISM"
    );
    let env = env.with("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512");
    assert_eq!(
        KafkaConfig::from_env(&env, "s").unwrap_err().variable,
        "KAFKA_SASL_USERNAME"
    );
}

#[test]
fn secrets_never_appear_in_errors_or_debug_output() {
    let env = env(&[("DATABASE_URL", "ftp://user:hunter2@db")]);
    let error = DatabaseConfig::from_env(&env).unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let config = DatabaseConfig::for_url("postgres://user:hunter2@db/x");
    assert!(!format!("{config:?}").contains("hunter2"));
}
