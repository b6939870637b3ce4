//! The suites that need the whole platform, built optimised and started on ports 18080–18085
//! with databases of their own (`marquee_bench_auth`, …, kept between runs), so a running
//! `cargo xtask up` is left alone:
//!
//! - `logins`: a sign-in storm (16 connections posting correct passwords through the
//!   gateway, waiting the `Retry-After` of each 503 like the web app) against the bcrypt
//!   limit of the hashing threads, and what it costs other endpoints: their p99 while idle
//!   and during the storm.
//! - `profiles`: `GET /v1/users/{id}` with a warm cache against `redis-benchmark GET`, and on
//!   cache misses over many imported profiles against `pgbench -S`, at 32 connections each,
//!   directly and through the gateway.
//! - `websocket`: ping/pong round trips on 8 sockets in a closed loop (k6), and handshakes one
//!   after another, through the gateway, through nginx and straight to chat-1.
//! - `sockets`: the memory (RSS) one chat instance holds per idle authenticated WebSocket,
//!   1 000 then 2 000 of them opened by k6, and how much it gives back once they closed.
//! - `fanout`: messages sent on chat-1 at 20, 100, 300 and 1 000 per second (k6,
//!   `loadtest/fanout.js`) to 1 000 sockets on chat-2 in 100 rooms: delivery latency, and
//!   every delivery lost, duplicated or out of order.
//!
//! Rate limits stay on with quotas high enough that the load is measured, not refused.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::AtomicBool,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{Options, Report, WrkRun, median, wrk_with};
use crate::{
    database_url::ServerUrl,
    deps::{Dependencies, ensure_debian_tool, on_path},
    stack::{self, Ports, Stack, StackConfig},
};

const GATEWAY_PORT: u16 = 18080;
const SERVICES_FROM: u16 = 18081;
const PASSWORD: &str = "correct horse battery staple";
/// Accounts the sign-in storm cycles through.
const STORM_ACCOUNTS: usize = 32;
/// The account the profile reads sign in with.
const READER_ACCOUNT: usize = 1000;

