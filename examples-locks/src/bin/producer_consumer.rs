//! Producers and consumers joined by a bounded queue; between threads and between
//! processes.
//!
//! Mirrors note 000 "生产者消费者模式", a heading with no body: the pattern that
//! `queue.Queue(maxsize)` (threads) and `multiprocessing.Queue` (processes) are for.
//!
//! | CPython                                      | Rust                                         |
//! |----------------------------------------------|----------------------------------------------|
//! | `q = queue.Queue(3)`                         | `crossbeam::channel::bounded(3)`             |
//! | `q.put(x)` (blocks while full)               | `tx.send(x)` (blocks while full)             |
//! | `q.get()` (blocks while empty)               | `rx.recv()`; `Err` once every sender is gone |
//! | `q.full()`, `q.qsize()`                      | `tx.is_full()`, `tx.len()`                   |
//! | `q.task_done()` / `q.join()`                 | `Pending::done()` / `Pending::wait_all()` below |
//! | `multiprocessing.Queue(3)` between processes | `examples_ipc::queue::Queue::bounded(3)`     |
//! | a sentinel (`None`) to say "no more"         | `Queue<Option<u32>>`, ending with `None`     |
//!
//! Run: `cargo run -p examples-locks --bin producer_consumer`
//!
//! Output: a fast producer and a slow consumer through a queue of 3: the consumer gets
//! 0..9 in order and the producer reports each time it found the queue full, never
//! more than 3 items ahead; then 2 producers × 10 items and 3 consumers, each item
//! consumed once, with main waiting until every item is processed; then a producer
//! process putting 0..99 and a `None` into a process queue of 3 and a consumer process
//! summing them to 4950, never more than 3 waiting in the queue. What varies: which
//! consumer takes which item, how often the producer found the queue full, and the
//! order of the two processes' lines.
//!
//! Where Rust differs: closing is built in. When the last sender is dropped, `recv`
//! returns an error after the queue drains, so consumers end without the sentinel
//! values CPython code sends. Between processes there is no such end (every process
//! holds the whole queue), so the producer sends `None` last, as in CPython.
//!
//! In your own program: `crossbeam-channel` between threads, `ipc-channel` between
//! processes.
//!
//! Copy it: `cargo new producer_consumer`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add crossbeam@0.8
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add parking_lot@0.13
//! ```

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread::{self, sleep};
use std::time::Duration;

use crossbeam::channel::bounded;
use examples_ipc::queue::Queue;
use examples_process::{Failure, Process};
use parking_lot::{Condvar, Mutex};

const CAPACITY: usize = 3;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let (received, most_ahead) = fast_producer_slow_consumer();
    let (consumed, processed_at_join) = many_producers_many_consumers();
    let (sum, codes) = between_processes()?;

    assert_eq!(received, (0..10).collect::<Vec<_>>(), "FIFO: in the order produced");
    assert!(most_ahead <= CAPACITY);
    let mut expected: Vec<u32> = (0..2).flat_map(|p| (0..10).map(move |i| p * 100 + i)).collect();
    expected.sort();
    assert_eq!(consumed, expected, "every item consumed exactly once");
    assert_eq!(processed_at_join, 20, "the join waited for every item");
    assert_eq!((sum, codes), (4950, [0, 0]));
    println!("main: ok");
    Ok(())
}

/// One producer, as fast as it can; one consumer, 20 ms per item. Returns what the
/// consumer got and the most items the queue ever held.
fn fast_producer_slow_consumer() -> (Vec<u32>, usize) {
    let (tx, rx) = bounded::<u32>(CAPACITY);
    thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut most_ahead = 0;
            for item in 0..10 {
                if tx.is_full() {
                    println!("producer: queue full ({} items), waiting", tx.len());
                }
                let _ = tx.send(item); // blocks while full
                most_ahead = most_ahead.max(tx.len());
            }
            most_ahead
        }); // `tx` is dropped when the producer ends: the consumer's loop then stops
        let consumer = s.spawn(move || {
            let mut got = Vec::new();
            for item in rx {
                sleep(Duration::from_millis(20));
                println!("consumer: got {item}");
                got.push(item);
            }
            got
        });
        let got = consumer.join().unwrap_or_default();
        (got, producer.join().unwrap_or(usize::MAX))
    })
}

