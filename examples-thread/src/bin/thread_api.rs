//! A thread's name, id and liveness; the threads running; joining with a timeout.
//!
//! Mirrors the API list of note 000 "多线程" (`getName`, `setName`, `isAlive`,
//! `join([time])`) and the `is_alive` / `getName` calls of note 003 "线程的创建".
//!
//! | CPython                                   | Rust (`examples_thread`)                         |
//! |-------------------------------------------|--------------------------------------------------|
//! | `threading.current_thread().name`         | `current_thread().name`                          |
//! | `Thread(target=f, name="worker")`         | `Thread::named("worker", f)?`                    |
//! | `t.getName()` / `t.setName("x")`          | `t.name()` / `t.set_name("x")`                   |
//! | `t.native_id`                             | `t.native_id()`                                  |
//! | `threading.active_count()`, `enumerate()` | `active_count()`, `enumerate()`                  |
//! | `t.is_alive()`                            | `t.is_alive()`                                   |
//! | `t.join(timeout)`, then `t.is_alive()`    | a channel: `done.recv_timeout(t)`, then `join()` |
//!
//! Run: `cargo run -p examples-thread --bin thread_api`
//!
//! Output: the main thread's name (`MainThread`); a worker named "worker" and one left
//! unnamed, which CPython names `Thread-1 (report)` after its target; the worker renamed
//! with `set_name`; the three threads `enumerate` lists and `active_count`; a join
//! with a 0.1 s timeout that returns while the worker is still running, then a full
//! join. What varies: the thread ids.
//!
//! Where Rust differs: `JoinHandle::join` has no timeout, because the thread library
//! under it (`pthread_join`) has none that is portable. The idiom is a channel that the
//! thread holds the sending end of and never sends on: the end is dropped when the
//! thread ends, even by a panic, and `recv_timeout` then reports it disconnected
//! instead of timing out. The operating system's name for a thread
//! (`std::thread::Thread::name`) is fixed when it starts; `set_name` renames it in the
//! bookkeeping that `current_thread` and `enumerate` read, as CPython's `name` is an
//! attribute of its `Thread` object. CPython's run-time errors for starting a thread
//! twice or joining one that was never started cannot happen here: a `Thread` is
//! running from the moment it exists, and `join` consumes it (see the `examples-thread`
//! crate documentation, where both are compile-fail tests).
//!
//! In your own program: `std::thread::Builder::new().name(..)` and
//! `thread::current().name()`; a channel, or `JoinHandle::is_finished`, to wait with a
//! timeout.
//!
//! Copy it: `cargo new thread_api`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-thread --path $REPO/examples-thread --no-default-features
//! ```

use std::sync::mpsc;
use std::thread::sleep;
use std::time::Duration;

use examples_process::Failure;
use examples_thread::{Thread, active_count, current_thread, enumerate};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let me = current_thread();
    println!("main: name={} native_id={}", me.name, me.native_id);

    let (running_tx, running) = mpsc::channel::<()>();
    let (go_tx, go) = mpsc::channel::<()>();
    let (introduced_tx, introduced) = mpsc::channel::<()>();
    let worker = Thread::named("worker", move || {
        let _running = running_tx; // dropped, so the channel closes, when this thread ends
        println!("worker: I am {}", current_thread());
        let _ = introduced_tx.send(()); // before main renames it
        let _ = go.recv(); // until main has looked at the running threads
        sleep(Duration::from_millis(300));
        println!("worker: finished, now named {}", current_thread().name);
    })?;
    let unnamed = Thread::spawn(report)?;
    let unnamed_name = unnamed.name();
    let reported = unnamed.join();
    println!("main: the unnamed thread was {unnamed_name:?} and saw itself as {reported:?}");

    let _ = introduced.recv(); // it has printed its first name
    worker.set_name("downloader"); // CPython: worker.setName("downloader")
    let listed: Vec<String> = enumerate().into_iter().map(|t| t.name).collect();
    let count = active_count();
    println!("main: active_count()={count}, enumerate()={listed:?}");
    go_tx.send(())?;

    // join(0.1): wait at most 0.1 s for the channel to close; the worker sleeps 0.3 s.
    let early = running.recv_timeout(Duration::from_millis(100));
    let alive = worker.is_alive();
    println!(
        "main: join(0.1) timed out={}; worker is_alive={alive}",
        early == Err(mpsc::RecvTimeoutError::Timeout)
    );
    let name_before_join = worker.name();
    worker.join();
    // After the full join the channel reports the end instead of a timeout.
    let after = running.recv_timeout(Duration::from_millis(100));
    println!("main: joined {name_before_join:?}; the channel now says {after:?}");

    assert_eq!(me.name, "MainThread");
    assert_eq!(unnamed_name, "Thread-1 (report)"); // a named thread takes no number
    assert_eq!(reported, unnamed_name);
    assert_eq!((count, listed), (2, vec!["MainThread".to_string(), "downloader".into()]));
    assert_eq!(early, Err(mpsc::RecvTimeoutError::Timeout));
    assert_eq!(after, Err(mpsc::RecvTimeoutError::Disconnected));
    assert!(alive);
    assert_eq!(name_before_join, "downloader");
    println!("main: ok");
    Ok(())
}

/// The unnamed thread's target: what the thread calls itself.
fn report() -> String {
    current_thread().name
}
