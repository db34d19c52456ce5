//! A mutex around a shared counter: per increment, or around the whole loop; and what
//! happens to a lock whose holder panics.
//!
//! Mirrors note 000 "互斥锁" (two threads × 200000 increments, a lock around each) and
//! note 004 "互斥锁" (a lock around each thread's whole loop of 1000000).
//!
//! | CPython                                      | Rust                                        |
//! |----------------------------------------------|---------------------------------------------|
//! | `lock = Lock(); num = 0`                     | `static NUM: Mutex<u64>`: the lock owns the number |
//! | `lock.acquire(); num += 1; lock.release()`   | `*NUM.lock() += 1;` (released at the `;`)   |
//! | acquire before the loop, release after it    | `let mut num = NUM.lock();` before the loop |
//! | (an exception while holding: lock stays held unless `with` is used) | a panic unlocks; `std` marks the lock poisoned |
//!
//! Run: `cargo run -p examples-locks --bin mutex_counter`, or with
//! `-- --timeline mutex_counter.svg` to draw each thread's loop, and for note 004 how
//! long each thread waited for the lock and held it.
//!
//! Output: per-increment locking, where each thread prints the counter when it ends
//! (the first one some value between 200000 and 400000, the second 400000); the
//! whole-loop locking, where `sum_num1` prints "sum1:" and `sum_num2` "sum2:", the one
//! that took the lock first exactly 1000000 and the other exactly 2000000; then a
//! thread that panics while holding a `std::sync::Mutex` (poisoned, value recovered)
//! and a `parking_lot::Mutex` (no poisoning). What varies: the first per-increment
//! value, and which thread, and so which label, goes first.
//!
//! Where Rust differs: the data lives inside the mutex, so it cannot be reached without
//! locking, and unlocking happens when the guard is dropped, so it cannot be forgotten
//! or done twice. `std::sync::Mutex` remembers a panic in a holder ("poisoned") and
//! makes the next `lock()` say so; `parking_lot::Mutex` does not, is smaller and has
//! timed locking (`try_lock_for`).
//!
//! Copy it: `cargo new mutex_counter`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add parking_lot@0.13
//! ```

use std::panic;
use std::sync::Mutex;
use std::thread;

use examples_process::Failure;
use examples_process::timeline::{self, Timeline};

const PER_INCREMENT: u64 = 200_000;
const WHOLE_LOOP: u64 = 1_000_000;

static NUM: Mutex<u64> = Mutex::new(0);
static G_NUM: parking_lot::Mutex<u64> = parking_lot::Mutex::new(0);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let timeline = Timeline::from_args_or_exit(); // off without --timeline FILE.svg
    // Note 000: lock, add one, unlock; 200000 times in each of two threads.
    let views: Vec<u64> = ["t1", "t2"]
        .map(|name| {
            spawn(name, move || {
                let _looping = timeline::span("200000 × lock, add 1, unlock");
                for _ in 0..PER_INCREMENT {
                    *NUM.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                }
                let seen = *NUM.lock().unwrap_or_else(|e| e.into_inner());
                println!("{name} {seen}");
                seen
            })
        })
        .map(join)
        .into();
    let total = *NUM.lock().unwrap_or_else(|e| e.into_inner());

    // Note 004: lock once around the whole loop; the other thread waits for all of it.
    let sums: Vec<u64> = [spawn("sum1", sum_num1), spawn("sum2", sum_num2)].map(join).into();

    let (std_poisoned, std_value, parking_lot_value) = panic_while_holding();

    assert_eq!(total, 2 * PER_INCREMENT);
    assert_eq!(views.iter().max(), Some(&total), "the thread that ends last sees the total");
    let mut sums = sums;
    sums.sort();
    assert_eq!(sums, [WHOLE_LOOP, 2 * WHOLE_LOOP]);
    assert!(std_poisoned);
    assert_eq!((std_value, parking_lot_value), (1, 1));
    println!("main: ok, {total} and {} with no update lost", 2 * WHOLE_LOOP);
    let title = "mutex_counter: a lock per step (t1, t2), then a lock around the whole loop";
    if let Some(path) = timeline.save(title)? {
        println!("main: timeline written to {}", path.display());
    }
    Ok(())
}

/// Note 004's `sum_num1`: the whole loop under the lock, then "sum1:".
fn sum_num1() -> u64 {
    add_under_lock("sum1")
}

/// Note 004's `sum_num2`: the same, printing "sum2:".
fn sum_num2() -> u64 {
    add_under_lock("sum2")
}

fn add_under_lock(label: &str) -> u64 {
    let waiting = timeline::span("waits for the lock");
    let mut g_num = G_NUM.lock();
    drop(waiting);
    let _holding = timeline::span("holds the lock");
    for _ in 0..WHOLE_LOOP {
        *g_num += 1;
    }
    println!("{label}: {}", *g_num); // printed while still holding the lock
    *g_num
}

/// A thread panics while holding each kind of lock. Returns whether `std`'s lock was
/// poisoned and the values both locks hold afterwards.
fn panic_while_holding() -> (bool, u64, u64) {
    let std_lock = Mutex::new(0_u64);
    let parking_lot_lock = parking_lot::Mutex::new(0_u64);
    let quiet = panic::take_hook(); // keep the expected panics off the terminal
    panic::set_hook(Box::new(|_| {}));
    thread::scope(|s| {
        let std_holder = s.spawn(|| {
            let mut held = std_lock.lock().unwrap_or_else(|e| e.into_inner());
            *held += 1;
            panic!("holder fails with the lock held");
        });
        let parking_lot_holder = s.spawn(|| {
            let mut held = parking_lot_lock.lock();
            *held += 1;
            panic!("holder fails with the lock held");
        });
        // Both panicked; joining collects the panics so the scope itself does not.
        assert!(std_holder.join().is_err() && parking_lot_holder.join().is_err());
    });
    panic::set_hook(quiet);

    let poisoned = std_lock.is_poisoned();
    // A poisoned lock still works: the error carries the guard.
    let std_value = *std_lock.lock().unwrap_or_else(|poison| poison.into_inner());
    println!(
        "std::sync::Mutex after a holder panicked: poisoned={poisoned}, value={std_value} (recovered)"
    );
    let parking_lot_value = *parking_lot_lock.lock();
    println!(
        "parking_lot::Mutex after a holder panicked: value={parking_lot_value} (no poisoning)"
    );
    (poisoned, std_value, parking_lot_value)
}

/// Starts a thread named `name` (its row in the timeline), as `Thread(name=...)`.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    // `expect` with this message: one line and exit code 1, as `thread::spawn`.
    thread::Builder::new().name(name.into()).spawn(f).expect("failed to spawn thread")
}

fn join<T>(handle: thread::JoinHandle<T>) -> T {
    handle.join().unwrap_or_else(|panic| panic::resume_unwind(panic))
}
