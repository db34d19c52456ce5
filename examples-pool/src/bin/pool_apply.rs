//! Note 001 "1. 多进程 c": a pool of 5; ten tasks with `apply`, which waits for each
//! task before handing out the next, then with `apply_async`, which hands out all ten.
//!
//! | CPython                                   | Rust (`examples_pool::Pool`)           |
//! |-------------------------------------------|----------------------------------------|
//! | `ps = Pool(5)`                            | `let ps = Pool::new(5)?;`              |
//! | `ps.apply(worker, args=(i,))`             | `ps.apply(worker, i)?` (waits)         |
//! | `ps.apply_async(worker, args=(i,))`       | `ps.apply_async(worker, i)?` (returns at once) |
//! | `ps.close(); ps.join()`                   | `ps.close().join()?`                   |
//!
//! Run: `cargo run -p examples-pool --bin pool_apply`; `-- --timeline pool.svg` draws it.
//!
//! ```text
//! main starts: pid 7465
//! apply: 10 tasks, one at a time, in 0.51 s on 5 workers      <- times vary a little
//! apply_async: 10 tasks at once, in 0.10 s on 5 workers
//! main ends
//! ```
//!
//! Where Rust differs: a task is a named `fn` with serde arguments. Each task's own
//! lines (the note's `worker` prints two, with pid and ppid) are left out here: fifty
//! lines of them hide the point, which the times and the timeline show.
//!
//! Copy it: `cargo new pool_apply`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! ```

use std::collections::BTreeSet;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_pool::Pool;
use examples_process::timeline::{self, Timeline};
use examples_process::{Failure, current_pid};

/// The note's `worker(arg)`: 0.05 s of work (0.5 s in the note); returns its pid.
fn worker(arg: u32) -> i32 {
    let _task = timeline::span(&format!("task {arg}")); // a bar in the timeline, if drawn
    sleep(Duration::from_millis(50));
    current_pid()
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let timeline = Timeline::from_args_or_exit(); // installed before the workers fork
    println!("main starts: pid {}", current_pid());
    let ps = Pool::new(5)?;
    let started = Instant::now();
    let mut pids = BTreeSet::new();
    for i in 0..10 {
        let _waiting = timeline::span(&format!("apply {i}")); // main waits for each
        pids.insert(ps.apply(worker, i)?);
    }
    let (took, on) = (started.elapsed(), pids.len());
    println!("apply: 10 tasks, one at a time, in {:.2} s on {on} workers", took.as_secs_f64());

    let started = Instant::now();
    timeline::mark("apply_async ×10"); // returns at once
    let pending = (0..10).map(|i| ps.apply_async(worker, i)).collect::<Result<Vec<_>, _>>()?;
    let pids: BTreeSet<i32> = pending.into_iter().map(|r| r.get()).collect::<Result<_, _>>()?;
    let took = started.elapsed();
    println!(
        "apply_async: 10 tasks at once, in {:.2} s on {} workers",
        took.as_secs_f64(),
        pids.len()
    );
    ps.close().join()?;
    println!("main ends");
    if let Some(path) =
        timeline.save("pool_apply: Pool(5), ten tasks with apply, then with apply_async")?
    {
        println!("main: timeline written to {}", path.display());
    }
    Ok(())
}
