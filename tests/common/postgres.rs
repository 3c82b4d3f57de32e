//! A throwaway PostgreSQL cluster from Debian's packages, on 127.0.0.1 and
//! a free port, in a temporary directory; stopped (`-m immediate`) and
//! removed when dropped, even when the test fails.
//!
//! The binaries come from /usr/lib/postgresql/*/bin (the newest), or
//! $GAVEL_PG_BIN. As root, initdb and the server run as the `postgres`
//! user through `runuser` (PostgreSQL refuses to run as root), so the data
//! directory is under /tmp and owned by `postgres`. Missing binaries fail
//! the test naming the package, unless GAVEL_SKIP_SERVICES=1.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The Debian package that provides the server.
pub const PACKAGE: &str = "postgresql-15";

/// A running (or stopped) cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The server's binaries directory, if installed.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("GAVEL_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("pg_ctl").is_file() && bin.join("initdb").is_file())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

/// A free loopback port (a race with another process is possible: start
/// retries).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Postgres {
    /// Start a new cluster with a database `gavel`; `None` (with a skip
    /// line) only when the server is missing and GAVEL_SKIP_SERVICES=1.
    pub fn start(test: &str) -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            if std::env::var("GAVEL_SKIP_SERVICES").as_deref() == Ok("1") {
                eprintln!(
                    "SKIP {test}: PostgreSQL is not installed (apt-get install -y {PACKAGE})"
                );
                return None;
            }
            panic!(
                "{test} needs a PostgreSQL server: apt-get install -y {PACKAGE} (or set GAVEL_PG_BIN; GAVEL_SKIP_SERVICES=1 skips)"
            );
        };
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        let dir = tempfile::Builder::new()
            .prefix("gavel-pg-")
            .tempdir_in(std::env::temp_dir())
            .expect("temp dir");
        if as_postgres {
            let chown = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(chown.success(), "chown postgres {}", dir.path().display());
        }
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        let out = pg.run_as(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut started = false;
        for _ in 0..5 {
            pg.port = free_port();
            if pg.try_start() {
                started = true;
                break;
            }
        }
        assert!(started, "PostgreSQL did not start: {}", pg.server_log());
        let out = pg.psql_in("postgres", "CREATE DATABASE gavel");
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_as(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
    }

    fn try_start(&self) -> bool {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let out = self.run_as(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("pg.log").display().to_string(),
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
        out.status.success()
    }

    /// The server's log, for failure messages.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `gavel`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/gavel", self.port)
    }

    /// Stop the server (fast: clients are disconnected); `start_again`
    /// brings it back on the same port and data.
    pub fn stop(&self) {
        let out = self.run_as(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start the stopped server again.
    pub fn start_again(&self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not restart: {}",
            self.server_log()
        );
    }

    fn psql_in(&self, db: &str, sql: &str) -> Output {
        let psql = if self.bin.join("psql").is_file() {
            self.bin.join("psql")
        } else {
            PathBuf::from("psql")
        };
        Command::new(psql)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args([
                "-d",
                db,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }

    /// Run SQL in database `gavel`; its output (unaligned, tuples only).
    pub fn sql(&self, sql: &str) -> String {
        let out = self.psql_in("gavel", sql);
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The temporary directory (the socket lives there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run_as(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}