/// Counts items put but not yet processed: CPython's `task_done()` and `join()`.
struct Pending {
    count: Mutex<usize>,
    zero: Condvar,
}

impl Pending {
    fn add(&self) {
        *self.count.lock() += 1;
    }

    fn done(&self) {
        let mut count = self.count.lock();
        *count -= 1;
        if *count == 0 {
            self.zero.notify_all();
        }
    }

    fn wait_all(&self) {
        let mut count = self.count.lock();
        self.zero.wait_while(&mut count, |c| *c > 0);
    }
}

/// Two producers of ten items each, three consumers. Returns every item consumed,
/// sorted, and how many had been processed when the wait for all of them returned.
fn many_producers_many_consumers() -> (Vec<u32>, usize) {
    let (tx, rx) = bounded::<u32>(CAPACITY);
    let pending = Pending { count: Mutex::new(0), zero: Condvar::new() };
    let consumed = Mutex::new(Vec::new());
    let taken = AtomicUsize::new(0);
    let processed_at_join = thread::scope(|s| {
        let producers: Vec<_> = (0..2)
            .map(|producer| {
                let (tx, pending) = (tx.clone(), &pending);
                s.spawn(move || {
                    for i in 0..10 {
                        pending.add(); // counted before a consumer can see it
                        let _ = tx.send(producer * 100 + i);
                    }
                })
            })
            .collect();
        for consumer in 1..=3 {
            let (rx, pending, consumed, taken) = (rx.clone(), &pending, &consumed, &taken);
            s.spawn(move || {
                for item in rx {
                    sleep(Duration::from_millis(5)); // the "work"
                    consumed.lock().push(item);
                    taken.fetch_add(1, SeqCst);
                    println!("consumer {consumer}: processed {item}");
                    pending.done();
                }
            });
        }
        drop(tx); // main's sender: once the producers' are gone too, consumers stop
        producers.into_iter().for_each(|p| p.join().unwrap_or_default()); // all 20 are put
        pending.wait_all(); // q.join(): every item put has been processed
        let processed = taken.load(SeqCst);
        println!("main: queue joined after {processed} items were processed");
        processed
    });
    let mut consumed = consumed.into_inner();
    consumed.sort();
    (consumed, processed_at_join)
}

/// A producer process and a consumer process joined by a queue of 3 in shared memory
/// (`multiprocessing.Queue(3)`). The producer ends with a `None`, as CPython code sends
/// a sentinel: a process queue does not close when a producer finishes. The consumer
/// sends its sum back to the parent on a second queue. Returns the sum and the two exit
/// codes (the producer checks that at most 3 items ever waited: exit code 1 if not).
fn between_processes() -> io::Result<(u64, [i32; 2])> {
    let queue = Queue::<Option<u32>>::bounded(CAPACITY as u32)?;
    let sums = Queue::<u64>::unbounded()?;
    let mut producer = Process::new({
        let queue = queue.clone();
        move || {
            let mut most = 0;
            for item in 0..100 {
                queue.put(Some(item)).expect("the queue is there");
                most = most.max(queue.qsize());
            }
            queue.put(None).expect("the queue is there");
            println!("producer process: put 0..99 and None; at most {most} waited in the queue");
            assert!(most <= CAPACITY as u32, "the process queue held at most {CAPACITY}");
        }
    });
    let mut consumer = Process::new({
        let (queue, sums) = (queue.clone(), sums.clone());
        move || {
            let mut sum = 0;
            while let Some(item) = queue.get().expect("the queue is there") {
                sum += u64::from(item);
            }
            println!("consumer process: got everything up to None, sum {sum}");
            sums.put(sum).expect("the queue is there");
        }
    });
    producer.start()?;
    consumer.start()?;
    let codes = [producer.join()?, consumer.join()?];
    let sum = sums.get()?;
    println!("between processes: the consumer summed 100 items to {sum}");
    Ok((sum, codes))
}
