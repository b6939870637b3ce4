//! HTTP endpoints under `/v1/users`.

mod profiles;

use actix_web::web;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/users")
            .route("/me", web::get().to(profiles::me))
            .route("/{id}", web::get().to(profiles::by_id)),
    );
}
