//! Note 000 "队列使用": `Queue(3)`, `put`, `get`, `full`, `empty`, `qsize`. Then the same
//! queue filled by a child process, and `put` / `get` with a timeout.
//!
//! | CPython                                   | Rust (`examples_ipc::queue::Queue`)          |
//! |-------------------------------------------|----------------------------------------------|
//! | `q = Queue(3)`; `q.put(x)`; `q.get()`     | `Queue::bounded(3)?`; `q.put(x)?`; `q.get()?` |
//! | `q.full()`, `q.empty()`, `q.qsize()`      | `q.full()`, `q.empty()`, `q.qsize()`         |
//! | `q.put(x, True, 0.2)` → `queue.Full`      | `q.put_timeout(x, 0.2 s)` → `Err(QueueError::Full)` |
//! | `q.get(True, 0.2)` → `queue.Empty`        | `q.get_timeout(0.2 s)` → `Err(QueueError::Empty)` |
//!
//! Run: `cargo run -p examples-ipc --bin queue`
//!
//! ```text
//! Queue(3): empty()=true qsize()=0 full()=false
//! put, get -> "message 1"; then empty()=true qsize()=0 full()=false
//! parent: a child put 3: full()=true qsize()=3
//! parent: put(timeout=0.2) -> full after 200 ms       <- the wait varies a little
//! parent: got ["from the child 1", "from the child 2", "from the child 3"]
//! parent: get(timeout=0.2) -> empty after 200 ms
//! ```
//!
//! Where Rust differs: the queue is typed (`Queue<String>`), where CPython's takes any
//! picklable object; its count is in shared memory, so `qsize()` is right everywhere.
//!
//! Copy it: `cargo new queue`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::time::{Duration, Instant};

use examples_ipc::queue::{Queue, QueueError};
use examples_process::{Failure, Process};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let q: Queue<String> = Queue::bounded(3)?;
    println!("Queue(3): empty()={} qsize()={} full()={}", q.empty(), q.qsize(), q.full());
    q.put("message 1".into())?;
    let got = q.get()?;
    println!(
        "put, get -> {got:?}; then empty()={} qsize()={} full()={}",
        q.empty(),
        q.qsize(),
        q.full()
    );

    // What the example adds: a child fills it; the parent's timed put and get give up.
    let mut child = Process::new({
        let q = q.clone();
        move || (1..=3).for_each(|i| q.put(format!("from the child {i}")).expect("room for 3"))
    });
    child.start()?;
    child.join()?;
    println!("parent: a child put 3: full()={} qsize()={}", q.full(), q.qsize());
    let (put, waited) = timed(|| q.put_timeout("one too many".into(), Duration::from_millis(200)));
    println!("parent: put(timeout=0.2) -> {} after {} ms", put.unwrap_err(), waited.as_millis());
    let items = [q.get()?, q.get()?, q.get()?];
    println!("parent: got {items:?}");
    let (get, waited) = timed(|| q.get_timeout(Duration::from_millis(200)));
    println!("parent: get(timeout=0.2) -> {} after {} ms", get.unwrap_err(), waited.as_millis());
    assert!(q.empty() && items[0] == "from the child 1", "first in, first out");
    Ok(())
}

fn timed<T>(call: impl FnOnce() -> Result<T, QueueError>) -> (Result<T, QueueError>, Duration) {
    let started = Instant::now();
    (call(), started.elapsed())
}