/// Starts the optimised stack for these suites.
pub fn start(deps: &Dependencies, out: &Path) -> Result<Stack> {
    let unlimited = |name: &'static str| [(name, "1000000".to_owned())];
    let mut extra_env: Vec<(&'static str, String)> = Vec::new();
    for (burst, per_minute) in [
        ("RATE_LIMIT_API_IP_BURST", "RATE_LIMIT_API_IP_PER_MINUTE"),
        (
            "RATE_LIMIT_API_USER_BURST",
            "RATE_LIMIT_API_USER_PER_MINUTE",
        ),
        ("RATE_LIMIT_AUTH_IP_BURST", "RATE_LIMIT_AUTH_IP_PER_MINUTE"),
        (
            "RATE_LIMIT_AUTH_USER_BURST",
            "RATE_LIMIT_AUTH_USER_PER_MINUTE",
        ),
        ("AUTH_IP_LIMIT_BURST", "AUTH_IP_LIMIT_PER_MINUTE"),
    ] {
        extra_env.extend(unlimited(burst));
        extra_env.push((per_minute, "60000000".to_owned()));
    }
    extra_env.push(("LOG_FORMAT", "json".to_owned()));
    let config = StackConfig {
        release: true,
        ports: Ports::new(&stack::Options {
            release: true,
            gateway_port: GATEWAY_PORT,
            services_from: SERVICES_FROM,
        }),
        dev: out.join("stack"),
        database_prefix: "marquee_bench_",
        extra_env,
    };
    Stack::start(deps, &config, &AtomicBool::new(false))
}

/// The sign-in storm; see the module docs.
pub fn logins(options: &Options, stack: &Stack, out: &Path, report: &mut Report) -> Result<()> {
    let wrk = ensure_debian_tool("wrk", "wrk")?;
    let gateway = port(stack, "gateway")?;
    let users = port(stack, "users")?;
    crate::deps::step(&format!("{STORM_ACCOUNTS} accounts to sign in"), || {
        for index in 0..STORM_ACCOUNTS {
            ensure_account(gateway, index)?;
        }
        Ok(())
    })?;
    let script = out.join("login.lua");
    std::fs::write(&script, login_script(STORM_ACCOUNTS))?;
    let script = script.display().to_string();

    let probe = if options.quick {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(8)
    };
    let probes = [
        (
            "user-service /health/ready (direct)",
            format!("http://127.0.0.1:{users}/health/ready"),
        ),
        (
            "GET /v1/movies/genres (through the gateway)",
            format!("http://127.0.0.1:{gateway}/v1/movies/genres"),
        ),
    ];
    let probe_run = |url: &str| wrk_with(&wrk, &["-c4"], url, probe, &[]);
    let mut idle: Vec<Vec<WrkRun>> = vec![Vec::new(); probes.len()];
    let mut busy: Vec<Vec<WrkRun>> = vec![Vec::new(); probes.len()];
    let mut storms = Vec::new();
    for round in 1..=options.rounds() {
        crate::deps::step(&format!("logins round {round}"), || {
            for ((_, url), runs) in probes.iter().zip(&mut idle) {
                runs.push(probe_run(url)?);
            }
            let storm_length = probe * probes.len() as u32 + Duration::from_secs(3);
            let storm = {
                let wrk = wrk.clone();
                let script = script.clone();
                let url = format!("http://127.0.0.1:{gateway}");
                std::thread::spawn(move || {
                    wrk_with(&wrk, &["-c16", "-s", &script], &url, storm_length, &[])
                })
            };
            // Let the queue fill before probing.
            std::thread::sleep(Duration::from_secs(2));
            for ((_, url), runs) in probes.iter().zip(&mut busy) {
                runs.push(probe_run(url)?);
            }
            let storm = storm
                .join()
                .map_err(|_| anyhow::anyhow!("the storm's wrk thread panicked"))??;
            storms.push((storm, storm_length));
            Ok(())
        })?;
    }

    let verify_ms = super::bcrypt_verify_ms(bcrypt_cost())?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let hashing_threads = cores.saturating_sub(1).max(1);
    let limit = hashing_threads as f64 * 1000.0 / verify_ms;
    let mut per_second: Vec<f64> = Vec::new();
    let mut shed_share: Vec<f64> = Vec::new();
    let mut p50: Vec<f64> = Vec::new();
    let mut others = 0;
    for (run, length) in &storms {
        let [ok, shed, other] = run.statuses.context("the login script counts statuses")?;
        per_second.push(ok as f64 / length.as_secs_f64());
        shed_share.push(shed as f64 / (ok + shed + other).max(1) as f64);
        p50.push(run.p50_ms);
        others += other + run.errors.saturating_sub(shed + other);
    }
    let rate = median(&mut per_second);
    report.line(&format!(
        "## Sign-in storm (wrk -t1 -c16 POST /v1/auth/login through the gateway, correct \
         passwords of {STORM_ACCOUNTS} accounts, BCRYPT_COST {})\n",
        bcrypt_cost()
    ));
    report.line("| measure | result | reference | ratio |");
    report.line("|---|---|---|---|");
    report.line(&format!(
        "| sign-ins per second | {rate:.2} | bcrypt limit of {hashing_threads} hashing \
         thread(s) at {verify_ms:.0} ms: {limit:.2}/s | {:.2}× |",
        rate / limit
    ));
    report.line(&format!(
        "| answered 503 `busy` (shed) | {:.0} % | | |",
        median(&mut shed_share) * 100.0
    ));
    report.line(&format!(
        "| p50 of every answer (sign-ins and sheds) | {:.0} ms | | |",
        median(&mut p50)
    ));
    report.line(&format!(
        "| other answers (not 200, not 503) and socket errors | {others} | 0 | |"
    ));
    for (((name, _), idle), busy) in probes.iter().zip(&idle).zip(&busy) {
        let idle = WrkRun::median(idle);
        let busy = WrkRun::median(busy);
        report.line(&format!(
            "| p99 of {name}, wrk -c4 | {:.1} ms during the storm | {:.1} ms idle | ×{:.1} |",
            busy.p99_ms,
            idle.p99_ms,
            busy.p99_ms / idle.p99_ms.max(0.001)
        ));
    }
    report.line("");
    Ok(())
}

/// Profile reads against Redis and PostgreSQL; see the module docs.
pub fn profiles(
    options: &Options,
    stack: &Stack,
    deps: &Dependencies,
    out: &Path,
    report: &mut Report,
) -> Result<()> {
    let wrk = ensure_debian_tool("wrk", "wrk")?;
    let gateway = port(stack, "gateway")?;
    let users = port(stack, "users")?;
    // An account of its own: the storm's accounts may be paused by the per-address lock.
    ensure_account(gateway, READER_ACCOUNT)?;
    let (token, id) = sign_in(gateway, READER_ACCOUNT)?;
    let auth = format!("Authorization: Bearer {token}");
    let duration = if options.quick {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(10)
    };
    let users_pid = stack
        .process("users")
        .map(|p| p.pid())
        .into_iter()
        .collect::<Vec<_>>();

    // Many profiles, so that random reads miss the cache.
    let count: usize = if options.quick { 100_000 } else { 1_000_000 };
    let ids = imported_profiles(deps, out, count)?;
    let script = out.join("random-profile.lua");
    std::fs::write(&script, random_profile_script(&ids, &token))?;
    let script = script.display().to_string();

    let server = ServerUrl::parse(deps.database_url())?;
    ensure_scratch_database(&server, "marquee_bench_pgbench")?;
    let pgbench_url = server.database_url("marquee_bench_pgbench");
    let pgbench = on_path("pgbench").context("pgbench is missing (Debian: postgresql-client)")?;
    crate::deps::step("pgbench -i -s 10 (1 000 000 accounts)", || {
        crate::python_tools::run_quiet(
            Command::new(&pgbench)
                .args(["-i", "-q", "-s", "10"])
                .arg(&pgbench_url),
        )
    })?;
    let redis_benchmark = ensure_debian_tool("redis-benchmark", "redis-tools")?;
    let (redis_host, redis_port) = redis_address(deps.redis_url())?;

    let warm_direct = format!("http://127.0.0.1:{users}/v1/users/{id}");
    let warm_gateway = format!("http://127.0.0.1:{gateway}/v1/users/{id}");
    let mut rows: [Vec<WrkRun>; 4] = Default::default();
    let (mut redis_rps, mut pgbench_tps) = (Vec::new(), Vec::new());
    for round in 1..=options.rounds() {
        crate::deps::step(&format!("profiles round {round}"), || {
            // One read fills the cache.
            wrk_with(
                &wrk,
                &["-c1", "-H", &auth],
                &warm_direct,
                Duration::from_secs(1),
                &[],
            )?;
            let direct = format!("http://127.0.0.1:{users}");
            let through = format!("http://127.0.0.1:{gateway}");
            let reads: [(&[&str], &str); 4] = [
                (&["-c32", "-H", &auth], &warm_direct),
                (&["-c32", "-H", &auth], &warm_gateway),
                (&["-c32", "-s", &script], &direct),
                (&["-c32", "-s", &script], &through),
            ];
            for ((args, url), runs) in reads.into_iter().zip(&mut rows) {
                runs.push(wrk_with(&wrk, args, url, duration, &users_pid)?);
            }
            redis_rps.push(redis_get_rps(
                &redis_benchmark,
                &redis_host,
                redis_port,
                options.quick,
            )?);
            pgbench_tps.push(pgbench_select_tps(&pgbench, &pgbench_url, duration)?);
            Ok(())
        })?;
    }
    let [warm_d, warm_g, miss_d, miss_g] = rows.map(|runs| WrkRun::median(&runs));
    let redis = median(&mut redis_rps);
    let pg = median(&mut pgbench_tps);
    report.line(&format!(
        "## Profile reads (GET /v1/users/{{id}}, wrk -t1 -c32 -d{}s, signed in)\n",
        duration.as_secs()
    ));
    report.line(
        "| read | direct: RPS, p50, p99 | through the gateway: RPS, p50, p99 | reference (32 clients) | ratio direct / gateway |",
    );
    report.line("|---|---|---|---|---|");
    let cell = |run: &WrkRun| {
        format!(
            "{:.0}, {:.2} ms, {:.2} ms{}",
            run.rps,
            run.p50_ms,
            run.p99_ms,
            if run.errors > 0 {
                format!(" (**{} errors**)", run.errors)
            } else {
                String::new()
            }
        )
    };
    report.line(&format!(
        "| warm cache (one profile) | {} | {} | redis-benchmark GET: {redis:.0}/s | {:.2}× / {:.2}× |",
        cell(&warm_d),
        cell(&warm_g),
        warm_d.rps / redis,
        warm_g.rps / redis
    ));
    report.line(&format!(
        "| cache misses (random among {count} profiles) | {} | {} | pgbench -S -j 2: {pg:.0} TPS | {:.2}× / {:.2}× |",
        cell(&miss_d),
        cell(&miss_g),
        miss_d.rps / pg,
        miss_g.rps / pg
    ));
    report.line(&format!(
        "\nuser-service CPU per warm read: {:.0} µs; per miss: {:.0} µs\n",
        warm_d.cpu_us_per_request, miss_d.cpu_us_per_request
    ));
    Ok(())
}

/// The account the WebSocket round trips sign in with.
const PING_ACCOUNT: usize = 1002;

/// WebSocket round trips and handshakes through the gateway, through nginx and direct; see
/// the module docs.
pub fn websocket(
    options: &Options,
    stack: &Stack,
    root: &Path,
    out: &Path,
    report: &mut Report,
) -> Result<()> {
    let gateway = port(stack, "gateway")?;
    let chat = port(stack, "chat-1")?;
    ensure_account(gateway, PING_ACCOUNT)?;
    let (token, _) = sign_in(gateway, PING_ACCOUNT)?;
    let k6 = crate::python_tools::k6(root)?;
    let nginx_binary = ensure_debian_tool("nginx", "nginx-light")?;
    let nginx_port = super::free_port()?;
    let nginx = super::Nginx::start(
        &nginx_binary,
        &out.join("nginx-websocket"),
        &format!(
            "server {{ listen 127.0.0.1:{nginx_port}; location / {{
               proxy_pass http://127.0.0.1:{chat}; proxy_http_version 1.1;
               proxy_set_header Upgrade $http_upgrade;
               proxy_set_header Connection \"upgrade\";
               proxy_read_timeout 1h; }} }}"
        ),
        nginx_port,
    )?;
    let seconds: u32 = if options.quick { 4 } else { 10 };
    let handshakes: u32 = if options.quick { 50 } else { 200 };
    const SOCKETS: u32 = 8;
    let targets = [
        ("through the gateway", gateway),
        ("through nginx (1 worker)", nginx_port),
        ("chat-1 directly", chat),
    ];
    let k6_run = |script: &str, port: u16, vars: &[String], summary: &Path| -> Result<Value> {
        let mut command = Command::new(&k6);
        command
            .current_dir(root)
            .args(["run", "--quiet", "--summary-export"])
            .arg(summary)
            .args(["-e", &format!("WS_URL=ws://127.0.0.1:{port}/v1/chat/ws")])
            .args(["-e", &format!("TOKEN={token}")]);
        for var in vars {
            command.args(["-e", var]);
        }
        let status = command
            .arg(script)
            .stdout(std::process::Stdio::null())
            .status()
            .context("cannot run k6")?;
        if !status.success() {
            bail!("k6 {script} against :{port} failed ({status})");
        }
        Ok(serde_json::from_str(&std::fs::read_to_string(summary)?)?)
    };
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); targets.len()];
    for round in 1..=options.rounds() {
        crate::deps::step(&format!("websocket round {round}"), || {
            for ((_, port), runs) in targets.iter().zip(&mut results) {
                let summary = k6_run(
                    "loadtest/ws-ping.js",
                    *port,
                    &[format!("SOCKETS={SOCKETS}"), format!("DURATION={seconds}")],
                    &out.join(format!("ws-ping-{port}.json")),
                )?;
                let pongs = summary["metrics"]["ws_pongs"]["count"]
                    .as_f64()
                    .context("no ws_pongs in the k6 summary")?;
                let summary = k6_run(
                    "loadtest/ws-handshake.js",
                    *port,
                    &[format!("COUNT={handshakes}")],
                    &out.join(format!("ws-handshake-{port}.json")),
                )?;
                let handshake = summary["metrics"]["ws_connecting"]["med"]
                    .as_f64()
                    .context("no ws_connecting in the k6 summary")?;
                runs.push((pongs / f64::from(seconds), handshake));
            }
            Ok(())
        })?;
    }
    drop(nginx);
    let medians: Vec<(f64, f64)> = results
        .iter()
        .map(|runs| {
            let mut rates: Vec<f64> = runs.iter().map(|r| r.0).collect();
            let mut handshakes: Vec<f64> = runs.iter().map(|r| r.1).collect();
            (median(&mut rates), median(&mut handshakes))
        })
        .collect();
    let direct = medians[2].0;
    report.line(&format!(
        "## WebSocket relay ({SOCKETS} sockets, ping → pong in a closed loop for {seconds} s; \
         then {handshakes} handshakes one after another; k6)\n"
    ));
    report.line(
        "| target | round trips/s | mean round trip | handshake (median) | vs direct | vs nginx |",
    );
    report.line("|---|---|---|---|---|---|");
    let nginx_rate = medians[1].0;
    for ((name, _), (rate, handshake)) in targets.iter().zip(&medians) {
        // Closed loop: each socket always has one ping out, so the mean round trip is the
        // sockets over the rate (Little's law) — finer than k6's millisecond clock.
        report.line(&format!(
            "| {name} | {rate:.0} | {:.2} ms | {handshake:.2} ms | {:.2}× | {:.2}× |",
            f64::from(SOCKETS) * 1000.0 / rate.max(1.0),
            rate / direct.max(1.0),
            rate / nginx_rate.max(1.0)
        ));
    }
    report.line("");
    Ok(())
}

