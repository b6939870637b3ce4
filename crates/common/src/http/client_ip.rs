//! The client's IP address, as seen through the proxies in front of the service.
//!
//! Behind the gateway (or a load balancer) every request comes from the proxy's address, so
//! per-client limits need the address the proxy saw, which it appends to `X-Forwarded-For`.
//! That header is only as trustworthy as the hops that wrote it, so two settings decide how
//! far it is believed ([`TrustedProxies`]):
//! - `HTTP_TRUSTED_PROXY_HOPS=n`: at most `n` proxies are stepped over, right to left through
//!   `X-Forwarded-For` + peer, so whatever a client writes into the header itself is ignored;
//! - `HTTP_TRUSTED_PROXIES` (CIDRs; default loopback and the private networks): only an
//!   address in these networks is a proxy. A caller that reaches the service directly from
//!   elsewhere is the client, whatever its `X-Forwarded-For` says.
//!
//! With `0` hops (the default) the peer address is the client. An entry that is not a plain
//! IP address, or a chain shorter than the hops, means the request did not come through the
//! expected proxies: the peer address is used then, never an address the client wrote.

use std::{future::Ready, net::IpAddr, sync::Arc};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header::HeaderName};
use ipnet::IpNet;

use crate::config::{ConfigError, Env, in_range};

/// `HTTP_TRUSTED_PROXIES`' default: loopback and the private networks, where a cluster's
/// proxies live.
pub const DEFAULT_TRUSTED_PROXIES: &str =
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

/// Which proxies in front of the service are believed when they name the client in
/// `X-Forwarded-For` (app data; see the module docs).
#[derive(Debug, Clone)]
pub struct TrustedProxies {
    hops: usize,
    networks: Arc<[IpNet]>,
}

impl Default for TrustedProxies {
    /// No proxy: the peer is the client.
    fn default() -> Self {
        Self::new(0, Vec::new())
    }
}

impl TrustedProxies {
    pub fn new(hops: usize, networks: Vec<IpNet>) -> Self {
        Self {
            hops,
            networks: networks.into(),
        }
    }

    /// `HTTP_TRUSTED_PROXY_HOPS` (0–16, default 0) and `HTTP_TRUSTED_PROXIES`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let hops = in_range(
            "HTTP_TRUSTED_PROXY_HOPS",
            env.or("HTTP_TRUSTED_PROXY_HOPS", 0)?,
            0..=16,
        )?;
        let networks = match env.raw("HTTP_TRUSTED_PROXIES") {
            Some(_) => env.list("HTTP_TRUSTED_PROXIES"),
            None => DEFAULT_TRUSTED_PROXIES
                .split(',')
                .map(str::to_owned)
                .collect(),
        };
        let networks = networks
            .iter()
            .map(|network| parse_network(network))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ConfigError::new(
                    "HTTP_TRUSTED_PROXIES",
                    "expected comma-separated addresses or CIDR networks (10.0.0.0/8)",
                )
            })?;
        Ok(Self::new(hops, networks))
    }

    /// How many proxies are stepped over at most.
    pub fn hops(&self) -> usize {
        self.hops
    }

    fn is_proxy(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks
            .iter()
            .any(|network| network.contains(&address))
    }

    /// Whether the forwarding headers `req` carries come from a trusted proxy (for a proxy
    /// deciding whether to extend them or to start afresh).
    pub fn trusts_forwarded(&self, req: &HttpRequest) -> bool {
        self.hops > 0 && req.peer_addr().is_some_and(|peer| self.is_proxy(peer.ip()))
    }

    /// The client address of `req`; see the module docs.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|a| canonical(a.ip()));
        // Entries as written, right to left: the last was appended by the nearest proxy.
        let mut entries = req
            .headers()
            .get_all(X_FORWARDED_FOR)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
            .into_iter()
            .rev();
        let mut client = peer?;
        for _ in 0..self.hops {
            if !self.is_proxy(client) {
                // A caller that is no proxy of ours: what it wrote names nobody.
                return Some(client);
            }
            match entries
                .next()
                .and_then(|entry| entry.parse::<IpAddr>().ok())
            {
                Some(address) => client = canonical(address),
                // A short chain or a malformed entry: not the proxies we expect.
                None => return peer,
            }
        }
        Some(client)
    }
}

