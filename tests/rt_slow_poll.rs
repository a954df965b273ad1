//! `Builder::slow_poll_threshold`: a task that blocks its worker is reported with its spawn
//! location; quick tasks are not.

use std::sync::Mutex;
use std::time::Duration;

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() == log::Level::Warn {
            RECORDS.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[test]
fn slow_polls_are_reported_with_spawn_location() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    for mut builder in [
        kiln::Builder::new_multi_thread(),
        kiln::Builder::new_current_thread(),
    ] {
        RECORDS.lock().unwrap().clear();
        let rt = builder
            .slow_poll_threshold(Duration::from_millis(50))
            .build()
            .unwrap();
        let (fast_id, slow_id) = rt.block_on(async {
            let fast = kiln::spawn(async {});
            let fast_id = fast.id();
            fast.await.unwrap();
            let slow = kiln::spawn(async { std::thread::sleep(Duration::from_millis(200)) });
            let slow_id = slow.id();
            slow.await.unwrap();
            (fast_id, slow_id)
        });
        // The report is written just after the poll returns, which may be after the JoinHandle
        // already woke `block_on`: wait for it (generously) instead of racing it.
        let wanted = format!("task {slow_id} ");
        for _ in 0..1000 {
            if RECORDS.lock().unwrap().iter().any(|r| r.contains(&wanted)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(rt);
        let records = RECORDS.lock().unwrap().clone();
        let slow = records
            .iter()
            .find(|r| r.contains(&format!("task {slow_id} ")))
            .unwrap_or_else(|| panic!("slow poll not reported: {records:?}"));
        assert!(
            slow.contains("rt_slow_poll.rs"),
            "names the spawn site: {slow}"
        );
        assert!(
            !records
                .iter()
                .any(|r| r.contains(&format!("task {fast_id} "))),
            "a quick task was reported: {records:?}"
        );
    }
}
