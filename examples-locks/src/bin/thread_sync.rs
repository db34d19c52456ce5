//! Making threads take turns: semaphores, an event, a barrier, and `join`.
//!
//! Mirrors note 000 "线程同步", a heading with no body, and the "线程同步" paragraph of
//! note 004 (synchronising means running in an agreed order; `join` is the simplest way).
//!
//! | CPython                                   | Rust                                            |
//! |-------------------------------------------|-------------------------------------------------|
//! | `threading.Semaphore(n)`: `acquire`, `release` | `Semaphore` below: a `Mutex<usize>` + `Condvar` |
//! | `threading.BoundedSemaphore(n)`           | `BoundedSemaphore` below: `release` is an error past `n` |
//! | `threading.Event()`: `set`, `wait(timeout)` | `Event` below: a `Mutex<bool>` + `Condvar`    |
//! | `threading.Barrier(3)`: `i = b.wait()`    | `Barrier` below: `wait()` returns the arrival index (`std::sync::Barrier` only says who is the leader) |
//! | `t.join()`                                | `handle.join()`                                 |
//!
//! Run: `cargo run -p examples-locks --bin thread_sync`
//!
//! Output: three threads, started in the order C, B, A, print "ABCABCABC" in turn; six
//! workers share a semaphore of 2 and never more than two work at once; a bounded
//! semaphore refuses a release past its size, where a plain one just grows; three
//! threads wait on an event, a timed wait returns false and nobody passes until main
//! sets it, and a wait on the set event returns at once; three threads arrive at a
//! barrier 0.1 s apart, all leave after the last one arrives, and `wait` gives each its
//! index (0, 1, 2 in arrival order); a value written by a thread is read after `join`.
//! What varies: the order of lines inside each step.
//!
//! Where Rust differs: the standard library has `Barrier` but no semaphore or event;
//! each is a few lines over a mutex and a condition variable, as CPython's own are.
//! Releasing a bounded semaphore too often returns an `Err` the caller must look at,
//! where CPython raises `ValueError`.
//!
//! Copy it: `cargo new thread_sync`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add parking_lot@0.13
//! ```

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

fn main() {
    examples_process::exit_on_stdout_failure();
    let turns = take_turns();
    let most_at_once = limit_to_two();
    let (plain_grew_to, bounded_refused) = bounded();
    let (early_wait, passed_before_set, passed_after_set, set_wait) = event();
    let (arrivals_seen_on_leaving, indexes) = barrier();

    // Join: the simplest synchronisation. After it, the thread's work is done and visible.
    let value = thread::spawn(|| 42).join().unwrap_or_default();
    println!("join: read {value} after the thread ended");

    assert_eq!(turns, "ABCABCABC");
    assert!(most_at_once <= 2, "{most_at_once} workers ran at once");
    assert_eq!((plain_grew_to, bounded_refused), (3, Err(ReleasedTooManyTimes)));
    assert!(!early_wait);
    assert_eq!((passed_before_set, passed_after_set), (0, 3));
    assert!(set_wait.0, "a wait on a set event returns true");
    assert!(set_wait.1 < Duration::from_secs(5), "...at once, not after its 5 s timeout");
    assert_eq!(arrivals_seen_on_leaving, [3, 3, 3]);
    assert_eq!(indexes, [0, 1, 2], "thread i arrives i-th (0.1 s apart) and gets index i");
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

/// CPython's `ValueError: Semaphore released too many times`.
#[derive(Debug, PartialEq)]
struct ReleasedTooManyTimes;

/// CPython's `threading.BoundedSemaphore(n)`: a semaphore that never holds more than
/// `n` permits, so a release without an acquire is caught.
struct BoundedSemaphore {
    semaphore: Semaphore,
    size: usize,
}

impl BoundedSemaphore {
    fn new(size: usize) -> BoundedSemaphore {
        BoundedSemaphore { semaphore: Semaphore::new(size), size }
    }

    fn acquire(&self) {
        self.semaphore.acquire();
    }

    fn release(&self) -> Result<(), ReleasedTooManyTimes> {
        let mut permits = self.semaphore.permits.lock();
        if *permits >= self.size {
            return Err(ReleasedTooManyTimes);
        }
        *permits += 1;
        self.semaphore.returned.notify_one();
        Ok(())
    }
}

/// One release too many, on a plain semaphore of 2 and on a bounded one. Returns the
/// plain one's permits afterwards and the bounded one's answer.
fn bounded() -> (usize, Result<(), ReleasedTooManyTimes>) {
    let plain = Semaphore::new(2);
    plain.acquire();
    plain.release();
    plain.release(); // one more than was acquired: it just grows
    let grew_to = *plain.permits.lock();
    println!("semaphore: after one release too many, Semaphore(2) holds {grew_to} permits");

    let bounded = BoundedSemaphore::new(2);
    bounded.acquire();
    let first = bounded.release();
    let second = bounded.release();
    println!("semaphore: BoundedSemaphore(2): release -> {first:?}, release again -> {second:?}");
    (grew_to, second)
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
/// threads past it after, and a 5 s wait once it is set: its result and how long it took).
fn event() -> (bool, usize, usize, (bool, Duration)) {
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
    let started = Instant::now();
    let set = event.wait(Some(Duration::from_secs(5)));
    let took = started.elapsed();
    println!("event: wait(5) on the set event returned {set} after {:.3} s", took.as_secs_f64());
    (early, before, passed.into_inner(), (set, took))
}

/// CPython's `threading.Barrier(n)`: `wait` blocks until `n` threads wait, then lets
/// them all go, and tells each its index, 0 for the first to arrive.
struct Barrier {
    parties: usize,
    /// Arrived in this round, and how many rounds have completed.
    state: Mutex<(usize, u64)>,
    all_here: Condvar,
}

impl Barrier {
    fn new(parties: usize) -> Barrier {
        Barrier { parties, state: Mutex::new((0, 0)), all_here: Condvar::new() }
    }

    fn wait(&self) -> usize {
        let mut state = self.state.lock();
        let (index, round) = (state.0, state.1);
        state.0 += 1;
        if state.0 == self.parties {
            *state = (0, round + 1); // the last one opens the barrier for everybody
            self.all_here.notify_all();
        } else {
            self.all_here.wait_while(&mut state, |s| s.1 == round);
        }
        index
    }
}

/// Three threads arrive 0.1 s apart; returns how many had arrived as each one left,
/// and the index each got from `wait`, in thread order.
fn barrier() -> (Vec<usize>, Vec<usize>) {
    let barrier = Barrier::new(3);
    let arrived = AtomicUsize::new(0);
    let (mut seen, indexes): (Vec<usize>, Vec<usize>) = thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (barrier, arrived) = (&barrier, &arrived);
                s.spawn(move || {
                    sleep(Duration::from_millis(100 * i as u64));
                    println!("barrier: thread {i} arrives");
                    arrived.fetch_add(1, SeqCst);
                    let index = barrier.wait();
                    let count = arrived.load(SeqCst);
                    println!("barrier: thread {i} leaves with index {index}, {count} arrived");
                    (count, index)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).unzip()
    });
    seen.sort();
    (seen, indexes)
}