/// The account the idle sockets sign in with.
const SOCKETS_ACCOUNT: usize = 1001;

/// Memory per idle socket; see the module docs.
pub fn sockets(options: &Options, stack: &Stack, root: &Path, report: &mut Report) -> Result<()> {
    let gateway = port(stack, "gateway")?;
    let chat = stack.process("chat-1").context("chat-1 is not running")?;
    let (chat_port, chat_pid) = (chat.port(), chat.pid());
    ensure_account(gateway, SOCKETS_ACCOUNT)?;
    let (token, _) = sign_in(gateway, SOCKETS_ACCOUNT)?;
    let k6 = crate::python_tools::k6(root)?;
    let hold = if options.quick { 12 } else { 20 };
    let mut rows = Vec::new();
    let started_rss = rss_kib(chat_pid)?;
    for sockets in [1000_u32, 2000] {
        let before = rss_kib(chat_pid)?;
        let mut k6_run = Command::new(&k6)
            .current_dir(root)
            .args(["run", "--quiet", "--no-summary"])
            .args([
                "-e",
                &format!("WS_URL=ws://127.0.0.1:{chat_port}/v1/chat/ws"),
            ])
            .args(["-e", &format!("TOKEN={token}")])
            .args(["-e", &format!("SOCKETS={sockets}")])
            .args(["-e", &format!("HOLD={hold}")])
            .arg("loadtest/idle-sockets.js")
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("cannot run k6")?;
        // Every socket open (bounded), then a moment for the instance to settle.
        let deadline = std::time::Instant::now() + Duration::from_secs(hold / 2);
        while connections(chat_port)? < f64::from(sockets) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        let open = connections(chat_port)?;
        std::thread::sleep(Duration::from_secs(2));
        let holding = rss_kib(chat_pid)?;
        let status = k6_run.wait()?;
        if !status.success() {
            bail!("k6 idle-sockets failed ({status}): not every socket connected");
        }
        // The sockets closed: what is given back.
        std::thread::sleep(Duration::from_secs(5));
        let after = rss_kib(chat_pid)?;
        rows.push((sockets, open, before, holding, after));
    }
    report.line(&format!(
        "## Memory per idle authenticated WebSocket (chat-1, k6 sockets held {hold} s)\n"
    ));
    report.line("| sockets | open at the reading | RSS before | RSS holding them | per socket | RSS 5 s after they closed |");
    report.line("|---|---|---|---|---|---|");
    for (sockets, open, before, holding, after) in rows {
        report.line(&format!(
            "| {sockets} | {open:.0} | {:.1} MB | {:.1} MB | {:.1} KB | {:.1} MB |",
            before as f64 / 1024.0,
            holding as f64 / 1024.0,
            (holding.saturating_sub(before)) as f64 * 1.024 / f64::from(sockets),
            after as f64 / 1024.0,
        ));
    }
    report.line(&format!(
        "\nchat-1's RSS when the suite began: {:.1} MB. Reference: Centrifugo documents ≈ 30 KB \
         per idle connection.\n",
        started_rss as f64 / 1024.0
    ));
    Ok(())
}

