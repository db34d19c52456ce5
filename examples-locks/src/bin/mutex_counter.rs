//! Note 000 "互斥锁": two threads add 1 to `num` 200000 times each, locking around every
//! add. Note 004 "互斥锁": the lock around each thread's whole loop of 1000000.
//!
//! | CPython                                      | Rust                                       |
//! |----------------------------------------------|--------------------------------------------|
//! | `lock = Lock(); num = 0`                     | `static NUM: Mutex<u64>`: the lock owns the number |
//! | `lock.acquire(); num += 1; lock.release()`   | `*NUM.lock().unwrap() += 1;` (released at the `;`) |
//! | acquire before the loop, release after it    | `let mut g_num = G_NUM.lock().unwrap();` before the loop |
//!
//! Run: `cargo run -p examples-locks --bin mutex_counter`
//!
//! ```text
//! t2 276528        <- the thread that ends first: 200000 to 400000; the other 400000
//! t1 400000
//! sum1: 1000000    <- the thread that takes the lock first: 1000000 (sum2 may be it)
//! sum2: 2000000
//! ```
//!
//! Where Rust differs: the number lives inside the mutex, so it cannot be touched
//! without locking, and the unlock is the guard's drop: it cannot be forgotten or done
//! twice. A panic while holding a `std::sync::Mutex` unlocks it and marks it poisoned
//! (the next `lock()` is an `Err`); `parking_lot::Mutex` has no poisoning.
//!
//! Copy it: `cargo new mutex_counter`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::sync::Mutex;
use std::thread;

static NUM: Mutex<u64> = Mutex::new(0);
static G_NUM: Mutex<u64> = Mutex::new(0);

/// Note 000's thread body: lock, add one, unlock, 200000 times.
fn theradtest(name: &str) {
    for _ in 0..200_000 {
        *NUM.lock().unwrap() += 1; // `unwrap`: a poisoned lock means a holder panicked
    }
    println!("{name} {}", NUM.lock().unwrap());
}

/// Note 004's thread body: the lock held around the whole loop.
fn sum_num(name: &str) {
    let mut g_num = G_NUM.lock().unwrap();
    for _ in 0..1_000_000 {
        *g_num += 1;
    }
    println!("{name}: {g_num}"); // still holding it: the other thread has not started
}

fn main() {
    init();
    thread::scope(|s| {
        s.spawn(|| theradtest("t1"));
        s.spawn(|| theradtest("t2"));
    });
    assert_eq!(*NUM.lock().unwrap(), 400_000);

    thread::scope(|s| {
        s.spawn(|| sum_num("sum1"));
        s.spawn(|| sum_num("sum2"));
    });
    assert_eq!(*G_NUM.lock().unwrap(), 2_000_000);
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
