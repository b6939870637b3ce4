//! `cargo xtask bench [--quick] [SUITE…]`: the benchmarks, each figure beside a reference
//! measured in the same run (docs/benchmarks.md says how to read them).
//!
//! Suites (all by default):
//! - `events`: the event backbone — outbox relay against the raw idempotent producer, and
//!   commit → effect latency (`crates/common/benches/outbox.rs`, run by `cargo bench`).
//! - `gateway`: one gateway worker proxying a static 64-byte JSON upstream, against nginx
//!   proxying the same upstream with one worker, and against the upstream asked directly;
//!   with the gateway's rate limits off and on (Redis) — see [`gateway`].
//! - `bcrypt`: the time of one password verification at `BCRYPT_COST` (default 12) on one
//!   core, the reference for sign-in throughput.
//! - `logins`, `profiles`, `websocket`, `sockets` and `fanout`: against the whole stack,
//!   built optimised and started on ports 18080–18085 with its own databases
//!   (`marquee_bench_*`) — see [`platform`].
//!
//! Load comes from wrk (Debian's package, installed here when missing, as is nginx); nginx
//! runs from its own configuration under the target folder, never as the system service.
//! Every measurement is repeated (3 rounds, 1 with `--quick`), the targets interleaved round
//! by round so that a disturbance on the machine hits all of them alike, and the median is
//! printed. The table also goes to `<target>/bench/report.md`.

use std::{
    io::{BufRead, BufReader},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

mod platform;

use crate::{
    deps::{self, Dependencies, step},
    workspace::{target_dir, workspace_root},
};

/// `cargo xtask bench` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// One short round per measurement (`--quick`): a PR-sized check in minutes.
    pub quick: bool,
    pub suites: Vec<Suite>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Events,
    Gateway,
    Bcrypt,
    Logins,
    Profiles,
    Sockets,
    Websocket,
    Fanout,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            quick: false,
            suites: Vec::new(),
        };
        for arg in args {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "events" => options.suites.push(Suite::Events),
                "gateway" => options.suites.push(Suite::Gateway),
                "bcrypt" => options.suites.push(Suite::Bcrypt),
                "logins" => options.suites.push(Suite::Logins),
                "profiles" => options.suites.push(Suite::Profiles),
                "sockets" => options.suites.push(Suite::Sockets),
                "websocket" => options.suites.push(Suite::Websocket),
                "fanout" => options.suites.push(Suite::Fanout),
                other => bail!(
                    "unknown argument {other:?} for `bench`: expected --quick and suites among \
                     events, gateway, bcrypt, logins, profiles, sockets, websocket, fanout"
                ),
            }
        }
        if options.suites.is_empty() {
            options.suites = vec![
                Suite::Bcrypt,
                Suite::Gateway,
                Suite::Logins,
                Suite::Profiles,
                Suite::Websocket,
                Suite::Sockets,
                Suite::Fanout,
                Suite::Events,
            ];
        }
        Ok(options)
    }

    fn rounds(&self) -> usize {
        if self.quick { 1 } else { 3 }
    }

    fn load_duration(&self) -> Duration {
        Duration::from_secs(if self.quick { 4 } else { 10 })
    }
}

pub fn run(options: &Options) -> Result<()> {
    let root = workspace_root()?;
    let out = target_dir(&root).join("bench");
    std::fs::create_dir_all(&out)?;
    let mut report = Report::default();
    report.line(&format!(
        "# Marquee benchmarks\n\n{}, {} rounds, median of each\n",
        machine(),
        options.rounds()
    ));
    let deps = Dependencies::prepare()?;
    let needs_stack = options.suites.iter().any(|suite| {
        matches!(
            suite,
            Suite::Logins | Suite::Profiles | Suite::Sockets | Suite::Websocket | Suite::Fanout
        )
    });
    let mut stack = None;
    if needs_stack {
        deps.create_platform_topics()?;
        stack = Some(platform::start(&deps, &out)?);
    }
    let running = || stack.as_ref().context("the stack runs for this suite");
    for suite in &options.suites {
        match suite {
            Suite::Bcrypt => bcrypt(&mut report)?,
            Suite::Gateway => gateway(options, &root, &out, &deps, &mut report)?,
            Suite::Events => events(options, &deps, &mut report)?,
            Suite::Logins => platform::logins(options, running()?, &out, &mut report)?,
            Suite::Profiles => platform::profiles(options, running()?, &deps, &out, &mut report)?,
            Suite::Websocket => platform::websocket(options, running()?, &root, &out, &mut report)?,
            Suite::Sockets => platform::sockets(options, running()?, &root, &mut report)?,
            Suite::Fanout => platform::fanout(options, running()?, &root, &out, &mut report)?,
        }
    }
    drop(stack);
    drop(deps);
    let path = out.join("report.md");
    std::fs::write(&path, &report.text)?;
    println!("\n{}\n==> written to {}", report.text, path.display());
    Ok(())
}

