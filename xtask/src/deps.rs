//! The dependencies every Marquee process and test needs: PostgreSQL, Redis and a
//! Kafka-compatible broker. PostgreSQL and Redis are checked (they are the machine's to run);
//! the broker is `KAFKA_BROKERS` when given, else a running local broker on 127.0.0.1:9092,
//! else the pinned tansu, installed with cargo when absent and started here.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// The broker release the project is tested against.
const TANSU_VERSION: &str = "0.6.0";
const LOCAL_BROKER: &str = "127.0.0.1:9092";

/// Prepared dependencies; dropping it stops the broker it started.
pub struct Dependencies {
    database_url: String,
    redis_url: String,
    brokers: String,
    tansu: Option<PathBuf>,
    /// The broker is a local tansu (`KAFKA_BROKERS` unset), not a Kafka given by the user.
    local_tansu: bool,
    started_broker: Option<Child>,
}

impl Dependencies {
    pub fn prepare() -> Result<Self> {
        let database_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        step("checking PostgreSQL", || check_postgres(&database_url))?;
        let redis_url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        step("checking Redis", || check_redis(&redis_url))?;

        let mut deps = Self {
            database_url,
            redis_url,
            brokers: LOCAL_BROKER.to_owned(),
            tansu: None,
            local_tansu: false,
            started_broker: None,
        };
        if let Ok(brokers) = std::env::var("KAFKA_BROKERS") {
            step(
                &format!("checking the broker at KAFKA_BROKERS={brokers}"),
                || {
                    let first = brokers.split(',').next().unwrap_or_default().trim();
                    reachable(first).with_context(|| {
                        format!(
                            "no broker answers at {first}; unset KAFKA_BROKERS to use a local tansu"
                        )
                    })
                },
            )?;
            deps.brokers = brokers;
            deps.tansu = find_tansu();
            return Ok(deps);
        }
        let tansu = step(
            &format!("making sure tansu {TANSU_VERSION} is installed"),
            ensure_tansu,
        )?;
        deps.tansu = Some(tansu.clone());
        deps.local_tansu = true;
        if reachable(LOCAL_BROKER).is_ok() {
            println!("==> a broker is already listening on {LOCAL_BROKER}; using it");
        } else {
            let child = step(&format!("starting tansu on {LOCAL_BROKER}"), || {
                start_tansu(&tansu)
            })?;
            deps.started_broker = Some(child);
        }
        Ok(deps)
    }

    /// The variables that point tests and services at these dependencies.
    /// The PostgreSQL server (any database on it).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// `KAFKA_BROKERS` for the services.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// Whether the broker is the local tansu, not one given by `KAFKA_BROKERS`.
    pub fn uses_tansu(&self) -> bool {
        self.local_tansu
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("TEST_DATABASE_URL", self.database_url.clone()),
            ("REDIS_URL", self.redis_url.clone()),
            ("KAFKA_BROKERS", self.brokers.clone()),
        ];
        if let Some(tansu) = &self.tansu {
            env.push(("TANSU_BIN", tansu.display().to_string()));
        }
        env
    }

    /// Creates the platform's topics (with tansu's CLI, which speaks the Kafka protocol).
    pub fn create_platform_topics(&self) -> Result<()> {
        let Some(tansu) = &self.tansu else {
            println!("==> topics: create these on your broker if they do not exist:");
            for topic in marquee_proto_events::topics::ALL {
                println!("      {topic}");
            }
            return Ok(());
        };
        let broker = format!(
            "tcp://{}",
            self.brokers
                .split(',')
                .next()
                .unwrap_or(LOCAL_BROKER)
                .trim()
        );
        step("creating the platform topics", || {
            for topic in marquee_proto_events::topics::ALL {
                let mut command = Command::new(tansu);
                command.args([
                    "topic",
                    "create",
                    topic,
                    "--broker",
                    &broker,
                    "--partitions",
                    "3",
                ]);
                let output = output_within(command, Duration::from_secs(30))
                    .with_context(|| format!("creating {topic} with tansu"))?;
                let text = String::from_utf8_lossy(&output.stderr).to_lowercase();
                if !output.status.success() && !text.contains("exist") {
                    bail!(
                        "creating {topic} failed: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    );
                }
            }
            Ok(())
        })
    }
}

impl Drop for Dependencies {
    fn drop(&mut self) {
        if let Some(mut child) = self.started_broker.take() {
            println!("==> stopping the tansu broker started for this run");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `command` to completion and returns its output, killing it after `limit`.
fn output_within(mut command: Command, limit: Duration) -> Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    let deadline = Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{:?} did not finish within {limit:?}",
                command.get_program()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child.wait_with_output()?)
}

/// Runs one step with a progress line.
pub fn step<T>(what: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("==> {what}");
    let started = Instant::now();
    let result = work();
    if result.is_ok() && started.elapsed() > Duration::from_secs(5) {
        println!("    done in {:.0?}", started.elapsed());
    }
    result.with_context(|| format!("{what} failed"))
}

/// `host:port` of a `scheme://[user@]host[:port]/…` URL.
fn host_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    }
}

