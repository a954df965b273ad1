//! `kiln::fs` free functions and directory listing, run on the blocking pool.

mod common;

use common::Scratch;
use std::io::ErrorKind;

fn rt() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn write_then_read_back() {
    let dir = Scratch::new("rw");
    let path = dir.0.join("data.bin");
    rt().block_on(async {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        kiln::fs::write(&path, &data).await.unwrap();
        assert_eq!(kiln::fs::read(&path).await.unwrap(), data);
        kiln::fs::write(&path, "short").await.unwrap();
        assert_eq!(kiln::fs::read_to_string(&path).await.unwrap(), "short");
        assert_eq!(kiln::fs::metadata(&path).await.unwrap().len(), 5);
    });
}

#[test]
fn missing_file_reports_not_found() {
    let dir = Scratch::new("missing");
    let path = dir.0.join("nope");
    rt().block_on(async {
        let err = kiln::fs::read(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = kiln::fs::remove_file(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(kiln::fs::metadata(&path).await.is_err());
    });
}

#[test]
fn read_to_string_rejects_invalid_utf8() {
    let dir = Scratch::new("utf8");
    let path = dir.0.join("bad");
    rt().block_on(async {
        kiln::fs::write(&path, [0xff, 0xfe, 0xfd]).await.unwrap();
        let err = kiln::fs::read_to_string(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
    });
}

#[test]
fn directories_rename_copy_remove() {
    let dir = Scratch::new("dirs");
    let root = dir.0.clone();
    rt().block_on(async {
        let nested = root.join("a/b/c");
        kiln::fs::create_dir_all(&nested).await.unwrap();
        assert!(kiln::fs::metadata(&nested).await.unwrap().is_dir());
        kiln::fs::create_dir_all(&nested).await.unwrap(); // idempotent

        let one = nested.join("one.txt");
        kiln::fs::write(&one, "1").await.unwrap();
        let two = root.join("two.txt");
        kiln::fs::rename(&one, &two).await.unwrap();
        assert_eq!(
            kiln::fs::metadata(&one).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            kiln::fs::copy(&two, root.join("three.txt")).await.unwrap(),
            1
        );
        assert_eq!(
            kiln::fs::read_to_string(root.join("three.txt"))
                .await
                .unwrap(),
            "1"
        );
        kiln::fs::remove_file(&two).await.unwrap();
        kiln::fs::create_dir(root.join("empty")).await.unwrap();
        kiln::fs::remove_dir(root.join("empty")).await.unwrap();
        kiln::fs::remove_dir_all(root.join("a")).await.unwrap();
        assert!(kiln::fs::metadata(root.join("a")).await.is_err());
        assert!(kiln::fs::canonicalize(&root).await.unwrap().is_absolute());
    });
}

#[test]
fn read_dir_lists_every_entry_across_batches() {
    let dir = Scratch::new("ls");
    let root = dir.0.clone();
    rt().block_on(async {
        // More entries than one listing batch holds.
        for i in 0..75 {
            kiln::fs::write(root.join(format!("f{i:03}")), [i as u8])
                .await
                .unwrap();
        }
        kiln::fs::create_dir(root.join("sub")).await.unwrap();
        let mut entries = kiln::fs::read_dir(&root).await.unwrap();
        let mut files = Vec::new();
        let mut dirs = 0;
        while let Some(entry) = entries.next_entry().await.unwrap() {
            assert_eq!(entry.path(), root.join(entry.file_name()));
            if entry.file_type().await.unwrap().is_dir() {
                dirs += 1;
            } else {
                assert_eq!(entry.metadata().await.unwrap().len(), 1);
                files.push(entry.file_name().into_string().unwrap());
            }
        }
        assert!(
            entries.next_entry().await.unwrap().is_none(),
            "stays exhausted"
        );
        files.sort();
        let expected: Vec<_> = (0..75).map(|i| format!("f{i:03}")).collect();
        assert_eq!(files, expected);
        assert_eq!(dirs, 1);
    });
}

#[test]
fn read_dir_is_a_stream() {
    use futures::StreamExt;

    let dir = Scratch::new("stream");
    let root = dir.0.clone();
    rt().block_on(async {
        for name in ["x", "y"] {
            kiln::fs::write(root.join(name), name).await.unwrap();
        }
        let entries = kiln::fs::read_dir(&root).await.unwrap();
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
            .await;
        names.sort();
        assert_eq!(names, ["x", "y"]);
    });
}

#[test]
fn read_dir_of_a_missing_directory_fails() {
    let dir = Scratch::new("lsmissing");
    rt().block_on(async {
        let err = kiln::fs::read_dir(dir.0.join("nope")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn many_concurrent_operations() {
    let dir = Scratch::new("many");
    let root = dir.0.clone();
    rt().block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let path = root.join(format!("f{i}"));
                kiln::spawn(async move {
                    kiln::fs::write(&path, i.to_string()).await.unwrap();
                    kiln::fs::read_to_string(&path).await.unwrap()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i.to_string());
        }
    });
}
