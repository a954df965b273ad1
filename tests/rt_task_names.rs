//! Task names: `kiln::task::Builder`, names in `JoinError`'s Display and in dumps.

use std::time::Duration;

#[test]
fn named_task_runs_and_its_panic_names_it() {
    kiln::run(async {
        let h = kiln::task::Builder::new()
            .name("conn 42")
            .spawn(async { panic!("boom") })
            .unwrap();
        let id = h.id();
        let err = h.await.unwrap_err();
        assert_eq!(err.name(), Some("conn 42"));
        assert_eq!(
            err.to_string(),
            format!("task 'conn 42' (id {id}) panicked with message \"boom\"")
        );
    });
}

#[test]
fn cancelled_named_task_names_it() {
    kiln::run(async {
        let h = kiln::task::Builder::new()
            .name("idle reader")
            .spawn(std::future::pending::<()>())
            .unwrap();
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled());
        assert!(err.to_string().contains("'idle reader'"), "{err}");
    });
}

#[test]
fn unnamed_tasks_keep_the_plain_message() {
    kiln::run(async {
        let h = kiln::spawn(async { panic!("x") });
        let id = h.id();
        let err = h.await.unwrap_err();
        assert_eq!(err.name(), None);
        assert_eq!(
            err.to_string(),
            format!("task {id} panicked with message \"x\"")
        );
    });
}

#[test]
fn named_blocking_task() {
    kiln::run(async {
        let h = kiln::task::Builder::new()
            .name("hash file")
            .spawn_blocking(|| panic!("disk"))
            .unwrap();
        let err = h.await.unwrap_err();
        assert_eq!(err.name(), Some("hash file"));
        let ok = kiln::task::Builder::new()
            .name("sum")
            .spawn_blocking(|| 2 + 2)
            .unwrap();
        assert_eq!(ok.await.unwrap(), 4);
    });
}

#[test]
fn builder_outside_a_runtime_is_an_error_not_a_panic() {
    let err = kiln::task::Builder::new()
        .name("x")
        .spawn(async {})
        .unwrap_err();
    assert!(err.to_string().contains("inside a kiln runtime"), "{err}");
    let err = kiln::task::Builder::new()
        .spawn_blocking(|| ())
        .unwrap_err();
    assert!(err.to_string().contains("spawn_on"), "{err}");
}

#[test]
fn a_name_does_not_leak_to_the_next_spawn() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    let named = kiln::task::Builder::new()
        .name("first")
        .spawn_on(std::future::pending::<()>(), rt.handle())
        .unwrap();
    let plain = rt.spawn(std::future::pending::<()>());
    let dump = rt.handle().dump();
    let name_of = |id| {
        dump.tasks()
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap()
    };
    assert_eq!(name_of(named.id()), Some("first".to_string()));
    assert_eq!(name_of(plain.id()), None);
}

#[test]
fn spawn_location_is_the_callers_line() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    let line = line!() + 3;
    let h = kiln::task::Builder::new()
        .name("located")
        .spawn_on(std::future::pending::<()>(), rt.handle())
        .unwrap();
    let blocking_line = line!() + 1;
    let b = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(1)));
    let dump = rt.handle().dump();
    let t = dump.tasks().iter().find(|t| t.id == h.id()).unwrap();
    assert_eq!(t.spawned_at.file(), file!());
    assert_eq!(t.spawned_at.line(), line);
    if let Some(t) = dump.tasks().iter().find(|t| t.id == b.id()) {
        assert_eq!(t.spawned_at.line(), blocking_line);
    }
    rt.block_on(b).unwrap();
}

#[test]
fn names_of_every_length_come_back_whole() {
    // Up to 30 bytes a name lives in the task's record, longer ones in a box of their own:
    // both, and a multi-byte character at the boundary, must read back unchanged.
    let names = [
        String::new(),
        "a".repeat(30),
        "b".repeat(31),
        format!("{}é", "c".repeat(28)),
        "long name of a connection task: ".repeat(8),
    ];
    kiln::run(async move {
        for name in names {
            let h = kiln::task::Builder::new()
                .name(&name)
                .spawn(std::future::pending::<()>())
                .unwrap();
            let dump = kiln::Handle::current().dump();
            let listed = dump
                .tasks()
                .iter()
                .find(|t| t.id == h.id())
                .map(|t| t.name.clone());
            assert_eq!(
                listed,
                Some(Some(name.clone())),
                "dump of a task named {name:?}"
            );
            h.abort();
            assert_eq!(h.await.unwrap_err().name(), Some(name.as_str()));
        }
    });
}
