//! Pieces every service's OpenAPI document shares.

use utoipa::{
    Modify,
    openapi::{
        ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Type,
        path::Operation,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

/// Declares the two ways to send an access token: `bearer` (`Authorization: Bearer <JWT>`)
/// and `cookie` (the `marquee_access` cookie). Use as `modifiers(&TokenSecurity)`.
#[derive(Debug, Clone, Copy)]
pub struct TokenSecurity;

impl Modify for TokenSecurity {
    fn modify(&self, openapi: &mut OpenApi) {
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

/// What every service's routes may answer besides their own responses, added to each
/// operation of the document that does not already say it (use as
/// `modifiers(&TokenSecurity, &Conventions)`), so the document lists every status a client
/// can meet:
/// - 400: a malformed path, query, header (`Idempotency-Key`) or JSON body;
/// - 401: no valid token, on operations that need one;
/// - 413 and 415: a body too large or not JSON, on operations that take one;
/// - 429: over a rate limit (the gateway's budgets, or the service's own);
/// - 431: request headers over the limits ([`super::header_limits`]);
/// - 503: a dependency the operation needs is unavailable (with `Retry-After`).
///
/// Operations that take an `Idempotency-Key` may also answer 422 `idempotency_key_reused`;
/// the header's shape (1–255 visible ASCII characters) is stated.
#[derive(Debug, Clone, Copy)]
pub struct Conventions;

/// (status, description, whether it applies to `operation`).
type Convention = (&'static str, &'static str, fn(&Operation, bool) -> bool);

const CONVENTIONS: [Convention; 7] = [
    (
        "400",
        "A malformed path, query, header or JSON body (`invalid_path`, `invalid_query`, \
         `invalid_idempotency_key`, `malformed_json`)",
        |_, _| true,
    ),
    (
        "401",
        "No valid access token (`missing_token`, `invalid_token`, `session_ended`)",
        |_, secured| secured,
    ),
    (
        "413",
        "The body is too large (`payload_too_large`)",
        |operation, _| operation.request_body.is_some(),
    ),
    (
        "415",
        "The body is not of a type this operation takes (`unsupported_media_type`)",
        |operation, _| operation.request_body.is_some(),
    ),
    (
        "429",
        "Over a rate limit (`rate_limited`); `Retry-After` says when to try again",
        |_, _| true,
    ),
    (
        "431",
        "Request headers too large (`headers_too_large`)",
        |_, _| true,
    ),
    (
        "503",
        "A dependency is unavailable; `Retry-After` says when to try again",
        |_, _| true,
    ),
];

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let secured_by_default = openapi.security.as_ref().is_some_and(|s| !s.is_empty());
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let secured = operation
                    .security
                    .as_ref()
                    .map_or(secured_by_default, |s| !s.is_empty());
                for (status, description, applies) in CONVENTIONS {
                    if applies(operation, secured) {
                        operation
                            .responses
                            .responses
                            .entry(status.to_owned())
                            .or_insert_with(|| problem_response(description));
                    }
                }
                let keyed = operation.parameters.iter().flatten().any(|parameter| {
                    parameter
                        .name
                        .eq_ignore_ascii_case(super::idempotency::IDEMPOTENCY_KEY.as_str())
                });
                if keyed {
                    operation
                        .responses
                        .responses
                        .entry("422".to_owned())
                        .or_insert_with(|| {
                            problem_response(
                                "The `Idempotency-Key` was used for another request \
                                 (`idempotency_key_reused`)",
                            )
                        });
                }
                for parameter in operation.parameters.iter_mut().flatten() {
                    if parameter
                        .name
                        .eq_ignore_ascii_case(super::idempotency::IDEMPOTENCY_KEY.as_str())
                    {
                        parameter.schema = Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .min_length(Some(1))
                                .max_length(Some(super::idempotency::MAX_KEY_LEN))
                                .pattern(Some("^[!-~]+$"))
                                .into(),
                        );
                    }
                }
            }
        }
    }
}

/// A response whose body is a [`Problem`](super::Problem).
fn problem_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            super::problem::CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}
