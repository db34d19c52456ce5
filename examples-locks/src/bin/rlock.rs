//! Note 003 "线程锁机制", its `Lock` and `RLock`: a thread class whose `run` takes the lock
//! and releases it; a plain lock cannot be taken again by its holder, an `RLock` can.
//!
//! | CPython                                  | Rust                                             |
//! |------------------------------------------|--------------------------------------------------|
//! | `lock = threading.Lock()`                | `Mutex::new(())` (std)                           |
//! | `if lock.acquire(1): ...; lock.release()` | `let held = LOCK.lock().unwrap(); ...` (released at the end of scope) |
//! | `lock.acquire(False)`                    | `LOCK.try_lock()`: `Err(WouldBlock)` if held     |
//! | `rlock = threading.RLock()`              | `parking_lot::ReentrantMutex::new(value)`        |
//!
//! Run: `cargo run -p examples-locks --bin rlock`
//!
//! ```text
//! Thread-1 holds the lock      <- the two threads' order varies
//! Thread-2 holds the lock
//! Lock: its holder asks again: acquired=false (a blocking acquire would wait for ever)
//! RLock: its holder took it 3 deep; another thread's try: acquired=false
//! RLock: released 3 times; another thread's try: acquired=true
//! ```
//!
//! Where Rust differs: locking a `std::sync::Mutex` twice on one thread deadlocks or
//! panics, so the holder asks with `try_lock`. std has no stable re-entrant lock;
//! `parking_lot`'s gives shared references only (a `RefCell` inside to mutate).
//! Releasing is dropping a guard: CPython's "release unlocked lock" cannot be written.
//!
//! Copy it: `cargo new rlock`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add parking_lot@0.13
//! ```

use std::sync::Mutex;
use std::thread;

use parking_lot::ReentrantMutex;

static LOCK: Mutex<()> = Mutex::new(());

/// The note's `MyThread.run`.
fn run(name: &str) {
    let _held = LOCK.lock().unwrap(); // `unwrap`: only a panicked holder makes it fail
    println!("{name} holds the lock");
}

fn main() {
    init();
    thread::scope(|s| {
        s.spawn(|| run("Thread-1"));
        s.spawn(|| run("Thread-2"));
    });

    // What the example adds: why the note says to use an RLock to nest.
    let held = LOCK.lock().unwrap();
    let again = LOCK.try_lock().is_ok();
    println!(
        "Lock: its holder asks again: acquired={again} (a blocking acquire would wait for ever)"
    );
    drop(held);

    let rlock = ReentrantMutex::new(());
    let other_try = || thread::scope(|s| s.spawn(|| rlock.try_lock().is_some()).join().unwrap());
    let levels = [rlock.lock(), rlock.lock(), rlock.lock()]; // one thread, three times
    let while_held = other_try();
    println!("RLock: its holder took it 3 deep; another thread's try: acquired={while_held}");
    drop(levels);
    let after = other_try();
    println!("RLock: released 3 times; another thread's try: acquired={after}");
    assert_eq!((again, while_held, after), (false, false, true));
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
