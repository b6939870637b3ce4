//! The movie catalogue: popular films, details, search and genres, from TMDb or from the
//! bundled offline catalogue, always answered in the API's own shape ([`model`]).
//!
//! | module | holds |
//! |---|---|
//! | [`tmdb`] | the TMDb client: auth, timeouts, retries, breaker, concurrency bound |
//! | `breaker` | the circuit breaker |
//! | [`cache`] | the Redis response cache: TTLs, single-flight, stale-if-error |
//! | `offline` | the bundled public-domain catalogue |
//! | [`model`] | provider data and the API shape |
//! | `upstream` | how a provider call fails |
//!
//! TMDb answers go through the cache; the offline catalogue is in memory and needs none.
//! Which provider runs is decided by configuration ([`CatalogueConfig`]) and logged at start.

mod breaker;
pub mod cache;
pub mod model;
mod offline;
pub mod tmdb;
mod upstream;

use std::{sync::Arc, time::Duration};

use marquee_common::{ConfigError, Env, http::metrics::Metrics, redis::RedisConnection};

pub use cache::{Origin, ResponseCacheConfig, Served};
pub use model::{Genre, GenreList, Movie, MoviePage};
pub use offline::OfflineCatalogueError;
pub use upstream::UpstreamError;

use self::{
    cache::ResponseCache,
    model::{Details, Listing, Presenter},
    offline::OfflineCatalogue,
    tmdb::{TmdbClient, TmdbConfig},
};
use crate::domain::{Language, MovieId, PageNumber, SearchQuery};

/// How long TMDb's "no such movie" is remembered (at most; `TMDB_CACHE_DETAILS_TTL` if
/// shorter).
const NOT_FOUND_TTL: Duration = Duration::from_secs(300);

/// Catalogue settings.
#[derive(Debug, Clone)]
pub struct CatalogueConfig {
    /// TMDb, when credentials are configured; else the offline catalogue.
    pub tmdb: Option<TmdbConfig>,
    /// `TMDB_LANGUAGE` (default `en-US`): the language when a request names none.
    pub default_language: Language,
    pub cache: ResponseCacheConfig,
}

impl CatalogueConfig {
    /// `tmdb` (or the offline catalogue) cached as `cache` says, in `en-US` by default.
    pub fn new(tmdb: Option<TmdbConfig>, cache: ResponseCacheConfig) -> Self {
        Self {
            tmdb,
            default_language: Language::en_us(),
            cache,
        }
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let language = env.raw("TMDB_LANGUAGE").unwrap_or("en-US");
        Ok(Self {
            tmdb: TmdbConfig::from_env(env)?,
            default_language: Language::parse("TMDB_LANGUAGE", language)
                .map_err(|e| ConfigError::new("TMDB_LANGUAGE", e.message))?,
            cache: ResponseCacheConfig::from_env(env)?,
        })
    }
}

/// Why the catalogue could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("no such movie")]
    NotFound,
    /// The provider failed and nothing usable was cached.
    #[error("catalogue unavailable: {0}")]
    Unavailable(#[from] UpstreamError),
}

/// Why the catalogue could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueStartError {
    #[error(transparent)]
    Offline(#[from] OfflineCatalogueError),
    #[error("the TMDb HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

enum Provider {
    Tmdb {
        client: Arc<TmdbClient>,
        cache: ResponseCache,
        ttls: ResponseCacheConfig,
    },
    Offline(OfflineCatalogue),
}

/// The catalogue. Share it (`web::Data`).
pub struct Catalogue {
    provider: Provider,
    presenter: Presenter,
    default_language: Language,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("provider", &self.provider_name())
            .finish_non_exhaustive()
    }
}

impl Catalogue {
    /// TMDb (cached in `cache_redis`) when `config.tmdb` is set, else the offline catalogue.
    pub fn new(
        config: &CatalogueConfig,
        cache_redis: RedisConnection,
        metrics: &Metrics,
    ) -> Result<Self, CatalogueStartError> {
        let (provider, presenter) = match &config.tmdb {
            Some(tmdb) => {
                let client = TmdbClient::new(tmdb.clone(), metrics)?;
                let presenter = Presenter {
                    image_base_url: Some(client.image_base_url().to_owned()),
                };
                let provider = Provider::Tmdb {
                    client: Arc::new(client),
                    cache: ResponseCache::new(cache_redis, &config.cache, metrics),
                    ttls: config.cache.clone(),
                };
                (provider, presenter)
            }
            None => (
                Provider::Offline(OfflineCatalogue::bundled()?),
                Presenter {
                    image_base_url: None,
                },
            ),
        };
        Ok(Self {
            provider,
            presenter,
            default_language: config.default_language.clone(),
        })
    }

