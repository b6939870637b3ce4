//! Upstream pools: which instance of a service gets the next request.
//!
//! Each service is a [`Pool`] of instances taken in round-robin order, skipping the ones that
//! are out of rotation:
//! - **active checks**: [`Pools::check_loop`] asks every instance's `/health/ready` every
//!   `GATEWAY_HEALTH_INTERVAL`; an instance is in rotation only while its last check passed
//!   (so a new instance joins after its first passing check, and a draining one, whose
//!   readiness fails on SIGTERM, leaves before it stops);
//! - **passive ejection**: `GATEWAY_EJECT_AFTER` consecutive connect failures take an
//!   instance out for `GATEWAY_EJECT_FOR`, without waiting for the next check.
//!
//! When **no** instance is in rotation because none passes its readiness check, the gateway
//! fails open and tries them anyway: a service whose every instance reports a missing
//! dependency usually still serves most of its requests (readiness fails only for what an
//! instance cannot serve without), and an answer from it is better than a 503 from here.
//! Instances ejected for refusing connections are never tried; with only those left the
//! answer is an immediate 503.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::future::join_all;
use marquee_common::{
    http::health::{CheckFuture, ReadinessCheck},
    shutdown::{CancellationToken, sleep_or_shutdown},
};
use url::Url;

use crate::{
    config::{HealthConfig, UpstreamConfig},
    metrics::GatewayMetrics,
};

/// One instance of an upstream service.
#[derive(Debug)]
pub struct Instance {
    /// Base URL without the trailing slash (`http://10.0.0.7:8081`).
    base: String,
    /// `host:port`, the `instance` label of the metrics.
    label: String,
    /// The last active check passed.
    healthy: AtomicBool,
    /// Connect failures since the last success.
    failures: AtomicU32,
    /// Milliseconds after the pool's epoch until which the instance is ejected (0: never).
    ejected_until: AtomicU64,
}

impl Instance {
    fn new(url: &Url) -> Self {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        Self {
            base: format!("http://{host}:{port}"),
            label: format!("{host}:{port}"),
            healthy: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
        }
    }

    /// The URL of `path_and_query` on this instance.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

/// The instances of one service, in round-robin order.
#[derive(Debug)]
pub struct Pool {
    name: String,
    /// How long an upstream may take to answer (response head or WebSocket upgrade).
    pub timeout: Duration,
    instances: Vec<Arc<Instance>>,
    next: AtomicUsize,
    eject_after: u32,
    eject_for: Duration,
    epoch: Instant,
    metrics: GatewayMetrics,
}

impl Pool {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn in_rotation(&self, instance: &Instance, now_ms: u64) -> bool {
        instance.healthy.load(Ordering::Relaxed)
            && instance.ejected_until.load(Ordering::Relaxed) <= now_ms
    }

    /// The instances in rotation, starting with the next one in round-robin order: the
    /// first gets the request, the others are the fallbacks for a retry. With none in
    /// rotation, every instance not ejected (fail open, see the module docs).
    ///
    /// The turn goes round the instances in rotation, not round all of them: skipping a
    /// dead instance in a fixed ring would hand its turns to its neighbour, which would
    /// then take twice the load of the others.
    pub fn candidates(&self) -> Vec<Arc<Instance>> {
        let now = self.now_ms();
        let mut chosen: Vec<_> = self
            .instances
            .iter()
            .filter(|instance| self.in_rotation(instance, now))
            .cloned()
            .collect();
        if chosen.is_empty() {
            chosen = self
                .instances
                .iter()
                .filter(|instance| instance.ejected_until.load(Ordering::Relaxed) <= now)
                .cloned()
                .collect();
        }
        if !chosen.is_empty() {
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let len = chosen.len();
            chosen.rotate_left(start % len);
        }
        chosen
    }

    /// Whether any instance is in rotation.
    pub fn is_available(&self) -> bool {
        let now = self.now_ms();
        self.instances.iter().any(|i| self.in_rotation(i, now))
    }

    /// `instance` answered (whatever its status): its connect failures are forgotten.
    pub fn succeeded(&self, instance: &Instance) {
        instance.failures.store(0, Ordering::Relaxed);
    }

