//! Condition variables: waiting for a state that another thread produces.
//!
//! Mirrors the `Condition` half of note 003 "线程锁机制" (`wait`, `wait_for`, `notify`).
//!
//! | CPython                                      | Rust (`parking_lot`)                          |
//! |----------------------------------------------|-----------------------------------------------|
//! | `cond = threading.Condition()`               | `Mutex<State>` + `Condvar`                    |
//! | `with cond: cond.wait()`                     | `cond.wait(&mut guard)`                       |
//! | `cond.wait_for(predicate)`                   | `cond.wait_while(&mut guard, \|s\| !predicate(s))` |
//! | `cond.wait_for(predicate, timeout)` → bool   | `wait_for` below: `wait_while_for(..)`, then the predicate |
//! | `cond.notify()` / `cond.notify(1)`           | `cond.notify_one()` (returns whether one woke)|
//! | `cond.notify_all()`                          | `cond.notify_all()` (returns how many woke)   |
//!
//! Run: `cargo run -p examples-locks --bin condition`
//!
//! Output: a producer and a consumer in strict alternation, "produce 0, consume 0,
//! produce 1, …, consume 2"; a 100 ms `wait_for` whose predicate never comes true,
//! returning false, and one that another thread makes true, returning true; three
//! waiters, of which `notify_one` wakes exactly one and
//! `notify_all` the other two. What varies: which of the three waiters wakes first.
//!
//! Where Rust differs: the data the condition is about lives in the mutex, so waiting
//! without holding the lock (CPython: `RuntimeError: cannot wait on un-acquired lock`)
//! cannot be written: `wait` takes the guard. `parking_lot`'s condition variable never
//! wakes spuriously; `std::sync::Condvar` may, which is why waits check a predicate.
//!
//! Copy it: `cargo new condition`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add parking_lot@0.13
//! ```

use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

fn main() {
    examples_process::exit_on_stdout_failure();
    // 1. Strict alternation through a one-item slot.
    let slot: Mutex<Option<u32>> = Mutex::new(None);
    let changed = Condvar::new();
    let log = Mutex::new(Vec::new());
    thread::scope(|s| {
        s.spawn(|| {
            for item in 0..3 {
                let mut slot = slot.lock();
                changed.wait_while(&mut slot, |slot| slot.is_some()); // wait until empty
                *slot = Some(item);
                record(&log, format!("produce {item}"));
                changed.notify_one();
            }
        });
        s.spawn(|| {
            for _ in 0..3 {
                let mut slot = slot.lock();
                changed.wait_while(&mut slot, |slot| slot.is_none()); // wait until full
                let item = slot.take().unwrap_or_default();
                record(&log, format!("consume {item}"));
                changed.notify_one();
            }
        });
    });

    // 2. wait_for(predicate, timeout): nobody makes it true, so it returns false ...
    let ready = Mutex::new(false);
    let became_ready = Condvar::new();
    let never =
        wait_for(&became_ready, &mut ready.lock(), |ready| *ready, Duration::from_millis(100));
    println!("wait_for(ready, 0.1 s) with nobody setting it returned {never}");
    // ... and true once another thread makes it true and notifies.
    let soon = thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(50));
            *ready.lock() = true;
            became_ready.notify_all();
        });
        wait_for(&became_ready, &mut ready.lock(), |ready| *ready, Duration::from_secs(10))
    });
    println!("wait_for(ready, 10 s) with a thread setting it returned {soon}");

    // 3. notify_one wakes exactly one of three waiters; notify_all wakes the rest.
    let (first, rest) = notify_one_then_all();

    let expected = ["produce 0", "consume 0", "produce 1", "consume 1", "produce 2", "consume 2"];
    assert_eq!(*log.lock(), expected);
    assert!(!never && soon);
    assert_eq!((first, rest), (1, 2));
    println!("main: ok");
}

/// CPython's `cond.wait_for(predicate, timeout)`: waits until `predicate` holds or the
/// timeout passes, and returns the predicate's last value.
fn wait_for<T>(
    cond: &Condvar,
    guard: &mut parking_lot::MutexGuard<'_, T>,
    predicate: impl Fn(&T) -> bool,
    timeout: Duration,
) -> bool {
    let _timed_out = cond.wait_while_for(guard, |state| !predicate(state), timeout);
    predicate(guard)
}

/// Appends to the log and prints, while the caller still holds the slot's lock, so the
/// printed order is the order in which things happened.
fn record(log: &Mutex<Vec<String>>, line: String) {
    println!("{line}");
    log.lock().push(line);
}

#[derive(Default)]
struct Waiters {
    waiting: usize,
    woken: usize,
}

/// Three threads wait without a predicate; returns how many woke on `notify_one` and
/// how many `notify_all` then woke.
fn notify_one_then_all() -> (usize, usize) {
    let state = Mutex::new(Waiters::default());
    let wake = Condvar::new();
    let progress = Condvar::new(); // tells main that a waiter is waiting, or woke
    thread::scope(|s| {
        for id in 1..=3 {
            let (state, wake, progress) = (&state, &wake, &progress);
            s.spawn(move || {
                let mut guard = state.lock();
                guard.waiting += 1;
                progress.notify_one();
                wake.wait(&mut guard); // a plain wait: returns only when notified
                guard.woken += 1;
                println!("waiter {id} woke");
                progress.notify_one();
            });
        }
        let mut guard = state.lock();
        progress.wait_while(&mut guard, |w| w.waiting < 3); // all three are in `wait`
        let one = wake.notify_one();
        progress.wait_while(&mut guard, |w| w.woken < 1);
        drop(guard);
        thread::sleep(Duration::from_millis(100)); // time for a wrong second wake-up to show
        let woken_by_one = state.lock().woken;
        println!("notify_one woke one={one}; woken so far {woken_by_one}");
        let rest = wake.notify_all();
        println!("notify_all woke {rest}");
        (woken_by_one, rest)
    })
}
