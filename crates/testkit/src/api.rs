//! An HTTP client pointed at one service under test.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

/// How long a test waits for one answer: longer than any bound inside the services (the
/// gateway gives up on an upstream after 15 s), so a request that runs out has hung.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The address of a service under test and a client for it; tests' `TestApp`s deref to it.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub client: reqwest::Client,
}

impl ApiClient {
    pub fn new(port: u16) -> Self {
        Self {
            address: format!("http://127.0.0.1:{port}"),
            client: test_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends `request`; panics with the method and path when there is no answer.
    pub async fn send(&self, request: RequestBuilder) -> Response {
        let request = request.build().expect("a well-formed request");
        let what = format!("{} {}", request.method(), request.url().path());
        self.client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer ({})", error_chain(&e)))
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// `GET` with `Authorization: Bearer <token>`.
    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.send(self.request(Method::GET, path).bearer_auth(token))
            .await
    }

    /// `POST` with a bearer token and an optional JSON body.
    pub async fn post_as(&self, token: &str, path: &str, body: Option<&Value>) -> Response {
        let mut request = self.request(Method::POST, path).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// `PATCH` with a bearer token and a JSON body.
    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> Response {
        let request = self
            .request(Method::PATCH, path)
            .bearer_auth(token)
            .json(body);
        self.send(request).await
    }

    /// `PUT` with a bearer token and no body.
    pub async fn put_as(&self, token: &str, path: &str) -> Response {
        self.send(self.request(Method::PUT, path).bearer_auth(token))
            .await
    }

    /// `DELETE` with a bearer token.
    pub async fn delete_as(&self, token: &str, path: &str) -> Response {
        self.send(self.request(Method::DELETE, path).bearer_auth(token))
            .await
    }

    /// The sum of a Prometheus metric's samples on `/metrics` whose labels include `labels`
    /// (0 if it has not been counted yet).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self
            .get("/metrics")
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET /metrics: unreadable body ({e})"));
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .filter(|line| {
                labels
                    .iter()
                    .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A client whose every request is bounded ([`REQUEST_TIMEOUT`]; connecting: 2 s), for tests.
/// Like the gateway, it reuses an idle connection for less time than the services keep it
/// open (`HTTP_KEEP_ALIVE`).
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// `error` and every cause below it, `: `-separated (reqwest's own message hides the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