    /// `instance` refused or did not accept the connection; enough in a row eject it.
    pub fn connect_failed(&self, instance: &Instance) {
        self.metrics
            .upstream_error(&self.name, &instance.label, "connect");
        let failures = instance.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.eject_after {
            let until = self.now_ms() + u64::try_from(self.eject_for.as_millis()).unwrap_or(0);
            instance.ejected_until.store(until, Ordering::Relaxed);
            instance.failures.store(0, Ordering::Relaxed);
            self.metrics.ejected(&self.name, &instance.label);
            tracing::warn!(
                service = %self.name,
                instance = %instance.label,
                failures,
                eject_for = ?self.eject_for,
                "upstream instance ejected after connect failures"
            );
        }
    }

    fn record_check(&self, instance: &Instance, healthy: bool, reason: Option<String>) {
        let was = instance.healthy.swap(healthy, Ordering::Relaxed);
        self.metrics.set_healthy(
            &self.name,
            &instance.label,
            healthy && self.in_rotation(instance, self.now_ms()),
        );
        if was != healthy {
            if healthy {
                tracing::info!(service = %self.name, instance = %instance.label, "upstream instance healthy");
            } else {
                tracing::warn!(
                    service = %self.name,
                    instance = %instance.label,
                    reason = reason.as_deref().unwrap_or("not ready"),
                    "upstream instance unhealthy"
                );
            }
        }
    }
}

/// Every upstream service's pool, by name; cheap to clone.
#[derive(Debug, Clone)]
pub struct Pools {
    pools: Arc<BTreeMap<String, Arc<Pool>>>,
    health: HealthConfig,
}

impl Pools {
    pub fn new(
        upstreams: &[UpstreamConfig],
        health: &HealthConfig,
        metrics: &GatewayMetrics,
    ) -> Self {
        let epoch = Instant::now();
        let pools = upstreams
            .iter()
            .map(|upstream| {
                let pool = Pool {
                    name: upstream.name.clone(),
                    timeout: upstream.timeout,
                    instances: upstream
                        .urls
                        .iter()
                        .map(|u| Arc::new(Instance::new(u)))
                        .collect(),
                    next: AtomicUsize::new(0),
                    eject_after: health.eject_after,
                    eject_for: health.eject_for,
                    epoch,
                    metrics: metrics.clone(),
                };
                (upstream.name.clone(), Arc::new(pool))
            })
            .collect();
        Self {
            pools: Arc::new(pools),
            health: health.clone(),
        }
    }

    pub fn get(&self, service: &str) -> Option<&Arc<Pool>> {
        self.pools.get(service)
    }

    /// Checks every instance once, concurrently.
    pub async fn check_all(&self, http: &reqwest::Client) {
        let checks = self.pools.values().flat_map(|pool| {
            pool.instances.iter().map(move |instance| async move {
                let outcome = http
                    .get(instance.url("/health/ready"))
                    .timeout(self.health.timeout)
                    .send()
                    .await;
                match outcome {
                    Ok(response) if response.status().is_success() => {
                        pool.record_check(instance, true, None)
                    }
                    Ok(response) => pool.record_check(
                        instance,
                        false,
                        Some(format!("readiness answered {}", response.status())),
                    ),
                    Err(error) => pool.record_check(instance, false, Some(error.to_string())),
                }
            })
        });
        join_all(checks).await;
    }

