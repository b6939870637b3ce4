//! `cargo xtask up`: the whole platform on one machine.
//!
//! After the dependencies ([`crate::deps`]) and the topics: one database per service on the
//! PostgreSQL server, development signing keys in `.dev/keys` (git-ignored), a build of the
//! five binaries, then auth, user, movies, two chat instances and the gateway, each logging
//! to `.dev/logs/<name>.log`. It waits until every `/health/ready` answers 200, prints the
//! gateway's URL and a few requests to try, and keeps running until Ctrl-C or SIGTERM, when
//! it sends SIGTERM to every service (which drain and stop) and stops the broker it started.
//! A service that dies on its own stops the rest.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    database_url::ServerUrl,
    deps::{Dependencies, step},
    workspace::{target_dir, workspace_root},
};

/// The services that own a database: how their database's name ends (`up` creates
/// `marquee_auth`, `marquee_users`, …, the benchmarks `marquee_bench_auth`, …) and the binary
/// that creates and migrates it.
pub const DATABASE_SERVICES: [(&str, &str); 4] = [
    ("auth", "auth-service"),
    ("users", "user-service"),
    ("movies", "movies-service"),
    ("chat", "chat-service"),
];

/// `cargo xtask up` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Optimised builds (`--release`).
    pub release: bool,
    /// The gateway's port (`--port`, default 8080).
    pub gateway_port: u16,
    /// The first service port (`--services-from`, default 8081): auth, user, movies, chat 1
    /// and chat 2 take it and the next four.
    pub services_from: u16,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            release: false,
            gateway_port: 8080,
            services_from: 8081,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut port = |flag: &str| -> Result<u16> {
                let value = args
                    .next()
                    .with_context(|| format!("{flag} needs a port number"))?;
                value
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p >= 1024)
                    .with_context(|| {
                        format!("{flag} {value:?}: expected a port from 1024 to 65535")
                    })
            };
            match arg.as_str() {
                "--release" => options.release = true,
                "--port" => options.gateway_port = port("--port")?,
                "--services-from" => {
                    options.services_from = port("--services-from")?;
                    if options.services_from > u16::MAX - 4 {
                        bail!("--services-from leaves no room for five ports");
                    }
                }
                other => bail!("unknown flag {other:?} for `up` (see `cargo xtask help`)"),
            }
        }
        let services = options.services_from..=options.services_from + 4;
        if services.contains(&options.gateway_port) {
            bail!(
                "--port {} collides with the service ports {}..={}",
                options.gateway_port,
                services.start(),
                services.end()
            );
        }
        Ok(options)
    }
}

/// One process of the stack.
pub struct Process {
    name: &'static str,
    port: u16,
    child: Child,
    log: PathBuf,
}

/// The running stack; dropping it stops every process.
pub struct Stack {
    processes: Vec<Process>,
}

/// Where and how [`Stack::start`] runs the services.
pub struct StackConfig {
    /// Optimised builds.
    pub release: bool,
    pub ports: Ports,
    /// Keys, logs and attachments go under it.
    pub dev: PathBuf,
    /// The services' databases are `<prefix>auth`, `<prefix>users`, `<prefix>movies` and
    /// `<prefix>chat`.
    pub database_prefix: &'static str,
    /// Extra settings for every service (after the defaults, so they win).
    pub extra_env: Vec<(&'static str, String)>,
}

impl Stack {
    /// Builds the binaries, creates and migrates the databases, makes development keys and
    /// starts every service, then waits until each is ready (or `stop` is set).
    pub fn start(deps: &Dependencies, config: &StackConfig, stop: &AtomicBool) -> Result<Self> {
        let server = ServerUrl::parse(deps.database_url())?;
        let root = workspace_root()?;
        let bin_dir = build(&root, config.release)?;
        step("creating and migrating the services' databases", || {
            for (service, binary) in DATABASE_SERVICES {
                let database = format!("{}{service}", config.database_prefix);
                migrate(&bin_dir, binary, &server.database_url(&database))?;
                println!("    {database}: up to date");
            }
            Ok(())
        })?;
        let dev = &config.dev;
        step(
            &format!(
                "development signing keys in {}",
                relative(&root, &dev.join("keys"))
            ),
            || ensure_keys(&bin_dir, &dev.join("keys")),
        )?;
        let logs = dev.join("logs");
        std::fs::create_dir_all(&logs)?;
        std::fs::create_dir_all(dev.join("attachments"))?;

        let mut stack = Self {
            processes: Vec::new(),
        };
        let specs = specs(&config.ports, &server, deps, config);
        step("starting the services", || {
            for spec in specs {
                let process = start(&bin_dir, &logs, spec)?;
                println!(
                    "    {:<8} http://127.0.0.1:{:<5}  log: {}",
                    process.name,
                    process.port,
                    relative(&root, &process.log)
                );
                stack.processes.push(process);
            }
            Ok(())
        })?;
        step("waiting until every service is ready", || {
            wait_ready(&mut stack, stop)
        })?;
        Ok(stack)
    }

