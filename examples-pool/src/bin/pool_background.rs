//! Note 000 "进程池" with the parent busy: 8 `apply_async` tasks finish while the parent
//! sleeps, so `join` has nothing left to wait for; with each start method.
//!
//! | CPython                                      | Rust (`examples_pool::Pool`)               |
//! |----------------------------------------------|--------------------------------------------|
//! | `if __name__ == "__main__":`                 | `examples_process::main_guard();` first in `main` |
//! | `get_context("spawn").Pool(3)`               | `Pool::with_start_method(3, StartMethod::Spawn)?` |
//! | `r.ready()`; `pool.close(); pool.join()`     | `r.ready()?`; `pool.close().join()?`       |
//!
//! Run: `cargo run -p examples-pool --bin pool_background` (or `-- spawn`, one method)
//!
//! ```text
//! fork: 8 of 8 ready after the parent slept 1 s; join took 1.0 ms      <- times vary
//! fork: ran on ForkPoolWorker-1, ForkPoolWorker-2, ForkPoolWorker-3
//! spawn: 8 of 8 ready after the parent slept 1 s; join took 1.1 ms
//! spawn: ran on SpawnPoolWorker-1, SpawnPoolWorker-2, SpawnPoolWorker-3
//! forkserver: 8 of 8 ready after the parent slept 1 s; join took 1.9 ms
//! forkserver: ran on ForkServerPoolWorker-1, ForkServerPoolWorker-2, ForkServerPoolWorker-3
//! ```
//!
//! Where Rust differs: the pool has no thread in the parent (CPython's has three): it
//! hands each worker its share of the tasks at once, and results wait in the
//! connections until a pool call reads them. Under heavy load, fewer may be ready.
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
    let pool = Pool::with_start_method(3, method)?;
    let pending =
        (0..TASKS).map(|i| pool.apply_async(square_slowly, i)).collect::<Result<Vec<_>, _>>()?;
    sleep(Duration::from_secs(1)); // the parent is busy elsewhere: no pool call
    let mut ready = 0;
    for result in &pending {
        ready += usize::from(result.ready()?);
    }
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
    println!(
        "{method}: {ready} of {TASKS} ready after the parent slept 1 s; join took {join_ms:.1} ms"
    );
    println!("{method}: ran on {}", workers.join(", "));
    Ok(())
}

/// A task: 100 ms of waiting, then `i * i` and the name of the worker that ran it.
fn square_slowly(i: u64) -> (u64, String) {
    sleep(Duration::from_millis(100));
    (i * i, current_process().name)
}
