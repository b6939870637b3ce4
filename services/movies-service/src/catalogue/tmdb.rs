//! The TMDb API v3 client: authentication, timeouts, retries, a circuit breaker and a bound on
//! concurrent calls; TMDb's JSON is mapped into the catalogue's own types here and nowhere else.
//!
//! Every call is one or more *attempts*. An attempt waits for one of `TMDB_MAX_CONCURRENCY`
//! permits (at most `TMDB_TIMEOUT`), asks the breaker, and sends one request with `TMDB_TIMEOUT`. Connection errors,
//! timeouts, 5xx and 429 are retried up to `TMDB_MAX_RETRIES` times, after exponential backoff
//! with jitter — or after the `Retry-After` TMDb sent, unless that is longer than
//! `TMDB_RETRY_AFTER_MAX` (then the call fails now and the caller serves what it has cached).
//! 404 is an answer (`None`), not a failure. 401/403 mean the credentials are wrong: not
//! retried, logged as an error.
//!
//! The v3 API key travels in the query string, so URLs are never logged: errors are logged
//! with `without_url()` and spans carry the endpoint name only.
//!
//! Metrics: `tmdb_requests_total{endpoint,outcome}`, `tmdb_request_duration_seconds{endpoint}`
//! and `tmdb_circuit_state` (0 closed, 1 open, 2 half-open).

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use marquee_common::{ConfigError, Env, config::in_range, http::metrics::Metrics, retry::Backoff};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts};
use reqwest::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::{
    breaker::CircuitBreaker,
    model::{Details, Genre, Listed, Listing},
    upstream::UpstreamError,
};
use crate::domain::{Language, MovieId, PageNumber, SearchQuery};

/// How TMDb knows us.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// `TMDB_API_TOKEN`: the v4 "API read access token", sent as `Authorization: Bearer`.
    Bearer(SecretString),
    /// `TMDB_API_KEY`: the v3 API key, sent as the `api_key` query parameter.
    ApiKey(SecretString),
}

/// TMDb client settings.
#[derive(Debug, Clone)]
pub struct TmdbConfig {
    pub credentials: Credentials,
    /// `TMDB_BASE_URL` (default `https://api.themoviedb.org/3`).
    pub base_url: String,
    /// `TMDB_IMAGE_BASE_URL` (default `https://image.tmdb.org/t/p/w500`): poster URLs are this
    /// plus TMDb's poster path.
    pub image_base_url: String,
    /// `TMDB_TIMEOUT` (default 5s): one attempt, connect to last byte.
    pub timeout: Duration,
    /// `TMDB_CONNECT_TIMEOUT` (default 2s).
    pub connect_timeout: Duration,
    /// `TMDB_MAX_RETRIES` (default 2): attempts after the first.
    pub max_retries: u32,
    /// `TMDB_RETRY_INITIAL` (default 200ms) and `TMDB_RETRY_MAX` (default 2s): backoff.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// `TMDB_RETRY_AFTER_MAX` (default 10s): the longest `Retry-After` honoured by waiting.
    pub retry_after_max: Duration,
    /// `TMDB_MAX_CONCURRENCY` (default 16): outbound requests in flight at once, per instance.
    pub max_concurrency: usize,
    /// `TMDB_BREAKER_FAILURES` (default 5): consecutive failed attempts that open the breaker.
    pub breaker_failures: u32,
    /// `TMDB_BREAKER_COOLDOWN` (default 30s): how long it stays open before a trial call.
    pub breaker_cooldown: Duration,
}

