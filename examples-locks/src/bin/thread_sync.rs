//! Making threads take turns: semaphores, an event, a barrier, and `join`.
//!
//! Mirrors note 000 "线程同步", a heading with no body, and the "线程同步" paragraph of
//! note 004 (synchronising means running in an agreed order; `join` is the simplest way).
//!
//! | CPython                                   | Rust                                            |
//! |-------------------------------------------|-------------------------------------------------|
//! | `threading.Semaphore(n)`: `acquire`, `release` | `Semaphore` below: a `Mutex<usize>` + `Condvar` |
//! | `threading.Event()`: `set`, `wait(timeout)` | `Event` below: a `Mutex<bool>` + `Condvar`    |
//! | `threading.Barrier(3)`: `wait()`          | `std::sync::Barrier::new(3)`: `wait()`          |
//! | `t.join()`                                | `handle.join()`                                 |
//!
//! Run: `cargo run -p examples-locks --bin thread_sync`
//!
//! Output: three threads, started in the order C, B, A, print "ABCABCABC" in turn; six
//! workers share a semaphore of 2 and never more than two work at once; three threads
//! wait on an event, a timed wait returns false and nobody passes until main sets it;
//! three threads arrive at a barrier 0.1 s apart and all leave after the last one
//! arrives; a value written by a thread is read after `join`. What varies: the order
//! of lines inside each step.
//!
//! Where Rust differs: the standard library has `Barrier` but no semaphore or event;
//! each is a few lines over a mutex and a condition variable, as CPython's own are.
//!
//! Copy it: `cargo new thread_sync`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add parking_lot@0.13
//! ```

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread::{self, sleep};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

fn main() {
    examples_process::exit_on_stdout_failure();
    let turns = take_turns();
    let most_at_once = limit_to_two();
    let (early_wait, passed_before_set, passed_after_set) = event();
    let arrivals_seen_on_leaving = barrier();

    // Join: the simplest synchronisation. After it, the thread's work is done and visible.
    let value = thread::spawn(|| 42).join().unwrap_or_default();
    println!("join: read {value} after the thread ended");

    assert_eq!(turns, "ABCABCABC");
    assert!(most_at_once <= 2, "{most_at_once} workers ran at once");
    assert!(!early_wait);
    assert_eq!((passed_before_set, passed_after_set), (0, 3));
    assert_eq!(arrivals_seen_on_leaving, [3, 3, 3]);
    assert_eq!(value, 42);
    println!("main: ok");
}

/// A counting semaphore: `acquire` waits for a permit, `release` returns one.
struct Semaphore {
    permits: Mutex<usize>,
    returned: Condvar,
}

impl Semaphore {
    fn new(permits: usize) -> Semaphore {
        Semaphore { permits: Mutex::new(permits), returned: Condvar::new() }
    }

    fn acquire(&self) {
        let mut permits = self.permits.lock();
        self.returned.wait_while(&mut permits, |p| *p == 0);
        *permits -= 1;
    }

    fn release(&self) {
        *self.permits.lock() += 1;
        self.returned.notify_one();
    }
}

/// Three threads print A, B, C in turn, three times, whatever order they start in:
/// each waits on its own semaphore and releases the next one's.
fn take_turns() -> String {
    let turns = [Semaphore::new(1), Semaphore::new(0), Semaphore::new(0)];
    let printed = Mutex::new(String::new());
    thread::scope(|s| {
        for me in [2, 1, 0] {
            let (turns, printed) = (&turns, &printed);
            s.spawn(move || {
                let letter = ["A", "B", "C"][me];
                for _ in 0..3 {
                    turns[me].acquire();
                    println!("turns: {letter}");
                    printed.lock().push_str(letter);
                    turns[(me + 1) % 3].release();
                }
            });
        }
    });
    printed.into_inner()
}

/// Six workers, a semaphore of two: returns the most that ever worked at once.
fn limit_to_two() -> usize {
    let semaphore = Semaphore::new(2);
    let (working, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    thread::scope(|s| {
        for id in 1..=6 {
            let (semaphore, working, most) = (&semaphore, &working, &most);
            s.spawn(move || {
                semaphore.acquire();
                let now = working.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                println!("semaphore: worker {id} working, {now} at once");
                sleep(Duration::from_millis(50));
                working.fetch_sub(1, SeqCst);
                semaphore.release();
            });
        }
    });
    let most = most.into_inner();
    println!("semaphore: at most {most} worked at once");
    most
}

/// A flag threads can wait for: CPython's `threading.Event`.
struct Event {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl Event {
    fn set(&self) {
        *self.flag.lock() = true;
        self.changed.notify_all();
    }

    /// Waits until set, or for at most `timeout`; returns whether it is set.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        let mut flag = self.flag.lock();
        match timeout {
            // Whether it timed out needs no answer of its own: the flag says it.
            Some(t) => {
                let _timed_out = self.changed.wait_while_for(&mut flag, |f| !*f, t);
            }
            None => self.changed.wait_while(&mut flag, |f| !*f),
        }
        *flag
    }
}

/// Returns (a timed wait's result before `set`, threads past the event before `set`,
/// threads past it after).
fn event() -> (bool, usize, usize) {
    let event = Event { flag: Mutex::new(false), changed: Condvar::new() };
    let passed = AtomicUsize::new(0);
    let (early, before) = thread::scope(|s| {
        for id in 1..=3 {
            let (event, passed) = (&event, &passed);
            s.spawn(move || {
                event.wait(None);
                passed.fetch_add(1, SeqCst);
                println!("event: thread {id} passed");
            });
        }
        let early = event.wait(Some(Duration::from_millis(100)));
        let before = passed.load(SeqCst);
        println!("event: wait(0.1) before set returned {early}; {before} threads passed");
        // Printed first: once it is set, the woken threads may print before main does.
        println!("event: set");
        event.set();
        (early, before)
    }); // the scope joins the three threads
    (early, before, passed.into_inner())
}

/// Three threads arrive 0.1 s apart; returns how many had arrived as each one left.
fn barrier() -> Vec<usize> {
    let barrier = Barrier::new(3);
    let arrived = AtomicUsize::new(0);
    let mut seen: Vec<usize> = thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (barrier, arrived) = (&barrier, &arrived);
                s.spawn(move || {
                    sleep(Duration::from_millis(100 * i));
                    println!("barrier: thread {i} arrives");
                    arrived.fetch_add(1, SeqCst);
                    barrier.wait();
                    let count = arrived.load(SeqCst);
                    println!("barrier: thread {i} leaves, {count} arrived");
                    count
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    seen.sort();
    seen
}
