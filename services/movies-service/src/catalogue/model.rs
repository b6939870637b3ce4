//! The catalogue's data, in two forms: what a provider returns (and the cache stores), and the
//! stable JSON shape the API answers with ([`Movie`], [`MoviePage`], [`Genre`]).
//!
//! Providers return poster *paths* and, in lists, genre *ids*; the API shape carries absolute
//! poster URLs and named genres. The translation happens when a response is built, so the image
//! base URL can change and genre names can be fixed without flushing the cache.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A genre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Genre {
    /// TMDb's genre id (the offline catalogue uses the same ids).
    pub id: i64,
    pub name: String,
}

/// A page of a provider's result list (popular, search).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub page: u16,
    pub total_pages: u32,
    pub total_results: u32,
    pub results: Vec<Listed>,
}

/// A movie as a list shows it: genres by id, no runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    pub id: i64,
    pub title: String,
    pub original_title: Option<String>,
    pub original_language: Option<String>,
    pub overview: Option<String>,
    pub release_date: Option<NaiveDate>,
    pub genre_ids: Vec<i64>,
    pub vote_average: Option<f64>,
    pub vote_count: Option<i64>,
    pub poster_path: Option<String>,
}

/// A movie's details, as the provider has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Details {
    pub id: i64,
    pub title: String,
    pub original_title: Option<String>,
    pub original_language: Option<String>,
    pub overview: Option<String>,
    pub tagline: Option<String>,
    pub release_date: Option<NaiveDate>,
    pub genres: Vec<Genre>,
    pub runtime: Option<u32>,
    pub vote_average: Option<f64>,
    pub vote_count: Option<i64>,
    pub poster_path: Option<String>,
}

/// A movie, as the API shows it (lists and details alike; lists leave `runtime` and `tagline`
/// out because providers do not give them there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Movie {
    pub id: i64,
    pub title: String,
    /// The title in the film's own language.
    pub original_title: Option<String>,
    /// ISO 639-1 code of the film's language.
    pub original_language: Option<String>,
    pub overview: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagline: Option<String>,
    /// First release, `YYYY-MM-DD`; absent when unknown.
    pub release_date: Option<NaiveDate>,
    pub genres: Vec<Genre>,
    /// Minutes; details only, absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<u32>,
    /// Average audience score, 0 to 10.
    pub vote_average: Option<f64>,
    pub vote_count: Option<i64>,
    /// An absolute image URL; absent when the film has no poster.
    pub poster_url: Option<String>,
}

/// A page of movies.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MoviePage {
    /// This page, from 1.
    pub page: u16,
    /// How many pages can be requested (at most 500).
    pub total_pages: u32,
    pub total_results: u32,
    pub results: Vec<Movie>,
}

/// The genres of a language.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GenreList {
    pub genres: Vec<Genre>,
}

/// Builds the API shape from provider data.
#[derive(Debug, Clone)]
pub struct Presenter {
    /// `TMDB_IMAGE_BASE_URL` without a trailing slash; `None` for the offline catalogue,
    /// which has no images.
    pub image_base_url: Option<String>,
}

impl Presenter {
    /// The API page for `listing`; genre ids are named from `genres` (an id it does not know
    /// is left out rather than shown nameless).
    pub fn page(&self, listing: Listing, genres: &[Genre]) -> MoviePage {
        let names: HashMap<i64, &Genre> = genres.iter().map(|g| (g.id, g)).collect();
        MoviePage {
            page: listing.page,
            total_pages: listing.total_pages,
            total_results: listing.total_results,
            results: listing
                .results
                .into_iter()
                .map(|listed| Movie {
                    genres: listed
                        .genre_ids
                        .iter()
                        .filter_map(|id| names.get(id).map(|g| (*g).clone()))
                        .collect(),
                    poster_url: self.poster_url(listed.poster_path.as_deref()),
                    id: listed.id,
                    title: listed.title,
                    original_title: listed.original_title,
                    original_language: listed.original_language,
                    overview: listed.overview,
                    tagline: None,
                    release_date: listed.release_date,
                    runtime: None,
                    vote_average: listed.vote_average,
                    vote_count: listed.vote_count,
                })
                .collect(),
        }
    }

    pub fn movie(&self, details: Details) -> Movie {
        Movie {
            poster_url: self.poster_url(details.poster_path.as_deref()),
            id: details.id,
            title: details.title,
            original_title: details.original_title,
            original_language: details.original_language,
            overview: details.overview,
            tagline: details.tagline,
            release_date: details.release_date,
            genres: details.genres,
            runtime: details.runtime,
            vote_average: details.vote_average,
            vote_count: details.vote_count,
        }
    }

    fn poster_url(&self, path: Option<&str>) -> Option<String> {
        let base = self.image_base_url.as_deref()?;
        let path = path.filter(|p| !p.is_empty())?;
        Some(format!("{base}/{}", path.trim_start_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(genre_ids: Vec<i64>, poster_path: Option<&str>) -> Listed {
        Listed {
            id: 1,
            title: "Metropolis".into(),
            original_title: None,
            original_language: Some("de".into()),
            overview: None,
            release_date: NaiveDate::from_ymd_opt(1927, 1, 10),
            genre_ids,
            vote_average: Some(8.1),
            vote_count: Some(10),
            poster_path: poster_path.map(str::to_owned),
        }
    }

    #[test]
    fn genres_are_named_and_posters_made_absolute() {
        let presenter = Presenter {
            image_base_url: Some("https://image.tmdb.org/t/p/w500".into()),
        };
        let genres = [Genre {
            id: 878,
            name: "Science Fiction".into(),
        }];
        let listing = Listing {
            page: 1,
            total_pages: 1,
            total_results: 1,
            results: vec![listed(vec![878, 999], Some("/poster.jpg"))],
        };
        let page = presenter.page(listing, &genres);
        let movie = &page.results[0];
        assert_eq!(movie.genres, genres.to_vec(), "unknown id 999 left out");
        assert_eq!(
            movie.poster_url.as_deref(),
            Some("https://image.tmdb.org/t/p/w500/poster.jpg")
        );
    }

    #[test]
    fn no_image_base_or_no_path_means_no_poster() {
        let offline = Presenter {
            image_base_url: None,
        };
        let listing = Listing {
            page: 1,
            total_pages: 1,
            total_results: 1,
            results: vec![listed(vec![], Some("/p.jpg"))],
        };
        assert_eq!(
            offline.page(listing.clone(), &[]).results[0].poster_url,
            None
        );
        let online = Presenter {
            image_base_url: Some("https://img".into()),
        };
        let mut blank = listing;
        blank.results[0].poster_path = Some(String::new());
        assert_eq!(online.page(blank, &[]).results[0].poster_url, None);
    }
}
