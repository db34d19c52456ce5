//! A queue between two processes through shared memory: a ring of slots in one
//! anonymous mapping, with no system call while there is room and something to read.
//!
//! Goes beyond note 001 "3. a. Queue" and note 003 "进程间的通信", which pass items from
//! a parent to a child through `multiprocessing.Queue` (a pipe, a feeder thread and
//! pickling). Here the parent streams 100 000 integers to a child through
//! `examples_ipc::ring`, a bounded single-producer single-consumer queue; the child sums
//! them and sends the sum back through a second ring.
//!
//! | CPython                               | Rust (`examples_ipc::ring`)                |
//! |---------------------------------------|--------------------------------------------|
//! | `q = Queue()` (any picklable object)  | `let (tx, rx) = ring::channel::<u64, 1024>()?;` (plain `ProcessShared` values) |
//! | `q.put(i)` / `q.get()`                | `tx.push(i)?` / `rx.pop()?`                |
//! | `q.get(timeout=0.1)` → `queue.Empty`  | `rx.pop_timeout(d)` → `Err(RingError::Timeout)` |
//! | `q.close()` (no "closed" for readers) | drop `tx`: `rx.pop()` → `Err(RingError::Closed)` once empty |
//!
//! Run: `cargo run --release -p examples-ipc --bin shm_queue`
//!
//! Output: the child's count and sum (100000 items, 4999950000) and how many times it
//! slept waiting for items; the parent's time, rate and how many times it slept waiting
//! for room; then a timed `pop` on an empty ring giving up after 100 ms. What varies:
//! the time, the rate and both sleep counts (each side spins briefly before it sleeps
//! in the kernel, so the counts depend on which process runs faster).
//! `cargo run --release -p examples-pool --bin side_by_side` compares it with
//! `multiprocessing.Queue`.
//!
//! Where Rust differs: one producer and one consumer (neither end can be cloned, and
//! the ring records which process uses each end, so a second process gets an error),
//! only plain values (the compiler refuses a `String`, or even a `&'static str`: a
//! pointer means nothing in another process), and a fixed capacity. In exchange, an
//! item costs a few memory writes instead of a pickle and a system call.
//!
//! In your own program: `ipmpsc` or `iceoryx2` for queues through shared memory,
//! `crossbeam-channel` between threads.
//!
//! Copy it: `cargo new shm_queue`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::time::{Duration, Instant};

use examples_ipc::ring::{self, RingError};
use examples_process::{Failure, Process};

const ITEMS: u64 = 100_000;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
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

    // Nobody sends: a timed pop gives up instead of waiting for ever.
    let (_quiet_tx, quiet_rx) = ring::channel::<u64, 2>()?;
    let asked = Instant::now();
    let nothing = quiet_rx.pop_timeout(Duration::from_millis(100));
    let waited = asked.elapsed();
    println!(
        "parent: pop_timeout(0.1) on an empty ring -> {nothing:?} after {} ms",
        waited.as_millis()
    );

    assert_eq!(code, 0);
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    assert!(nothing == Err(RingError::Timeout) && waited >= Duration::from_millis(100));
    println!("main: ok");
    Ok(())
}
