//! Process CPU time as a benchmark figure next to criterion's wall time.
//!
//! A [`CpuGroup`] wraps a criterion `BenchmarkGroup` (it derefs to it, so `sample_size`,
//! `measurement_time` and `throughput` work as before). Its `bench*` methods run the routine
//! through `iter_custom`: each criterion sample times the routine with `Instant` (that is the
//! figure criterion analyses, as with `b.iter`) and reads the CPU time of the whole process
//! (user + system, every thread, `getrusage(RUSAGE_SELF)`) before and after. Nothing runs
//! twice, so the bench takes as long as before.
//!
//! Criterion also calls the routine while warming up. After a benchmark ends, the recorder
//! reads criterion's `new/sample.json` for it and keeps the last calls whose iteration counts
//! match the measured samples, so the CPU median is taken over exactly the samples criterion's
//! wall median is taken over. Then it prints one `cpu` line per benchmark, one ratio line per
//! group holding both `kiln` and `tokio`, and writes `<dir>/<group>/<id>.json`:
//!
//! ```json
//! {"group": "ping_pong", "id": "kiln", "wall_median_ns": 1.0, "cpu_median_ns": 2.0,
//!  "samples": [{"iters": 10, "wall_ns": 10.0, "cpu_ns": 20.0}]}
//! ```
//!
//! `<dir>` is `$KILN_BENCH_DIR`, else `$CARGO_TARGET_DIR/kiln-bench`, else `kiln-bench` in the
//! target directory the bench binary was built in. Printed (non-criterion) parts of a bench
//! save their rounds in the same format with [`save_rounds`]. Nothing is recorded or written
//! unless the binary runs as a benchmark (`--bench`, as `cargo bench` passes), so
//! `cargo test --benches` runs the routines once and writes nothing.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use std::cell::RefCell;
use std::fmt::Display;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// CPU time (user + system) of this process so far, every thread included.
pub fn process_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_SELF)
}

/// CPU time (user + system) of `who`: `libc::RUSAGE_SELF` (this process) or
/// `libc::RUSAGE_THREAD` (the calling thread).
pub fn rusage_cpu(who: libc::c_int) -> Duration {
    // SAFETY: `getrusage` only writes the `rusage` we own; `who` is one of the two constants
    // above, and an invalid one would fail with EINVAL (checked below), not write elsewhere.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(who, &mut ru), 0, "getrusage({who}) failed");
        ru
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Sets the calling thread's timer slack (how late the kernel may fire its timed waits, to
/// batch wake-ups) to `ns` nanoseconds, as a `block_on` thread of kiln does while it runs.
/// Linux only; elsewhere it does nothing.
pub fn set_thread_timer_slack(ns: u64) {
    #[cfg(target_os = "linux")]
    // SAFETY: `PR_SET_TIMERSLACK` takes one integer argument and changes only the calling
    // thread's slack; it reads and writes no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = ns;
}

/// One call of a routine by criterion: iterations, wall time, process CPU time.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Iterations the call ran.
    pub iters: u64,
    /// What the routine reported (its wall time for a plain routine).
    pub wall: Duration,
    /// Process CPU time spent during the call.
    pub cpu: Duration,
}

/// Medians per iteration of one benchmark's samples.
#[derive(Clone, Copy, Debug)]
pub struct Medians {
    /// Median of `wall / iters` in nanoseconds.
    pub wall_ns: f64,
    /// Median of `cpu / iters` in nanoseconds.
    pub cpu_ns: f64,
}

/// A criterion group whose benchmarks also record process CPU time (see the module docs).
pub struct CpuGroup<'a> {
    group: BenchmarkGroup<'a, WallTime>,
    name: String,
    done: Vec<(String, Medians)>,
}

/// Starts a benchmark group named `name` that records CPU time next to wall time.
pub fn group<'a>(c: &'a mut Criterion, name: &str) -> CpuGroup<'a> {
    CpuGroup {
        group: c.benchmark_group(name),
        name: name.to_owned(),
        done: Vec::new(),
    }
}

impl<'a> std::ops::Deref for CpuGroup<'a> {
    type Target = BenchmarkGroup<'a, WallTime>;
    fn deref(&self) -> &Self::Target {
        &self.group
    }
}

impl std::ops::DerefMut for CpuGroup<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.group
    }
}

