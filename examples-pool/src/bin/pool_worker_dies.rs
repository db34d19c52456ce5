//! Beyond the notes' pools: a worker killed mid-task. CPython 3.11 replaces the worker,
//! but the task's `get()` waits for ever; here it fails with the cause, and the pool goes on.
//!
//! | CPython (`fork`)                           | Rust (`examples_pool::Pool`)                 |
//! |--------------------------------------------|----------------------------------------------|
//! | worker killed: `r.get()` waits for ever    | `r.get()` → `Err(PoolError::WorkerDied(-9))` |
//! | exception in the task: `r.get()` raises it | a panic: `Err(PoolError::Panicked(message))` |
//!
//! Run: `cargo run -p examples-pool --bin pool_worker_dies`
//!
//! ```text
//! main: pool of 2, worker pids [8639, 8640]                       <- pids vary
//! worker pid=8640: task(3) kills its own process (SIGKILL)
//! main: task(3) failed: the worker died (exit code -9)
//! main: task(5) failed: the task panicked: task(5): five is not allowed
//! main: the other six = [0, 1, 4, 16, 36, 49]
//! main: worker pids now [8639, 8641]: 1 replaced
//! main: map after the crash = [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//! ```
//!
//! Where Rust differs: the pool watches each worker's connection: its end mid-task
//! means the worker is gone. (CPython's `ProcessPoolExecutor` notices too.)
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
    examples_process::no_arguments();
    let pool = Pool::new(2)?;
    let before = pool.worker_pids();
    println!("main: pool of 2, worker pids {before:?}");

    let pending = (0..8).map(|x| pool.apply_async(task, x)).collect::<Result<Vec<_>, _>>()?;
    // `get` on every result, failures included: none of them can hang.
    let results: Vec<Result<u64, PoolError>> = pending.into_iter().map(|r| r.get()).collect();
    let mut others = Vec::new();
    for (x, result) in results.iter().enumerate() {
        match result {
            Ok(square) => others.push(*square),
            Err(e) => println!("main: task({x}) failed: {e}"),
        }
    }
    println!("main: the other six = {others:?}");

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
