//! tokio-postgres over kiln TCP (`--features tokio-io`) against a real PostgreSQL server that
//! each test starts in a temporary directory (see `support/pg_server.rs`). A machine without
//! the server binaries fails these tests with a message naming the Debian package.
#![cfg(feature = "tokio-io")]

use std::sync::Arc;
use std::time::Duration;

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../examples/postgres.rs"]
mod example;

use example::pg_server::{self, PgServer};
use example::{connect, Pool};

fn runtime() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn queries_round_trip_over_kiln_tcp() {
    let server = PgServer::start();
    runtime().block_on(async {
        let client = connect(&server.config()).await.unwrap();
        client
            .batch_execute("CREATE TABLE t (id INT4 PRIMARY KEY, body TEXT NOT NULL)")
            .await
            .unwrap();
        let insert = client
            .prepare("INSERT INTO t (id, body) VALUES ($1, $2)")
            .await
            .unwrap();
        // Bodies from tiny to larger than a socket buffer, so reads span many packets.
        for id in 0..20i32 {
            let body = "k".repeat(1 << id.min(19));
            assert_eq!(client.execute(&insert, &[&id, &body]).await.unwrap(), 1);
        }
        let rows = client
            .query("SELECT id, body FROM t ORDER BY id", &[])
            .await
            .unwrap();
        assert_eq!(rows.len(), 20);
        for (i, row) in rows.iter().enumerate() {
            let id: i32 = row.get(0);
            let body: &str = row.get(1);
            assert_eq!(id as usize, i);
            assert_eq!(body.len(), 1 << i.min(19));
        }
        let err = client
            .query_one("SELECT * FROM missing", &[])
            .await
            .unwrap_err();
        let db = err.as_db_error().expect("a server-side error");
        assert!(db.message().contains("missing"), "{db}");
        // The connection survives a failed statement.
        let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    });
}

#[test]
fn a_hundred_tasks_share_a_pool_of_four() {
    let server = PgServer::start();
    runtime().block_on(async {
        let pool = Arc::new(Pool::new(server.config(), 4));
        let tasks: Vec<_> = (0..100i32)
            .map(|i| {
                let pool = pool.clone();
                kiln::spawn(async move {
                    let client = pool.get().await.unwrap();
                    let row = client
                        .query_one("SELECT $1::INT4 + 1, pg_backend_pid()", &[&i])
                        .await
                        .unwrap();
                    (row.get::<_, i32>(0), row.get::<_, i32>(1))
                })
            })
            .collect();
        let mut backends = std::collections::HashSet::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let (got, backend) = task.await.unwrap();
            assert_eq!(got, i as i32 + 1);
            backends.insert(backend);
        }
        assert!(
            !backends.is_empty() && backends.len() <= 4,
            "the pool opened {} connections",
            backends.len()
        );
    });
}

#[test]
fn a_server_killed_mid_query_fails_every_waiting_task() {
    let mut server = PgServer::start();
    let rt = runtime();
    let (pool, tasks) = rt.block_on(async {
        let pool = Arc::new(Pool::new(server.config(), 4));
        // 4 tasks hold a connection in a long query; 16 more wait for the pool.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let pool = pool.clone();
                kiln::spawn(async move {
                    let client = pool.get().await?;
                    client
                        .query_one("SELECT pg_sleep(600)", &[])
                        .await
                        .map_err(std::io::Error::other)?;
                    Ok::<(), std::io::Error>(())
                })
            })
            .collect();
        let watcher = connect(&server.config()).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let row = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'",
                    &[],
                )
                .await
                .unwrap();
            if row.get::<_, i64>(0) == 4 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the queries never started"
            );
            kiln::time::sleep(Duration::from_millis(20)).await;
        }
        (pool, tasks)
    });
    server.kill();
    rt.block_on(async {
        for task in tasks {
            let res = kiln::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("a task hung after the server was killed")
                .unwrap();
            let err = res.expect_err("a query succeeded on a killed server");
            assert!(!err.to_string().is_empty());
        }
    });
    drop(pool);
}

#[test]
fn missing_binaries_name_the_debian_package() {
    let empty = std::env::temp_dir().join(format!("kiln-pg-missing-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let err = pg_server::find_bin_in(None, &empty, Some(empty.clone().into_os_string()))
        .expect_err("an empty directory has no PostgreSQL");
    assert!(err.contains("postgresql-15"), "{err}");
    let err = pg_server::find_bin_in(Some(empty.clone().into_os_string()), &empty, None)
        .expect_err("an empty override has no PostgreSQL");
    assert!(err.contains("postgresql-15"), "{err}");
    std::fs::remove_dir_all(&empty).unwrap();
}