impl CpuGroup<'_> {
    /// Like `bench_function(id, |b| b.iter(routine))`, recording CPU time too.
    pub fn bench<R>(&mut self, id: &str, mut routine: impl FnMut() -> R) {
        self.bench_custom(id, |iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(routine());
            }
            start.elapsed()
        });
    }

    /// Like `bench_function(BenchmarkId::new(id, param), |b| b.iter(routine))`.
    pub fn bench_param<R>(
        &mut self,
        id: &str,
        param: impl Display,
        mut routine: impl FnMut() -> R,
    ) {
        self.run(&format!("{id}/{param}"), &mut |iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(routine());
            }
            start.elapsed()
        });
    }

    /// Like `bench_function(id, |b| b.iter_custom(routine))`: `routine(iters)` returns the
    /// figure criterion analyses (usually the wall time of `iters` iterations).
    pub fn bench_custom(&mut self, id: &str, mut routine: impl FnMut(u64) -> Duration) {
        self.run(id, &mut routine);
    }

    fn run(&mut self, id: &str, routine: &mut dyn FnMut(u64) -> Duration) {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let record = benchmarking();
        let sink = calls.clone();
        let bench_id = match id.split_once('/') {
            Some((f, p)) => criterion::BenchmarkId::new(f, p),
            None => criterion::BenchmarkId::from_parameter(id),
        };
        self.group.bench_function(bench_id, |b| {
            b.iter_custom(|iters| {
                let cpu = process_cpu();
                let wall = routine(iters);
                let cpu = process_cpu().saturating_sub(cpu);
                if record {
                    sink.borrow_mut().push(Sample { iters, wall, cpu });
                }
                wall
            })
        });
        let calls = calls.take();
        if calls.is_empty() {
            return; // filtered out, or not benchmarking
        }
        let samples = measured(&self.name, id, calls);
        let m = medians(&samples);
        println!(
            "cpu   {}/{id}: wall {} cpu {} per iteration (medians, cpu/wall {:.2})",
            self.name,
            fmt_ns(m.wall_ns),
            fmt_ns(m.cpu_ns),
            m.cpu_ns / m.wall_ns
        );
        write(&self.name, id, m, &samples);
        self.done.push((id.to_owned(), m));
    }

    /// Finishes the group; prints kiln/tokio ratios of wall and CPU when both ran.
    pub fn finish(self) {
        let get = |side: &str| {
            self.done
                .iter()
                .find(|(id, _)| id == side || id.starts_with(&format!("{side}/")))
                .map(|(_, m)| *m)
        };
        if let (Some(k), Some(t)) = (get("kiln"), get("tokio")) {
            println!(
                "cpu   {}: kiln/tokio wall {:.2} cpu {:.2}",
                self.name,
                k.wall_ns / t.wall_ns,
                k.cpu_ns / t.cpu_ns
            );
        }
        self.group.finish();
    }
}

/// Whether this process runs benchmarks (not `cargo test --benches`, `--list` or a profile).
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--bench") && !has("--test") && !has("--list") && !has("--profile-time")
}

/// The target directory this binary was built in (`<target>/<profile>/deps/<bench>`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Where the CPU figures go (see the module docs).
pub fn output_dir() -> PathBuf {
    match std::env::var_os("KILN_BENCH_DIR") {
        Some(dir) => dir.into(),
        None => target_dir().join("kiln-bench"),
    }
}

/// Where criterion writes its results (its own rule: `$CRITERION_HOME`, else the target dir).
fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(dir) => dir.into(),
        None => target_dir().join("criterion"),
    }
}

/// The calls criterion measured (not its warm-up): the last ones whose iteration counts are
/// those of its `sample.json`. Falls back to every call, with a warning, if that file cannot
/// be read or does not match.
fn measured(group: &str, id: &str, calls: Vec<Sample>) -> Vec<Sample> {
    let path = criterion_dir()
        .join(group)
        .join(id)
        .join("new")
        .join("sample.json");
    let iters: Option<Vec<u64>> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("iters")?
                .as_array()?
                .iter()
                .map(|n| n.as_f64().map(|f| f as u64))
                .collect()
        });
    match iters {
        Some(iters)
            if iters.len() <= calls.len()
                && calls[calls.len() - iters.len()..]
                    .iter()
                    .zip(&iters)
                    .all(|(c, &i)| c.iters == i) =>
        {
            calls[calls.len() - iters.len()..].to_vec()
        }
        _ => {
            eprintln!(
                "cpu   {group}/{id}: {} missing or not matching; the CPU median includes warm-up",
                path.display()
            );
            calls
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Medians per iteration, the way criterion takes its median (over `time / iters`).
pub fn medians(samples: &[Sample]) -> Medians {
    let per = |f: fn(&Sample) -> Duration| {
        median(
            samples
                .iter()
                .map(|s| f(s).as_nanos() as f64 / s.iters.max(1) as f64)
                .collect(),
        )
    };
    Medians {
        wall_ns: per(|s| s.wall),
        cpu_ns: per(|s| s.cpu),
    }
}

fn fmt_ns(ns: f64) -> String {
    for (unit, scale) in [("s", 1e9), ("ms", 1e6), ("µs", 1e3)] {
        if ns >= scale {
            return format!("{:.3} {unit}", ns / scale);
        }
    }
    format!("{ns:.1} ns")
}

fn write(group: &str, id: &str, m: Medians, samples: &[Sample]) {
    let file = output_dir()
        .join(group)
        .join(format!("{}.json", id.replace('/', "_")));
    let json = serde_json::json!({
        "group": group,
        "id": id,
        "wall_median_ns": m.wall_ns,
        "cpu_median_ns": m.cpu_ns,
        "samples": samples.iter().map(|s| serde_json::json!({
            "iters": s.iters,
            "wall_ns": s.wall.as_nanos() as f64,
            "cpu_ns": s.cpu.as_nanos() as f64,
        })).collect::<Vec<_>>(),
    });
    let result = file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&file, format!("{json:#}\n")));
    if let Err(e) = result {
        eprintln!("cpu   cannot write {}: {e}", file.display());
    }
}

/// Saves the rounds of a printed (non-criterion) part of a bench, one round per sample with
/// `iters` 1, in the same format and place as the criterion groups, when benchmarking.
/// Returns the medians.
pub fn save_rounds(group: &str, id: &str, rounds: &[(Duration, Duration)]) -> Medians {
    let samples: Vec<Sample> = rounds
        .iter()
        .map(|&(wall, cpu)| Sample {
            iters: 1,
            wall,
            cpu,
        })
        .collect();
    let m = medians(&samples);
    if benchmarking() {
        write(group, id, m, &samples);
    }
    m
}

/// Measures `f` once: its wall time and the process CPU time it took.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Duration, Duration) {
    let cpu = process_cpu();
    let start = Instant::now();
    let r = f();
    let wall = start.elapsed();
    (r, wall, process_cpu().saturating_sub(cpu))
}
