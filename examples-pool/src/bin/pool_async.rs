//! Note 000 "进程池": a pool of 3 processes runs 8 tasks given by `apply_async`; then
//! `close`, and `join` waits for them all before "done".
//!
//! | CPython                                | Rust (`examples_pool::Pool`)              |
//! |----------------------------------------|-------------------------------------------|
//! | `pool = Pool(processes=3)`             | `let pool = Pool::new(3)?;`               |
//! | `pool.apply_async(funcpro, (msg,))`    | `pool.apply_async(funcpro, msg)?`         |
//! | `pool.close(); pool.join()`            | `pool.close().join()?`                    |
//!
//! Run: `cargo run -p examples-pool --bin pool_async`
//!
//! ```text
//! start HH 0 in pid 7302      <- pids and the order within each batch of three vary
//! start HH 2 in pid 7304
//! start HH 1 in pid 7303
//! end HH 0
//! end HH 1
//! start HH 4 in pid 7303      <- ... and so on: a worker takes the next task as it ends one
//! ```
//!
//! Where Rust differs: a task is a named `fn` with serde arguments (CPython: any
//! picklable function). `apply_async` after `close`, or `join` before it, does not
//! compile (CPython: `ValueError` at run time).
//!
//! Copy it: `cargo new pool_async`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_pool::Pool;
use examples_process::{Failure, current_pid};

/// The note's `funcpro(msg)`.
fn funcpro(msg: String) {
    println!("start {msg} in pid {}", current_pid());
    sleep(Duration::from_millis(200)); // 3 s in the note
    println!("end {msg}");
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let pool = Pool::new(3)?;
    for i in 0..8 {
        let msg = format!("HH {i}");
        pool.apply_async(funcpro, msg)?; // its result is not kept: the task still runs
    }
    pool.close().join()?; // no more tasks; wait for the eight
    println!("done");
    Ok(())
}