    /// The process called `name` (`auth`, `users`, `movies`, `chat-1`, `chat-2`, `gateway`).
    pub fn process(&self, name: &str) -> Option<&Process> {
        self.processes.iter().find(|p| p.name == name)
    }

    /// Sends SIGTERM to every process still running and waits for them (killing those that
    /// do not stop within 40 s), gateway first.
    fn stop(&mut self) {
        for process in self.processes.iter_mut().rev() {
            if matches!(process.child.try_wait(), Ok(None)) {
                let _ = Command::new("kill")
                    .args(["-TERM", &process.child.id().to_string()])
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        for process in self.processes.iter_mut().rev() {
            while matches!(process.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if matches!(process.child.try_wait(), Ok(None)) {
                println!("    {} did not stop in time; killing it", process.name);
                let _ = process.child.kill();
                let _ = process.child.wait();
            }
        }
        self.processes.clear();
    }
}

impl Process {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.processes.is_empty() {
            println!("==> stopping the services");
            self.stop();
        }
    }
}

pub fn up(options: &Options) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install the signal handlers")?;
    }

    let deps = Dependencies::prepare()?;
    deps.create_platform_topics()?;
    let root = workspace_root()?;
    let config = StackConfig {
        release: options.release,
        ports: Ports::new(options),
        dev: root.join(".dev"),
        database_prefix: "marquee_",
        extra_env: Vec::new(),
    };
    let mut stack = Stack::start(&deps, &config, &stop)?;