/// The account that creates the fan-out rooms (and opens no socket).
const FANOUT_OWNER_ACCOUNT: usize = 1999;
/// Rooms of each fan-out run; the sockets in room n sign in as account
/// `FANOUT_FIRST_ACCOUNT + n`.
const FANOUT_FIRST_ACCOUNT: usize = 2000;
const FANOUT_ROOMS: usize = 100;
/// Receivers on chat-2, an even number per room.
const FANOUT_RECEIVERS: usize = 1000;
/// From the start of k6 to the first send: every receiver is in its room by then.
const FANOUT_WARMUP: Duration = Duration::from_secs(12);

/// One fan-out run of `loadtest/fanout.js`, as read from its k6 summary.
#[derive(Debug, Clone, Copy, Default)]
struct FanoutRun {
    sent: f64,
    acked: f64,
    delivered: f64,
    duplicates: f64,
    out_of_order: f64,
    joined: f64,
    error_frames: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    /// CPU cores used while sending by chat-1 (sending), chat-2 (delivering) and k6.
    cores: [f64; 3],
    /// CPU cores busy on the whole machine while sending.
    machine_cores: f64,
}

/// Chat fan-out from chat-1 to chat-2 at several message rates; see the module docs.
pub fn fanout(
    options: &Options,
    stack: &Stack,
    root: &Path,
    out: &Path,
    report: &mut Report,
) -> Result<()> {
    let gateway = port(stack, "gateway")?;
    let sender = stack.process("chat-1").context("chat-1 is not running")?;
    let receiver = stack.process("chat-2").context("chat-2 is not running")?;
    let mut tokens = Vec::new();
    crate::deps::step(&format!("{FANOUT_ROOMS} accounts for the fan-out"), || {
        ensure_account(gateway, FANOUT_OWNER_ACCOUNT)?;
        tokens.push(sign_in(gateway, FANOUT_OWNER_ACCOUNT)?.0);
        for index in FANOUT_FIRST_ACCOUNT..FANOUT_FIRST_ACCOUNT + FANOUT_ROOMS {
            ensure_account(gateway, index)?;
            tokens.push(sign_in(gateway, index)?.0);
        }
        Ok(())
    })?;
    let (owner, members) = tokens.split_first().context("the owner signed in")?;
    let k6 = crate::python_tools::k6(root)?;
    let seconds: u32 = if options.quick { 5 } else { 10 };
    let rates: &[u32] = if options.quick {
        &[100, 1000]
    } else {
        &[20, 100, 300, 1000]
    };
    let mut runs: Vec<Vec<FanoutRun>> = vec![Vec::new(); rates.len()];
    for round in 1..=options.rounds() {
        crate::deps::step(&format!("fan-out round {round}"), || {
            for (rate, runs) in rates.iter().zip(&mut runs) {
                let rooms = (0..FANOUT_ROOMS)
                    .map(|i| create_room(gateway, owner, &format!("fan-out {rate}/s {i}")))
                    .collect::<Result<Vec<_>>>()?;
                let summary = out.join(format!("fanout-{rate}.json"));
                let mut k6_run = Command::new(&k6)
                    .current_dir(root)
                    .args(["run", "--quiet", "--summary-export"])
                    .arg(&summary)
                    .args([
                        "-e",
                        &format!("SEND_URL=ws://127.0.0.1:{}/v1/chat/ws", sender.port()),
                    ])
                    .args([
                        "-e",
                        &format!("RECEIVE_URL=ws://127.0.0.1:{}/v1/chat/ws", receiver.port()),
                    ])
                    .args(["-e", &format!("TOKENS={}", members.join(","))])
                    .args(["-e", &format!("ROOMS={}", rooms.join(","))])
                    .args(["-e", &format!("RECEIVERS={FANOUT_RECEIVERS}")])
                    .args(["-e", &format!("RATE={rate}")])
                    .args(["-e", &format!("SECONDS={seconds}")])
                    .args(["-e", &format!("WARMUP={}", FANOUT_WARMUP.as_secs())])
                    .arg("loadtest/fanout.js")
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .context("cannot run k6")?;
                // CPU over the sending window only, not the warm-up and drain around it.
                let pids = [sender.pid(), receiver.pid(), k6_run.id()];
                std::thread::sleep(FANOUT_WARMUP);
                let cpu_before = pids.map(super::cpu_seconds);
                let machine_before = machine_busy_seconds();
                std::thread::sleep(Duration::from_secs(seconds.into()));
                let cpu_after = pids.map(super::cpu_seconds);
                let machine_after = machine_busy_seconds();
                let status = k6_run.wait()?;
                // 99: a threshold failed (error frames, a socket not connected) — the
                // counters below say which; anything else is k6 itself failing.
                if !status.success() && status.code() != Some(99) {
                    bail!("k6 fanout at {rate} msg/s failed ({status})");
                }
                let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary)?)?;
                let mut run = FanoutRun::from_summary(&summary);
                for (core, (after, before)) in
                    run.cores.iter_mut().zip(cpu_after.iter().zip(cpu_before))
                {
                    *core = (after - before) / f64::from(seconds);
                }
                run.machine_cores = (machine_after - machine_before) / f64::from(seconds);
                runs.push(run);
            }
            Ok(())
        })?;
    }
    let per_room = (FANOUT_RECEIVERS / FANOUT_ROOMS) as f64;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    report.line(&format!(
        "## Chat fan-out (send on chat-1 → delivery on chat-2; {FANOUT_RECEIVERS} receiving \
         sockets in {FANOUT_ROOMS} rooms, {per_room:.0} per room; k6, {seconds} s per rate)\n"
    ));
    report.line(
        "| messages/s | deliveries/s | delivery p50 | p99 | max | ack p50, p99 | lost | duplicated | out of order | not acknowledged | cores busy while sending: chat-1, chat-2, k6, machine |",
    );
    report.line("|---|---|---|---|---|---|---|---|---|---|---|");
    for (rate, runs) in rates.iter().zip(&runs) {
        let pick = |value: fn(&FanoutRun) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(value).collect();
            median(&mut values)
        };
        let total = |value: fn(&FanoutRun) -> f64| runs.iter().map(value).sum::<f64>();
        // Every receiver was in its room before the first send: each acknowledged message is
        // due on every receiver of its room.
        let lost = total(|run| {
            (run.acked * (FANOUT_RECEIVERS / FANOUT_ROOMS) as f64 - run.delivered).max(0.0)
        });
        let absent = total(|run| FANOUT_RECEIVERS as f64 - run.joined);
        let errors = total(|run| run.error_frames);
        report.line(&format!(
            "| {rate} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms, {:.0} ms | {lost:.0}{} | {:.0} | {:.0} | {:.0} of {:.0} | {:.2}, {:.2}, {:.2}, {:.2} of {cores} |",
            pick(|run| run.delivered) / f64::from(seconds),
            pick(|run| run.p50_ms),
            pick(|run| run.p99_ms),
            pick(|run| run.max_ms),
            pick(|run| run.ack_p50_ms),
            pick(|run| run.ack_p99_ms),
            if absent > 0.0 || errors > 0.0 {
                format!(" (**{absent:.0} receivers not in their room, {errors:.0} error frames**)")
            } else {
                String::new()
            },
            total(|run| run.duplicates),
            total(|run| run.out_of_order),
            total(|run| run.sent - run.acked),
            total(|run| run.sent),
            pick(|run| run.cores[0]),
            pick(|run| run.cores[1]),
            pick(|run| run.cores[2]),
            pick(|run| run.machine_cores),
        ));
    }
    report.line(
        "\nLatency, deliveries/s and cores are medians of the rounds; lost, duplicated, out of \
         order and not acknowledged are totals over them. Target: p99 ≤ 25 ms at 1 000 msg/s. \
         Reference: Centrifugo documents ≈ 12.5 k deliveries/s per CPU.\n",
    );
    Ok(())
}

