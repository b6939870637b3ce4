//! A private PostgreSQL server for fault tests, made from the machine's own PostgreSQL
//! binaries (`initdb`, `pg_ctl`; found with `pg_config --bindir`).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::Command;

/// How long `pg_ctl` may take to start or stop the server.
const PG_CTL_WAIT: Duration = Duration::from_secs(30);

/// A PostgreSQL server on a free port with its own data directory (user `postgres`, trust
/// authentication or a SCRAM password, no fsync), so a test can stop and restart it without
/// disturbing the shared server other tests use. Stopped and deleted when dropped.
///
/// PostgreSQL refuses to run as root; as root, its commands run as the `postgres` user.
#[derive(Debug)]
pub struct PostgresProcess {
    port: u16,
    /// Holds `data/` (the cluster), the socket and the server's log.
    dir: PathBuf,
    bin: PathBuf,
    /// The `postgres` user's password, when the server asks for one (SCRAM-SHA-256).
    password: Option<String>,
}

impl PostgresProcess {
    /// Creates the cluster (trust authentication) and starts the server; panics with the
    /// reason if it cannot.
    pub async fn start() -> Self {
        Self::create(None).await
    }

    /// Like [`PostgresProcess::start`], but every connection must authenticate with
    /// SCRAM-SHA-256 (PostgreSQL's default since 14): `postgres`'s password is `password`.
    pub async fn start_with_password(password: &str) -> Self {
        Self::create(Some(password.to_owned())).await
    }

    async fn create(password: Option<String>) -> Self {
        let bin = bindir().await;
        let dir = std::env::temp_dir().join(format!(
            "marquee-postgres-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the private PostgreSQL");
        if running_as_root() {
            let chowned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .await;
            assert!(
                chowned.is_ok_and(|s| s.success()),
                "cannot hand {} to the postgres user",
                dir.display()
            );
        }
        let server = Self {
            port: crate::free_port(),
            dir,
            bin,
            password,
        };
        let data = server.data_dir();
        let mut initdb = vec![
            "-D".to_owned(),
            path_str(&data).to_owned(),
            "-U".to_owned(),
            "postgres".to_owned(),
            "--encoding=UTF8".to_owned(),
            "--no-sync".to_owned(),
        ];
        match &server.password {
            None => initdb.push("--auth=trust".to_owned()),
            Some(password) => {
                let file = server.dir.join("password");
                std::fs::write(&file, format!("{password}\n")).expect("the password file");
                initdb.push("--auth=scram-sha-256".to_owned());
                initdb.push(format!("--pwfile={}", path_str(&file)));
            }
        }
        let initdb: Vec<&str> = initdb.iter().map(String::as_str).collect();
        server.run("initdb", &initdb).await;
        server.start_again().await;
        server
    }

    /// `postgres://postgres[:password]@127.0.0.1:<port>/postgres`, for
    /// `TestDatabase::create_on`.
    pub fn url(&self) -> String {
        let credentials = match &self.password {
            Some(password) => format!("postgres:{password}"),
            None => "postgres".to_owned(),
        };
        format!("postgres://{credentials}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: open connections are cut, as in a restart or a
    /// failover) and waits until it has.
    pub async fn stop(&mut self) {
        let data = self.data_dir();
        let wait = PG_CTL_WAIT.as_secs().to_string();
        self.run(
            "pg_ctl",
            &[
                "stop",
                "-D",
                path_str(&data),
                "-m",
                "fast",
                "-w",
                "-t",
                &wait,
            ],
        )
        .await;
    }

    /// Starts the server (again) on the same port and waits until it accepts connections.
    pub async fn start_again(&self) {
        let data = self.data_dir();
        let log = self.dir.join("postgres.log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            path_str(&self.dir)
        );
        let wait = PG_CTL_WAIT.as_secs().to_string();
        self.run(
            "pg_ctl",
            &[
                "start",
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "-t",
                &wait,
            ],
        )
        .await;
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs PostgreSQL tool `tool` (as `postgres` when running as root); panics with its
    /// output when it fails.
    async fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(PG_CTL_WAIT + Duration::from_secs(10), output)
            .await
            .unwrap_or_else(|_| panic!("{tool} {args:?} did not finish"))
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed ({}):\n{}{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
        );
    }
}

impl Drop for PostgresProcess {
    fn drop(&mut self) {
        let data = self.data_dir();
        let program = self.bin.join("pg_ctl");
        let args = ["stop", "-D", path_str(&data), "-m", "immediate", "-w"];
        let _ = if running_as_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            std::process::Command::new(&program).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where the PostgreSQL server binaries are: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep them there, off `PATH`).
async fn bindir() -> PathBuf {
    let has_tools = |dir: &Path| dir.join("initdb").exists() && dir.join("pg_ctl").exists();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .await
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .filter(|dir| has_tools(dir));
    if let Some(dir) = from_pg_config {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).unwrap_or_else(|| {
        panic!(
            "no initdb and pg_ctl (neither `pg_config --bindir` nor /usr/lib/postgresql/*/bin); \
             install the PostgreSQL server package"
        )
    })
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}
