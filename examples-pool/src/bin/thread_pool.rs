//! The idiomatic Rust answer to `Pool.map` on one machine: a thread pool (rayon).
//!
//! Mirrors the pools of notes 000 "进程池", 001 "1. 多进程 c" and 003 "进程池", done with
//! threads. In CPython a pool of processes is how CPU-bound work uses every core; in Rust
//! threads already do, so a thread pool is the usual choice and processes are kept for
//! isolation.
//!
//! | CPython                                    | Rust (`rayon`)                               |
//! |--------------------------------------------|----------------------------------------------|
//! | `Pool().map(square, range(10))`            | `(0..10).into_par_iter().map(square).collect()` |
//! | `Pool(3)`                                  | `ThreadPoolBuilder::new().num_threads(3).build()?` |
//! | `pool.apply_async(f, (x,))` + `r.get(timeout)` | `pool.spawn(move \|\| tx.send(f(x)))` + `rx.recv_timeout(t)` |
//! | `concurrent.futures.ThreadPoolExecutor`    | the same `rayon::ThreadPool`                 |
//!
//! Run: `cargo run -p examples-pool --bin thread_pool`
//!
//! Output: `map` of squares in input order; 12 tasks on a pool of 3 threads, never more
//! than 3 at once, on at most 3 threads; `apply_async`-style results through a channel,
//! one of them past a 0.1 s timeout. What varies: which thread ran which task.
//!
//! Where Rust differs: threads run Rust code in parallel (no GIL), so this is where
//! CPU-bound work goes; `gil_compare` measures it. Results come back in input order
//! from `collect`, as from `map`. A task's closure may borrow data from the caller
//! inside `pool.install` or `rayon::scope`, which a process pool can never do.
//!
//! Copy it: `cargo new thread_pool`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add rayon@1
//! ```

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::Duration;

use examples_process::Failure;
use rayon::prelude::*;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    // Pool.map: the global pool, one thread per CPU; results in input order.
    let squares: Vec<u64> = (0..10_u64).into_par_iter().map(square).collect();
    println!("par_iter map(square, 0..10) = {squares:?}");

    // Pool(3): a pool of three threads; count how many tasks run at once.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .map_err(|e| Failure::new(format!("cannot start a pool of 3 threads: {e}")))?;
    let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let threads: Vec<usize> = pool.install(|| {
        (0..12)
            .into_par_iter()
            .map(|_| {
                let now = running.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                sleep(Duration::from_millis(20));
                running.fetch_sub(1, SeqCst);
                rayon::current_thread_index().unwrap_or(usize::MAX)
            })
            .collect()
    });
    let mut distinct = threads.clone();
    distinct.sort();
    distinct.dedup();
    let most = most.into_inner();
    println!("pool of 3: 12 tasks, at most {most} at once, on threads {distinct:?}");

    // apply_async + get(timeout): spawn the task, receive its result from a channel.
    let (tx, rx) = mpsc::channel();
    for x in [10_u64, 7] {
        let tx = tx.clone();
        pool.spawn(move || {
            sleep(Duration::from_millis(if x == 7 { 500 } else { 0 }));
            let _ = tx.send((x, square(x)));
        });
    }
    let first = rx.recv_timeout(Duration::from_secs(5))?;
    println!("apply_async result: square({}) = {}", first.0, first.1);
    let early = rx.recv_timeout(Duration::from_millis(100));
    println!("get(timeout=0.1) for the slow task: timed out={}", early.is_err());
    let later = rx.recv_timeout(Duration::from_secs(5))?;
    println!("the slow task later gave square({}) = {}", later.0, later.1);

    assert_eq!(squares, (0..10).map(square).collect::<Vec<_>>());
    assert!(most <= 3 && distinct.len() <= 3 && distinct.iter().all(|&t| t < 3));
    assert_eq!((first, early.is_err(), later), ((10, 100), true, (7, 49)));
    println!("main: ok");
    Ok(())
}

fn square(x: u64) -> u64 {
    x * x
}
