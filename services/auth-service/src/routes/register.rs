use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::{
    accounts::Accounts,
    domain::{DisplayName, Email, Password},
    error::ApiError,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    password: SecretString,
    display_name: String,
}

/// `POST /v1/auth/register` → 201 `{user_id}`.
pub async fn register(
    accounts: web::Data<Accounts>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (email, password, display_name) = (
        Email::parse("email", &body.email),
        Password::parse("password", body.password),
        DisplayName::parse("display_name", &body.display_name),
    );
    let (email, password, display_name) = match (email, password, display_name) {
        (Ok(e), Ok(p), Ok(d)) => (e, p, d),
        (e, p, d) => {
            let errors = [e.err(), p.err(), d.err()].into_iter().flatten().collect();
            return Err(ApiError::Invalid(errors));
        }
    };
    let user_id = accounts.register(email, password, display_name).await?;
    Ok(HttpResponse::Created().json(json!({ "user_id": user_id })))
}
