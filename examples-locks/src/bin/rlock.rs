//! `Lock` versus `RLock`: a plain lock cannot be taken twice by its holder; a
//! re-entrant one can.
//!
//! Mirrors the `Lock` and `RLock` half of note 003 "线程锁机制" (`lock.acquire(1)`, and
//! "use `RLock` if you need to nest").
//!
//! | CPython                                  | Rust                                             |
//! |------------------------------------------|--------------------------------------------------|
//! | `lock = threading.Lock()`                | `parking_lot::Mutex::new(value)`                 |
//! | `lock.acquire()` / `lock.acquire(False)` | `lock.lock()` / `lock.try_lock()` (`None` if held) |
//! | `lock.acquire(timeout=0.1)`              | `lock.try_lock_for(Duration)`                    |
//! | `rlock = threading.RLock()`              | `parking_lot::ReentrantMutex::new(RefCell::new(value))` |
//! | `lock.release()`                         | dropping the guard                               |
//!
//! Run: `cargo run -p examples-locks --bin rlock`
//!
//! Output: the plain lock, held, refuses a second `try_lock` at once and a 100 ms
//! `try_lock_for` after the timeout; the re-entrant lock is taken five levels deep by
//! a recursive factorial (5! = 120), while another thread's `try_lock` fails until the
//! outermost level lets go. What varies: nothing but the measured wait.
//!
//! Where Rust differs: taking a `std::sync::Mutex` twice on one thread deadlocks or
//! panics (the documentation allows either), so this example asks with `try_lock`
//! instead of blocking. A `ReentrantMutex` hands out shared references only, because
//! nested levels hold the lock at the same time; a `RefCell` inside gives mutation,
//! checked at run time. CPython's `RuntimeError: release unlocked lock` cannot happen:
//! releasing is dropping a guard, which only its holder has, once.
//!
//! Copy it: `cargo new rlock`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add parking_lot@0.13
//! ```

use std::cell::RefCell;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, ReentrantMutex};

fn main() {
    examples_process::exit_on_stdout_failure();
    // A plain lock: its holder asking again is refused, at once or after a timeout.
    let lock = Mutex::new(0);
    let held = lock.lock();
    let second = lock.try_lock().is_some();
    println!("Lock: held; a second try_lock succeeds={second}");
    let asked = Instant::now();
    let timed = lock.try_lock_for(Duration::from_millis(100)).is_some();
    let waited = asked.elapsed();
    println!("Lock: try_lock_for(100 ms) succeeds={timed} after {} ms", waited.as_millis());
    drop(held); // the release
    let after_release = lock.try_lock().is_some();
    println!("Lock: after release, try_lock succeeds={after_release}");

    // A re-entrant lock: the recursion takes it again at every level.
    let rlock = ReentrantMutex::new(RefCell::new(Vec::new()));
    let (result, other_thread_got_it) = thread::scope(|s| {
        let result = factorial(&rlock, 5);
        // While main held it (inside `factorial`), nobody else could have it; now:
        let other = s.spawn(|| rlock.try_lock().is_some());
        (result, other.join().unwrap_or(false))
    });
    let depths = rlock.lock().borrow().clone();
    println!("RLock: 5! = {result}, lock depths reached {depths:?}");
    println!("RLock: another thread's try_lock after the recursion succeeds={other_thread_got_it}");

    assert!(!second && !timed && after_release);
    assert!(waited >= Duration::from_millis(100), "try_lock_for gave up early");
    assert_eq!(result, 120);
    assert_eq!(depths, [1, 2, 3, 4, 5]);
    assert!(other_thread_got_it);
    println!("main: ok");
}

/// n!, taking the re-entrant lock once per level and recording how deep it is held.
fn factorial(rlock: &ReentrantMutex<RefCell<Vec<u32>>>, n: u64) -> u64 {
    let guard = rlock.lock(); // the same thread again: fine for a ReentrantMutex
    let depth = guard.borrow().len() as u32 + 1;
    guard.borrow_mut().push(depth);
    // Ask from another thread while we hold it: it must be refused.
    let others_refused =
        thread::scope(|s| s.spawn(|| rlock.try_lock().is_none()).join().unwrap_or(false));
    println!("RLock: level {depth} holds the lock; another thread refused={others_refused}");
    assert!(others_refused);
    if n <= 1 { 1 } else { n * factorial(rlock, n - 1) }
}
