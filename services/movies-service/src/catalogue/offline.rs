//! The bundled offline catalogue (`catalogue/offline.json`): public-domain films with facts
//! and overviews written for Marquee, so the product works with no TMDb key and no internet.
//!
//! Its ids start at 900 000 001 and never collide with TMDb's; it is English only (the
//! `language` parameter is accepted and ignored) and has no posters. Lists are ordered by the
//! file's popularity, 20 per page, like TMDb's.

use chrono::NaiveDate;
use serde::Deserialize;

use super::model::{Details, Genre, Listed, Listing};
use crate::domain::{MovieId, PageNumber, SearchQuery};

/// The catalogue file, compiled into the binary.
const BUNDLED: &str = include_str!("../../catalogue/offline.json");
/// Results per page, as TMDb pages them.
const PAGE_SIZE: usize = 20;

/// The offline catalogue, loaded.
#[derive(Debug)]
pub struct OfflineCatalogue {
    genres: Vec<Genre>,
    /// Most popular first.
    movies: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    genres: Vec<Genre>,
    movies: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: i64,
    title: String,
    original_title: String,
    original_language: String,
    overview: String,
    release_date: NaiveDate,
    runtime: u32,
    genre_ids: Vec<i64>,
    vote_average: f64,
    popularity: f64,
}

/// The bundled file is broken (a build that ships it is a bug; tests catch it first).
#[derive(Debug, thiserror::Error)]
#[error("the offline catalogue is invalid: {0}")]
pub struct OfflineCatalogueError(String);

impl OfflineCatalogue {
    /// The bundled catalogue.
    pub fn bundled() -> Result<Self, OfflineCatalogueError> {
        Self::parse(BUNDLED)
    }

    fn parse(json: &str) -> Result<Self, OfflineCatalogueError> {
        let file: File =
            serde_json::from_str(json).map_err(|e| OfflineCatalogueError(e.to_string()))?;
        let mut movies = file.movies;
        movies.sort_by(|a, b| b.popularity.total_cmp(&a.popularity).then(a.id.cmp(&b.id)));
        for movie in &movies {
            if let Some(unknown) = movie
                .genre_ids
                .iter()
                .find(|id| !file.genres.iter().any(|g| g.id == **id))
            {
                return Err(OfflineCatalogueError(format!(
                    "movie {} has unknown genre {unknown}",
                    movie.id
                )));
            }
        }
        Ok(Self {
            genres: file.genres,
            movies,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.movies.len()
    }

    pub fn popular(&self, page: PageNumber) -> Listing {
        self.paged(self.movies.iter().collect(), page)
    }

    /// Movies whose title or original title has, for every word of the query, a word that
    /// starts with it (case-insensitive): "gold" finds *The Gold Rush*, "nosf sym" finds
    /// *Nosferatu, eine Symphonie des Grauens*.
    pub fn search(&self, query: &SearchQuery, page: PageNumber) -> Listing {
        let wanted = words(query.as_str());
        if wanted.is_empty() {
            // Only punctuation: nothing to match (rather than everything).
            return self.paged(Vec::new(), page);
        }
        let found = self
            .movies
            .iter()
            .filter(|movie| {
                let mut have = words(&movie.title);
                have.extend(words(&movie.original_title));
                wanted
                    .iter()
                    .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
            })
            .collect();
        self.paged(found, page)
    }

    pub fn details(&self, id: MovieId) -> Option<Details> {
        let movie = self.movies.iter().find(|m| m.id == id.get())?;
        Some(Details {
            id: movie.id,
            title: movie.title.clone(),
            original_title: Some(movie.original_title.clone()),
            original_language: Some(movie.original_language.clone()),
            overview: Some(movie.overview.clone()),
            tagline: None,
            release_date: Some(movie.release_date),
            genres: movie
                .genre_ids
                .iter()
                .filter_map(|id| self.genres.iter().find(|g| g.id == *id).cloned())
                .collect(),
            runtime: Some(movie.runtime),
            vote_average: Some(movie.vote_average),
            vote_count: None,
            poster_path: None,
        })
    }

    pub fn genres(&self) -> Vec<Genre> {
        self.genres.clone()
    }

    fn paged(&self, movies: Vec<&Entry>, page: PageNumber) -> Listing {
        let total = movies.len();
        let start = usize::from(page.get() - 1) * PAGE_SIZE;
        Listing {
            page: page.get(),
            total_pages: u32::try_from(total.div_ceil(PAGE_SIZE)).unwrap_or(u32::MAX),
            total_results: u32::try_from(total).unwrap_or(u32::MAX),
            results: movies
                .into_iter()
                .skip(start)
                .take(PAGE_SIZE)
                .map(|movie| Listed {
                    id: movie.id,
                    title: movie.title.clone(),
                    original_title: Some(movie.original_title.clone()),
                    original_language: Some(movie.original_language.clone()),
                    overview: Some(movie.overview.clone()),
                    release_date: Some(movie.release_date),
                    genre_ids: movie.genre_ids.clone(),
                    vote_average: Some(movie.vote_average),
                    vote_count: None,
                    poster_path: None,
                })
                .collect(),
        }
    }
}

/// Lower-cased words, split on anything that is not alphanumeric.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn catalogue() -> OfflineCatalogue {
        OfflineCatalogue::bundled().expect("the bundled catalogue parses")
    }