impl FanoutRun {
    fn from_summary(summary: &Value) -> Self {
        let metrics = &summary["metrics"];
        // k6 leaves out a counter that never moved.
        let count = |name: &str| metrics[name]["count"].as_f64().unwrap_or(0.0);
        let stat = |trend: &str, name: &str| metrics[trend][name].as_f64().unwrap_or(f64::NAN);
        Self {
            sent: count("fanout_sent"),
            acked: count("fanout_acked"),
            delivered: count("fanout_delivered"),
            duplicates: count("fanout_duplicates"),
            out_of_order: count("fanout_out_of_order"),
            joined: count("fanout_receivers_joined"),
            error_frames: count("fanout_error_frames"),
            p50_ms: stat("fanout_latency", "med"),
            p99_ms: stat("fanout_latency", "p(99)"),
            max_ms: stat("fanout_latency", "max"),
            ack_p50_ms: stat("fanout_ack_latency", "med"),
            ack_p99_ms: stat("fanout_ack_latency", "p(99)"),
            cores: [0.0; 3],
            machine_cores: 0.0,
        }
    }
}

/// CPU seconds the whole machine has been busy since boot (`/proc/stat`: every state but idle
/// and iowait), 0 when it cannot be read.
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (Some(idle), Some(iowait)) = (ticks.get(3), ticks.get(4)) else {
        return 0.0;
    };
    (ticks.iter().sum::<f64>() - idle - iowait) / 100.0
}

