//! S3-compatible attachment storage (AWS S3, Cloudflare R2, MinIO) through `object_store`.
//!
//! `object_store`'s ready-made `aws` feature bundles its own transport and crypto: reqwest 0.13
//! with rustls plus `aws-lc-rs` (or `ring`). The workspace already ships reqwest 0.12 with
//! native-tls and must not grow a second TLS stack or a C/assembly crypto library just for
//! attachments, so chat-service enables only `aws-base` and plugs in the two pieces that feature
//! leaves open:
//!
//! * [`ReqwestConnector`] — an [`HttpConnector`] that sends `object_store`'s requests with the
//!   workspace's reqwest 0.12 client (native-tls, system trust store), streaming request and
//!   response bodies instead of buffering them.
//! * [`RustCrypto`] — a [`CryptoProvider`] built on `sha2` and `hmac`, which is everything S3
//!   Signature V4 needs (SHA-256 payload digests and HMAC-SHA256 key derivation and signing).
//!
//! [`s3_store`] wires both into an [`AmazonS3Builder`] configured from the usual `AWS_*`
//! environment variables. Key prefixes are the caller's business
//! (`object_store::prefix::PrefixStore`).

use std::error::Error as StdError;
use std::fmt;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use object_store::aws::AmazonS3Builder;
use object_store::client::{
    CryptoProvider, DigestAlgorithm, DigestContext, HmacContext, HttpClient, HttpConnector,
    HttpError, HttpErrorKind, HttpRequest, HttpRequestBody, HttpResponse, HttpResponseBody,
    HttpService, Signer as CryptoSigner, SigningAlgorithm,
};
use object_store::{ClientConfigKey, ClientOptions, Error as StoreError, ObjectStore};
use sha2::{Digest, Sha256};

/// `store` name used in the [`StoreError::Generic`] errors raised by this module.
const STORE: &str = "S3 attachments";

/// `User-Agent` sent when [`ClientOptions`] does not configure one.
const DEFAULT_USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Builds the S3 store for `s3://bucket[/prefix]`-style attachment configuration.
///
/// Everything except the bucket comes from the environment through
/// [`AmazonS3Builder::from_env`]: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_REGION` / `AWS_DEFAULT_REGION` (`auto` for R2), `AWS_ENDPOINT`
/// (R2 / MinIO), `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, and the client options
/// under their `AWS_` names (`AWS_TIMEOUT`, `AWS_CONNECT_TIMEOUT`, `AWS_PROXY_URL`, …). Without
/// static keys `object_store` falls back to web-identity, container or instance credentials.
///
/// Building performs no network I/O; credentials and connectivity are first exercised by the
/// first request.
pub(crate) fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let store = with_marquee_transport(AmazonS3Builder::from_env(), bucket).build()?;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    Ok(store)
}

/// Points `builder` at `bucket` and swaps in our transport and crypto; split out of
/// [`s3_store`] so tests can start from a builder that does not read the environment.
fn with_marquee_transport(builder: AmazonS3Builder, bucket: &str) -> AmazonS3Builder {
    builder
        .with_bucket_name(bucket)
        .with_http_connector(ReqwestConnector)
        .with_crypto_provider(Arc::new(RustCrypto))
}

// ---------------------------------------------------------------------------------------------
// HTTP transport
// ---------------------------------------------------------------------------------------------

/// Connector: `object_store`'s HTTP requests sent with a reqwest 0.12 [`reqwest::Client`].
///
/// `object_store` calls [`HttpConnector::connect`] once per client it needs (the S3 client
/// itself, and credential providers such as instance metadata, which get shorter timeouts and
/// plain HTTP), each time with the [`ClientOptions`] that client should obey.
///
/// Honoured options (read through the public [`ClientOptions::get_config_value`] /
/// [`ClientOptions::get_default_headers`] getters): `timeout`, `connect_timeout`,
/// `read_timeout`, `pool_idle_timeout`, `pool_max_idle_per_host`, `user_agent`, default headers,
/// `allow_http`, `allow_invalid_certificates`, `disable_system_certificates`, `http1_only`,
/// `proxy_url`, `proxy_excludes` and `proxy_ca_certificate`. `http2_only` is rejected because the
/// workspace's reqwest is built without HTTP/2.
///
/// Ignored: a custom DNS resolver and `randomize_addresses` (reqwest's system resolver is used)
/// and the HTTP/2 keep-alive and frame-size settings. Custom root certificates cannot be set on
/// `ClientOptions` at all without `object_store`'s `reqwest` feature; trust a private CA (e.g. a
/// self-signed MinIO) through the system trust store or OpenSSL's `SSL_CERT_FILE` instead.
#[derive(Debug, Default)]
pub(crate) struct ReqwestConnector;

