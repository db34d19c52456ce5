//! Note 000 "生产者消费者模式" (a heading with no body): a producer and a consumer joined
//! by a bounded queue; the producer waits while it is full, the consumer while empty.
//!
//! | CPython                               | Rust (`crossbeam-channel`)                      |
//! |---------------------------------------|-------------------------------------------------|
//! | `q = queue.Queue(3)`                  | `let (tx, rx) = bounded(3);`                    |
//! | `q.put(x)` (waits while full)         | `tx.send(x)` (waits while full)                 |
//! | `q.get()` in a loop, until a sentinel | `for x in rx.iter()`: ends once every sender is dropped |
//! | `q.full()`, `q.qsize()`               | `tx.is_full()`, `tx.len()`                      |
//!
//! Run: `cargo run -p examples-locks --bin producer_consumer`
//!
//! ```text
//! consumer: got 100 items in order 0..99: true, sum 4950
//! producer: found the queue full 5 times; it never held more than 3   <- the count varies
//! 2 producers, 3 consumers: 20 items, each taken once; consumers took [0, 20, 0]   <- varies
//! ```
//!
//! Where Rust differs: closing is built in: when the last sender is dropped, the
//! receivers drain the queue and their loops end, with no sentinel (CPython code puts
//! `None`). The channel is many-to-many (`rx.clone()`); std's `sync_channel` has one
//! receiver. `task_done` / `join` have no counterpart: joining the consumer threads
//! is the wait. Between processes: `queue_processes` and `shm_queue` in `examples-ipc`.
//!
//! Copy it: `cargo new producer_consumer`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add crossbeam@0.8
//! ```

use std::thread;

use crossbeam::channel::bounded;

fn main() {
    init();
    let (tx, rx) = bounded(3);
    let ((got, full, most), sum) = thread::scope(|s| {
        let producer = s.spawn(move || {
            let (mut full, mut most) = (0, 0);
            for i in 0..100_u32 {
                full += usize::from(tx.is_full());
                tx.send(i).expect("the consumer is there"); // waits while the queue is full
                most = most.max(tx.len());
            }
            (full, most) // `tx` is dropped here: the consumer's loop ends
        });
        let consumer = s.spawn(move || rx.iter().collect::<Vec<u32>>());
        let got = consumer.join().expect("the consumer");
        let sum: u32 = got.iter().sum();
        let (full, most) = producer.join().expect("the producer");
        ((got, full, most), sum)
    });
    let in_order = got == (0..100).collect::<Vec<_>>();
    println!("consumer: got {} items in order 0..99: {in_order}, sum {sum}", got.len());
    println!("producer: found the queue full {full} times; it never held more than {most}");

    // What the example adds: several producers and consumers on one queue.
    let (tx, rx) = bounded(3);
    let taken: Vec<Vec<u32>> = thread::scope(|s| {
        for first in [0, 100] {
            let tx = tx.clone();
            s.spawn(move || (first..first + 10).for_each(|i| tx.send(i).expect("a consumer")));
        }
        drop(tx); // only the producers hold senders now
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || rx.iter().collect::<Vec<u32>>())
            })
            .collect();
        consumers.into_iter().map(|c| c.join().expect("a consumer")).collect()
    });
    let mut all: Vec<u32> = taken.concat();
    all.sort_unstable();
    let counts: Vec<usize> = taken.iter().map(Vec::len).collect();
    println!(
        "2 producers, 3 consumers: {} items, each taken once; consumers took {counts:?}",
        all.len()
    );
    assert!(in_order && sum == 4950 && most <= 3);
    assert_eq!(all, (0..10).chain(100..110).collect::<Vec<_>>());
}

/// Refuses arguments (a usage error, exit code 2), and makes a panic in any thread end
/// the program at once (exit code 101), so that no thread waits for one that failed.
fn init() {
    if let Some(arg) = std::env::args_os().nth(1) {
        eprintln!("{}: unexpected argument {arg:?}", env!("CARGO_BIN_NAME"));
        std::process::exit(2);
    }
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        report(panic);
        std::process::exit(101);
    }));
}
