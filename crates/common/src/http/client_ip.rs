//! The client's IP address, as seen through a known number of trusted proxies.
//!
//! Behind the gateway (or a load balancer) every request comes from the proxy's address, so
//! per-client limits need the address the proxy saw, which it appends to `X-Forwarded-For`.
//! That header is only as trustworthy as the hops that wrote it: with
//! `HTTP_TRUSTED_PROXY_HOPS=n`, the client is the `n`-th address from the right of
//! `X-Forwarded-For` + peer, so whatever a client writes into the header itself is ignored.
//! With `0` (the default) the peer address is the client. An entry there that is not a plain
//! IP address, or a chain shorter than the hops, means the request did not come through the
//! expected proxies: the peer address is used then, never an address the client wrote.

use std::{future::Ready, net::IpAddr};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header::HeaderName};

/// How many proxies in front of the service append to `X-Forwarded-For` (app data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustedProxyHops(pub usize);

/// The client's address; `None` when it cannot be told (no peer address, as in some tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The key for per-client limits: the IPv4 address, or the /64 prefix of an IPv6 one (a
    /// single host usually owns a whole /64 and could hop addresses inside it); `unknown` for
    /// unidentifiable clients (one shared bucket).
    pub fn key(&self) -> String {
        match self.0 {
            Some(IpAddr::V4(ip)) => ip.to_string(),
            Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let [a, b, c, d, ..] = ip.segments();
                    format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
                }
            },
            None => "unknown".to_owned(),
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address of `req`, trusting `hops` proxies.
pub fn client_ip(req: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    if hops == 0 {
        return peer;
    }
    // Entries as written, right to left: the last was appended by the nearest proxy.
    let entries: Vec<&str> = req
        .headers()
        .get_all(X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|index| entries.get(index))
        .and_then(|entry| entry.parse().ok())
        .or(peer)
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
    fn a_short_chain_or_a_malformed_entry_falls_back_to_the_peer() {
        assert_eq!(
            client_ip(&request(None), 1),
            Some("10.0.0.9".parse().unwrap())
        );
        // Fewer entries than hops: the client may have written all of them.
        let req = request(Some("6.6.6.6"));
        assert_eq!(client_ip(&req, 2), Some("10.0.0.9".parse().unwrap()));
        // The proxy's entry is not an address: do not shift onto the client's.
        let req = request(Some("6.6.6.6, unknown"));
        assert_eq!(client_ip(&req, 1), Some("10.0.0.9".parse().unwrap()));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_prefix() {
        let a = ClientIp(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = ClientIp(Some("2001:db8:1:2:bbbb::9".parse().unwrap()));
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key(), "2001:db8:1:2::/64");
        let mapped = ClientIp(Some("::ffff:1.2.3.4".parse().unwrap()));
        assert_eq!(mapped.key(), "1.2.3.4");
    }
}
