//! Values movies-service accepts from clients, each buildable only valid.

mod catalogue_query;

pub use catalogue_query::{Language, MovieId, PageNumber, SearchQuery};