impl TmdbConfig {
    /// Settings for `credentials` at `base_url`, with the defaults above.
    pub fn new(credentials: Credentials, base_url: impl Into<String>) -> Self {
        Self {
            credentials,
            base_url: base_url.into(),
            image_base_url: "https://image.tmdb.org/t/p/w500".into(),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_retries: 2,
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(2),
            retry_after_max: Duration::from_secs(10),
            max_concurrency: 16,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }

    /// The TMDb settings, or `None` when neither `TMDB_API_TOKEN` nor `TMDB_API_KEY` is set
    /// (the offline catalogue is used then). The token wins when both are.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let credentials = match (
            env.optional_secret("TMDB_API_TOKEN")?,
            env.optional_secret("TMDB_API_KEY")?,
        ) {
            (Some(token), _) => Credentials::Bearer(token),
            (None, Some(key)) => Credentials::ApiKey(key),
            (None, None) => return Ok(None),
        };
        let url = |name: &str, default: &str| -> Result<String, ConfigError> {
            let raw = env.raw(name).unwrap_or(default);
            let parsed = url::Url::parse(raw)
                .map_err(|e| ConfigError::new(name, format!("invalid URL {raw:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(ConfigError::new(name, "must be an http(s) URL with a host"));
            }
            Ok(raw.trim_end_matches('/').to_owned())
        };
        let defaults = Self::new(
            credentials,
            url("TMDB_BASE_URL", "https://api.themoviedb.org/3")?,
        );
        Ok(Some(Self {
            image_base_url: url("TMDB_IMAGE_BASE_URL", &defaults.image_base_url)?,
            timeout: env.duration_or("TMDB_TIMEOUT", defaults.timeout)?,
            connect_timeout: env.duration_or("TMDB_CONNECT_TIMEOUT", defaults.connect_timeout)?,
            max_retries: in_range(
                "TMDB_MAX_RETRIES",
                env.or("TMDB_MAX_RETRIES", defaults.max_retries)?,
                0..=10,
            )?,
            retry_initial: env.duration_or("TMDB_RETRY_INITIAL", defaults.retry_initial)?,
            retry_max: env.duration_or("TMDB_RETRY_MAX", defaults.retry_max)?,
            retry_after_max: env.duration_or("TMDB_RETRY_AFTER_MAX", defaults.retry_after_max)?,
            max_concurrency: in_range(
                "TMDB_MAX_CONCURRENCY",
                env.or("TMDB_MAX_CONCURRENCY", defaults.max_concurrency)?,
                1..=1024,
            )?,
            breaker_failures: in_range(
                "TMDB_BREAKER_FAILURES",
                env.or("TMDB_BREAKER_FAILURES", defaults.breaker_failures)?,
                1..=1000,
            )?,
            breaker_cooldown: env
                .duration_or("TMDB_BREAKER_COOLDOWN", defaults.breaker_cooldown)?,
            ..defaults
        }))
    }
}

/// A TMDb API client. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct TmdbClient {
    http: reqwest::Client,
    config: TmdbConfig,
    breaker: CircuitBreaker,
    permits: Semaphore,
    requests: IntCounterVec,
    durations: HistogramVec,
}

/// What one attempt came to.
enum Attempt<T> {
    /// An answer (`None`: TMDb said 404).
    Answer(Option<T>),
    /// Worth another attempt; `after` is TMDb's `Retry-After`, if it sent one.
    Retry {
        error: UpstreamError,
        after: Option<Duration>,
    },
    /// Not worth another attempt.
    Fail(UpstreamError),
}

