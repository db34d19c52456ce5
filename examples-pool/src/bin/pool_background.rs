//! A pool works while the parent does something else: tasks handed to `apply_async` run
//! and finish while the parent sleeps, so `join` has nothing left to wait for. With
//! each start method in turn.
//!
//! Mirrors note 000 "进程池" (`Pool(3)`, eight `apply_async` calls, `close`, `join`),
//! with the parent busy between submitting and joining, and the start methods that
//! CPython's `multiprocessing.get_context(...)` names.
//!
//! | CPython                                        | Rust (`examples_pool::Pool`)                    |
//! |------------------------------------------------|-------------------------------------------------|
//! | `if __name__ == "__main__":`                   | `examples_process::main_guard();` first in `main` |
//! | `get_context("spawn").Pool(3)`                 | `Pool::with_start_method(3, StartMethod::Spawn)?` |
//! | `r = pool.apply_async(f, (i,))`, `r.ready()`   | `let r = pool.apply_async(f, i)?;`, `r.ready()?` |
//! | `pool.close(); pool.join()`                    | `pool.close().join()?`                           |
//!
//! Run: `cargo run -p examples-pool --bin pool_background` (all three methods), or
//! with one method: `... --bin pool_background -- spawn`.
//!
//! Output, for each method: the workers' names (`ForkPoolWorker-1`,
//! `SpawnPoolWorker-1`, `ForkServerPoolWorker-1`, as CPython names them), how many of
//! the eight results were ready after the parent slept 1 s without touching the pool
//! (8: the 8 × 100 ms of work on 3 workers takes about 300 ms), how long `join` took
//! then (a few milliseconds), and the eight squares, checked. What varies: pids and
//! times; under heavy load, fewer than 8 may be ready.
//!
//! Where Rust differs: the pool has no thread in the parent (CPython's has three). It
//! sends each worker its share of the queued tasks at once, up to
//! `examples_pool::IN_FLIGHT` each, and the results wait in the connections until a
//! pool call reads them; so the parent stays single-threaded and may still fork. A task
//! is a plain `fn` with serde arguments, which is what lets spawn and forkserver
//! workers run it: they are this program run again, not copies of its memory.
//!
//! In your own program: `rayon` for CPU-bound work in one process; `procspawn`'s pool
//! for tasks in other processes.
//!
//! Copy it: `cargo new pool_background`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! ```

use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_pool::Pool;
use examples_process::{Failure, StartMethod, current_process};

const TASKS: u64 = 8;
const USAGE: &str = "usage: pool_background [fork | spawn | forkserver]";

fn main() -> Result<ExitCode, Failure> {
    // A worker started with spawn or forkserver runs this program again: this call
    // makes it serve the pool instead of running main.
    examples_process::main_guard();
    examples_process::exit_on_stdout_failure();
    // `args_os`, not `args`, which panics on an argument that is not UTF-8.
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let methods = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => StartMethod::ALL.to_vec(),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        [name] if let Ok(method) = name.parse::<StartMethod>() => vec![method],
        _ => {
            eprintln!("pool_background: unexpected arguments {args:?}; {USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    for method in methods {
        run(method)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run(method: StartMethod) -> Result<(), Failure> {
    println!("{method}: Pool(3), {TASKS} tasks of 100 ms, then the parent sleeps 1 s");
    let pool = Pool::with_start_method(3, method)?;
    let pending =
        (0..TASKS).map(|i| pool.apply_async(square_slowly, i)).collect::<Result<Vec<_>, _>>()?;
    sleep(Duration::from_secs(1)); // the parent is busy elsewhere: no pool call
    let mut ready = 0;
    for result in &pending {
        ready += usize::from(result.ready()?);
    }
    println!("{method}: {ready} of {TASKS} ready after the sleep");
    let mut workers: Vec<String> = Vec::new();
    for (i, result) in (0..).zip(pending) {
        let (square, worker) = result.get()?;
        assert_eq!(square, i * i, "task {i}");
        if !workers.contains(&worker) {
            workers.push(worker);
        }
    }
    workers.sort();
    let started = Instant::now();
    pool.close().join()?;
    let join_ms = started.elapsed().as_secs_f64() * 1e3;
    println!("{method}: join took {join_ms:.1} ms");
    println!("{method}: ran on {}", workers.join(", "));
    println!("{method}: all {TASKS} squares correct");
    Ok(())
}

/// A task: 100 ms of waiting, then `i * i` and the name of the worker that ran it.
fn square_slowly(i: u64) -> (u64, String) {
    sleep(Duration::from_millis(100));
    (i * i, current_process().name)
}
