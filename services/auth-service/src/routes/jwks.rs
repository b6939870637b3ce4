use actix_web::{HttpResponse, http::header, web};

use crate::accounts::Accounts;

/// The public keys access tokens are verified with (RFC 7517, Ed25519 `OKP` keys).
///
/// Also served at `/.well-known/jwks.json`. Cacheable for a few minutes: verifiers refetch
/// on an unknown `kid` anyway.
#[utoipa::path(
    get,
    path = "/v1/auth/.well-known/jwks.json",
    tag = "auth",
    responses((status = 200, description = "`{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"kid\": …, \"x\": …}]}`", body = Object))
)]
pub async fn jwks(accounts: web::Data<Accounts>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(accounts.keys.jwks())
}
