//! An HTTP client pointed at one service under test.

use serde_json::Value;

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
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        let request = self.client.post(self.url(path)).json(body);
        request.send().await.expect("request")
    }

    /// `GET` with `Authorization: Bearer <token>`.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        let request = self.client.get(self.url(path)).bearer_auth(token);
        request.send().await.expect("request")
    }

    /// `POST` with a bearer token and an optional JSON body.
    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// `PATCH` with a bearer token and a JSON body.
    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        let request = self
            .client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body);
        request.send().await.expect("request")
    }

    /// `PUT` with a bearer token and no body.
    pub async fn put_as(&self, token: &str, path: &str) -> reqwest::Response {
        let request = self.client.put(self.url(path)).bearer_auth(token);
        request.send().await.expect("request")
    }

    /// `DELETE` with a bearer token.
    pub async fn delete_as(&self, token: &str, path: &str) -> reqwest::Response {
        let request = self.client.delete(self.url(path)).bearer_auth(token);
        request.send().await.expect("request")
    }

    /// The sum of a Prometheus metric's samples on `/metrics` whose labels include `labels`
    /// (0 if it has not been counted yet).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self
            .get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text");
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