/// The Markdown the suites produce.
#[derive(Default)]
struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }
}

/// CPU model, cores and memory, for the report's heading.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{model}, {cores} cores, {memory_gib:.0} GiB")
}

/// The event backbone benchmark (criterion-free): its output is shown as it comes, and its
/// lines after the first table heading go into the report.
fn events(options: &Options, deps: &Dependencies, report: &mut Report) -> Result<()> {
    let mut command = Command::new("cargo");
    command
        .args(["bench", "-p", "marquee-common", "--bench", "outbox"])
        .envs(deps.env());
    if options.quick {
        command.env("BENCH_EVENTS", "20000");
        command.env("BENCH_LATENCY_EVENTS", "500");
    }
    if std::env::var_os("KAFKA_FETCH_WAIT_MAX").is_none() && deps.uses_tansu() {
        command.env("KAFKA_FETCH_WAIT_MAX", "10ms");
    }
    println!("==> events: {}", crate::describe(&command));
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let output = child.stdout.take().context("no output from cargo bench")?;
    // The bench prints "name: figure" lines, then a Markdown table (cargo's own lines go to
    // stderr).
    let (mut notes, mut table) = (Vec::new(), Vec::new());
    for line in BufReader::new(output).lines() {
        let line = line?;
        println!("{line}");
        if line.starts_with('|') {
            table.push(line);
        } else if line.contains(':') {
            notes.push(format!("- {line}"));
        }
    }
    let status = child.wait()?;
    report.line("## Event backbone (crates/common/benches/outbox.rs)\n");
    for line in notes.iter().chain([&String::new()]).chain(&table) {
        report.line(line);
    }
    report.line("");
    if !status.success() {
        bail!("the event backbone benchmark failed ({status})");
    }
    Ok(())
}

/// One bcrypt verification at the configured cost: what one core can do for sign-ins.
fn bcrypt(report: &mut Report) -> Result<()> {
    let cost: u32 = std::env::var("BCRYPT_COST")
        .ok()
        .map(|raw| raw.parse().context("BCRYPT_COST must be a number"))
        .transpose()?
        .unwrap_or(12);
    let verify_ms = bcrypt_verify_ms(cost)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    report.line(&format!(
        "## bcrypt\n\none verification at cost {cost}: {verify_ms:.0} ms → {:.2} sign-ins/s per \
         hashing thread; with the default HASH_THREADS = {} on this machine: {:.2}/s\n",
        1000.0 / verify_ms,
        cores.saturating_sub(1).max(1),
        1000.0 / verify_ms * cores.saturating_sub(1).max(1) as f64
    ));
    Ok(())
}

/// The median of five bcrypt verifications at `cost`, in milliseconds.
fn bcrypt_verify_ms(cost: u32) -> Result<f64> {
    let hash = bcrypt::hash("correct horse battery staple", cost)?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        bcrypt::verify("correct horse battery staple", &hash)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(&mut times))
}

/// The 64-byte JSON body of the static upstream.
const STATIC_BODY: &str = r#"{"genres":[{"id":28,"name":"Action"}],"source":"bench-upstream"}"#;

