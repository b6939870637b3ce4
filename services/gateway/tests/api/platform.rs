//! The whole platform as real binaries — auth, user-service (one or more instances), movies,
//! two chat instances and the gateway — each service with its own fresh database, on the
//! test's own topics, exporting traces to a local OTLP receiver. The journey drives it as the
//! frontend does; the fault tests take its dependencies away under load.

use std::time::Duration;

use marquee_proto_events::topics;
use marquee_testkit::{
    ApiClient, OtlpReceiver, ServiceProcess, TestDatabase, TestTopics, eventually_async, free_port,
    redis_url, shared_brokers,
};
use serde_json::{Value, json};

/// How long a process may take to become ready (first start: migrations, consumer joins).
const READY: Duration = Duration::from_secs(90);

/// The password of every account the tests make.
pub const PASSWORD: &str = "correct horse battery";

/// What differs between the tests' platforms.
#[derive(Debug, Clone)]
pub struct Options {
    /// `KAFKA_BROKERS` (default: the shared test broker).
    pub brokers: String,
    /// How many user-service instances the gateway balances (default 1).
    pub user_instances: usize,
    /// Settings for every process on top of the defaults (`REDIS_URL` for a private Redis).
    pub env: Vec<(String, String)>,
    /// The PostgreSQL server of every service's database (default: the shared one).
    pub database_server: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            brokers: shared_brokers(),
            user_instances: 1,
            env: Vec::new(),
            database_server: None,
        }
    }
}

/// The running platform; everything stops when it is dropped.
pub struct Platform {
    pub gateway: ApiClient,
    pub gateway_port: u16,
    pub chat_ports: [u16; 2],
    pub otlp: OtlpReceiver,
    /// The user-service instances, in the order of `USERS_UPSTREAMS`.
    pub users: Vec<ServiceProcess>,
    // Kept for their Drop: processes stop, databases are dropped, keys deleted.
    _processes: Vec<ServiceProcess>,
    _databases: Vec<TestDatabase>,
    _keys: TempDir,
    _attachments: TempDir,
}

/// A temporary folder (the signing keys, chat's attachments), deleted afterwards.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Platform {
    pub async fn start(options: Options) -> Self {
        let services = [
            "auth-service",
            "user-service",
            "movies-service",
            "chat-service",
        ];
        let topics = TestTopics::create_on(&options.brokers, &topics::ALL, &services).await;
        let otlp = OtlpReceiver::start().await;

        let keys = TempDir(
            std::env::temp_dir().join(format!("marquee-keys-{}", uuid::Uuid::now_v7().simple())),
        );
        let generated = tokio::process::Command::new(marquee_testkit::binary("auth-service"))
            .args(["keys", "generate", "--dir"])
            .arg(&keys.0)
            .output()
            .await
            .expect("auth-service keys generate runs");
        assert!(generated.status.success(), "{generated:?}");

        let database = || async {
            match &options.database_server {
                Some(server) => TestDatabase::create_on(server, None).await,
                None => TestDatabase::create(None).await,
            }
        };
        let auth_db = database().await;
        let users_db = database().await;
        let movies_db = database().await;
        let chat_db = database().await;
        let auth_port = free_port();
        let users_ports: Vec<u16> = (0..options.user_instances).map(|_| free_port()).collect();
        let movies_port = free_port();
        let chat_ports = [free_port(), free_port()];
        let gateway_port = free_port();
        let local = |port: u16| format!("http://127.0.0.1:{port}");
        let locals = |ports: &[u16]| {
            ports
                .iter()
                .map(|p| local(*p))
                .collect::<Vec<_>>()
                .join(",")
        };

        let common = |database: Option<&TestDatabase>| {
            let mut env: Vec<(String, String)> = vec![
                ("REDIS_URL".into(), redis_url()),
                ("KAFKA_BROKERS".into(), options.brokers.clone()),
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
                // The gateway checks every 200 ms: half a second is several checks.
                ("HTTP_DRAIN_DELAY".into(), "500ms".into()),
                ("OUTBOX_POLL_INTERVAL".into(), "100ms".into()),
                ("RUST_LOG".into(), "info".into()),
            ];
            if let Some(database) = database {
                env.push(("DATABASE_URL".into(), database.url().to_owned()));
            }
            env.extend(options.env.iter().cloned());
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
                    common(Some(&auth_db)),
                    &[
                        ("AUTH_KEYS_DIR", keys.0.display().to_string()),
                        ("AUTH_COOKIE_SECURE", "false".into()),
                        ("BCRYPT_COST", "4".into()),
                    ],
                ),
            ),
            ServiceProcess::start(
                "movies",
                "movies-service",
                movies_port,
                // No TMDb credentials: the bundled offline catalogue.
                &with(
                    common(Some(&movies_db)),
                    &[("TMDB_API_TOKEN", String::new())],
                ),
            ),
        ];
        let mut users: Vec<ServiceProcess> = users_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                ServiceProcess::start(
                    &format!("users-{}", i + 1),
                    "user-service",
                    *port,
                    &common(Some(&users_db)),
                )
            })
            .collect();
        let attachments = TempDir(std::env::temp_dir().join(format!(
            "marquee-attachments-{}",
            uuid::Uuid::now_v7().simple()
        )));
        for (i, port) in chat_ports.iter().enumerate() {
            processes.push(ServiceProcess::start(
                ["chat-1", "chat-2"][i],
                "chat-service",
                *port,
                &with(
                    common(Some(&chat_db)),
                    &[("ATTACHMENTS_STORE", attachments.0.display().to_string())],
                ),
            ));
        }
        for process in processes.iter_mut().chain(users.iter_mut()) {
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
                    ("USERS_UPSTREAMS", locals(&users_ports)),
                    ("MOVIES_UPSTREAMS", local(movies_port)),
                    ("CHAT_UPSTREAMS", locals(&chat_ports)),
                ],
            ),
        );
        gateway.wait_ready(READY).await;
        processes.push(gateway);

        Self {
            gateway: ApiClient::new(gateway_port),
            gateway_port,
            chat_ports,
            otlp,
            users,
            _processes: processes,
            _databases: vec![auth_db, users_db, movies_db, chat_db],
            _keys: keys,
            _attachments: attachments,
        }
    }

    /// Registers an account through the gateway; returns its user id.
    pub async fn register(&self, email: &str, name: &str) -> String {
        let registered = self
            .gateway
            .post(
                "/v1/auth/register",
                &json!({"email": email, "password": PASSWORD, "display_name": name}),
            )
            .await;
        assert_eq!(registered.status(), 201, "{:?}", registered.text().await);
        let user: Value = registered.json().await.unwrap();
        user["user_id"].as_str().unwrap_or_default().to_owned()
    }

    /// Signs in through the gateway; returns the access token.
    pub async fn sign_in(&self, email: &str) -> String {
        let response = self
            .gateway
            .post(
                "/v1/auth/login",
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers and signs in; returns (user id, access token).
    pub async fn sign_up(&self, email: &str, name: &str) -> (String, String) {
        let id = self.register(email, name).await;
        (id, self.sign_in(email).await)
    }

    /// Registers, signs in and waits (bounded) until user-service has made the profile, so
    /// every route works for the user; returns the access token.
    pub async fn sign_up_with_profile(&self, email: &str, name: &str) -> String {
        let (_, token) = self.sign_up(email, name).await;
        eventually_async(
            Duration::from_secs(30),
            "the new user's profile",
            || async {
                (self.gateway.get_as(&token, "/v1/users/me").await.status() == 200).then_some(())
            },
        )
        .await;
        token
    }
}
