//! Pieces every service's OpenAPI document shares.

use utoipa::{
    Modify,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// Declares the two ways to send an access token: `bearer` (`Authorization: Bearer <JWT>`)
/// and `cookie` (the `marquee_access` cookie). Use as `modifiers(&TokenSecurity)`.
#[derive(Debug, Clone, Copy)]
pub struct TokenSecurity;

impl Modify for TokenSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::ACCESS_COOKIE))),
        );
    }
}