impl HttpConnector for ReqwestConnector {
    fn connect(&self, options: &ClientOptions) -> Result<HttpClient, StoreError> {
        let client = reqwest_client(options)?;
        Ok(HttpClient::new(ReqwestService { client }))
    }
}

/// Builds the reqwest client described by `options`; see [`ReqwestConnector`] for what is
/// honoured.
fn reqwest_client(options: &ClientOptions) -> Result<reqwest::Client, StoreError> {
    // object_store reads object sizes from Content-Length, which transparent decompression
    // would falsify; these are no-ops unless feature unification enables a decoder.
    let mut builder = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_zstd()
        .no_deflate();

    let user_agent = options
        .get_config_value(&ClientConfigKey::UserAgent)
        .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned());
    builder = builder.user_agent(user_agent);
    if let Some(headers) = options.get_default_headers() {
        builder = builder.default_headers(headers.clone());
    }

    if let Some(timeout) = duration_option(options, ClientConfigKey::Timeout)? {
        builder = builder.timeout(timeout);
    }
    if let Some(timeout) = duration_option(options, ClientConfigKey::ConnectTimeout)? {
        builder = builder.connect_timeout(timeout);
    }
    if let Some(timeout) = duration_option(options, ClientConfigKey::ReadTimeout)? {
        builder = builder.read_timeout(timeout);
    }
    if let Some(timeout) = duration_option(options, ClientConfigKey::PoolIdleTimeout)? {
        builder = builder.pool_idle_timeout(timeout);
    }
    if let Some(max) = usize_option(options, ClientConfigKey::PoolMaxIdlePerHost)? {
        builder = builder.pool_max_idle_per_host(max);
    }

    if flag_option(options, ClientConfigKey::Http2Only)? {
        return Err(StoreError::NotSupported {
            source: "the http2_only client option needs HTTP/2, but the workspace's reqwest is \
                     built without it"
                .into(),
        });
    }
    if flag_option(options, ClientConfigKey::Http1Only)? {
        builder = builder.http1_only();
    }

    if let Some(proxy_url) = options.get_config_value(&ClientConfigKey::ProxyUrl) {
        let mut proxy = reqwest::Proxy::all(proxy_url).map_err(connector_error)?;
        if let Some(excludes) = options.get_config_value(&ClientConfigKey::ProxyExcludes) {
            proxy = proxy.no_proxy(reqwest::NoProxy::from_string(&excludes));
        }
        if let Some(pem) = options.get_config_value(&ClientConfigKey::ProxyCaCertificate) {
            let certificate =
                reqwest::Certificate::from_pem(pem.as_bytes()).map_err(connector_error)?;
            builder = builder.add_root_certificate(certificate);
        }
        builder = builder.proxy(proxy);
    }

    if flag_option(options, ClientConfigKey::AllowInvalidCertificates)? {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if flag_option(options, ClientConfigKey::NoSystemCertificates)? {
        builder = builder.tls_built_in_root_certs(false);
    }

    builder
        .https_only(!flag_option(options, ClientConfigKey::AllowHttp)?)
        .build()
        .map_err(connector_error)
}

/// Reads a boolean option, accepting the same spellings as `object_store` (`true`/`false`,
/// `1`/`0`, `yes`/`no`, `y`/`n`, `on`/`off`, any case). Unset means `false`.
fn flag_option(options: &ClientOptions, key: ClientConfigKey) -> Result<bool, StoreError> {
    let Some(value) = options.get_config_value(&key) else {
        return Ok(false);
    };
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" | "y" => Ok(true),
        "0" | "false" | "off" | "no" | "n" => Ok(false),
        _ => Err(invalid_option(key, &value, "a boolean")),
    }
}

