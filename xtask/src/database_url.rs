//! The PostgreSQL server xtask's stack uses, and the URL of each database on it. xtask speaks
//! no PostgreSQL itself: the services create and migrate their own databases
//! (`<service> migrate --create-database`, see [`crate::stack`]), with the driver, TLS and
//! authentication (SCRAM included) they use in production.

use anyhow::{Context, Result};

/// A `postgres://user[:password]@host[:port]/database[?parameters]` URL, kept as its parts
/// around the database name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `postgres://user[:password]@host[:port]`.
    authority: String,
    /// `?sslmode=…` and the other parameters, kept for every database.
    query: String,
}

impl ServerUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let scheme_end = ["postgres://", "postgresql://"]
            .iter()
            .find(|scheme| url.starts_with(*scheme))
            .map(|scheme| scheme.len())
            .with_context(|| format!("{url:?} is not a postgres:// URL"))?;
        let (without_query, query) = match url.split_once('?') {
            Some((head, query)) => (head, format!("?{query}")),
            None => (url, String::new()),
        };
        let authority_end = without_query[scheme_end..]
            .find('/')
            .map_or(without_query.len(), |slash| scheme_end + slash);
        let authority = &without_query[..authority_end];
        if authority.len() == scheme_end {
            anyhow::bail!("{url:?} names no host");
        }
        Ok(Self {
            authority: authority.to_owned(),
            query,
        })
    }

    /// The URL of `database` on this server, with the same credentials and parameters.
    pub fn database_url(&self, database: &str) -> String {
        format!("{}/{database}{}", self.authority, self.query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_credentials_and_parameters() {
        let url = ServerUrl::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
        assert_eq!(
            url.database_url("marquee_auth"),
            "postgres://postgres@127.0.0.1:5432/marquee_auth"
        );
        let url =
            ServerUrl::parse("postgresql://app:s3cr%2Ft@db.internal/x?sslmode=require").unwrap();
        assert_eq!(
            url.database_url("marquee_chat"),
            "postgresql://app:s3cr%2Ft@db.internal/marquee_chat?sslmode=require"
        );
        let url = ServerUrl::parse("postgres://localhost").unwrap();
        assert_eq!(url.database_url("d"), "postgres://localhost/d");
        assert!(ServerUrl::parse("mysql://x").is_err());
        assert!(ServerUrl::parse("postgres:///x").is_err());
    }
}
