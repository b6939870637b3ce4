//! Just enough of the PostgreSQL wire protocol (v3, simple queries) to create the services'
//! databases before they start, so xtask needs no database driver (which would make every
//! `cargo xtask` build compile an async runtime of its own).
//!
//! Authentication: trust, or a clear-text password from the URL. Servers that insist on
//! SCRAM or MD5 get a clear error that says which databases to create by hand.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use anyhow::{Context, Result, bail};

/// The parts of a `postgres://user[:password]@host[:port]/database` URL xtask needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub user: String,
    pub password: Option<String>,
    pub address: String,
}

impl ServerUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .with_context(|| format!("{url:?} is not a postgres:// URL"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (credentials, host) = authority
            .rsplit_once('@')
            .unwrap_or(("postgres", authority));
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password.to_owned())),
            None => (credentials, None),
        };
        let address = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        Ok(Self {
            user: user.to_owned(),
            password,
            address,
        })
    }

    /// The URL of `database` on this server.
    pub fn database_url(&self, database: &str) -> String {
        let credentials = match &self.password {
            Some(password) => format!("{}:{password}", self.user),
            None => self.user.clone(),
        };
        format!("postgres://{credentials}@{}/{database}", self.address)
    }
}

/// Creates `database` unless it exists. Returns whether it was created.
pub fn ensure_database(server: &ServerUrl, database: &str) -> Result<bool> {
    if !database
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        bail!("database name {database:?} must be lower-case letters, digits and _");
    }
    let mut connection = Connection::open(server)?;
    match connection.simple_query(&format!("CREATE DATABASE {database}")) {
        Ok(()) => Ok(true),
        // 42P04: duplicate_database.
        Err(QueryError::Server { code, .. }) if code == "42P04" => Ok(false),
        Err(QueryError::Server { message, .. }) => bail!("CREATE DATABASE {database}: {message}"),
        Err(QueryError::Io(error)) => Err(error),
    }
}

enum QueryError {
    Server { code: String, message: String },
    Io(anyhow::Error),
}

struct Connection {
    stream: TcpStream,
}

impl Connection {
    fn open(server: &ServerUrl) -> Result<Self> {
        let address = server
            .address
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {}", server.address))?
            .next()
            .with_context(|| format!("{} resolves to no address", server.address))?;
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .with_context(|| format!("cannot connect to PostgreSQL at {}", server.address))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut connection = Self { stream };
        // StartupMessage: length, protocol 3.0, then name/value pairs.
        let mut body = 196_608_i32.to_be_bytes().to_vec();
        for (name, value) in [("user", server.user.as_str()), ("database", "postgres")] {
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        connection.write_raw(None, &body)?;
        loop {
            let (tag, payload) = connection.read_message()?;
            match tag {
                b'R' => {
                    let method = i32::from_be_bytes(payload[..4].try_into()?);
                    match method {
                        0 => {}
                        3 => {
                            let password = server.password.as_deref().with_context(
                                || "PostgreSQL asks for a password; put it in the URL",
                            )?;
                            let mut body = password.as_bytes().to_vec();
                            body.push(0);
                            connection.write_raw(Some(b'p'), &body)?;
                        }
                        other => bail!(
                            "PostgreSQL asks for an authentication method xtask does not speak \
                             ({other}; trust and clear-text passwords only). Create the databases \
                             yourself: {} (`cargo xtask up`)",
                            crate::stack::DATABASE_SERVICES
                                .map(|service| format!("marquee_{service}"))
                                .join(", ")
                        ),
                    }
                }
                b'E' => bail!(
                    "PostgreSQL refused the connection: {}",
                    error_fields(&payload).1
                ),
                b'Z' => return Ok(connection),
                _ => {} // ParameterStatus, BackendKeyData, notices.
            }
        }
    }

    fn simple_query(&mut self, sql: &str) -> Result<(), QueryError> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.write_raw(Some(b'Q'), &body).map_err(QueryError::Io)?;
        let mut failure = None;
        loop {
            let (tag, payload) = self.read_message().map_err(QueryError::Io)?;
            match tag {
                b'E' => {
                    let (code, message) = error_fields(&payload);
                    failure = Some(QueryError::Server { code, message });
                }
                b'Z' => return failure.map_or(Ok(()), Err),
                _ => {}
            }
        }
    }

    fn write_raw(&mut self, tag: Option<u8>, body: &[u8]) -> Result<()> {
        let mut message = Vec::with_capacity(body.len() + 5);
        message.extend(tag);
        message.extend_from_slice(&i32::try_from(body.len() + 4)?.to_be_bytes());
        message.extend_from_slice(body);
        self.stream.write_all(&message)?;
        Ok(())
    }

    fn read_message(&mut self) -> Result<(u8, Vec<u8>)> {
        let mut header = [0u8; 5];
        self.stream
            .read_exact(&mut header)
            .context("PostgreSQL closed the connection")?;
        let length = usize::try_from(i32::from_be_bytes(header[1..5].try_into()?))?;
        let mut payload = vec![0u8; length.saturating_sub(4)];
        self.stream.read_exact(&mut payload)?;
        Ok((header[0], payload))
    }
}

/// The SQLSTATE (`C`) and message (`M`) fields of an ErrorResponse.
fn error_fields(payload: &[u8]) -> (String, String) {
    let mut code = String::new();
    let mut message = String::new();
    for field in payload.split(|b| *b == 0) {
        if let Some((&kind, value)) = field.split_first() {
            let value = String::from_utf8_lossy(value).into_owned();
            match kind {
                b'C' => code = value,
                b'M' => message = value,
                _ => {}
            }
        }
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_keep_credentials_and_default_the_port() {
        let url = ServerUrl::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
        assert_eq!(url.user, "postgres");
        assert_eq!(url.password, None);
        assert_eq!(
            url.database_url("marquee_auth"),
            "postgres://postgres@127.0.0.1:5432/marquee_auth"
        );
        let url = ServerUrl::parse("postgresql://app:s3cret@db/x?sslmode=disable").unwrap();
        assert_eq!(url.address, "db:5432");
        assert_eq!(url.password.as_deref(), Some("s3cret"));
        assert!(ServerUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn creating_a_database_twice_is_fine() {
        let server = ServerUrl::parse(
            &std::env::var("TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        )
        .unwrap();
        let name = format!("xtask_probe_{}", std::process::id());
        assert!(ensure_database(&server, &name).unwrap());
        assert!(!ensure_database(&server, &name).unwrap());
        let mut connection = Connection::open(&server).unwrap();
        assert!(
            connection
                .simple_query(&format!("DROP DATABASE {name}"))
                .is_ok()
        );
    }
}
