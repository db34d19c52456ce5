//! A process pool runs many tasks on a few processes: `apply_async`, `apply`, `close`,
//! `join`.
//!
//! Mirrors note 000 "进程池" (a pool of 3 runs 8 tasks submitted with `apply_async`,
//! then `close` and `join`) and note 001 "1. 多进程 c" (a pool of 5: `apply` runs tasks
//! one after another, `apply_async` side by side).
//!
//! | CPython                                 | Rust (`examples_pool::Pool`)                   |
//! |-----------------------------------------|------------------------------------------------|
//! | `pool = multiprocessing.Pool(3)`        | `let pool = Pool::new(3)?;`                    |
//! | `pool.apply_async(funcpro, (msg,))`     | `pool.apply_async(funcpro, msg)?`              |
//! | `pool.apply(worker, (i,))`              | `pool.apply(worker, i)?`                       |
//! | `pool.close(); pool.join()`             | `pool.close().join()?`                         |
//!
//! Run: `cargo run -p examples-pool --bin pool_async`, or with
//! `-- --timeline pool_async.svg` to draw main and every worker: `apply` waits for each
//! task (a staircase), `apply_async` hands out all ten at once (a column).
//!
//! Output: eight "start HH i" / "end HH i" pairs from three worker pids, at most three
//! running at once (measured from each task's start and end times), then "done"; then,
//! between main's start and end lines, a pool of five running ten tasks with `apply`,
//! strictly one at a time (each task's end line before the next one's start line),
//! handed to the five workers in turn, and with `apply_async`, up to five at once. What
//! varies: pids, the order of the `apply_async` lines, and how many ran at once with
//! `apply_async` (at most the pool size, usually exactly it).
//!
//! Where Rust differs: a task is a plain `fn` (CPython: any picklable function), and
//! its argument and result are serde values. Calling `join` before `close` does not
//! compile: `join` belongs to what `close` returns (CPython: `ValueError`).
//!
//! In your own program: `rayon` for CPU-bound work in one process; `procspawn`'s pool,
//! which re-executes the program instead of forking, when tasks must run in other
//! processes.
//!
//! Copy it: `cargo new pool_async`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! cargo add nix@0.31 --features process,time
//! cargo add serde@1 --features derive
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_pool::Pool;
use examples_process::Failure;
use examples_process::timeline::{self, Timeline};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{getpid, getppid};
use serde::{Deserialize, Serialize};

/// When and where a task ran.
#[derive(Serialize, Deserialize, Clone, Copy)]
struct Span {
    pid: i32,
    ppid: i32,
    start: u64,
    end: u64,
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    // Installed before the pools start: their forked workers record into the same log.
    let timeline = Timeline::from_args_or_exit();
    let main_pid = getpid().as_raw();
    println!("main: pid={main_pid}");

    // Note 000: Pool(3), eight apply_async, close, join.
    let pool = Pool::new(3)?;
    let pending = (0..8)
        .map(|i| pool.apply_async(funcpro, format!("HH {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let spans = pending.into_iter().map(|r| r.get()).collect::<Result<Vec<Span>, _>>()?;
    pool.close().join()?;
    println!("done");
    let (at_once, pids) = (most_at_once(&spans), distinct_pids(&spans));
    println!("pool(3): 8 tasks, at most {at_once} at once, on {pids} worker processes");

    // Note 001: Pool(5), ten tasks with apply (blocking), then with apply_async.
    println!("main starts: pid={main_pid}, ten tasks with apply");
    let pool = Pool::new(5)?;
    let applied = (0..10)
        .map(|i| {
            let _waiting = timeline::span(&format!("apply {i}")); // main waits for each
            pool.apply(worker, i)
        })
        .collect::<Result<Vec<Span>, _>>()?;
    println!("main: ten tasks with apply_async");
    timeline::mark("apply_async ×10"); // returns at once: no wait here
    let pending = (0..10).map(|i| pool.apply_async(worker, i)).collect::<Result<Vec<_>, _>>()?;
    let getting = timeline::span("get() ×10");
    let async_spans = pending.into_iter().map(|r| r.get()).collect::<Result<Vec<Span>, _>>()?;
    drop(getting);
    pool.close().join()?;
    println!("main ends");
    let (applied_at_once, async_at_once) = (most_at_once(&applied), most_at_once(&async_spans));
    let applied_pids = distinct_pids(&applied);
    println!(
        "pool(5): apply ran at most {applied_at_once} at once (on {applied_pids} workers); \
         apply_async at most {async_at_once}"
    );

    assert!(at_once <= 3 && pids <= 3);
    assert!(
        spans.iter().chain(&applied).chain(&async_spans).all(|s| s.ppid == main_pid),
        "workers are main's children"
    );
    assert_eq!(applied_at_once, 1, "apply waits for each task");
    assert_eq!(applied_pids, 5, "one task at a time, yet every worker has its turn");
    assert!(async_at_once <= 5);
    println!("main: ok");
    let title = "pool_async: Pool(3) with apply_async; Pool(5) with apply, then apply_async";
    if let Some(path) = timeline.save(title)? {
        println!("main: timeline written to {}", path.display());
    }
    Ok(())
}

/// The note's `funcpro(msg)`.
fn funcpro(msg: String) -> Span {
    let _task = timeline::span(&msg);
    let start = now();
    println!("start {msg} pid={}", getpid());
    sleep(Duration::from_millis(200));
    println!("end {msg} pid={}", getpid());
    Span { pid: getpid().as_raw(), ppid: getppid().as_raw(), start, end: now() }
}

/// The note's `worker(arg)`: a line when it starts and one when it ends.
fn worker(arg: u32) -> Span {
    let _task = timeline::span(&format!("task {arg}"));
    let start = now();
    println!("worker {arg} starts pid={} ppid={}", getpid(), getppid());
    sleep(Duration::from_millis(50));
    println!("worker {arg} ends pid={} ppid={}", getpid(), getppid());
    Span { pid: getpid().as_raw(), ppid: getppid().as_raw(), start, end: now() }
}

/// Nanoseconds on the system-wide monotonic clock, comparable between processes.
fn now() -> u64 {
    let ts = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC exists on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// The largest number of spans that overlap at one instant.
fn most_at_once(spans: &[Span]) -> usize {
    let mut events: Vec<(u64, i32)> =
        spans.iter().flat_map(|s| [(s.start, 1), (s.end, -1)]).collect();
    events.sort(); // at equal times an end (-1) sorts before a start (+1)
    let (mut now, mut most) = (0_i32, 0_i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    most as usize
}

fn distinct_pids(spans: &[Span]) -> usize {
    let mut pids: Vec<i32> = spans.iter().map(|s| s.pid).collect();
    pids.sort();
    pids.dedup();
    pids.len()
}
