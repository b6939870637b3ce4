//! The platform under load while an instance or a dependency goes away, judged by what a user
//! sees through the gateway: every request answered 2xx, and every event applied once after.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use marquee_common::shutdown::CancellationToken;
use marquee_testkit::{BrokerProcess, eventually_async, test_client};
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

    /// Waits (bounded) until `more` requests beyond those answered now have been answered.
    async fn wait_for(&self, more: usize, what: &str) {
        let target = self.answered() + more;
        eventually_async(Duration::from_secs(60), what, || async {
            (self.answered() >= target).then_some(())
        })
        .await;
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
        ..Options::default()
    })
    .await;
    let (_, token) = platform
        .sign_up("rolling@example.com", "Rolling Restart")
        .await;
    eventually_async(Duration::from_secs(30), "the profile", || async {
        (platform
            .gateway
            .get_as(&token, "/v1/users/me")
            .await
            .status()
            == 200)
            .then_some(())
    })
    .await;

    // Reads and writes, the writes without an Idempotency-Key: the hard case, which the
    // gateway may not send twice.
    let url = platform.gateway.url("/v1/users/me");
    let load = Load::start(4, Duration::from_millis(5), move |client, n| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let http = test_client();
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
        env: vec![
            // Stalled members are rebuilt after 10 s instead of 30 s: a shorter test.
            ("CONSUMER_STALL_TIMEOUT".into(), "10s".into()),
            // All registrations come from one address: the per-IP budgets are not the subject.
            ("RATE_LIMIT_ENABLED".into(), "false".into()),
            ("AUTH_IP_LIMIT_BURST".into(), "100000".into()),
            ("AUTH_IP_LIMIT_PER_MINUTE".into(), "100000".into()),
        ],
        ..Options::default()
    })
    .await;

    // Registrations through the gateway: auth writes the account and its UserCreated in one
    // transaction; user-service makes the profile when the event arrives.
    let url = platform.gateway.url("/v1/auth/register");
    let registered = Arc::new(Mutex::new(Vec::<String>::new()));
    let ids = registered.clone();
    let load = Load::start(2, Duration::from_millis(250), move |client, n| {
        let (url, ids) = (url.clone(), ids.clone());
        async move {
            let email = format!(
                "outage-{client}-{n}-{}@example.com",
                uuid::Uuid::now_v7().simple()
            );
            let response = test_client()
                .post(&url)
                .json(&json!({"email": email, "password": crate::platform::PASSWORD, "display_name": format!("Outage {client} {n}")}))
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
    load.wait_for(10, "registrations before the outage").await;

    broker.cut().await;
    // The outage itself: the broker is simply gone this long while the load goes on.
    tokio::time::sleep(Duration::from_secs(60)).await;
    broker.restore();
    load.wait_for(10, "registrations after the outage").await;
    load.finish_without_failures("around the outage").await;

    // Every account gets its profile: UserCreated reached user-service, through the outage.
    let ids = registered.lock().unwrap().clone();
    let (_, token) = platform.sign_up("watcher@example.com", "Watcher").await;
    for id in &ids {
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
