//! tokio-postgres over kiln's TCP (`--features tokio-io`), with a small connection pool built
//! on `kiln::sync`.
//!
//! ```text
//! cargo run --features tokio-io --example postgres                 # starts a throwaway server
//! cargo run --features tokio-io --example postgres -- 127.0.0.1 5432 postgres
//! ```
//!
//! With no arguments the example runs `initdb` and `pg_ctl` (Debian package `postgresql-15`)
//! on a temporary directory and a free port, and stops that server at the end. It creates a
//! table, fills it, and then runs 100 tasks' queries concurrently through a pool of 4
//! connections.
//!
//! Each connection is a kiln `TcpStream` handed to `Config::connect_raw`; the returned
//! `Connection` future, which does the actual socket I/O, runs as its own kiln task.

use kiln::net::TcpStream;
use kiln::sync::{Semaphore, SemaphorePermit};
use std::io;
use std::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};

/// A throwaway server (`initdb` + `pg_ctl` in a temporary directory), shared with the tests.
#[path = "../tests/support/pg_server.rs"]
pub mod pg_server;

/// Opens one connection over kiln TCP and runs its I/O on a kiln task.
///
/// The task ends when the client is dropped or the server goes away; the client then reports
/// `is_closed()` and every request on it fails.
pub async fn connect(config: &Config) -> io::Result<Client> {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let stream = TcpStream::connect((host.as_str(), port)).await?;
    stream.set_nodelay(true)?;
    let (client, connection) = config
        .connect_raw(stream, NoTls)
        .await
        .map_err(io::Error::other)?;
    kiln::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

/// A connection pool of at most `size` clients: a [`Semaphore`] bounds how many are in use,
/// idle ones wait in a list, and a closed one is replaced by a fresh connection.
pub struct Pool {
    config: Config,
    permits: Semaphore,
    idle: Mutex<Vec<Client>>,
}

/// A client borrowed from a [`Pool`]; dropping it returns the client unless it is closed.
pub struct Pooled<'a> {
    pool: &'a Pool,
    client: Option<Client>,
    _permit: SemaphorePermit<'a>,
}

impl Pool {
    /// A pool that opens connections lazily, at most `size` at once.
    pub fn new(config: Config, size: usize) -> Pool {
        assert!(size > 0, "a connection pool needs at least one connection");
        Pool {
            config,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::with_capacity(size)),
        }
    }

    /// Waits for a free slot, then hands out an idle client or connects a new one.
    pub async fn get(&self) -> io::Result<Pooled<'_>> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| io::Error::other("the pool is closed"))?;
        let idle = {
            let mut idle = self.idle.lock().unwrap();
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let client = match idle {
            Some(client) => client,
            None => connect(&self.config).await?,
        };
        Ok(Pooled {
            pool: self,
            client: Some(client),
            _permit: permit,
        })
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                self.pool.idle.lock().unwrap().push(client);
            }
        }
    }
}

async fn demo(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = connect(&config).await?;
    let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
    println!("connected to PostgreSQL {version} over kiln TCP");

    client
        .batch_execute(
            "DROP TABLE IF EXISTS kiln_demo;
             CREATE TABLE kiln_demo (id INT4 PRIMARY KEY, name TEXT NOT NULL)",
        )
        .await?;
    let insert = client
        .prepare("INSERT INTO kiln_demo (id, name) VALUES ($1, $2)")
        .await?;
    for (id, name) in [(1, "asyncio"), (2, "tokio"), (3, "kiln")] {
        client.execute(&insert, &[&id, &name]).await?;
    }
    for row in client
        .query("SELECT id, name FROM kiln_demo ORDER BY id", &[])
        .await?
    {
        let (id, name): (i32, &str) = (row.get(0), row.get(1));
        println!("row {id}: {name}");
    }

    // 100 tasks share 4 connections.
    let pool = std::sync::Arc::new(Pool::new(config, 4));
    let tasks: Vec<_> = (0..100i32)
        .map(|i| {
            let pool = pool.clone();
            kiln::spawn(async move {
                let client = pool.get().await?;
                let row = client
                    .query_one("SELECT $1::INT4 * 2", &[&i])
                    .await
                    .map_err(io::Error::other)?;
                Ok::<i32, io::Error>(row.get(0))
            })
        })
        .collect();
    let mut sum = 0i64;
    for task in tasks {
        sum += i64::from(task.await??);
    }
    println!("100 pooled queries, sum of results = {sum}");
    client.batch_execute("DROP TABLE kiln_demo").await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, _server) = match args.as_slice() {
        [] => {
            let server = pg_server::PgServer::start();
            println!("started a throwaway PostgreSQL server on {}", server.addr());
            (server.config(), Some(server))
        }
        [host, port, user] => {
            let mut config = Config::new();
            config
                .host(host)
                .port(port.parse().expect("the port is a number"))
                .user(user);
            (config, None)
        }
        _ => panic!("usage: postgres [HOST PORT USER]"),
    };
    kiln::run(demo(config))
}