/// Reads a duration option. `object_store` renders parsed durations with `humantime`
/// (`"30s"`, `"1m 30s"`) and hands back user-supplied strings verbatim, so both go through
/// `humantime::parse_duration`, exactly as `object_store` itself would parse them.
fn duration_option(
    options: &ClientOptions,
    key: ClientConfigKey,
) -> Result<Option<Duration>, StoreError> {
    options
        .get_config_value(&key)
        .map(|value| {
            humantime::parse_duration(&value)
                .map_err(|_| invalid_option(key, &value, "a duration such as \"30s\""))
        })
        .transpose()
}

/// Reads an unsigned integer option.
fn usize_option(
    options: &ClientOptions,
    key: ClientConfigKey,
) -> Result<Option<usize>, StoreError> {
    options
        .get_config_value(&key)
        .map(|value| {
            value
                .parse::<usize>()
                .map_err(|_| invalid_option(key, &value, "an unsigned integer"))
        })
        .transpose()
}

fn invalid_option(key: ClientConfigKey, value: &str, expected: &str) -> StoreError {
    let name: &str = key.as_ref();
    connector_error(format!(
        "client option {name} = {value:?} is not {expected}"
    ))
}

fn connector_error(source: impl Into<Box<dyn StdError + Send + Sync>>) -> StoreError {
    StoreError::Generic {
        store: STORE,
        source: source.into(),
    }
}

/// The [`HttpService`] handed to `object_store`: one reqwest client (and connection pool) per
/// [`HttpConnector::connect`] call.
#[derive(Debug, Clone)]
struct ReqwestService {
    client: reqwest::Client,
}

#[async_trait]
impl HttpService for ReqwestService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string())
            .map_err(|error| HttpError::new(HttpErrorKind::Unknown, error))?;
        let mut outgoing = reqwest::Request::new(parts.method, url);
        *outgoing.headers_mut() = parts.headers;
        *outgoing.body_mut() = Some(into_reqwest_body(body));

        let response = self
            .client
            .execute(outgoing)
            .await
            .map_err(map_reqwest_error)?;

        // `http::Response<reqwest::Body>` keeps the body as a stream (with reqwest's total and
        // read timeouts still attached) and needs no `stream` feature.
        let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
        let body = HttpResponseBody::new(body.map_err(map_reqwest_error));
        Ok(HttpResponse::from_parts(parts, body))
    }
}

/// Converts a request body without copying: contiguous bodies stay reusable bytes, multi-chunk
/// [`object_store::PutPayload`]s are streamed chunk by chunk. (S3 PUTs carry an explicit
/// `Content-Length`, and the streamed body also reports its exact size.)
fn into_reqwest_body(body: HttpRequestBody) -> reqwest::Body {
    if let Some(bytes) = body.as_bytes().cloned() {
        return reqwest::Body::from(bytes);
    }
    reqwest::Body::wrap(body)
}

/// Wraps a reqwest error in `object_store`'s [`HttpError`], with the URL stripped (it may be
/// presigned; `object_store` adds the URL itself when it is safe to show).
fn map_reqwest_error(error: reqwest::Error) -> HttpError {
    let kind = classify(&error);
    HttpError::new(kind, error.without_url())
}

