//! A throwaway PostgreSQL server for tests, benches and examples (included with `#[path]`).
//!
//! [`PgServer::start`] runs `initdb` into a fresh temporary directory and starts the server
//! with `pg_ctl` on a free port of 127.0.0.1 (trust authentication, user `postgres`, its Unix
//! socket inside the temporary directory). Dropping the handle stops the server and removes the
//! directory. PostgreSQL refuses to run as root: under root, every server command runs as the
//! `postgres` system user (`runuser -u postgres --`) and the directory is handed to that user.
//!
//! The binaries are looked up in `$KILN_PG_BIN`, then `/usr/lib/postgresql/<version>/bin`
//! (newest version first), then `PATH`. If none has `initdb` and `pg_ctl`, starting panics with
//! a message naming the Debian package to install: a missing server is a failure, never a skip.

#![allow(dead_code, reason = "each user of this helper calls a subset")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running PostgreSQL server in a temporary directory.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
}

/// Where Debian's packages install the server binaries.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The directory holding `initdb` and `pg_ctl`, or a panic naming the package to install.
fn find_bin() -> PathBuf {
    find_bin_in(
        std::env::var_os("KILN_PG_BIN"),
        Path::new(DEBIAN_ROOT),
        std::env::var_os("PATH"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The lookup of [`find_bin`] over explicit inputs: the override, the Debian root, `PATH`.
pub fn find_bin_in(
    override_dir: Option<std::ffi::OsString>,
    debian_root: &Path,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = override_dir {
        let dir = PathBuf::from(dir);
        if has_tools(&dir) {
            return Ok(dir);
        }
        return Err(format!(
            "KILN_PG_BIN={} holds no initdb and pg_ctl (they come with the Debian package \
             `postgresql-15`)",
            dir.display()
        ));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(debian_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_tools(d))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    let on_path = path.and_then(|p| std::env::split_paths(&p).find(|d| has_tools(d)));
    on_path.ok_or_else(|| {
        format!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in {}/<version>/bin or on \
             PATH: install the Debian package `postgresql-15` (or `postgresql`), e.g. \
             `apt-get install -y postgresql-15`, or point KILN_PG_BIN at their directory",
            debian_root.display()
        )
    })
}

/// Whether this process runs as root (PostgreSQL refuses to).
fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run `id -u`");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free local port")
        .port()
}

/// Output as text, for error messages.
fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl PgServer {
    /// Initialises a cluster in a new temporary directory and starts a server on a free port.
    ///
    /// # Panics
    /// If the binaries are missing (naming the package), or `initdb`/`pg_ctl` fail (with
    /// their output and the server log).
    pub fn start() -> PgServer {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let bin = find_bin();
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "kiln-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server's temporary directory");
        let mut server = PgServer {
            bin,
            dir,
            port: 0,
            as_postgres,
            running: false,
        };
        if as_postgres {
            let out = Command::new("chown")
                .arg("postgres:")
                .arg(&server.dir)
                .output()
                .expect("run chown");
            assert!(
                out.status.success(),
                "cannot hand {} to the `postgres` user (PostgreSQL refuses to run as root): {}",
                server.dir.display(),
                describe(&out)
            );
        }
        let data = server.data_dir();
        server.run_ok(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
            ],
        );
        // A port found free may be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            let opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                server.port,
                server.dir.display()
            );
            let log = server.dir.join("server.log");
            let out = server.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    opts.as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            );
            if out.status.success() {
                server.running = true;
                return server;
            }
            last = format!(
                "{}\nserver log:\n{}",
                describe(&out),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed: {last}");
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs a server tool (as `postgres` under root).
    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Output {
        let path = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        // The tools resolve paths relative to the working directory: pick one the user can read.
        cmd.args(args).current_dir(&self.dir);
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
    }

    fn run_ok(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let out = self.run(tool, args);
        assert!(out.status.success(), "{tool} failed: {}", describe(&out));
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's TCP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Connection settings for the `postgres` database as the `postgres` user.
    pub fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        config
    }

    /// Kills the server abruptly: SIGKILL to the postmaster and every backend, as a crash
    /// would. Connections see their sockets closed mid-conversation.
    pub fn kill(&mut self) {
        let pid_file = self.data_dir().join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).expect("read postmaster.pid");
        let postmaster: u32 = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("postmaster.pid starts with the postmaster's pid");
        // Line 7 holds the System V shared memory key and id; a killed postmaster leaves the
        // (small) segment behind, so it is removed below.
        let shmid = text
            .lines()
            .nth(6)
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned);
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // The parent pid is the second field after the parenthesised command name.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
        // A backend may exit on its own between the scan and the kill, failing `kill` for its
        // pid only: the status is not checked, the postmaster's exit is.
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(pids.iter().map(|p| p.to_string()))
            .status()
            .expect("run kill");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while Path::new(&format!("/proc/{postmaster}/stat")).exists()
            && std::fs::read_to_string(format!("/proc/{postmaster}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "postmaster {postmaster} survived SIGKILL"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if let Some(id) = shmid {
            // Fails harmlessly if a backend still attaches it; it is not worth waiting for.
            let _ = Command::new("ipcrm").args(["-m", &id]).output();
        }
        self.running = false;
    }

    /// Stops the server (fast shutdown: open connections are closed).
    pub fn stop(&mut self) {
        if self.running {
            self.running = false;
            let data = self.data_dir();
            self.run_ok(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "fast".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            );
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let out = self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            );
            if !out.status.success() {
                eprintln!("pg_ctl stop failed: {}", describe(&out));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
