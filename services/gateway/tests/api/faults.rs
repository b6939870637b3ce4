//! The platform under load while an instance or a dependency goes away, judged by what a user
//! sees through the gateway: every request answered 2xx, every event applied once after, and
//! every chat listener given every message once, in order.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use marquee_common::shutdown::CancellationToken;
use marquee_testkit::{
    BrokerProcess, FaultProxy, PostgresProcess, RedisProcess, WsClient, eventually_async,
    test_client,
};
use serde_json::{Value, json};

use crate::platform::{Options, Platform};

/// Requests answered (and how) while a load runs.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    /// `METHOD path → status or error`, for the failure message.
    failed: Vec<String>,
}

/// A load running beside a fault: `clients` tasks, each running `work(client, n)` at most once
/// per `pace`, counting how every request ended.
struct Load {
    stop: CancellationToken,
    tally: Arc<Mutex<Tally>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start<F, Fut>(clients: usize, pace: Duration, work: F) -> Self
    where
        F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let stop = CancellationToken::new();
        let tally = Arc::new(Mutex::new(Tally::default()));
        let tasks = (0..clients)
            .map(|client| {
                let (tally, stop, work) = (tally.clone(), stop.clone(), work.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    let mut every = tokio::time::interval(pace);
                    while !stop.is_cancelled() {
                        every.tick().await;
                        let outcome = work(client, n).await;
                        let mut tally = tally.lock().unwrap();
                        match outcome {
                            Ok(()) => tally.ok += 1,
                            Err(failure) => tally.failed.push(failure),
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        Self { stop, tally, tasks }
    }

    /// Requests answered so far, successfully or not.
    fn answered(&self) -> usize {
        let tally = self.tally.lock().unwrap();
        tally.ok + tally.failed.len()
    }

    /// The failures so far, as `METHOD path → status or error`.
    fn failures(&self) -> Vec<String> {
        self.tally.lock().unwrap().failed.clone()
    }

    /// Waits (bounded) until `more` requests beyond those answered now have been answered.
    async fn wait_for(&self, more: usize, what: &str) {
        let target = self.answered() + more;
        eventually_async(Duration::from_secs(60), what, || async {
            (self.answered() >= target).then_some(())
        })
        .await;
    }

    /// Stops the load.
    async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
    }

    /// Stops the load and fails the test if any request failed, naming each.
    async fn finish_without_failures(self, around: &str) {
        self.stop.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
        let tally = self.tally.lock().unwrap();
        assert!(
            tally.failed.is_empty(),
            "{} of {} requests failed {around}: {:?}",
            tally.failed.len(),
            tally.ok + tally.failed.len(),
            tally.failed
        );
    }
}

fn outcome(what: &str, response: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    match response {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("{what} → {}", response.status())),
        Err(error) => Err(format!("{what} → {error}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_of_two_user_service_instances_under_load_fails_no_request() {
    let mut platform = Platform::start(Options {
        user_instances: 2,
        env: without_rate_limits(),
        ..Options::default()
    })
    .await;
    let token = platform
        .sign_up_with_profile("rolling@example.com", "Rolling Restart")
        .await;

    // Reads and writes, the writes without an Idempotency-Key: the hard case, which the
    // gateway may not send twice.
    let url = platform.gateway.url("/v1/users/me");
    // One client, its connections kept alive, as a browser's: making a client per request
    // costs more CPU than the request itself.
    let http = test_client();
    let load = Load::start(4, Duration::from_millis(5), move |client, n| {
        let (url, token, http) = (url.clone(), token.clone(), http.clone());
        async move {
            if n % 2 == 0 {
                outcome(
                    "GET /v1/users/me",
                    http.get(&url).bearer_auth(&token).send().await,
                )
            } else {
                let bio = format!("client {client}, write {n}");
                let response = http
                    .patch(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "bio": bio }))
                    .send()
                    .await;
                outcome("PATCH /v1/users/me", response)
            }
        }
    });
    load.wait_for(100, "100 requests before the restart").await;

    // SIGTERM: the instance drains (out of rotation, still serving), then stops.
    platform.users[0].stop().await;
    load.wait_for(200, "200 requests after the instance stopped")
        .await;
    load.finish_without_failures("across the restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_away_for_a_minute_costs_no_request_and_no_event() {
    let broker = BrokerProcess::start().await;
    let platform = Platform::start(Options {
        brokers: broker.brokers(),
        env: [
            // Stalled members are rebuilt after 10 s instead of 30 s: a shorter test.
            vec![("CONSUMER_STALL_TIMEOUT".into(), "10s".into())],
            without_rate_limits(),
        ]
        .concat(),
        ..Options::default()
    })
    .await;

    // A chat room with a listener on each chat instance, and messages sent into it.
    let token = platform
        .sign_up_with_profile("chatter@example.com", "Chatter")
        .await;
    let room = platform
        .gateway
        .post_as(
            &token,
            "/v1/chat/rooms",
            Some(&json!({"name": "Through the outage", "visibility": "public"})),
        )
        .await;
    assert_eq!(room.status(), 201);
    let room = room.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut listeners = Vec::new();
    for port in platform.chat_ports {
        let mut socket = WsClient::connect(port, "/v1/chat/ws", &token).await;
        socket
            .send_json(&json!({"type": "join", "room_id": room}))
            .await;
        socket.next_of_type("joined").await;
        listeners.push(tokio::spawn(listen_until_the_end(socket)));
    }
    let chat = chat_messages(&platform, &token, &room);
    let (load, registered) = registrations(&platform);
    load.wait_for(10, "registrations before the outage").await;

    broker.cut().await;
    // The outage itself: the broker is simply gone this long while the load goes on.
    tokio::time::sleep(Duration::from_secs(60)).await;
    broker.restore();
    load.wait_for(10, "registrations after the outage").await;
    load.finish_without_failures("around the outage").await;
    chat.finish_without_failures("around the outage").await;

    // Every account gets its profile: UserCreated reached user-service, through the outage.
    let ids = registered.lock().unwrap().clone();
    every_profile_appears(&platform, &ids).await;

    // Every listener got every message of the room once, in order, with no gap.
    let end = platform
        .gateway
        .post_as(
            &token,
            &format!("/v1/chat/rooms/{room}/messages"),
            Some(&json!({"client_msg_id": "the-end", "body": THE_END})),
        )
        .await;
    assert_eq!(end.status(), 201);
    let last = end.json::<Value>().await.unwrap()["seq"].as_u64().unwrap();
    for listener in listeners {
        let seqs = listener.await.unwrap();
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    }
}

/// The body of the message after which a listener stops.
const THE_END: &str = "the end";

/// Reads `message` frames (answering pings, also through an outage) until [`THE_END`];
/// returns their `seq`s as received.
async fn listen_until_the_end(mut socket: WsClient) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let message = socket
            .next_of_type_within("message", Duration::from_secs(180))
            .await;
        seqs.push(message["seq"].as_u64().unwrap());
        if message["body"] == THE_END {
            return seqs;
        }
    }
}

/// Chat messages sent into `room` through the gateway, four a second: chat stores each with
/// its event in one transaction, and its instances deliver it when the event comes back.
fn chat_messages(platform: &Platform, token: &str, room: &str) -> Load {
    let url = platform
        .gateway
        .url(&format!("/v1/chat/rooms/{room}/messages"));
    let (token, http) = (token.to_owned(), test_client());
    Load::start(1, Duration::from_millis(250), move |_, n| {
        let (url, token, http) = (url.clone(), token.clone(), http.clone());
        async move {
            let message =
                json!({"client_msg_id": format!("m-{n}"), "body": format!("message {n}")});
            let response = http
                .post(&url)
                .bearer_auth(&token)
                .json(&message)
                .send()
                .await;
            outcome("POST /v1/chat/rooms/{room_id}/messages", response)
        }
    })
}

/// Without rate limits of any kind: every request of a load comes from one address (and
/// often one user), and the budgets are not the subject (they have their own tests).
fn without_rate_limits() -> Vec<(String, String)> {
    vec![
        ("RATE_LIMIT_ENABLED".into(), "false".into()),
        ("AUTH_IP_LIMIT_BURST".into(), "100000".into()),
        ("AUTH_IP_LIMIT_PER_MINUTE".into(), "100000".into()),
    ]
}

/// Registrations through the gateway, four a second: auth writes each account and its
/// UserCreated in one transaction; user-service makes the profile when the event arrives.
/// Also returns the ids of the accounts registered.
fn registrations(platform: &Platform) -> (Load, Arc<Mutex<Vec<String>>>) {
    let url = platform.gateway.url("/v1/auth/register");
    let registered = Arc::new(Mutex::new(Vec::<String>::new()));
    let ids = registered.clone();
    let http = test_client();
    let load = Load::start(2, Duration::from_millis(250), move |client, n| {
        let (url, ids, http) = (url.clone(), ids.clone(), http.clone());
        async move {
            let email = format!(
                "account-{client}-{n}-{}@example.com",
                uuid::Uuid::now_v7().simple()
            );
            let response = http
                .post(&url)
                .json(&json!({"email": email, "password": crate::platform::PASSWORD, "display_name": format!("Account {client} {n}")}))
                .send()
                .await;
            match response {
                Ok(response) if response.status() == 201 => {
                    let body: Value = response.json().await.map_err(|e| e.to_string())?;
                    ids.lock()
                        .unwrap()
                        .push(body["user_id"].as_str().unwrap_or_default().to_owned());
                    Ok(())
                }
                other => outcome("POST /v1/auth/register", other),
            }
        }
    });
    (load, registered)
}

/// Waits (bounded) until every account in `ids` has its profile.
async fn every_profile_appears(platform: &Platform, ids: &[String]) {
    let (_, token) = platform.sign_up("watcher@example.com", "Watcher").await;
    for id in ids {
        let path = format!("/v1/users/{id}");
        eventually_async(
            Duration::from_secs(90),
            &format!("the profile of {id}"),
            || async {
                (platform.gateway.get_as(&token, &path).await.status() == 200).then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_stream_applies_every_event_after_it_is_back() {
    let mut platform = Platform::start(Options {
        env: without_rate_limits(),
        ..Options::default()
    })
    .await;
    let (load, registered) = registrations(&platform);
    load.wait_for(10, "registrations before the crash").await;
    // user-service dies in the middle of applying UserCreated events, without committing.
    platform.users[0].kill().await;
    load.wait_for(10, "registrations while user-service is gone")
        .await;
    platform.users[0].start_again();
    platform.users[0].wait_ready(Duration::from_secs(90)).await;
    load.wait_for(10, "registrations after it is back").await;
    load.finish_without_failures("around the crash").await;
    let ids = registered.lock().unwrap().clone();
    every_profile_appears(&platform, &ids).await;
}

/// A profile read, a profile write, a catalogue read and a chat read per round, as a signed-in
/// user of the web app makes them.
fn user_traffic(platform: &Platform, token: &str) -> Load {
    let gateway = platform.gateway_port;
    let token = token.to_owned();
    let http = test_client();
    Load::start(3, Duration::from_millis(20), move |client, n| {
        let (token, http) = (token.clone(), http.clone());
        let url = move |path: &str| format!("http://127.0.0.1:{gateway}{path}");
        async move {
            match n % 4 {
                0 => outcome(
                    "GET /v1/users/me",
                    http.get(url("/v1/users/me"))
                        .bearer_auth(&token)
                        .send()
                        .await,
                ),
                1 => {
                    let bio = json!({ "bio": format!("client {client}, write {n}") });
                    let response = http
                        .patch(url("/v1/users/me"))
                        .bearer_auth(&token)
                        .json(&bio)
                        .send()
                        .await;
                    outcome("PATCH /v1/users/me", response)
                }
                2 => outcome(
                    "GET /v1/movies/popular",
                    http.get(url("/v1/movies/popular")).send().await,
                ),
                _ => outcome(
                    "GET /v1/chat/me/rooms",
                    http.get(url("/v1/chat/me/rooms"))
                        .bearer_auth(&token)
                        .send()
                        .await,
                ),
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_for_half_a_minute_costs_only_what_needs_redis() {
    // The platform's Redis behind a line the test can cut: sessions survive the outage, as
    // they would behind a network partition or a failover.
    let redis = RedisProcess::start().await;
    let line = FaultProxy::start(redis.address()).await;
    let platform = Platform::start(Options {
        env: [
            vec![("REDIS_URL".into(), format!("redis://{}", line.address()))],
            without_rate_limits(),
        ]
        .concat(),
        ..Options::default()
    })
    .await;
    let token = platform
        .sign_up_with_profile("redis-outage@example.com", "Redis Outage")
        .await;

    let load = user_traffic(&platform, &token);
    load.wait_for(20, "requests before the outage").await;
    line.cut().await;
    // The outage itself: Redis is simply gone this long while the load goes on.
    tokio::time::sleep(Duration::from_secs(30)).await;
    // What truly needs Redis says so: sessions are made there.
    let credentials =
        json!({"email": "redis-outage@example.com", "password": crate::platform::PASSWORD});
    let sign_in = || platform.gateway.post("/v1/auth/login", &credentials);
    let sign_in_now = sign_in().await;
    assert_eq!(sign_in_now.status(), 503, "signing in without Redis");
    assert!(sign_in_now.headers().contains_key("retry-after"));
    line.restore();
    load.wait_for(20, "requests after the outage").await;
    load.finish_without_failures("around the Redis outage")
        .await;
    // And once Redis is back, so is signing in.
    eventually_async(Duration::from_secs(30), "signing in again", || async {
        (sign_in().await.status() == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_under_load_costs_a_few_503s_and_no_restart() {
    let mut postgres = PostgresProcess::start().await;
    let platform = Platform::start(Options {
        database_server: Some(postgres.url()),
        env: without_rate_limits(),
        ..Options::default()
    })
    .await;
    let token = platform
        .sign_up_with_profile("pg-restart@example.com", "PG Restart")
        .await;

    let load = user_traffic(&platform, &token);
    load.wait_for(20, "requests before the restart").await;
    // A fast shutdown cuts every open connection, then the server comes back.
    postgres.stop().await;
    load.wait_for(20, "requests while PostgreSQL is down").await;
    postgres.start_again().await;

    // Recovery without restarting anything: soon, a run of 100 requests without a failure.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let before = load.failures().len();
        load.wait_for(100, "a round of requests").await;
        if load.failures().len() == before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still failing 30 s after PostgreSQL came back: {:?}",
            load.failures()
        );
    }
    let failures = load.failures();
    load.stop().await;
    // The window's failures are clear answers that say "retry", never a 500 or a hang.
    let unclear: Vec<&String> = failures
        .iter()
        .filter(|failure| !failure.ends_with("503 Service Unavailable"))
        .collect();
    assert!(
        unclear.is_empty(),
        "{} of {} failures were not 503s: {unclear:?}",
        unclear.len(),
        failures.len()
    );
}
