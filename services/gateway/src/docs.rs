//! `GET /docs`: where each service's OpenAPI document is, as a small HTML page (or JSON
//! with `Accept: application/json`). The documents themselves are the services' own
//! `/v1/<service>/openapi.json`, reached through the gateway like any other route.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Serialize;

use crate::Gateway;

#[derive(Debug, Serialize)]
struct ServiceDoc {
    service: String,
    openapi: String,
}

#[derive(Debug, Serialize)]
struct DocsIndex {
    services: Vec<ServiceDoc>,
}

/// The OpenAPI document of every `/v<n>/<service>` route.
fn index(gateway: &Gateway) -> DocsIndex {
    let services = gateway
        .routes
        .iter()
        .filter(|route| {
            let mut parts = route.prefix.trim_start_matches('/').split('/');
            let version = parts.next().unwrap_or_default();
            version.starts_with('v') && parts.next().is_some() && parts.next().is_none()
        })
        .map(|route| ServiceDoc {
            service: route.service.clone(),
            openapi: format!("{}/openapi.json", route.prefix),
        })
        .collect();
    DocsIndex { services }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn docs(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    let index = index(&gateway);
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return HttpResponse::Ok().json(index);
    }
    let items: String = index
        .services
        .iter()
        .map(|doc| {
            format!(
                "<li><a href=\"{0}\">{1}</a> <code>{0}</code></li>\n",
                escape(&doc.openapi),
                escape(&doc.service)
            )
        })
        .collect();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Marquee API</title></head>\n\
             <body><h1>Marquee API</h1>\n<p>OpenAPI 3.1 documents of each service behind this gateway:</p>\n<ul>\n{items}</ul>\n\
             <p>Load one into any OpenAPI viewer.</p></body></html>\n"
        ))
}