/// Picks the [`HttpErrorKind`], which drives `object_store`'s retries: `Connect` and `Request`
/// are always retried, `Timeout` and `Interrupted` only for idempotent requests, `Decode` and
/// `Unknown` never.
///
/// `object_store`'s own reqwest glue downcasts to `hyper::Error` to spot requests that provably
/// never reached the server (`Request`). Without a direct hyper dependency we cannot tell, so
/// any other send or body failure is reported as `Interrupted`: retried only for requests
/// `object_store` considers idempotent (safe methods such as GET/HEAD, plus operations it flags
/// as idempotent), never for the rest.
fn classify(error: &reqwest::Error) -> HttpErrorKind {
    if error.is_timeout() {
        return HttpErrorKind::Timeout;
    }
    if error.is_connect() {
        return HttpErrorKind::Connect;
    }
    if error.is_decode() {
        return HttpErrorKind::Decode;
    }

    let mut source = StdError::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::TimedOut => return HttpErrorKind::Timeout,
                ErrorKind::ConnectionAborted
                | ErrorKind::ConnectionReset
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof => return HttpErrorKind::Interrupted,
                _ => {}
            }
        }
        source = cause.source();
    }

    if error.is_request() || error.is_body() {
        HttpErrorKind::Interrupted
    } else {
        // Builder (e.g. an `http://` URL without `allow_http`), redirect and other errors that
        // retrying cannot fix.
        HttpErrorKind::Unknown
    }
}

// ---------------------------------------------------------------------------------------------
// Crypto
// ---------------------------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

/// RustCrypto (`sha2` + `hmac`) implementation of [`CryptoProvider`]: SHA-256 digests and
/// HMAC-SHA256, which is all S3 Signature V4 needs.
///
/// [`CryptoProvider::sign`] (RSASSA-PKCS1-v1_5, used only for Google Cloud service-account
/// keys) is not implemented and returns [`StoreError::NotImplemented`].
#[derive(Debug, Default)]
pub(crate) struct RustCrypto;

impl CryptoProvider for RustCrypto {
    fn digest(&self, algorithm: DigestAlgorithm) -> Result<Box<dyn DigestContext>, StoreError> {
        match algorithm {
            DigestAlgorithm::Sha256 => Ok(Box::new(Sha256Context::default())),
            other => Err(not_implemented(format!(
                "CryptoProvider::digest({other:?})"
            ))),
        }
    }

    fn hmac(
        &self,
        algorithm: DigestAlgorithm,
        secret: &[u8],
    ) -> Result<Box<dyn HmacContext>, StoreError> {
        match algorithm {
            DigestAlgorithm::Sha256 => {
                // HMAC accepts keys of any length, so this cannot fail in practice.
                let mac = <HmacSha256 as Mac>::new_from_slice(secret)
                    .map_err(|error| connector_error(format!("HMAC-SHA256 key: {error}")))?;
                Ok(Box::new(HmacSha256Context {
                    mac,
                    output: Default::default(),
                }))
            }
            other => Err(not_implemented(format!("CryptoProvider::hmac({other:?})"))),
        }
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        _pem: &[u8],
    ) -> Result<Box<dyn CryptoSigner>, StoreError> {
        Err(not_implemented(format!(
            "CryptoProvider::sign({algorithm:?}) (RSA signing is only needed for Google Cloud \
             service accounts, not S3)"
        )))
    }
}

fn not_implemented(operation: String) -> StoreError {
    StoreError::NotImplemented {
        operation,
        implementer: "chat-service RustCrypto provider".to_owned(),
    }
}

/// Incremental SHA-256; `finish` keeps the digest so it can hand out a borrow of it.
#[derive(Default)]
struct Sha256Context {
    hasher: Sha256,
    output: sha2::digest::Output<Sha256>,
}

impl fmt::Debug for Sha256Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha256Context").finish_non_exhaustive()
    }
}

impl DigestContext for Sha256Context {
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.hasher, data);
    }

    fn finish(&mut self) -> Result<&[u8], StoreError> {
        self.output = Digest::finalize_reset(&mut self.hasher);
        Ok(&self.output[..])
    }
}

/// Incremental HMAC-SHA256; `finish` keeps the tag so it can hand out a borrow of it.
struct HmacSha256Context {
    mac: HmacSha256,
    output: hmac::digest::Output<HmacSha256>,
}

impl fmt::Debug for HmacSha256Context {
    // Deliberately opaque: the state is derived from the secret key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSha256Context").finish_non_exhaustive()
    }
}

impl HmacContext for HmacSha256Context {
    fn update(&mut self, data: &[u8]) {
        Mac::update(&mut self.mac, data);
    }

