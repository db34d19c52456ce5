//! A pool worker killed in the middle of a task: the task fails, the pool goes on.
//!
//! Goes beyond the notes' pool sections (note 000 "进程池", note 001 "1. 多进程 c"): what
//! happens when a worker process dies while it runs a task. In CPython 3.11 the pool
//! quietly replaces the worker, but the task's result never arrives: `get()` waits
//! for ever, `get(timeout)` raises `TimeoutError` every time it is asked, and a `map`
//! over it never returns. Here the task's result is an error naming the cause.
//!
//! | CPython (`fork`)                           | Rust (`examples_pool::Pool`)                |
//! |--------------------------------------------|---------------------------------------------|
//! | worker killed: `r.get()` waits for ever    | `r.get()` → `Err(PoolError::WorkerDied(-9))` |
//! | the pool starts a new worker               | the same                                    |
//! | exception in the task: `r.get()` raises it | panic in the task: `Err(PoolError::Panicked(message))`, the worker lives on |
//! | `pool._pool` (private)                     | `pool.worker_pids()`                        |
//!
//! Run: `cargo run -p examples-pool --bin pool_worker_dies`
//!
//! Output: a pool of two runs `task(0)` … `task(7)`. `task(3)` kills its own worker
//! with SIGKILL, as the kernel's out-of-memory killer or a stray `kill -9` would;
//! `task(5)` panics. The results: six squares, "worker died (exit code -9)" for 3, the
//! panic message for 5. The pool's pids before and after show the killed worker
//! replaced, and a `map` afterwards gets every square. What varies: pids, and the order
//! of the workers' own lines.
//!
//! Where Rust differs: the pool watches each worker's end of its connection; end of
//! file in the middle of a task means the worker is gone, so the task fails at once.
//! CPython's result handler only ever waits for a result message, which never comes.
//! (CPython's `concurrent.futures.ProcessPoolExecutor` does notice: it fails every
//! pending future with `BrokenProcessPool` and refuses new work.)
//!
//! In your own program: `procspawn::Pool` also survives a worker's crash; with threads,
//! `std::thread::spawn` returns a panic as `Err` from `join`.
//!
//! Copy it: `cargo new pool_worker_dies`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! cargo add nix@0.31 --features process,signal
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_pool::{Pool, PoolError};
use examples_process::Failure;
use nix::sys::signal::{Signal, raise};
use nix::unistd::getpid;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let pool = Pool::new(2)?;
    let before = pool.worker_pids();
    println!("main: pool of 2, worker pids {before:?}");

    let pending = (0..8).map(|x| pool.apply_async(task, x)).collect::<Result<Vec<_>, _>>()?;
    // `get` on every result, failures included: none of them can hang.
    let results: Vec<Result<u64, PoolError>> = pending.into_iter().map(|r| r.get()).collect();
    for (x, result) in results.iter().enumerate() {
        match result {
            Ok(square) => println!("main: task({x}) = {square}"),
            Err(e) => println!("main: task({x}) failed: {e}"),
        }
    }

    let after = pool.worker_pids();
    let replaced = before.iter().filter(|pid| !after.contains(pid)).count();
    println!("main: worker pids now {after:?}: {replaced} replaced");

    // The pool still works, with all its workers.
    let squares = pool.map(square, 0..10)?;
    println!("main: map after the crash = {squares:?}");
    pool.close().join()?;

    for (x, result) in results.iter().enumerate() {
        match (x, result) {
            (3, Err(PoolError::WorkerDied(-9))) => {}
            (5, Err(PoolError::Panicked(message))) => assert!(message.contains("five")),
            (_, Ok(value)) => assert_eq!(*value, (x * x) as u64),
            (_, other) => panic!("task({x}): unexpected {other:?}"),
        }
    }
    assert_eq!((after.len(), replaced), (2, 1), "one worker replaced, the pool still has two");
    assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<u64>>());
    println!("main: ok, one task failed with its worker, one with its panic, six succeeded");
    Ok(())
}

/// Runs in a worker. 3 kills the worker; 5 panics; the rest are squared slowly enough
/// that both workers get tasks.
fn task(x: u64) -> u64 {
    sleep(Duration::from_millis(20));
    match x {
        3 => {
            println!("worker pid={}: task(3) kills its own process (SIGKILL)", getpid());
            let _ = raise(Signal::SIGKILL);
            unreachable!("SIGKILL cannot be caught");
        }
        5 => panic!("task(5): five is not allowed"),
        _ => x * x,
    }
}

fn square(x: u64) -> u64 {
    x * x
}
