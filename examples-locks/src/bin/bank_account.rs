//! Note 001 "4. 线程安全": a deposit and a withdrawal on two threads, each reading the
//! balance, working a while, then writing it; a lock makes 1000 + 1000 - 100 = 1900.
//!
//! | CPython                                         | Rust                                   |
//! |-------------------------------------------------|----------------------------------------|
//! | `self.lock = threading.Lock()` beside `balance` | `balance: Mutex<i64>`: the lock owns it |
//! | `lock.acquire()` ... `lock.release()`           | `let mut b = self.balance.lock().unwrap()` ... end of scope |
//! | `Thread(target=account1.save, args=(1000,))`    | `s.spawn(\|\| account.save(1000))`     |
//!
//! Run: `cargo run -p examples-locks --bin bank_account`
//!
//! ```text
//! 1900
//! the two locked operations took 0.40 s: one after the other
//! unlocked: save reads 1000      <- without the lock: which runs first varies
//! unlocked: drw reads 1000
//! unlocked: balance 900 (1900 if no update were lost)   <- 900 or 2000 here
//! ```
//!
//! Where Rust differs: the balance is inside the `Mutex`, so it cannot be read without
//! the lock; the unlocked variant needs an atomic to compile at all (each step atomic,
//! read-work-write not). A thread that panics while holding a `std::sync::Mutex`
//! poisons it: the next `lock()` is an `Err` (`unwrap` passes the panic on).
//!
//! Copy it: `cargo new bank_account`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

struct Account {
    balance: Mutex<i64>,
    name: &'static str,
}

impl Account {
    fn save(&self, num: i64) {
        // Held to the end of the function. `unwrap`: only a holder that panicked (a
        // poisoned lock) makes it fail, and then this thread should fail too.
        let mut balance = self.balance.lock().unwrap();
        let a = *balance;
        sleep(Duration::from_millis(200)); // the note sleeps 8 s
        *balance = a + num;
    }

    fn drw(&self, num: i64) {
        let mut balance = self.balance.lock().unwrap();
        let a = *balance;
        sleep(Duration::from_millis(200));
        *balance = a - num;
    }
}

fn main() {
    init();
    let account1 = Account { balance: Mutex::new(1000), name: "Luo" };
    let started = Instant::now();
    thread::scope(|s| {
        s.spawn(|| account1.save(1000)); // the scope joins both threads at its end
        s.spawn(|| account1.drw(100));
    });
    let took = started.elapsed().as_secs_f64();
    let balance = *account1.balance.lock().unwrap();
    println!("{balance}");
    println!("the two locked operations took {took:.2} s: one after the other");
    assert_eq!(balance, 1900, "{}'s balance", account1.name);

    // What the example adds: the same two operations without the lock lose one.
    let unlocked = AtomicI64::new(1000);
    let update = |what: &str, change: i64| {
        let a = unlocked.load(SeqCst);
        println!("unlocked: {what} reads {a}");
        sleep(Duration::from_millis(200)); // the other thread reads the same old balance
        unlocked.store(a + change, SeqCst);
    };
    thread::scope(|s| {
        s.spawn(|| update("save", 1000));
        s.spawn(|| update("drw", -100));
    });
    let lost = unlocked.load(SeqCst);
    println!("unlocked: balance {lost} (1900 if no update were lost)");
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