/// Gateway against nginx, both proxying the same static upstream with one worker each.
fn gateway(
    options: &Options,
    root: &Path,
    out: &Path,
    deps: &Dependencies,
    report: &mut Report,
) -> Result<()> {
    let wrk = deps::ensure_debian_tool("wrk", "wrk")?;
    let nginx = deps::ensure_debian_tool("nginx", "nginx-light")?;
    // The same build as the stack's (all five services at once): building the gateway alone
    // unifies features differently and recompiles its dependencies.
    let bin = crate::stack::build(root, true)?;

    let upstream_port = free_port()?;
    let nginx_port = free_port()?;
    let upstream = Nginx::start(
        &nginx,
        &out.join("nginx-upstream"),
        &format!(
            "server {{ listen 127.0.0.1:{upstream_port}; location / {{ \
               default_type application/json; return 200 '{STATIC_BODY}'; }} }}"
        ),
        upstream_port,
    )?;
    let proxy = Nginx::start(
        &nginx,
        &out.join("nginx-proxy"),
        &format!(
            "upstream static {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
             server {{ listen 127.0.0.1:{nginx_port}; location / {{
               proxy_pass http://static; proxy_http_version 1.1;
               proxy_set_header Connection \"\"; }} }}"
        ),
        nginx_port,
    )?;
    let gateway = |limits: bool| -> Result<Running> {
        let port = free_port()?;
        let upstream = format!("http://127.0.0.1:{upstream_port}");
        let mut command = Command::new(bin.join("gateway"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("HTTP_HOST", "127.0.0.1")
            .env("HTTP_WORKERS", "1")
            .env("REDIS_URL", deps.redis_url())
            .env("AUTH_JWKS_URL", format!("{upstream}/.well-known/jwks.json"))
            .env("RATE_LIMIT_ENABLED", limits.to_string())
            // Every request admitted: the cost of the check is measured, not refusals.
            .env("RATE_LIMIT_API_IP_BURST", "1000000")
            .env("RATE_LIMIT_API_IP_PER_MINUTE", "60000000")
            .env("LOG_FORMAT", "json");
        for pool in ["AUTH", "USERS", "MOVIES", "CHAT"] {
            command.env(format!("{pool}_UPSTREAMS"), &upstream);
        }
        let name = if limits { "gateway-limits" } else { "gateway" };
        Running::start(name, command, port, &out.join(format!("{name}.log")))
    };
    let plain = gateway(false)?;
    let limited = gateway(true)?;

    let path = "/v1/movies/genres";
    let targets: [(&str, u16, Vec<u32>); 4] = [
        ("upstream, direct", upstream_port, upstream.pids()),
        ("nginx proxy_pass + keepalive", nginx_port, proxy.pids()),
        ("gateway, rate limits off", plain.port, vec![plain.pid()]),
        ("gateway, rate limits on", limited.port, vec![limited.pid()]),
    ];
    let mut results: Vec<Vec<WrkRun>> = vec![Vec::new(); targets.len()];
    for round in 1..=options.rounds() {
        for ((name, port, pids), runs) in targets.iter().zip(&mut results) {
            let url = format!("http://127.0.0.1:{port}{path}");
            // A short warm-up opens the upstream connections.
            wrk_run(&wrk, &url, Duration::from_secs(1), pids)?;
            let run = step(&format!("gateway round {round}: {name}"), || {
                wrk_run(&wrk, &url, options.load_duration(), pids)
            })?;
            runs.push(run);
        }
    }
    let summary: Vec<WrkRun> = results.iter().map(|runs| WrkRun::median(runs)).collect();
    let direct = &summary[0];
    let nginx_row = &summary[1];
    report.line(&format!(
        "## Gateway proxy (wrk -t1 -c32 -d{}s --latency, GET {path}, 64-byte JSON upstream, one \
         worker per proxy)\n",
        options.load_duration().as_secs()
    ));
    report.line(
        "| target | RPS | p50 | p99 | CPU per request | non-2xx | RPS vs nginx | p50 over direct | wrk's CPU |",
    );
    report.line("|---|---|---|---|---|---|---|---|---|");
    for ((name, _, _), row) in targets.iter().zip(&summary) {
        report.line(&format!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.0} µs | {} | {:.2}× | {:+.2} ms | {:.0} % |",
            row.rps,
            row.p50_ms,
            row.p99_ms,
            row.cpu_us_per_request,
            row.errors,
            row.rps / nginx_row.rps,
            row.p50_ms - direct.p50_ms,
            row.wrk_cpu_share * 100.0,
        ));
    }
    report.line(
        "\nwrk's CPU is its one thread's share of a core: near 100 % the load generator, not the \
         target, limits the row (expected only for the static upstream asked directly).\n",
    );
    drop((plain, limited, proxy, upstream));
    Ok(())
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
struct WrkRun {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Answers by status class, when the run's script counts them (`statuses ok=N shed=N
    /// other=N`): 2xx, 503, anything else.
    statuses: Option<[u64; 3]>,
    /// CPU the target's processes spent per request.
    cpu_us_per_request: f64,
    /// wrk's own CPU time over the wall time.
    wrk_cpu_share: f64,
}

impl WrkRun {
    /// The median of each figure over `runs` (each taken separately).
    fn median(runs: &[WrkRun]) -> WrkRun {
        let pick = |field: fn(&WrkRun) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(field).collect();
            median(&mut values)
        };
        WrkRun {
            rps: pick(|r| r.rps),
            p50_ms: pick(|r| r.p50_ms),
            p99_ms: pick(|r| r.p99_ms),
            errors: runs.iter().map(|r| r.errors).sum(),
            statuses: runs
                .iter()
                .filter_map(|r| r.statuses)
                .reduce(|a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]),
            cpu_us_per_request: pick(|r| r.cpu_us_per_request),
            wrk_cpu_share: pick(|r| r.wrk_cpu_share),
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs `wrk -t1 -c32` against `url` for `duration`; the CPU of `pids` is read around it.
fn wrk_run(wrk: &Path, url: &str, duration: Duration, pids: &[u32]) -> Result<WrkRun> {
    wrk_with(wrk, &["-c32"], url, duration, pids)
}

/// Runs wrk (one thread, `--latency`) with `args` (connections, `-s script`, `-H header`)
/// against `url` for `duration`; the CPU of `pids` is read around it.
fn wrk_with(
    wrk: &Path,
    args: &[&str],
    url: &str,
    duration: Duration,
    pids: &[u32],
) -> Result<WrkRun> {
    let cpu_before: f64 = pids.iter().map(|pid| cpu_seconds(*pid)).sum();
    let children_before = children_cpu_seconds();
    let started = Instant::now();
    let output = Command::new(wrk)
        .args(["-t1", "--latency", "--timeout", "10s"])
        .args(args)
        .arg(format!("-d{}s", duration.as_secs()))
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .context("cannot run wrk")?;
    let wall = started.elapsed().as_secs_f64();
    let cpu_after: f64 = pids.iter().map(|pid| cpu_seconds(*pid)).sum();
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut run = parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))?;
    let requests = run.rps * duration.as_secs_f64();
    if requests > 0.0 {
        run.cpu_us_per_request = (cpu_after - cpu_before) * 1e6 / requests;
    }
    run.wrk_cpu_share = (children_cpu_seconds() - children_before) / wall;
    Ok(run)
}

/// RPS, p50, p99 and the error count of wrk's `--latency` report.
fn parse_wrk(text: &str) -> Option<WrkRun> {
    let mut run = WrkRun::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            run.rps = rest.trim().parse().ok()?;
        } else if let Some(rest) = line.strip_prefix("50%") {
            run.p50_ms = duration_ms(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("99%") {
            run.p99_ms = duration_ms(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors += rest.trim().parse::<u64>().ok()?;
        } else if let Some(rest) = line.strip_prefix("statuses ") {
            let count = |name: &str| {
                rest.split_whitespace()
                    .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            };
            run.statuses = Some([count("ok")?, count("shed")?, count("other")?]);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            run.errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    (run.rps > 0.0).then_some(run)
}

/// wrk's durations: `950.00us`, `2.84ms`, `1.02s`.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

/// User + system CPU seconds of a process, 0 when it cannot be read.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    // utime and stime: fields 14 and 15 of /proc/<pid>/stat.
    stat_seconds(&format!("/proc/{pid}/stat"), 14)
}

/// CPU seconds of this process's finished (waited-for) children.
pub(crate) fn children_cpu_seconds() -> f64 {
    // cutime and cstime: fields 16 and 17.
    stat_seconds("/proc/self/stat", 16)
}

/// The sum of fields `field` and `field + 1` (1-based, as in proc(5)) of a Linux `stat`
/// file, in clock ticks of 1/100 s, as seconds; 0 when it cannot be read.
fn stat_seconds(path: &str, field: usize) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields 3 and later follow the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |field: usize| fields.get(field - 3).and_then(|f| f.parse::<f64>().ok());
    ticks(field)
        .zip(ticks(field + 1))
        .map_or(0.0, |(user, system)| (user + system) / 100.0)
}

/// A free local port (the OS picks one; it is released for the process that will use it).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts on `port`, or `child` exits, for at most 30 s.
fn wait_listening(name: &str, child: &mut Child, port: u16, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{name} exited ({status}) while starting; its log: {}",
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{name} did not listen on {port} within 30 s; its log: {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A process started for the benchmark; killed when dropped.
struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn start(name: &str, mut command: Command, port: u16, log: &Path) -> Result<Self> {
        let file = std::fs::File::create(log)?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        if let Err(error) = wait_listening(name, &mut child, port, log) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
        Ok(Self { child, port })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An nginx with one worker, its own configuration, pid file and logs under `dir`. Dropping
/// it stops the master with SIGTERM, which stops its worker (a SIGKILL would orphan it).
struct Nginx {
    running: Running,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = self.running.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.running.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left, `Running`'s own drop kills.
    }
}

impl Nginx {
    fn start(nginx: &Path, dir: &Path, servers: &str, port: u16) -> Result<Self> {
        std::fs::create_dir_all(dir.join("temp"))?;
        let d = dir.display();
        let config = format!(
            "worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/temp/body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    keepalive_requests 1000000;
    {servers}
}}
"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config)?;
        let mut command = Command::new(nginx);
        command.arg("-c").arg(&path).arg("-p").arg(dir);
        let running = Running::start("nginx", command, port, &dir.join("stdout.log"))?;
        Ok(Self { running })
    }

    /// The master and its worker.
    fn pids(&self) -> Vec<u32> {
        let master = self.running.pid();
        let mut pids = vec![master];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                let parent = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
                if parent == Some(master) {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

/// Quick self-checks of the parsing.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn wrk_reports_are_read() {
        let text = "Running 4s test @ http://127.0.0.1:1/x
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  950.00us
     75%    1.20ms
     90%    1.50ms
     99%    2.84ms
  110000 requests in 4.00s, 20.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  27500.50
Transfer/sec:      5.00MB";
        let run = parse_wrk(text).unwrap();
        assert_eq!(run.rps, 27500.5);
        assert_eq!(run.p50_ms, 0.95);
        assert_eq!(run.p99_ms, 2.84);
        assert_eq!(run.errors, 7);
        assert_eq!(duration_ms("1.02s"), Some(1020.0));
        assert!(parse_wrk("garbage").is_none());
    }

    #[test]
    fn suites_and_flags_parse() {
        let options = Options::parse(&args(&["--quick", "gateway"])).unwrap();
        assert!(options.quick);
        assert_eq!(options.suites, vec![Suite::Gateway]);
        assert_eq!(Options::parse(&[]).unwrap().suites.len(), 8);
        let fanout = Options::parse(&args(&["fanout"])).unwrap();
        assert_eq!(fanout.suites, vec![Suite::Fanout]);
        assert!(Options::parse(&args(&["--fast"])).is_err());
    }

    #[test]
    fn cpu_time_is_read_from_proc() {
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(200) {
            std::hint::black_box(0u64);
        }
        assert!(cpu_seconds(std::process::id()) > 0.0);
        assert_eq!(cpu_seconds(u32::MAX), 0.0, "no such process");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0]), 2.5);
    }
}
