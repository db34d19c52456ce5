//! Note 001 "5. GIL" names processes and coroutines as the ways out: coroutines run on
//! one CPU, but switch at less cost. 20 tasks that each wait 100 ms (a disk, a network)
//! in 20 processes, on 20 threads and as 20 async tasks on one thread; then 1000.
//!
//! | CPython (`asyncio`)                         | Rust (`tokio`, current-thread runtime)      |
//! |---------------------------------------------|---------------------------------------------|
//! | `async def nap(): await asyncio.sleep(0.1)` | `async fn nap() { tokio::time::sleep(NAP).await }` |
//! | `asyncio.run(main())`; `create_task(nap())` | `Builder::new_current_thread()..block_on(..)`; `tokio::spawn(nap())` |
//!
//! Run: `cargo run --release -p examples-pool --bin coroutines`
//!
//! ```text
//! 20 naps in 20 processes: 102.4 ms            <- times vary
//! 20 naps on 20 threads: 101.4 ms
//! 20 naps as async tasks: 101.4 ms, on 1 thread
//! 1000 naps on 1000 threads: 136.3 ms
//! 1000 naps as async tasks: 101.7 ms, on 1 thread
//! ```
//!
//! Where Rust differs: an `async fn` does nothing until a runtime polls it. Rust's
//! threads also run at once on every core: async tasks are for waiting, not computing.
//!
//! Copy it: `cargo new coroutines`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! cargo add tokio@1 --features rt,time
//! ```

use std::collections::HashSet;
use std::thread::{self, ThreadId};
use std::time::Instant;

use examples_pool::workloads::{self, NAP, NAPS};
use examples_process::Failure;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    // Processes first: a process with several threads must not fork, and the thread
    // rows below start threads.
    let (naps, ms) = timed(workloads::naps_in_processes)?;
    println!("{NAPS} naps in {naps} processes: {ms:.1} ms");
    let (naps, ms) = timed(|| Ok(workloads::naps_in_threads()))?;
    println!("{NAPS} naps on {naps} threads: {ms:.1} ms");
    let (ran_on, ms) = timed(|| naps_as_tasks(NAPS))?;
    println!("{NAPS} naps as async tasks: {ms:.1} ms, on {} thread", ran_on.len());

    const MANY: u64 = 1000;
    let (threads, many_threads_ms) = timed(|| Ok(naps_on_threads(MANY)))?;
    println!("{MANY} naps on {threads} threads: {many_threads_ms:.1} ms");
    let (ran_on, many_tasks_ms) = timed(|| naps_as_tasks(MANY))?;
    println!("{MANY} naps as async tasks: {many_tasks_ms:.1} ms, on {} thread", ran_on.len());

    assert_eq!(ran_on, HashSet::from([thread::current().id()]), "all on this one thread");
    assert_eq!(threads, MANY);
    Ok(())
}

/// `n` naps as async tasks on a runtime that uses only the calling thread. Returns the
/// threads the tasks ran on.
fn naps_as_tasks(n: u64) -> std::io::Result<HashSet<ThreadId>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    runtime.block_on(async {
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(nap())).collect();
        let mut ran_on = HashSet::new();
        for task in tasks {
            ran_on.insert(task.await.map_err(std::io::Error::other)?);
        }
        Ok(ran_on)
    })
}

/// One IO-bound task: waits, and lets the other tasks run meanwhile.
async fn nap() -> ThreadId {
    tokio::time::sleep(NAP).await;
    thread::current().id()
}

/// `n` naps, each on a thread of its own. Returns how many threads ran.
fn naps_on_threads(n: u64) -> u64 {
    thread::scope(|s| {
        let threads: Vec<_> = (0..n).map(|_| s.spawn(|| thread::sleep(NAP))).collect();
        threads.len() as u64
    })
}

/// Runs `work` and returns its result and how long it took, in milliseconds.
fn timed<T>(work: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<(T, f64)> {
    let started = Instant::now();
    let result = work()?;
    Ok((result, started.elapsed().as_secs_f64() * 1000.0))
}
