//! The pools of notes 000 "进程池", 001 "1. 多进程 c" and 003 "进程池", with threads: in
//! CPython a pool of processes is how CPU-bound work uses every core; in Rust threads
//! already do, so a thread pool (`rayon`) is the usual answer and processes are kept
//! for isolation.
//!
//! | CPython                                     | Rust (`rayon`)                              |
//! |---------------------------------------------|---------------------------------------------|
//! | `Pool().map(square, range(10))`             | `(0..10).into_par_iter().map(square).collect()` |
//! | `Pool(3)`                                   | `ThreadPoolBuilder::new().num_threads(3).build()?` |
//! | `pool.apply_async(f, (x,)).get(timeout)`    | `pool.spawn(move \|\| tx.send(f(x)))`, `rx.recv_timeout(t)` |
//!
//! Run: `cargo run -p examples-pool --bin thread_pool`
//!
//! ```text
//! map(square, 0..10) = [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//! pool of 3: 12 tasks, at most 3 at once
//! apply_async: square(10) = 100; get(timeout=0.1) of a 0.5 s task: timed out
//! ```
//!
//! Where Rust differs: threads run Rust code in parallel (no GIL), so CPU-bound work
//! goes here; `gil_compare` measures it. Results come back in input order from
//! `collect`. A task may borrow the caller's data inside `pool.install`.
//!
//! Copy it: `cargo new thread_pool`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add rayon@1
//! ```

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::Duration;

use rayon::prelude::*;

fn square(x: u64) -> u64 {
    x * x
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    init();
    let squares: Vec<u64> = (0..10_u64).into_par_iter().map(square).collect(); // in order
    println!("map(square, 0..10) = {squares:?}");

    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build()?;
    let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    pool.install(|| {
        (0..12).into_par_iter().for_each(|_| {
            most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
            sleep(Duration::from_millis(20));
            running.fetch_sub(1, SeqCst);
        })
    });
    println!("pool of 3: 12 tasks, at most {} at once", most.load(SeqCst));

    // apply_async(...).get(timeout): the task sends its result on a channel.
    let (tx, rx) = mpsc::channel();
    for (x, ms) in [(10_u64, 0), (7, 500)] {
        let tx = tx.clone();
        pool.spawn(move || {
            sleep(Duration::from_millis(ms));
            let _ = tx.send(square(x));
        });
    }
    let first = rx.recv_timeout(Duration::from_secs(5))?;
    let early = rx.recv_timeout(Duration::from_millis(100));
    let verdict = if early.is_err() { "timed out" } else { "answered" };
    println!("apply_async: square(10) = {first}; get(timeout=0.1) of a 0.5 s task: {verdict}");
    assert!(most.load(SeqCst) <= 3 && first == 100 && early.is_err());
    Ok(())
}

/// Refuses arguments (a usage error, exit code 2), and makes a panic in any thread end
/// the program at once (exit code 101), so that no thread waits for one that failed.
fn init() {
    if let Some(arg) = std::env::args_os().nth(1) {
        eprintln!("{}: unexpected argument {arg:?}", env!("CARGO_BIN_NAME"));
        std::process::exit(2);
    }
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        report(panic);
        std::process::exit(101);
    }));
}