    #[test]
    fn the_bundled_catalogue_is_complete_and_consistent() {
        let catalogue = catalogue();
        assert!(catalogue.len() >= 50, "{} films", catalogue.len());
        let ids: HashSet<_> = catalogue.movies.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), catalogue.len(), "ids are unique");
        assert!(
            ids.iter().all(|id| *id > 900_000_000),
            "ids stay clear of TMDb's"
        );
        let titles: HashSet<_> = catalogue.movies.iter().map(|m| &m.title).collect();
        assert_eq!(titles.len(), catalogue.len(), "titles are unique");
        for movie in &catalogue.movies {
            assert!(
                !movie.overview.trim().is_empty(),
                "{} has an overview",
                movie.title
            );
            assert!(
                movie.runtime > 0 && !movie.genre_ids.is_empty(),
                "{}",
                movie.title
            );
            assert!(
                (0.0..=10.0).contains(&movie.vote_average),
                "{}",
                movie.title
            );
        }
    }

    #[test]
    fn popular_pages_through_everything_once() {
        let catalogue = catalogue();
        let first = catalogue.popular(PageNumber::FIRST);
        assert_eq!(first.results.len(), PAGE_SIZE);
        assert_eq!(first.total_results as usize, catalogue.len());
        let mut seen = HashSet::new();
        for page in 1..=first.total_pages {
            let page = PageNumber::parse("page", Some(i64::from(page))).unwrap();
            for movie in catalogue.popular(page).results {
                assert!(seen.insert(movie.id));
            }
        }
        assert_eq!(seen.len(), catalogue.len());
        let beyond = PageNumber::parse("page", Some(i64::from(first.total_pages) + 1)).unwrap();
        assert!(catalogue.popular(beyond).results.is_empty());
    }

    #[test]
    fn search_matches_word_prefixes_in_any_case() {
        let catalogue = catalogue();
        let search = |q: &str| {
            let query = SearchQuery::parse("q", Some(q)).unwrap();
            catalogue
                .search(&query, PageNumber::FIRST)
                .results
                .into_iter()
                .map(|m| m.title)
                .collect::<Vec<_>>()
        };
        assert!(search("NOSFER").contains(&"Nosferatu".to_owned()));
        assert!(search("gold rush").contains(&"The Gold Rush".to_owned()));
        assert!(search("häx").iter().any(|t| t.starts_with("Häxan")));
        assert!(search("zzzz no such film").is_empty());
        assert!(search("!! --").is_empty(), "punctuation matches nothing");
    }

    #[test]
    fn details_name_their_genres() {
        let catalogue = catalogue();
        let first = catalogue.movies[0].id;
        let details = catalogue
            .details(MovieId::parse("id", first).unwrap())
            .unwrap();
        assert!(!details.genres.is_empty());
        assert!(
            catalogue
                .details(MovieId::parse("id", 1).unwrap())
                .is_none()
        );
    }

    #[test]
    fn a_movie_with_an_unknown_genre_is_refused() {
        let json = r#"{"genres": [], "movies": [{"id": 1, "title": "A", "original_title": "A",
            "original_language": "en", "overview": "o", "release_date": "1920-01-01",
            "runtime": 60, "genre_ids": [18], "vote_average": 7.0, "popularity": 1.0}]}"#;
        assert!(OfflineCatalogue::parse(json).is_err());
    }
}