    /// Checks every instance every `GATEWAY_HEALTH_INTERVAL` until `shutdown`.
    pub async fn check_loop(self, shutdown: CancellationToken) {
        let http = reqwest::Client::builder()
            .timeout(self.health.timeout)
            .pool_max_idle_per_host(1)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        loop {
            self.check_all(&http).await;
            if sleep_or_shutdown(self.health.interval, &shutdown).await {
                return;
            }
        }
    }
}

/// Readiness: every service has at least one instance in rotation.
#[derive(Debug)]
pub struct UpstreamsCheck(pub Pools);

impl ReadinessCheck for UpstreamsCheck {
    fn name(&self) -> &'static str {
        "upstreams"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let down: Vec<&str> = self
                .0
                .pools
                .values()
                .filter(|pool| !pool.is_available())
                .map(|pool| pool.name())
                .collect();
            if down.is_empty() {
                Ok(())
            } else {
                Err(format!("no healthy instance of {}", down.join(", ")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(urls: &[&str], eject_after: u32) -> Pools {
        let upstream = UpstreamConfig {
            name: "svc".into(),
            urls: urls.iter().map(|u| Url::parse(u).unwrap()).collect(),
            timeout: Duration::from_secs(1),
        };
        let health = HealthConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            eject_after,
            eject_for: Duration::from_secs(60),
        };
        Pools::new(&[upstream], &health, &GatewayMetrics::default())
    }

    fn labels(instances: &[Arc<Instance>]) -> Vec<&str> {
        instances.iter().map(|i| i.label()).collect()
    }

    #[test]
    fn instances_take_turns_and_unhealthy_ones_are_skipped() {
        let pools = pools(&["http://a:1", "http://b:2", "http://c:3"], 3);
        let pool = pools.get("svc").unwrap();
        for instance in &pool.instances {
            pool.record_check(instance, true, None);
        }
        assert_eq!(labels(&pool.candidates()), ["a:1", "b:2", "c:3"]);
        assert_eq!(labels(&pool.candidates()), ["b:2", "c:3", "a:1"]);
        pool.record_check(&pool.instances[0], false, Some("down".into()));
        assert_eq!(labels(&pool.candidates()), ["b:2", "c:3"]);
        assert!(pool.is_available());
    }

    #[test]
    fn the_instance_after_a_dead_one_takes_no_more_than_its_share() {
        let pools = pools(&["http://a:1", "http://b:2", "http://c:3"], 3);
        let pool = pools.get("svc").unwrap();
        pool.record_check(&pool.instances[0], true, None);
        pool.record_check(&pool.instances[1], false, Some("down".into()));
        pool.record_check(&pool.instances[2], true, None);
        let firsts: Vec<String> = (0..6)
            .map(|_| pool.candidates()[0].label().to_owned())
            .collect();
        assert_eq!(firsts, ["a:1", "c:3", "a:1", "c:3", "a:1", "c:3"]);
    }

    #[test]
    fn with_no_instance_ready_every_instance_not_ejected_is_tried() {
        let pools = pools(&["http://a:1", "http://b:2"], 1);
        let pool = pools.get("svc").unwrap();
        assert_eq!(
            pool.candidates().len(),
            2,
            "before the first check, and while all fail it, all are tried"
        );
        for instance in &pool.instances {
            pool.record_check(instance, false, Some("postgres down".into()));
        }
        assert!(!pool.is_available());
        assert_eq!(labels(&pool.candidates()), ["b:2", "a:1"]);
        pool.connect_failed(&pool.instances[0]);
        assert_eq!(labels(&pool.candidates()), ["b:2"], "an ejected one is not");
        pool.connect_failed(&pool.instances[1]);
        assert!(
            pool.candidates().is_empty(),
            "none that accepts connections"
        );
    }

    #[test]
    fn repeated_connect_failures_eject_an_instance() {
        let pools = pools(&["http://a:1", "http://b:2"], 2);
        let pool = pools.get("svc").unwrap();
        for instance in &pool.instances {
            pool.record_check(instance, true, None);
        }
        let a = pool.instances[0].clone();
        pool.connect_failed(&a);
        pool.succeeded(&a);
        pool.connect_failed(&a);
        assert_eq!(pool.candidates().len(), 2, "a success resets the count");
        pool.connect_failed(&a);
        assert_eq!(labels(&pool.candidates()), ["b:2"]);
        // A passing check does not end the ejection early.
        pool.record_check(&a, true, None);
        assert_eq!(labels(&pool.candidates()), ["b:2"]);
    }

    #[test]
    fn an_instance_url_keeps_the_path_and_query() {
        let instance = Instance::new(&Url::parse("http://auth:8081").unwrap());
        assert_eq!(
            instance.url("/v1/auth/login?x=1"),
            "http://auth:8081/v1/auth/login?x=1"
        );
    }
}
