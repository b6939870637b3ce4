//! The route table as actix resources, and the handler every proxied request goes through.
//!
//! Each [`RouteConfig`] becomes one scope for its prefix — matched by comparing the path's
//! segments, no regular expression — holding the prefix itself and everything below it
//! (`/v1/users` and `/v1/users/{tail}*`), for every method. The scope carries the route, so
//! the handler knows the upstream without matching again, and the common request metrics are
//! labelled with the route's pattern. Paths outside the table fall through to the common 404
//! problem.
//!
//! (A flat list of `prefix/{tail}*` resources matched every request against one regular
//! expression per route until one fitted, and again for the metrics and the trace: 11 % of
//! the gateway's CPU per request; see docs/benchmarks.md.)

use actix_web::{HttpRequest, HttpResponse, web};
use marquee_common::http::Problem;

use crate::{Gateway, config::RouteConfig, proxy, websocket};

/// Mounts every route of `table`, longest prefix first (actix takes the first resource that
/// matches, so `/v1/auth/login` must come before `/v1/auth/{tail}*`).
pub fn configure(mut table: Vec<RouteConfig>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    table.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
    move |cfg| {
        for route in &table {
            let route_data = web::Data::new(route.clone());
            let below = web::resource("/{tail}*").route(web::route().to(forward));
            if route.prefix == "/" {
                cfg.service(below.app_data(route_data));
            } else {
                cfg.service(
                    web::scope(&route.prefix)
                        .app_data(route_data)
                        .service(web::resource("").route(web::route().to(forward)))
                        .service(below),
                );
            }
        }
    }
}

/// Rate-limits, then relays the request (or WebSocket upgrade) to the route's service.
async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    route: web::Data<RouteConfig>,
    gateway: web::Data<Gateway>,
    client: web::Data<awc::Client>,
) -> Result<HttpResponse, Problem> {
    let Some(pool) = gateway.pools.get(&route.service) else {
        // Config validation makes a pool for every routed service.
        return Err(Problem::internal(&format!(
            "no pool for service {}",
            route.service
        )));
    };
    let admission = gateway.limits.admit(&req, &route.class).await?;
    if !admission.delay.is_zero() {
        tokio::time::sleep(admission.delay).await;
    }
    let mut response = if websocket::is_upgrade(&req) {
        websocket::forward(&req, payload, pool, &gateway, &client).await?
    } else {
        proxy::forward(&req, payload, &route, pool, &gateway, &client).await?
    };
    for (name, value) in admission.headers {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}
