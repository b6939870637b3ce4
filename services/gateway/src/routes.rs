//! The route table as actix resources, and the handler every proxied request goes through.
//!
//! Each [`Route`] becomes one resource matching its prefix and everything below it
//! (`/v1/users` and `/v1/users/{tail}*`), for every method; the resource carries the route,
//! so the handler knows the upstream without matching again, and the common request metrics
//! are labelled with the route's pattern. Paths outside the table fall through to the common
//! 404 problem.

use actix_web::{HttpRequest, HttpResponse, web};
use marquee_common::http::Problem;

use crate::{Gateway, config::RouteConfig, proxy, websocket};

/// One entry of the route table.
pub type Route = RouteConfig;

/// Mounts every route of `table`, longest prefix first (actix takes the first resource that
/// matches, so `/v1/auth/login` must come before `/v1/auth/{tail}*`).
pub fn configure(mut table: Vec<Route>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    table.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
    move |cfg| {
        for route in &table {
            let patterns = if route.prefix == "/" {
                vec!["/{tail}*".to_owned()]
            } else {
                vec![route.prefix.clone(), format!("{}/{{tail}}*", route.prefix)]
            };
            cfg.service(
                web::resource(patterns)
                    .app_data(web::Data::new(route.clone()))
                    .route(web::route().to(forward)),
            );
        }
    }
}

/// Rate-limits, then relays the request (or WebSocket upgrade) to the route's service.
async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    route: web::Data<Route>,
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
