//! The bank account: read the balance, work a while, write it back; with and without
//! a lock.
//!
//! Mirrors note 001 "4. 线程安全": an `Account` whose deposit and withdrawal each read
//! the balance, sleep, then write; one thread deposits 1000 and another withdraws 100.
//!
//! | CPython                                        | Rust                                   |
//! |------------------------------------------------|----------------------------------------|
//! | `self.balance` and `self.lock = Lock()`        | `balance: Mutex<i64>`: the lock owns the balance |
//! | `self.lock.acquire()` ... `self.lock.release()` | `let mut balance = self.balance.lock();` ... end of scope |
//! | `Thread(target=account.save, args=(1000,))`    | `s.spawn(\|\| account.deposit(1000))` in a `thread::scope` |
//!
//! Run: `cargo run -p examples-locks --bin bank_account`
//!
//! Output: with the lock, the two operations run one after the other (their start and
//! end lines do not interleave) and the balance is 1000 + 1000 - 100 = 1900. Without
//! it, both read 1000 before either writes, so one update is lost: the balance is 2000
//! or 900, depending on which write lands last (reported, not checked). What varies:
//! which operation goes first, and the unlocked result.
//!
//! Where Rust differs: the unlocked account cannot be written with a plain `i64` field:
//! two threads may not both hold `&mut` to it, so the compiler refuses. It is written
//! here with an atomic read and an atomic write, which compiles and still loses the
//! update, because the bug is the gap between the two steps. In the locked version the
//! balance cannot even be reached without taking the lock.
//!
//! Copy it: `cargo new bank_account`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add parking_lot@0.13
//! ```

use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long each operation "works" between reading and writing the balance.
const WORK: Duration = Duration::from_millis(200);

fn main() {
    examples_process::exit_on_stdout_failure();
    let account = Account { name: "Luo", balance: Mutex::new(1000) };
    let (deposit, withdrawal) = thread::scope(|s| {
        let deposit = s.spawn(|| account.deposit(1000));
        let withdrawal = s.spawn(|| account.withdraw(100));
        (join(deposit), join(withdrawal))
    });
    let balance = *account.balance.lock();
    println!("locked: {}'s balance is {balance}", account.name);

    let unlocked = UnlockedAccount { balance: AtomicI64::new(1000) };
    thread::scope(|s| {
        s.spawn(|| unlocked.deposit(1000));
        s.spawn(|| unlocked.withdraw(100));
    });
    let unlocked_balance = unlocked.balance.load(SeqCst);
    println!("unlocked: the balance is {unlocked_balance} (1900 if no update were lost)");

    assert_eq!(balance, 1900);
    // The lock serialised them: one critical section ended before the other began.
    assert!(deposit.1 <= withdrawal.0 || withdrawal.1 <= deposit.0, "critical sections overlapped");
    println!("main: ok, with the lock the balance is exactly 1900");
}

struct Account {
    name: &'static str,
    balance: Mutex<i64>,
}

impl Account {
    /// Returns when its critical section began and ended.
    fn deposit(&self, amount: i64) -> (Instant, Instant) {
        self.update("deposit", amount)
    }

    fn withdraw(&self, amount: i64) -> (Instant, Instant) {
        self.update("withdraw", -amount)
    }

    fn update(&self, what: &str, change: i64) -> (Instant, Instant) {
        let mut balance = self.balance.lock(); // held until the end of this function
        let began = Instant::now();
        println!("locked: {what} starts, reads {}", *balance);
        let read = *balance;
        sleep(WORK);
        *balance = read + change;
        println!("locked: {what} ends, writes {}", *balance);
        (began, Instant::now())
    }
}

/// The same account without the lock: each step is atomic, the read-work-write is not.
struct UnlockedAccount {
    balance: AtomicI64,
}

impl UnlockedAccount {
    fn deposit(&self, amount: i64) {
        self.update("deposit", amount);
    }

    fn withdraw(&self, amount: i64) {
        self.update("withdraw", -amount);
    }

    fn update(&self, what: &str, change: i64) {
        let read = self.balance.load(SeqCst);
        println!("unlocked: {what} reads {read}");
        sleep(WORK); // the other thread reads the same old balance meanwhile
        self.balance.store(read + change, SeqCst);
        println!("unlocked: {what} writes {}", read + change);
    }
}

fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