    /// `tmdb` or `offline`, for the startup log.
    pub fn provider_name(&self) -> &'static str {
        match self.provider {
            Provider::Tmdb { .. } => "tmdb",
            Provider::Offline(_) => "offline",
        }
    }

    /// A one-line description of the active provider for the startup log.
    pub fn describe(&self) -> String {
        match &self.provider {
            Provider::Tmdb { client, .. } => {
                format!("TMDb (images from {})", client.image_base_url())
            }
            Provider::Offline(catalogue) => format!(
                "the bundled offline catalogue ({} public-domain films; set TMDB_API_TOKEN or TMDB_API_KEY for TMDb)",
                catalogue.len()
            ),
        }
    }

    pub async fn popular(
        &self,
        language: Option<Language>,
        page: PageNumber,
    ) -> Result<Served<MoviePage>, CatalogueError> {
        let language = language.unwrap_or_else(|| self.default_language.clone());
        let listing = match &self.provider {
            Provider::Offline(catalogue) => local(catalogue.popular(page)),
            Provider::Tmdb {
                client,
                cache,
                ttls,
            } => {
                let key = format!("popular:{language}:{}", page.get());
                let (client, language) = (Arc::clone(client), language.clone());
                cache
                    .get_or_fetch(&key, ttl_of(ttls.popular_ttl), move || async move {
                        client.popular(&language, page).await
                    })
                    .await?
            }
        };
        self.present(listing, &language).await
    }

    pub async fn search(
        &self,
        query: &SearchQuery,
        language: Option<Language>,
        page: PageNumber,
    ) -> Result<Served<MoviePage>, CatalogueError> {
        let language = language.unwrap_or_else(|| self.default_language.clone());
        let listing = match &self.provider {
            Provider::Offline(catalogue) => local(catalogue.search(query, page)),
            Provider::Tmdb {
                client,
                cache,
                ttls,
            } => {
                // Searches differ by case only in the cache key: TMDb ignores case.
                let key = format!(
                    "search:{language}:{}:{}",
                    page.get(),
                    query.as_str().to_lowercase()
                );
                let (client, query, language) =
                    (Arc::clone(client), query.clone(), language.clone());
                cache
                    .get_or_fetch(&key, ttl_of(ttls.search_ttl), move || async move {
                        client.search(&query, &language, page).await
                    })
                    .await?
            }
        };
        self.present(listing, &language).await
    }

    pub async fn movie(
        &self,
        id: MovieId,
        language: Option<Language>,
    ) -> Result<Served<Movie>, CatalogueError> {
        let language = language.unwrap_or_else(|| self.default_language.clone());
        let details: Served<Option<Details>> = match &self.provider {
            Provider::Offline(catalogue) => local(catalogue.details(id)),
            Provider::Tmdb {
                client,
                cache,
                ttls,
            } => {
                let key = format!("movie:{language}:{id}");
                let client = Arc::clone(client);
                let found = ttls.details_ttl;
                let ttl = move |details: &Option<Details>| match details {
                    Some(_) => found,
                    None => found.min(NOT_FOUND_TTL),
                };
                cache
                    .get_or_fetch(&key, ttl, move || async move {
                        client.details(id, &language).await
                    })
                    .await?
            }
        };
        match details.value {
            Some(movie) => Ok(Served {
                value: self.presenter.movie(movie),
                origin: details.origin,
            }),
            None => Err(CatalogueError::NotFound),
        }
    }

    pub async fn genres(
        &self,
        language: Option<Language>,
    ) -> Result<Served<GenreList>, CatalogueError> {
        let language = language.unwrap_or_else(|| self.default_language.clone());
        let genres = self.genre_list(&language).await?;
        Ok(genres.map(|genres| GenreList { genres }))
    }

    async fn genre_list(&self, language: &Language) -> Result<Served<Vec<Genre>>, UpstreamError> {
        match &self.provider {
            Provider::Offline(catalogue) => Ok(local(catalogue.genres())),
            Provider::Tmdb {
                client,
                cache,
                ttls,
            } => {
                let key = format!("genres:{language}");
                let (client, language) = (Arc::clone(client), language.clone());
                cache
                    .get_or_fetch(&key, ttl_of(ttls.genres_ttl), move || async move {
                        client.genres(&language).await
                    })
                    .await
            }
        }
    }

    /// Names the genres of a listing. Without the genre list (TMDb down and nothing cached),
    /// the movies are still shown, without genres. The list is looked up only once there is a
    /// listing: concurrently, a failing listing would still cost a genre call, whose success
    /// would also hide the listing's failure from the circuit breaker's count.
    async fn present(
        &self,
        listing: Served<Listing>,
        language: &Language,
    ) -> Result<Served<MoviePage>, CatalogueError> {
        let genres = match self.genre_list(language).await {
            Ok(genres) => genres.value,
            Err(error) => {
                tracing::warn!(%error, "genre names unavailable; listing movies without them");
                Vec::new()
            }
        };
        Ok(listing.map(|listing| self.presenter.page(listing, &genres)))
    }
}

fn local<T>(value: T) -> Served<T> {
    Served {
        value,
        origin: Origin::Local,
    }
}

/// A TTL that does not depend on the value.
fn ttl_of<T>(ttl: Duration) -> impl FnOnce(&T) -> Duration + Send + 'static {
    move |_| ttl
}
