use actix_web::{HttpResponse, http::header, web};

use crate::accounts::Accounts;

/// `GET /.well-known/jwks.json`: the public keys tokens are verified with. Cacheable for a
/// few minutes: verifiers refetch on an unknown `kid` anyway.
pub async fn jwks(accounts: web::Data<Accounts>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(accounts.keys.jwks())
}
