//! A thread's name, id and liveness, and joining with a timeout.
//!
//! Mirrors the API list of note 000 "多线程" and the `is_alive` / `getName` calls of
//! note 003 "线程的创建".
//!
//! | CPython                                   | Rust                                             |
//! |-------------------------------------------|--------------------------------------------------|
//! | `threading.current_thread().name`         | `thread::current().name()` (`Option<&str>`)      |
//! | `Thread(name="worker")`, `getName()`      | `thread::Builder::new().name(..)`, `handle.thread().name()` |
//! | `t.ident`, `t.native_id`                  | `thread().id()` (a `ThreadId`), `nix::unistd::gettid()` |
//! | `t.is_alive()`                            | `!handle.is_finished()`                          |
//! | `t.join(timeout)`, then `t.is_alive()`    | a channel: `done.recv_timeout(t)`, then `join()` |
//!
//! Run: `cargo run -p examples-thread --bin thread_api`
//!
//! Output: the main thread's name (`main`); a worker given the name "worker" and one
//! left unnamed (`None`; CPython names it `Thread-N (target)`); their ids; a join
//! with a 0.1 s timeout that returns while the worker is still running, then a full
//! join. What varies: the ids.
//!
//! Where Rust differs: `JoinHandle::join` has no timeout, because the thread library
//! under it (`pthread_join`) has none that is portable. The idiom is a channel that the
//! thread holds the sending end of and never sends on: the end is dropped when the
//! thread ends, even by a panic, and `recv_timeout` then reports it disconnected
//! instead of timing out. CPython's run-time errors for
//! starting a thread twice or joining one that was never started cannot happen here:
//! `spawn` returns a running thread's handle, and `join` consumes it (see the
//! `examples-thread` crate documentation, where both are compile-fail tests).
//!
//! Copy it: `cargo new thread_api`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31 --features process
//! ```

use std::sync::mpsc;
use std::thread::{self, sleep};
use std::time::Duration;

use examples_process::Failure;
use nix::unistd::gettid;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let me = thread::current();
    println!("main: name={:?} id={:?} native_id={}", me.name(), me.id(), gettid());

    let (running_tx, running) = mpsc::channel::<()>();
    let named = thread::Builder::new().name("worker".into()).spawn(move || {
        let _running = running_tx; // dropped, so the channel closes, when this thread ends
        let me = thread::current();
        println!("worker: name={:?} id={:?} native_id={}", me.name(), me.id(), gettid());
        sleep(Duration::from_millis(500));
        println!("worker: finished");
    })?;
    let unnamed = thread::spawn(|| thread::current().name().map(String::from));

    let unnamed_id = unnamed.thread().id();
    let unnamed_name = unnamed.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    println!("main: the unnamed thread had id={unnamed_id:?} name={unnamed_name:?}");

    // join(0.1): wait at most 0.1 s for the channel to close; the worker sleeps 0.5 s.
    let early = running.recv_timeout(Duration::from_millis(100));
    let alive = !named.is_finished();
    println!(
        "main: join(0.1) timed out={}; worker is_alive={alive}",
        early == Err(mpsc::RecvTimeoutError::Timeout)
    );
    let name_before_join = named.thread().name().map(String::from);
    named.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    // After the full join the channel reports the end instead of a timeout.
    let after = running.recv_timeout(Duration::from_millis(100));
    println!("main: joined {name_before_join:?}; the channel now says {after:?}");

    assert_eq!(me.name(), Some("main"));
    assert_eq!(unnamed_name, None);
    assert_eq!(early, Err(mpsc::RecvTimeoutError::Timeout));
    assert_eq!(after, Err(mpsc::RecvTimeoutError::Disconnected));
    assert!(alive);
    assert_eq!(name_before_join.as_deref(), Some("worker"));
    println!("main: ok");
    Ok(())
}