impl TmdbClient {
    pub fn new(config: TmdbConfig, metrics: &Metrics) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_concurrency)
            .user_agent(concat!(
                "marquee-movies-service/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        let requests = IntCounterVec::new(
            Opts::new("tmdb_requests_total", "Requests sent to TMDb, by outcome"),
            &["endpoint", "outcome"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        let durations = HistogramVec::new(
            HistogramOpts::new("tmdb_request_duration_seconds", "TMDb request latency")
                .buckets(vec![0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["endpoint"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        let state = IntGauge::new(
            "tmdb_circuit_state",
            "TMDb circuit breaker: 0 closed, 1 open (failing fast), 2 half-open (one trial)",
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        metrics.register(requests.clone());
        metrics.register(durations.clone());
        metrics.register(state.clone());
        Ok(Self {
            http,
            breaker: CircuitBreaker::new(config.breaker_failures, config.breaker_cooldown, state),
            permits: Semaphore::new(config.max_concurrency),
            config,
            requests,
            durations,
        })
    }

    pub fn image_base_url(&self) -> &str {
        &self.config.image_base_url
    }

    /// `GET /movie/popular`.
    pub async fn popular(
        &self,
        language: &Language,
        page: PageNumber,
    ) -> Result<Listing, UpstreamError> {
        let query = [
            ("language", language.to_string()),
            ("page", page.get().to_string()),
        ];
        let list: TmdbList = self.required("popular", "/movie/popular", &query).await?;
        Ok(list.into())
    }

    /// `GET /search/movie` (adult titles excluded).
    pub async fn search(
        &self,
        text: &SearchQuery,
        language: &Language,
        page: PageNumber,
    ) -> Result<Listing, UpstreamError> {
        let query = [
            ("query", text.as_str().to_owned()),
            ("include_adult", "false".to_owned()),
            ("language", language.to_string()),
            ("page", page.get().to_string()),
        ];
        let list: TmdbList = self.required("search", "/search/movie", &query).await?;
        Ok(list.into())
    }

    /// `GET /movie/{id}`; `None` when TMDb has no such movie.
    pub async fn details(
        &self,
        id: MovieId,
        language: &Language,
    ) -> Result<Option<Details>, UpstreamError> {
        let query = [("language", language.to_string())];
        let movie: Option<TmdbMovie> = self.get("details", &format!("/movie/{id}"), &query).await?;
        Ok(movie.map(Into::into))
    }

    /// `GET /genre/movie/list`.
    pub async fn genres(&self, language: &Language) -> Result<Vec<Genre>, UpstreamError> {
        let query = [("language", language.to_string())];
        let list: TmdbGenres = self.required("genres", "/genre/movie/list", &query).await?;
        Ok(list.genres)
    }

    /// Like [`Self::get`], for resources that always exist: a 404 is a bad response.
    async fn required<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, UpstreamError> {
        self.get(endpoint, path, query)
            .await?
            .ok_or_else(|| UpstreamError::BadResponse(format!("{endpoint}: 404")))
    }

    /// One call: attempts until an answer, a failure not worth retrying, or the retries run
    /// out.
    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, UpstreamError> {
        let mut backoff = Backoff::new(self.config.retry_initial, self.config.retry_max);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let span = tracing::info_span!(
                "tmdb.request",
                endpoint,
                attempt,
                status = tracing::field::Empty
            );
            let outcome = self.attempt(endpoint, path, query).instrument(span).await;
            let (error, after) = match outcome {
                Attempt::Answer(value) => return Ok(value),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { error, after } => (error, after),
            };
            if attempt > self.config.max_retries {
                return Err(error);
            }
            let delay = after.unwrap_or_else(|| backoff.next_delay());
            if delay > self.config.retry_after_max {
                tracing::warn!(
                    endpoint,
                    ?delay,
                    "TMDb asks to wait longer than TMDB_RETRY_AFTER_MAX; giving up"
                );
                return Err(error);
            }
            tracing::debug!(endpoint, attempt, ?delay, %error, "retrying TMDb");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Attempt<T> {
        // Waiting for a permit is bounded like the request itself: while TMDb hangs, the
        // calls queued behind the slow ones fail (and are served from the cache) instead of
        // waiting their turn for ever.
        let _permit = match tokio::time::timeout(self.config.timeout, self.permits.acquire()).await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Attempt::Fail(UpstreamError::Interrupted),
            Err(_) => {
                self.count(endpoint, "queue_full");
                return Attempt::Fail(UpstreamError::Unavailable {
                    reason: "every TMDb call slot stayed busy".into(),
                    retry_after: None,
                });
            }
        };
        if let Err(retry_after) = self.breaker.permit() {
            self.count(endpoint, "circuit_open");
            return Attempt::Fail(UpstreamError::CircuitOpen { retry_after });
        }
        let mut request = self
            .http
            .get(format!("{}{path}", self.config.base_url))
            .header(header::ACCEPT, "application/json")
            .query(query);
        request = match &self.config.credentials {
            Credentials::Bearer(token) => request.bearer_auth(token.expose_secret()),
            Credentials::ApiKey(key) => request.query(&[("api_key", key.expose_secret())]),
        };
        let started = Instant::now();
        let sent = request.send().await;
        let outcome = match sent {
            Err(error) => self.transport_failure(endpoint, error),
            Ok(response) => self.answer(endpoint, response).await,
        };
        self.durations
            .with_label_values(&[endpoint])
            .observe(started.elapsed().as_secs_f64());
        outcome
    }

    fn transport_failure<T>(&self, endpoint: &'static str, error: reqwest::Error) -> Attempt<T> {
        let kind = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect_error"
        } else {
            "transport_error"
        };
        self.count(endpoint, kind);
        self.breaker.failed();
        let error = error.without_url();
        tracing::warn!(endpoint, %error, "TMDb request failed");
        Attempt::Retry {
            error: UpstreamError::Unavailable {
                reason: format!("{kind}: {error}"),
                retry_after: None,
            },
            after: None,
        }
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        response: reqwest::Response,
    ) -> Attempt<T> {
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        let retry_after = retry_after(response.headers());
        match status {
            StatusCode::OK => {
                // The body is part of the attempt: a stall or reset while reading it is a
                // transport failure (retried), not a bad answer.
                let body = match response.bytes().await {
                    Ok(body) => body,
                    Err(error) => return self.transport_failure(endpoint, error),
                };
                self.breaker.succeeded();
                match serde_json::from_slice::<T>(&body) {
                    Ok(value) => {
                        self.count(endpoint, "ok");
                        Attempt::Answer(Some(value))
                    }
                    Err(error) => {
                        self.count(endpoint, "bad_response");
                        tracing::error!(endpoint, %error, "TMDb answered with a body we cannot read");
                        Attempt::Fail(UpstreamError::BadResponse(format!("{endpoint}: {error}")))
                    }
                }
            }
            StatusCode::NOT_FOUND => {
                self.breaker.succeeded();
                self.count(endpoint, "not_found");
                Attempt::Answer(None)
            }
            StatusCode::TOO_MANY_REQUESTS => {
                self.breaker.succeeded();
                self.count(endpoint, "rate_limited");
                tracing::warn!(endpoint, ?retry_after, "TMDb rate limit reached");
                Attempt::Retry {
                    error: UpstreamError::Unavailable {
                        reason: "rate limited (429)".into(),
                        retry_after,
                    },
                    after: retry_after,
                }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                self.breaker.failed();
                self.count(endpoint, "unauthorized");
                tracing::error!(endpoint, %status, "TMDb refused our credentials: check TMDB_API_TOKEN / TMDB_API_KEY");
                Attempt::Fail(UpstreamError::Unauthorized)
            }
            status if status.is_server_error() => {
                self.breaker.failed();
                self.count(endpoint, "server_error");
                tracing::warn!(endpoint, %status, "TMDb server error");
                Attempt::Retry {
                    error: UpstreamError::Unavailable {
                        reason: format!("status {status}"),
                        retry_after,
                    },
                    after: retry_after,
                }
            }
            status => {
                self.breaker.succeeded();
                self.count(endpoint, "unexpected_status");
                tracing::error!(endpoint, %status, "TMDb answered with an unexpected status");
                Attempt::Fail(UpstreamError::BadResponse(format!(
                    "{endpoint}: status {status}"
                )))
            }
        }
    }

    fn count(&self, endpoint: &str, outcome: &str) {
        self.requests.with_label_values(&[endpoint, outcome]).inc();
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

// TMDb's documented JSON (only the fields we use; unknown ones are ignored, missing ones are
// tolerated, since a third party's payload is input like any other).

#[derive(Debug, Deserialize)]
struct TmdbList {
    page: u16,
    #[serde(default)]
    results: Vec<TmdbListItem>,
    #[serde(default)]
    total_pages: u32,
    #[serde(default)]
    total_results: u32,
}

#[derive(Debug, Deserialize)]
struct TmdbListItem {
    id: i64,
    #[serde(default)]
    title: String,
    original_title: Option<String>,
    original_language: Option<String>,
    overview: Option<String>,
    release_date: Option<String>,
    #[serde(default)]
    genre_ids: Vec<i64>,
    vote_average: Option<f64>,
    vote_count: Option<i64>,
    poster_path: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TmdbMovie {
    id: i64,
    #[serde(default)]
    title: String,
    original_title: Option<String>,
    original_language: Option<String>,
    overview: Option<String>,
    tagline: Option<String>,
    release_date: Option<String>,
    #[serde(default)]
    genres: Vec<Genre>,
    runtime: Option<u32>,
    vote_average: Option<f64>,
    vote_count: Option<i64>,
    poster_path: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TmdbGenres {
    genres: Vec<Genre>,
}

/// TMDb writes unknown dates as `""`.
fn date(raw: Option<String>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw?.trim(), "%Y-%m-%d").ok()
}

/// TMDb writes unknown texts as `""`.
fn text(raw: Option<String>) -> Option<String> {
    raw.filter(|s| !s.trim().is_empty())
}

impl From<TmdbList> for Listing {
    fn from(list: TmdbList) -> Self {
        Self {
            page: list.page,
            // TMDb counts pages it will not serve: nothing past 500 can be requested.
            total_pages: list.total_pages.min(u32::from(PageNumber::MAX)),
            total_results: list.total_results,
            results: list
                .results
                .into_iter()
                .map(|item| Listed {
                    id: item.id,
                    title: item.title,
                    original_title: text(item.original_title),
                    original_language: text(item.original_language),
                    overview: text(item.overview),
                    release_date: date(item.release_date),
                    genre_ids: item.genre_ids,
                    vote_average: item.vote_average,
                    vote_count: item.vote_count,
                    poster_path: text(item.poster_path),
                })
                .collect(),
        }
    }
}

impl From<TmdbMovie> for Details {
    fn from(movie: TmdbMovie) -> Self {
        Self {
            id: movie.id,
            title: movie.title,
            original_title: text(movie.original_title),
            original_language: text(movie.original_language),
            overview: text(movie.overview),
            tagline: text(movie.tagline),
            release_date: date(movie.release_date),
            genres: movie.genres,
            // 0 is TMDb's "unknown".
            runtime: movie.runtime.filter(|minutes| *minutes > 0),
            vote_average: movie.vote_average,
            vote_count: movie.vote_count,
            poster_path: text(movie.poster_path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date: now"
        );
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        headers.insert(header::RETRY_AFTER, soon.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!((28..=30).contains(&wait.as_secs()), "{wait:?}");
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn empty_strings_and_zero_runtime_mean_unknown() {
        let movie: TmdbMovie = serde_json::from_value(serde_json::json!({
            "id": 7, "title": "X", "release_date": "", "poster_path": null,
            "overview": "", "runtime": 0, "genres": [], "unexpected": {"nested": true}
        }))
        .unwrap();
        let details = Details::from(movie);
        assert_eq!(details.release_date, None);
        assert_eq!(details.overview, None);
        assert_eq!(details.runtime, None);
    }

    #[test]
    fn total_pages_are_capped_at_what_can_be_requested() {
        let list: TmdbList = serde_json::from_value(serde_json::json!({
            "page": 1, "results": [], "total_pages": 48_213, "total_results": 964_000
        }))
        .unwrap();
        assert_eq!(Listing::from(list).total_pages, 500);
    }

    #[test]
    fn the_token_wins_and_no_credentials_means_offline() {
        let none = TmdbConfig::from_env(&Env::default()).unwrap();
        assert!(none.is_none());
        let both = Env::from_pairs([("TMDB_API_TOKEN", "t"), ("TMDB_API_KEY", "k")]);
        let config = TmdbConfig::from_env(&both).unwrap().unwrap();
        assert!(matches!(config.credentials, Credentials::Bearer(_)));
        let key = Env::from_pairs([
            ("TMDB_API_KEY", "k"),
            ("TMDB_BASE_URL", "http://tmdb.test/3/"),
        ]);
        let config = TmdbConfig::from_env(&key).unwrap().unwrap();
        assert!(matches!(config.credentials, Credentials::ApiKey(_)));
        assert_eq!(config.base_url, "http://tmdb.test/3");
        let bad = Env::from_pairs([("TMDB_API_KEY", "k"), ("TMDB_BASE_URL", "ftp://x")]);
        assert_eq!(
            TmdbConfig::from_env(&bad).unwrap_err().variable,
            "TMDB_BASE_URL"
        );
    }
}