    fn finish(&mut self) -> Result<&[u8], StoreError> {
        self.output = Mac::finalize_reset(&mut self.mac).into_bytes();
        Ok(&self.output[..])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bytes::Bytes;
    use futures::executor::block_on;
    use marquee_common::encoding::hex;
    use object_store::PutPayload;
    use object_store::path::Path;
    use object_store::signer::{Method, Signer as _};

    fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut ctx = RustCrypto.hmac(DigestAlgorithm::Sha256, key).unwrap();
        ctx.update(data);
        ctx.finish().unwrap().to_vec()
    }

    #[test]
    fn sha256_of_abc_matches_the_known_digest() {
        let mut ctx = RustCrypto.digest(DigestAlgorithm::Sha256).unwrap();
        ctx.update(b"a");
        ctx.update(b"bc");
        assert_eq!(
            hex(ctx.finish().unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256_of_nothing_matches_the_empty_payload_hash() {
        let mut ctx = RustCrypto.digest(DigestAlgorithm::Sha256).unwrap();
        assert_eq!(
            hex(ctx.finish().unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sigv4_signing_key_derivation_matches_the_aws_example() {
        // AWS's documented example: secret wJalr…EXAMPLEKEY, 20120215, us-east-1, iam.
        let mut key = b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_vec();
        for part in ["20120215", "us-east-1", "iam", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn rsa_signing_is_not_implemented() {
        let result = RustCrypto.sign(SigningAlgorithm::RS256, b"not a key");
        assert!(matches!(result, Err(StoreError::NotImplemented { .. })));
    }

    #[test]
    fn connector_accepts_default_client_options() {
        ReqwestConnector.connect(&ClientOptions::new()).unwrap();
    }

    #[test]
    fn connector_rejects_unparseable_durations() {
        let options = ClientOptions::new().with_config(ClientConfigKey::Timeout, "soon");
        let error = ReqwestConnector.connect(&options).unwrap_err();
        assert!(matches!(error, StoreError::Generic { .. }), "{error}");
    }

    #[test]
    fn connector_rejects_http2_only() {
        let options = ClientOptions::new().with_config(ClientConfigKey::Http2Only, "true");
        let error = ReqwestConnector.connect(&options).unwrap_err();
        assert!(matches!(error, StoreError::NotSupported { .. }), "{error}");
    }

    #[test]
    fn contiguous_bodies_stay_reusable_and_payloads_stream_intact() {
        let body = into_reqwest_body(HttpRequestBody::from(Bytes::from_static(b"hello")));
        assert_eq!(body.as_bytes(), Some(&b"hello"[..]));

        let payload: PutPayload = [Bytes::from_static(b"hel"), Bytes::from_static(b"lo")]
            .into_iter()
            .collect();
        let body = into_reqwest_body(HttpRequestBody::from(payload));
        assert!(body.as_bytes().is_none());
        let collected = block_on(BodyExt::collect(body)).unwrap().to_bytes();
        assert_eq!(collected, Bytes::from_static(b"hello"));
    }

    #[test]
    fn builder_errors_are_not_retried() {
        let error = reqwest::Client::new().get("not a url").build().unwrap_err();
        assert_eq!(map_reqwest_error(error).kind(), HttpErrorKind::Unknown);
    }

    #[test]
    fn presigned_urls_are_signed_with_rust_crypto() {
        // No network: building the store and presigning only run the connector's client setup
        // and SigV4 over our crypto provider.
        let builder = AmazonS3Builder::new()
            .with_region("auto")
            .with_endpoint("http://127.0.0.1:9000")
            .with_allow_http(true)
            .with_access_key_id("AKIDEXAMPLE")
            .with_secret_access_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let store = with_marquee_transport(builder, "attachments")
            .build()
            .unwrap();

        let path = Path::from("rooms/1/cat.png");
        let url = block_on(store.signed_url(Method::GET, &path, Duration::from_secs(300))).unwrap();
        let signature = url
            .query_pairs()
            .find(|(name, _)| name == "X-Amz-Signature")
            .map(|(_, value)| value.into_owned())
            .unwrap();
        assert_eq!(signature.len(), 64);
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