/// Creates a public room as the holder of `token`; returns its id.
fn create_room(gateway: u16, token: &str, name: &str) -> Result<String> {
    let body = json!({"name": name, "visibility": "public"});
    let (status, text) = http(gateway, "POST", "/v1/chat/rooms", Some(&body), Some(token))?;
    if status != 201 {
        bail!("creating room {name:?} answered {status}: {text}");
    }
    let room: Value = serde_json::from_str(&text)?;
    Ok(room["id"]
        .as_str()
        .context("no id in the created room")?
        .to_owned())
}

/// A process's resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// `chat_connections` from an instance's `/metrics`.
fn connections(port: u16) -> Result<f64> {
    let (_, text) = http(port, "GET", "/metrics", None, None)?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("chat_connections "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0))
}

fn port(stack: &Stack, name: &str) -> Result<u16> {
    Ok(stack
        .process(name)
        .with_context(|| format!("{name} is not running"))?
        .port())
}

fn bcrypt_cost() -> u32 {
    std::env::var("BCRYPT_COST")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(12)
}

fn email(index: usize) -> String {
    format!("bench-{index}@bench.example")
}

/// Registers account `index` unless it exists.
fn ensure_account(gateway: u16, index: usize) -> Result<()> {
    let body = json!({
        "email": email(index),
        "password": PASSWORD,
        "display_name": format!("Bench {index}"),
    });
    let (status, text) = http(gateway, "POST", "/v1/auth/register", Some(&body), None)?;
    match status {
        201 | 409 => Ok(()),
        _ => bail!("registering {} answered {status}: {text}", email(index)),
    }
}

