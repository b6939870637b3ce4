//! The client's IP address, as seen through a known number of trusted proxies.
//!
//! Behind the gateway (or a load balancer) every request comes from the proxy's address, so
//! per-client limits need the address the proxy saw, which it appends to `X-Forwarded-For`.
//! That header is only as trustworthy as the hops that wrote it: with
//! `HTTP_TRUSTED_PROXY_HOPS=n`, the client is the `n`-th address from the right of
//! `X-Forwarded-For` + peer, so whatever a client writes into the header itself is ignored.
//! With `0` (the default) the peer address is the client.

use std::{future::Ready, net::IpAddr};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header::HeaderName};

/// How many proxies in front of the service append to `X-Forwarded-For` (app data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustedProxyHops(pub usize);

/// The client's address; `None` when it cannot be told (no peer address, as in some tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The address as text, or `unknown` (one shared bucket for unidentifiable clients).
    pub fn key(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address of `req`, trusting `hops` proxies.
pub fn client_ip(req: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    if hops == 0 {
        return peer;
    }
    let mut chain: Vec<IpAddr> = req
        .headers()
        .get_all(X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    chain.extend(peer);
    let index = chain.len().saturating_sub(1 + hops);
    chain.get(index).copied()
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let hops = req
            .app_data::<TrustedProxyHops>()
            .copied()
            .unwrap_or_default();
        std::future::ready(Ok(Self(client_ip(req, hops.0))))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(forwarded_for: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr("10.0.0.9:5000".parse().unwrap());
        if let Some(value) = forwarded_for {
            request = request.insert_header(("X-Forwarded-For", value));
        }
        request.to_http_request()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let req = request(Some("1.2.3.4"));
        assert_eq!(client_ip(&req, 0), Some("10.0.0.9".parse().unwrap()));
    }

    #[test]
    fn behind_one_proxy_the_address_it_appended_is_the_client() {
        // The client forged "6.6.6.6"; the gateway appended the address it saw, 1.2.3.4.
        let req = request(Some("6.6.6.6, 1.2.3.4"));
        assert_eq!(client_ip(&req, 1), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(client_ip(&req, 2), Some("6.6.6.6".parse().unwrap()));
    }

    #[test]
    fn fewer_addresses_than_hops_fall_back_to_the_leftmost() {
        let req = request(None);
        assert_eq!(client_ip(&req, 3), Some("10.0.0.9".parse().unwrap()));
    }
}