fn reachable(address: &str) -> Result<TcpStream> {
    let addr = address
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {address}"))?
        .next()
        .with_context(|| format!("no address for {address}"))?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("nothing listens on {address}"))
}

fn check_postgres(url: &str) -> Result<()> {
    let address = host_port(url, 5432);
    reachable(&address).map(drop).with_context(|| {
        format!(
            "PostgreSQL is not reachable at {address}. Start it (Debian: \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; Docker: \
             `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16`) or point \
             TEST_DATABASE_URL at a server where user postgres may create databases"
        )
    })
}

fn check_redis(url: &str) -> Result<()> {
    let address = host_port(url, 6379);
    let hint = "Start it (`redis-server --daemonize yes`, or `docker run -d -p 6379:6379 redis:7`) or set REDIS_URL";
    let mut stream = reachable(&address)
        .with_context(|| format!("Redis is not reachable at {address}. {hint}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 64];
    let n = stream.read(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply[..n]);
    if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") {
        Ok(())
    } else {
        bail!(
            "{address} does not answer like Redis ({:?}). {hint}",
            reply.trim()
        )
    }
}

/// Every `PATH` entry's `name`, existing or not, in `PATH` order.
fn path_candidates(name: &str) -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect()
        })
        .unwrap_or_default()
}

/// The path of `binary` (on `PATH`, or in `/usr/sbin`, `/usr/bin`), installing Debian's
/// `package` with apt-get when it is missing (as root; otherwise a hint to do it).
pub fn ensure_debian_tool(binary: &str, package: &str) -> Result<PathBuf> {
    let find = || {
        on_path(binary).or_else(|| {
            ["/usr/sbin", "/usr/bin"]
                .iter()
                .map(|dir| Path::new(dir).join(binary))
                .find(|path| path.is_file())
        })
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    step(
        &format!("installing {package} from Debian (for {binary})"),
        || {
            // Bounded by coreutils' `timeout`: a mirror that stops answering must not hang.
            let install = || {
                Command::new("timeout")
                    .args([
                        "600",
                        "apt-get",
                        "install",
                        "-y",
                        "--no-install-recommends",
                        package,
                    ])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .stdout(Stdio::null())
                    .status()
            };
            let installed = install().is_ok_and(|status| status.success())
                || (Command::new("timeout")
                    .args(["600", "apt-get", "update"])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
                    && install().is_ok_and(|status| status.success()));
            if !installed {
                bail!(
                    "cannot install {package}; install it yourself: sudo apt-get install -y {package}"
                );
            }
            Ok(())
        },
    )?;
    find().with_context(|| format!("{package} is installed but {binary} is not found"))
}

/// The first file called `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    path_candidates(name)
        .into_iter()
        .find(|path| path.is_file())
}

fn find_tansu() -> Option<PathBuf> {
    let candidates = path_candidates("tansu");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    candidates
        .into_iter()
        .chain(cargo_home.map(|home| home.join("bin/tansu")))
        .find(|path| {
            Command::new(path)
                .arg("--version")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(TANSU_VERSION))
        })
}

fn ensure_tansu() -> Result<PathBuf> {
    if let Some(path) = find_tansu() {
        println!("    found {}", path.display());
        return Ok(path);
    }
    println!("    not found; installing with cargo (8–15 minutes, once per machine)");
    let status = Command::new("cargo")
        .args([
            "install",
            "tansu",
            "--locked",
            "--version",
            TANSU_VERSION,
            "--features",
            "dynostore",
        ])
        .env_remove("CARGO_TARGET_DIR") // build it in a temporary directory, not our target
        .status()
        .context("cannot run cargo install")?;
    if !status.success() {
        bail!(
            "`cargo install tansu --locked --version {TANSU_VERSION} --features dynostore` failed"
        );
    }
    find_tansu().context("tansu was installed but is not on PATH or in ~/.cargo/bin")
}

fn start_tansu(tansu: &PathBuf) -> Result<Child> {
    let log_dir = crate::workspace::target_dir(&crate::workspace::workspace_root()?).join("xtask");
    std::fs::create_dir_all(&log_dir)?;
    let log_path = log_dir.join("tansu.log");
    let log = std::fs::File::create(&log_path)?;
    let url = format!("tcp://{LOCAL_BROKER}");
    let mut child = Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start tansu")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reachable(LOCAL_BROKER).is_ok() {
            println!("    listening; log in {}", log_path.display());
            return Ok(child);
        }
        if let Some(status) = child.try_wait()? {
            bail!("tansu exited ({status}); see {}", log_path.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    bail!(
        "tansu did not listen on {LOCAL_BROKER} within 20s; see {}",
        log_path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_port_reads_urls_with_and_without_credentials_and_ports() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/postgres", 5432),
            "127.0.0.1:5432"
        );
        assert_eq!(
            host_port("postgres://u:p@db/x?sslmode=require", 5432),
            "db:5432"
        );
        assert_eq!(host_port("redis://127.0.0.1:6379", 6379), "127.0.0.1:6379");
        assert_eq!(
            host_port("rediss://:secret@cache.example:6380/0", 6379),
            "cache.example:6380"
        );
    }
}