/// An access token and the user id of account `index`.
fn sign_in(gateway: u16, index: usize) -> Result<(String, String)> {
    let body = json!({"email": email(index), "password": PASSWORD});
    let answer = json_answer(gateway, "POST", "/v1/auth/login", Some(&body), None)?;
    let token = answer["access_token"]
        .as_str()
        .context("no access_token in the sign-in answer")?
        .to_owned();
    let me = json_answer(gateway, "GET", "/v1/users/me", None, Some(&token))?;
    let id = me["id"]
        .as_str()
        .context("no id in /v1/users/me")?
        .to_owned();
    Ok((token, id))
}

/// The JSON body of a 200 answer to [`http`]; any other status is an error that says it.
fn json_answer(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<Value> {
    let (status, text) = http(port, method, path, body, token)?;
    if status != 200 {
        bail!("{method} {path} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// One HTTP/1.1 request on a fresh connection: the status and the body (connecting bounded by
/// 5 s, writing and reading by 30 s).
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<(u16, String)> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{authorization}\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .context("an HTTP answer without a body separator")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("{method} {path}: a chunked answer (not expected here)");
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("an HTTP answer without a status")?;
    Ok((status, body.to_owned()))
}

/// `count` synthetic profiles imported into the bench users database (once: a marker file
/// remembers it); returns a file of their ids, one per line.
fn imported_profiles(deps: &Dependencies, out: &Path, count: usize) -> Result<PathBuf> {
    let csv = out.join(format!("profiles-{count}.csv"));
    let marker = out.join(format!("profiles-{count}.imported"));
    let bin = crate::workspace::target_dir(&crate::workspace::workspace_root()?).join("release");
    if !csv.is_file() {
        crate::deps::step(&format!("synthesising {count} profiles"), || {
            let file = std::fs::File::create(&csv)?;
            let status = Command::new(bin.join("user-service"))
                .args(["synthesize", "--count", &count.to_string()])
                .stdout(file)
                .status()?;
            if !status.success() {
                bail!("user-service synthesize failed ({status})");
            }
            Ok(())
        })?;
    }
    if !marker.is_file() {
        let server = ServerUrl::parse(deps.database_url())?;
        crate::deps::step(&format!("importing {count} profiles"), || {
            crate::python_tools::run_quiet(
                Command::new(bin.join("user-service"))
                    .arg("import")
                    .arg("--file")
                    .arg(&csv)
                    .env("DATABASE_URL", server.database_url("marquee_bench_users")),
            )?;
            std::fs::write(&marker, "")?;
            Ok(())
        })?;
    }
    // The importer gives each profile its id: read them back.
    let ids = out.join(format!("profiles-{count}.ids"));
    if !ids.is_file() {
        let psql = on_path("psql").context("psql is missing (Debian: postgresql-client)")?;
        let server = ServerUrl::parse(deps.database_url())?;
        let output = Command::new(psql)
            .arg(server.database_url("marquee_bench_users"))
            .args(["-At", "-c", "SELECT id FROM profiles"])
            .output()
            .context("cannot run psql")?;
        if !output.status.success() {
            bail!(
                "psql failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        std::fs::write(&ids, &output.stdout)?;
    }
    Ok(ids)
}

/// Creates `database` (no service's: pgbench's) with Debian's `createdb` unless `psql` finds
/// it; both come with `postgresql-client`, as pgbench does.
fn ensure_scratch_database(server: &ServerUrl, database: &str) -> Result<()> {
    let psql = on_path("psql").context("psql is missing (Debian: postgresql-client)")?;
    let maintenance = server.database_url("postgres");
    let output = Command::new(psql)
        .arg(&maintenance)
        .args(["-At", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{database}'"
        ))
        .output()
        .context("cannot run psql")?;
    if !output.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    if String::from_utf8_lossy(&output.stdout).trim() == "1" {
        return Ok(());
    }
    let createdb =
        on_path("createdb").context("createdb is missing (Debian: postgresql-client)")?;
    crate::python_tools::run_quiet(
        Command::new(createdb)
            .arg(format!("--maintenance-db={maintenance}"))
            .arg(database),
    )
}

/// `redis-benchmark -t get -c 32`: requests per second.
fn redis_get_rps(binary: &Path, host: &str, port: u16, quick: bool) -> Result<f64> {
    let requests = if quick { "100000" } else { "300000" };
    let output = Command::new(binary)
        .args([
            "-h",
            host,
            "-p",
            &port.to_string(),
            "-t",
            "get",
            "-c",
            "32",
            "-n",
            requests,
            "-q",
        ])
        .output()
        .context("cannot run redis-benchmark")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "GET: 39370.08 requests per second, p50=0.415 msec"
    text.lines()
        .filter_map(|line| line.rsplit('\r').next())
        .find_map(|line| {
            line.strip_prefix("GET:")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .with_context(|| format!("unexpected redis-benchmark output: {text}"))
}

/// `pgbench -S -c 32 -j 2 -T <duration>`: transactions per second.
fn pgbench_select_tps(binary: &Path, url: &str, duration: Duration) -> Result<f64> {
    let output = Command::new(binary)
        .args(["-S", "-n", "-c", "32", "-j", "2", "-T"])
        .arg(duration.as_secs().to_string())
        .arg(url)
        .output()
        .context("cannot run pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "tps = 8700.123456 (without initial connection time)"
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .with_context(|| {
            format!(
                "unexpected pgbench output: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// Host and port of a `redis://host:port` URL.
fn redis_address(url: &str) -> Result<(String, u16)> {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let address = rest.split('/').next().unwrap_or_default();
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "6379"));
    Ok((host.to_owned(), port.parse().context("REDIS_URL's port")?))
}

/// wrk script: POST a correct sign-in of one of `accounts` accounts per request, waiting a
/// second after each 503 as a client honouring `Retry-After` would, and counting answers by
/// status (printed as `statuses ok=N shed=N other=N`).
fn login_script(accounts: usize) -> String {
    format!(
        r#"local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args)
  ok, shed, other, i = 0, 0, 0, 0
  bodies = {{}}
  for n = 1, {accounts} do
    bodies[n] = string.format('{{"email":"bench-%d@bench.example","password":"{PASSWORD}"}}', n - 1)
  end
end
function request()
  i = i + 1
  return wrk.format("POST", "/v1/auth/login", {{["Content-Type"] = "application/json"}}, bodies[(i % {accounts}) + 1])
end
-- A shed sign-in is tried again after its Retry-After (1 s), as the web app does: the next
-- request of this thread waits once per 503 received.
local backoffs = 0
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 503 then shed = shed + 1; backoffs = backoffs + 1
  else other = other + 1 end
end
function delay()
  if backoffs > 0 then backoffs = backoffs - 1; return 1000 end
  return 0
end
function done(summary, latency, requests)
  local o, s, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); s = s + t:get("shed"); x = x + t:get("other") end
  io.write(string.format("statuses ok=%d shed=%d other=%d\n", o, s, x))
end
"#
    )
}

/// wrk script: GET a random one of the ids in the file `ids` (one per line) per request,
/// signed in with `token`.
fn random_profile_script(ids: &Path, token: &str) -> String {
    format!(
        r#"local ids = {{}}
for line in io.lines("{ids}") do ids[#ids + 1] = line end
local headers = {{["Authorization"] = "Bearer {token}"}}
function request()
  return wrk.format("GET", "/v1/users/" .. ids[math.random(#ids)], headers)
end
"#,
        ids = ids.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_give_host_and_port() {
        assert_eq!(
            redis_address("redis://127.0.0.1:6379").unwrap(),
            ("127.0.0.1".to_owned(), 6379)
        );
        assert_eq!(
            redis_address("rediss://:secret@cache.internal:6380/0").unwrap(),
            ("cache.internal".to_owned(), 6380)
        );
    }

    #[test]
    fn a_fanout_summary_reads_absent_counters_as_zero() {
        let summary = json!({"metrics": {
            "fanout_sent": {"count": 500, "rate": 50.0},
            "fanout_acked": {"count": 500, "rate": 50.0},
            "fanout_delivered": {"count": 5000, "rate": 500.0},
            "fanout_receivers_joined": {"count": 1000, "rate": 40.0},
            "fanout_latency": {"med": 14.0, "p(99)": 31.0, "max": 40.0, "count": 5000},
            "fanout_ack_latency": {"med": 2.0, "p(99)": 6.0, "max": 9.0, "count": 500},
        }});
        let run = FanoutRun::from_summary(&summary);
        assert_eq!((run.sent, run.acked, run.delivered), (500.0, 500.0, 5000.0));
        assert_eq!(
            (run.duplicates, run.out_of_order, run.error_frames),
            (0.0, 0.0, 0.0)
        );
        assert_eq!((run.p50_ms, run.p99_ms, run.max_ms), (14.0, 31.0, 40.0));
        assert_eq!((run.ack_p50_ms, run.ack_p99_ms), (2.0, 6.0));
    }

    #[test]
    fn the_machine_has_been_busy_since_boot() {
        assert!(machine_busy_seconds() > 0.0);
    }

    #[test]
    fn the_storm_counts_statuses() {
        let script = login_script(3);
        assert!(script.contains("statuses ok=%d shed=%d other=%d"));
        assert!(script.contains("bench-%d@bench.example"));
    }
}
