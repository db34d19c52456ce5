//! A queue of capacity 3 between processes: `put`, `get`, `full`, `empty`, `qsize`, and
//! what the timeouts do.
//!
//! Mirrors note 000 "队列使用": `Queue(3)`, `put`, `put(block, timeout)`, `get`, `full`,
//! `empty`, `qsize`.
//!
//! | CPython                                 | Rust (`examples_ipc::queue::Queue`)           |
//! |-----------------------------------------|-----------------------------------------------|
//! | `q = Queue(3)`                          | `Queue::bounded(3)?`                          |
//! | `q.put(x)` / `q.put(x, True, 1)`        | `q.put(x)?` / `q.put_timeout(x, Duration)`    |
//! | `q.put_nowait(x)` → `queue.Full`        | `q.put_nowait(x)` → `Err(QueueError::Full)`   |
//! | `q.get()` / `q.get(True, 1)`            | `q.get()?` / `q.get_timeout(Duration)`        |
//! | `q.get_nowait()` → `queue.Empty`        | `q.get_nowait()` → `Err(QueueError::Empty)`   |
//! | `q.full()`, `q.empty()`, `q.qsize()`    | `q.full()`, `q.empty()`, `q.qsize()`    |
//!
//! Run: `cargo run -p examples-ipc --bin queue`
//!
//! Output: a child puts three messages; the parent, after joining it, sees the queue
//! full with size 3; a put with a 0.2 s timeout fails with "full" after about 0.2 s and
//! a non-blocking put fails at once; a second child, reading the same queue, gets the
//! three messages first-in first-out and sees it empty; the parent then sees it empty
//! too, a get with a 0.2 s timeout fails with "empty" and a non-blocking get at once.
//! What varies: the measured waits.
//!
//! Where Rust differs: the queue is generic over its item type, checked when it is
//! compiled; CPython's holds any picklable object. The capacity is a process-shared
//! semaphore, as CPython's is, and the count of items sits in shared memory beside it,
//! so `qsize()` is right in every process.
//!
//! In your own program: `ipc-channel` between processes, `crossbeam-channel`
//! (`bounded(n)`) between threads.
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

const WAIT: Duration = Duration::from_millis(200);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let q: Queue<String> = Queue::bounded(3)?;

    // A child fills the queue, and exits: the items stay in the queue.
    let mut filler = Process::new({
        let q = q.clone();
        move || {
            for i in 1..=3 {
                q.put(format!("message {i}")).expect("room for three");
                println!("filler: put message {i}, qsize={}", q.qsize());
            }
        }
    });
    filler.start()?;
    let filler_code = filler.join()?;
    println!("parent: full={} qsize={}", q.full(), q.qsize());

    let asked = Instant::now();
    let timed = q.put_timeout("message 4".into(), WAIT);
    let waited = asked.elapsed();
    println!("parent: put(timeout=0.2) -> {} after {} ms", outcome(&timed), waited.as_millis());
    let nowait = q.put_nowait("message 4".into());
    println!("parent: put_nowait -> {}", outcome(&nowait));

    // A second child empties it, in order, and reports what it saw.
    let mut drainer = Process::new({
        let q = q.clone();
        move || {
            for _ in 0..3 {
                let item = q.get().expect("three items");
                println!("drainer: got {item}, qsize={}", q.qsize());
            }
            println!("drainer: empty={}", q.empty());
        }
    });
    drainer.start()?;
    let drainer_code = drainer.join()?;
    println!("parent: empty={} qsize={}", q.empty(), q.qsize());

    let asked = Instant::now();
    let timed_get = q.get_timeout(WAIT);
    let get_waited = asked.elapsed();
    println!(
        "parent: get(timeout=0.2) -> {} after {} ms",
        outcome(&timed_get),
        get_waited.as_millis()
    );
    let nowait_get = q.get_nowait();
    println!("parent: get_nowait -> {}", outcome(&nowait_get));

    assert_eq!((filler_code, drainer_code), (0, 0), "the children's own expectations held");
    assert!(matches!(timed, Err(QueueError::Full)) && waited >= WAIT);
    assert!(matches!(nowait, Err(QueueError::Full)));
    assert!(matches!(timed_get, Err(QueueError::Empty)) && get_waited >= WAIT);
    assert!(matches!(nowait_get, Err(QueueError::Empty)));
    assert!(q.empty() && q.qsize() == 0);
    println!("parent: ok");
    Ok(())
}

fn outcome<T>(result: &Result<T, QueueError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.to_string(),
    }
}
