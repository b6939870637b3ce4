//! HTTP endpoints under `/v1/auth`, plus the JWKS. Handlers parse input into domain types,
//! call one `Accounts` operation and shape the answer.

mod jwks;
mod login;
mod register;

use actix_web::web;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(jwks::jwks))
        .service(
            web::scope("/v1/auth")
                .route("/.well-known/jwks.json", web::get().to(jwks::jwks))
                .route("/register", web::post().to(register::register))
                .route("/login", web::post().to(login::login)),
        );
}