    print_welcome(options.gateway_port, &root, &stack);
    let outcome = watch(&mut stack, &stop);
    println!("\n==> stopping the services");
    stack.stop();
    drop(deps);
    println!("==> stopped");
    outcome
}

/// The ports of each process.
pub struct Ports {
    pub gateway: u16,
    auth: u16,
    users: u16,
    movies: u16,
    chat: [u16; 2],
}

impl Ports {
    pub fn new(options: &Options) -> Self {
        let base = options.services_from;
        Self {
            gateway: options.gateway_port,
            auth: base,
            users: base + 1,
            movies: base + 2,
            chat: [base + 3, base + 4],
        }
    }
}

/// What to start: name, binary, port, environment.
struct Spec {
    name: &'static str,
    binary: &'static str,
    port: u16,
    env: Vec<(&'static str, String)>,
}

/// `<binary> migrate --create-database` against `url`: the service's own driver creates the
/// database if needed (authenticating as the server asks, SCRAM included) and applies its
/// migrations. Its output is shown only when it fails.
fn migrate(bin_dir: &Path, binary: &str, url: &str) -> Result<()> {
    crate::python_tools::run_quiet(
        Command::new(bin_dir.join(binary))
            .args(["migrate", "--create-database"])
            .env("DATABASE_URL", url)
            .stdin(Stdio::null()),
    )
    .with_context(|| format!("{binary} migrate --create-database"))
}

fn specs(
    ports: &Ports,
    server: &ServerUrl,
    deps: &Dependencies,
    config: &StackConfig,
) -> Vec<Spec> {
    let dev = &config.dev;
    let database = |service: &str| format!("{}{service}", config.database_prefix);
    let local = |port: u16| format!("http://127.0.0.1:{port}");
    // Settings every service shares; anything already in the environment (RUST_LOG,
    // OTEL_EXPORTER_OTLP_ENDPOINT, TMDB_API_TOKEN, …) is inherited as well.
    let common = |database: Option<String>| {
        let mut env = vec![
            ("HTTP_HOST", "127.0.0.1".to_owned()),
            ("REDIS_URL", deps.redis_url().to_owned()),
            ("KAFKA_BROKERS", deps.brokers().to_owned()),
            (
                "AUTH_JWKS_URL",
                format!("{}/.well-known/jwks.json", local(ports.auth)),
            ),
            // Behind the gateway: its X-Forwarded-For entry names the client.
            ("HTTP_TRUSTED_PROXY_HOPS", "1".to_owned()),
            // Pages from the frontend's dev servers may call the API and open chat sockets
            // (the gateway's CORS, the gateway's and chat's WebSocket origin checks).
            (
                "CORS_ALLOWED_ORIGINS",
                std::env::var("CORS_ALLOWED_ORIGINS")
                    .unwrap_or_else(|_| "http://localhost:3000,http://localhost:5173".to_owned()),
            ),
            ("HTTP_SHUTDOWN_TIMEOUT", "5s".to_owned()),
        ];
        if std::env::var_os("LOG_FORMAT").is_none() {
            env.push(("LOG_FORMAT", "pretty".to_owned()));
        }
        // tansu holds an empty fetch for the whole wait instead of answering when data comes
        // (docs/benchmarks.md): the built-in 100 ms would add ~150 ms to every event's trip.
        if std::env::var_os("KAFKA_FETCH_WAIT_MAX").is_none() && deps.uses_tansu() {
            env.push(("KAFKA_FETCH_WAIT_MAX", "10ms".to_owned()));
        }
        if let Some(database) = database {
            env.push(("DATABASE_URL", server.database_url(&database)));
            // The budget of docs/operations.md for one 2–4-core machine.
            if std::env::var_os("DATABASE_MAX_CONNECTIONS").is_none() {
                env.push(("DATABASE_MAX_CONNECTIONS", "6".to_owned()));
            }
        }
        env
    };
    let with = |mut env: Vec<(&'static str, String)>, extra: Vec<(&'static str, String)>| {
        env.extend(extra);
        env.extend(config.extra_env.iter().cloned());
        env
    };
    let chat = |port: u16| {
        with(
            common(Some(database("chat"))),
            vec![(
                "ATTACHMENTS_STORE",
                dev.join("attachments").display().to_string(),
            )],
        )
        .into_iter()
        .chain([("PORT", port.to_string())])
        .collect::<Vec<_>>()
    };
    vec![
        Spec {
            name: "auth",
            binary: "auth-service",
            port: ports.auth,
            env: with(
                common(Some(database("auth"))),
                vec![
                    ("PORT", ports.auth.to_string()),
                    ("AUTH_KEYS_DIR", dev.join("keys").display().to_string()),
                    // Local HTTP: cookies without `Secure`, or browsers drop them.
                    ("AUTH_COOKIE_SECURE", "false".to_owned()),
                ],
            ),
        },
        Spec {
            name: "users",
            binary: "user-service",
            port: ports.users,
            env: with(
                common(Some(database("users"))),
                vec![("PORT", ports.users.to_string())],
            ),
        },
        Spec {
            name: "movies",
            binary: "movies-service",
            port: ports.movies,
            env: with(
                common(Some(database("movies"))),
                vec![("PORT", ports.movies.to_string())],
            ),
        },
        Spec {
            name: "chat-1",
            binary: "chat-service",
            port: ports.chat[0],
            env: chat(ports.chat[0]),
        },
        Spec {
            name: "chat-2",
            binary: "chat-service",
            port: ports.chat[1],
            env: chat(ports.chat[1]),
        },
        Spec {
            name: "gateway",
            binary: "gateway",
            port: ports.gateway,
            env: with(
                common(None),
                vec![
                    ("PORT", ports.gateway.to_string()),
                    // The gateway is the edge: nothing in front of it is trusted.
                    ("HTTP_TRUSTED_PROXY_HOPS", "0".to_owned()),
                    ("AUTH_UPSTREAMS", local(ports.auth)),
                    ("USERS_UPSTREAMS", local(ports.users)),
                    ("MOVIES_UPSTREAMS", local(ports.movies)),
                    (
                        "CHAT_UPSTREAMS",
                        format!("{},{}", local(ports.chat[0]), local(ports.chat[1])),
                    ),
                ],
            ),
        },
    ]
}

/// Builds the five binaries; returns the directory they are in.
pub fn build(root: &Path, release: bool) -> Result<PathBuf> {
    let profile = if release { "release" } else { "debug" };
    step(&format!("building the services ({profile})"), || {
        let mut command = Command::new("cargo");
        command.current_dir(root).arg("build");
        if release {
            command.arg("--release");
        }
        for package in [
            "auth-service",
            "user-service",
            "movies-service",
            "chat-service",
            "gateway",
        ] {
            command.args(["-p", package]);
        }
        let status = command.arg("--bins").status().context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo build failed ({status})");
        }
        Ok(())
    })?;
    Ok(target_dir(root).join(profile))
}

/// Generates an Ed25519 key into `dir` unless it holds one already (`--if-empty`).
fn ensure_keys(bin_dir: &Path, dir: &Path) -> Result<()> {
    let output = Command::new(bin_dir.join("auth-service"))
        .args(["keys", "generate", "--if-empty", "--dir"])
        .arg(dir)
        .output()
        .context("cannot run auth-service keys generate")?;
    if !output.status.success() {
        bail!(
            "auth-service keys generate failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    println!("    {}", String::from_utf8_lossy(&output.stdout).trim());
    Ok(())
}

fn start(bin_dir: &Path, logs: &Path, spec: Spec) -> Result<Process> {
    let log = logs.join(format!("{}.log", spec.name));
    let file =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let child = Command::new(bin_dir.join(spec.binary))
        .envs(spec.env)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot start {}", spec.binary))?;
    Ok(Process {
        name: spec.name,
        port: spec.port,
        child,
        log,
    })
}

/// The status code of `GET path` on a local port, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn wait_ready(stack: &mut Stack, stop: &AtomicBool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut ready = vec![false; stack.processes.len()];
    while ready.iter().any(|r| !r) {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        for (process, ready) in stack.processes.iter_mut().zip(ready.iter_mut()) {
            if *ready {
                continue;
            }
            if let Some(status) = process.child.try_wait()? {
                bail!(
                    "{} exited ({status}) while starting:\n{}",
                    process.name,
                    tail(&process.log, 20)
                );
            }
            if http_status(process.port, "/health/ready") == Some(200) {
                *ready = true;
                println!("    {} is ready", process.name);
            }
        }
        if Instant::now() > deadline {
            let waiting: Vec<String> = stack
                .processes
                .iter()
                .zip(&ready)
                .filter(|(_, r)| !**r)
                .map(|(p, _)| format!("{} (log: {})", p.name, p.log.display()))
                .collect();
            bail!("not ready after 3 minutes: {}", waiting.join(", "));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

/// Runs until a signal arrives (Ok) or a process exits on its own (Err).
fn watch(stack: &mut Stack, stop: &AtomicBool) -> Result<()> {
    while !stop.load(Ordering::Relaxed) {
        for process in &mut stack.processes {
            if let Some(status) = process.child.try_wait()? {
                bail!(
                    "{} exited ({status}):\n{}",
                    process.name,
                    tail(&process.log, 20)
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `path` relative to `root` when it is inside it, for messages.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn print_welcome(port: u16, root: &Path, stack: &Stack) {
    let url = format!("http://localhost:{port}");
    println!(
        "
Marquee is up: {url}  (API docs: {url}/docs)
Logs: {logs}/<service>.log  ·  chat runs twice ({chat})

Try it:
  curl -si {url}/v1/auth/register -H 'content-type: application/json' \\
       -d '{{\"email\":\"ada@example.com\",\"password\":\"correct horse battery\",\"display_name\":\"Ada\"}}'
  TOKEN=$(curl -s {url}/v1/auth/login -H 'content-type: application/json' \\
       -d '{{\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}}' | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')
  curl -s {url}/v1/users/me -H \"authorization: Bearer $TOKEN\"
  curl -s {url}/v1/movies/popular -H \"authorization: Bearer $TOKEN\"
  websocat -H \"authorization: Bearer $TOKEN\" ws://localhost:{port}/v1/chat/ws

Press Ctrl-C to stop everything.",
        logs = relative(root, &root.join(".dev/logs")),
        chat = stack
            .processes
            .iter()
            .filter(|p| p.name.starts_with("chat"))
            .map(|p| format!("{} on :{}", p.name, p.port))
            .collect::<Vec<_>>()
            .join(", "),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn flags_choose_the_profile_and_ports() {
        let options = Options::parse(&args(&["--release", "--port", "9000"])).unwrap();
        assert!(options.release);
        assert_eq!(options.gateway_port, 9000);
        assert_eq!(options.services_from, 8081);
        let ports = Ports::new(&Options::parse(&args(&["--services-from", "9101"])).unwrap());
        assert_eq!((ports.auth, ports.chat), (9101, [9104, 9105]));
    }

    #[test]
    fn bad_flags_are_refused_with_the_reason() {
        for bad in [
            &["--port"][..],
            &["--port", "eighty"],
            &["--port", "80"],
            &["--port", "8082"],
            &["--verbose"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