/// `10.0.0.0/8`, or a single address (`10.0.0.7` as `/32`).
fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.7`, as dual-stack sockets report them) as
/// IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

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

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let client = match req.app_data::<TrustedProxies>() {
            Some(trusted) => trusted.client_ip(req),
            None => req.peer_addr().map(|a| canonical(a.ip())),
        };
        std::future::ready(Ok(Self(client)))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, forwarded_for: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(value) = forwarded_for {
            request = request.insert_header(("X-Forwarded-For", value));
        }
        request.to_http_request()
    }

    fn trusting(hops: usize) -> TrustedProxies {
        TrustedProxies::from_env(&Env::default().with("HTTP_TRUSTED_PROXY_HOPS", hops.to_string()))
            .unwrap()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let req = request("10.0.0.9:5000", Some("1.2.3.4"));
        assert_eq!(trusting(0).client_ip(&req), ip("10.0.0.9"));
        assert!(!trusting(0).trusts_forwarded(&req));
    }

    #[test]
    fn behind_one_proxy_the_address_it_appended_is_the_client() {
        // The client forged "6.6.6.6"; the gateway appended the address it saw, 1.2.3.4.
        let req = request("10.0.0.9:5000", Some("6.6.6.6, 1.2.3.4"));
        assert_eq!(trusting(1).client_ip(&req), ip("1.2.3.4"));
        // 1.2.3.4 is no proxy of ours: a second hop does not step past it.
        assert_eq!(trusting(2).client_ip(&req), ip("1.2.3.4"));
        // A second proxy inside the cluster is stepped over.
        let req = request("10.0.0.9:5000", Some("6.6.6.6, 1.2.3.4, 10.0.0.3"));
        assert_eq!(trusting(2).client_ip(&req), ip("1.2.3.4"));
    }

    #[test]
    fn a_caller_outside_the_trusted_networks_is_the_client_whatever_it_forwards() {
        // Someone reaching the service directly from the internet.
        let req = request("203.0.113.7:5000", Some("1.2.3.4"));
        assert_eq!(trusting(1).client_ip(&req), ip("203.0.113.7"));
        assert!(!trusting(1).trusts_forwarded(&req));
        // Only the configured networks are proxies.
        let gateway_only = TrustedProxies::from_env(
            &Env::default()
                .with("HTTP_TRUSTED_PROXY_HOPS", "1")
                .with("HTTP_TRUSTED_PROXIES", "10.1.0.0/16, 10.2.0.5"),
        )
        .unwrap();
        let from_gateway = request("10.2.0.5:5000", Some("1.2.3.4"));
        assert_eq!(gateway_only.client_ip(&from_gateway), ip("1.2.3.4"));
        assert!(gateway_only.trusts_forwarded(&from_gateway));
        let from_another_pod = request("10.3.0.8:5000", Some("1.2.3.4"));
        assert_eq!(gateway_only.client_ip(&from_another_pod), ip("10.3.0.8"));
        // Dual-stack sockets report IPv4 peers as mapped IPv6 addresses.
        let mapped = request("[::ffff:10.2.0.5]:5000", Some("1.2.3.4"));
        assert_eq!(gateway_only.client_ip(&mapped), ip("1.2.3.4"));
    }

    #[test]
    fn a_short_chain_or_a_malformed_entry_falls_back_to_the_peer() {
        assert_eq!(
            trusting(1).client_ip(&request("10.0.0.9:5000", None)),
            ip("10.0.0.9")
        );
        // Fewer entries than hops: the client may have written all of them.
        let req = request("10.0.0.9:5000", Some("10.0.0.4"));
        assert_eq!(trusting(2).client_ip(&req), ip("10.0.0.9"));
        // The proxy's entry is not an address: do not shift onto the client's.
        let req = request("10.0.0.9:5000", Some("6.6.6.6, unknown"));
        assert_eq!(trusting(1).client_ip(&req), ip("10.0.0.9"));
    }

    #[test]
    fn trusted_proxies_must_be_networks() {
        for bad in ["10.0.0.0/33", "gateway", "10.0.0.0/8,,nope"] {
            let env = Env::default().with("HTTP_TRUSTED_PROXIES", bad);
            assert!(TrustedProxies::from_env(&env).is_err(), "{bad}");
        }
        let defaults = TrustedProxies::from_env(&Env::default()).unwrap();
        for proxy in [
            "127.0.0.1",
            "::1",
            "10.9.8.7",
            "172.20.0.1",
            "192.168.1.1",
            "fd00::1",
        ] {
            assert!(defaults.is_proxy(proxy.parse().unwrap()), "{proxy}");
        }
        assert!(!defaults.is_proxy("203.0.113.7".parse().unwrap()));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_prefix() {
        let a = ClientIp(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientIp(ip("2001:db8:1:2:bbbb::9"));
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key(), "2001:db8:1:2::/64");
        let mapped = ClientIp(ip("::ffff:1.2.3.4"));
        assert_eq!(mapped.key(), "1.2.3.4");
    }
}
