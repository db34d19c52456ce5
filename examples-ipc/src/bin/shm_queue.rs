//! Beyond note 001 "3. a. Queue" and note 003 "进程间的通信" (a `Queue` from a parent to
//! a child): 100,000 integers through a ring of slots in shared memory, with no system
//! call while there is room and something to read; the child sends back their sum.
//!
//! | CPython                               | Rust (`examples_ipc::ring`)                 |
//! |---------------------------------------|---------------------------------------------|
//! | `q = Queue()`; `q.put(i)`; `q.get()`  | `ring::channel::<u64, 1024>()?`; `tx.push(i)?`; `rx.pop()?` |
//! | `q.close()` (readers are not told)    | drop `tx`: `rx.pop()` → `Err(RingError::Closed)` once empty |
//!
//! Run: `cargo run --release -p examples-ipc --bin shm_queue`
//!
//! ```text
//! child: received 100000 items, sum 4999950000; slept 98 times      <- counts vary
//! parent: sent 100000 items in 13.36 ms (7.5 M items/s); slept 105 times   <- so do times
//! parent: the child's sum is 4999950000
//! ```
//!
//! Where Rust differs: one producer and one consumer (a second process using an end
//! gets an error), plain values only (a `String` is a pointer into one process: refused
//! at compile time) and a fixed capacity; an item costs a few memory writes instead of
//! a pickle and a system call. `side_by_side` compares it with `multiprocessing.Queue`.
//!
//! Copy it: `cargo new shm_queue`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::time::{Duration, Instant};

use examples_ipc::ring;
use examples_process::{Failure, Process};

const ITEMS: u64 = 100_000;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let (tx, rx) = ring::channel::<u64, 1024>()?;
    let (sum_tx, sum_rx) = ring::channel::<u64, 1>()?;
    let mut consumer = Process::new(move || {
        let (mut count, mut sum) = (0_u64, 0_u64);
        while let Ok(i) = rx.pop() {
            count += 1;
            sum += i;
        }
        // The loop ended with `Closed`: the parent dropped its end after the last item.
        println!("child: received {count} items, sum {sum}; slept {} times", rx.sleeps());
        sum_tx.push(sum).expect("the parent is waiting");
    });
    consumer.start()?; // the parent's copies of `rx` and `sum_tx` are dropped here

    let start = Instant::now();
    for i in 0..ITEMS {
        tx.push(i)?;
    }
    let producer_sleeps = tx.sleeps();
    drop(tx); // closes the ring: the child's `pop` says `Closed` once it has read all
    let sum = sum_rx.pop_timeout(Duration::from_secs(30))?;
    let took = start.elapsed();
    let code = consumer.join()?;
    let rate = ITEMS as f64 / took.as_secs_f64() / 1e6;
    println!(
        "parent: sent {ITEMS} items in {:.2} ms ({rate:.1} M items/s); slept {producer_sleeps} times",
        took.as_secs_f64() * 1e3
    );
    println!("parent: the child's sum is {sum}");

    assert_eq!(code, 0);
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    Ok(())
}
