//! A lock shared by processes whose holder is killed while holding it.
//!
//! Goes beyond note 003 "进程的锁机制": what if the process that holds the lock dies?
//! CPython's `multiprocessing.Lock` is a POSIX semaphore, which has no owner: when its
//! holder dies it stays taken, so the next `acquire()` waits for ever and
//! `acquire(timeout=0.5)` returns `False` every time it is tried (seen with CPython
//! 3.11). A robust mutex knows its owner: the next process to lock it is told that the
//! holder died, gets the lock, and can repair what the holder left half-done.
//!
//! | CPython (`fork`)                            | Rust (`examples_ipc::shared`)               |
//! |---------------------------------------------|---------------------------------------------|
//! | `lock = multiprocessing.Lock()` (a semaphore) | `Semaphore::shared(1)?`                   |
//! | holder killed: `lock.acquire(timeout=0.5)` → `False`, for ever | `acquire(Some(0.5 s))?` → `false`, the same |
//! | —                                           | `RobustMutex::shared(value)?`, `lock()?.holder_died()` |
//!
//! Run: `cargo run -p examples-ipc --bin robust_lock`
//!
//! Output, in two parts. First CPython's kind of lock: a child takes it and is killed
//! (exit code -9); the parent's timed acquire fails, and would fail for ever. Then a
//! robust mutex guarding two accounts: a child starts a transfer of 30 from one to the
//! other, is killed half-way (the money is taken out, not yet put in), and a second
//! child locks, learns that the holder died, and rolls the transfer back; the total is
//! 100 again and the next lock is an ordinary one. What varies: pids.
//!
//! Where Rust differs: the value lives inside the lock and `holder_died()` is part of
//! what `lock()` returns, so code that takes the lock is the code that must decide
//! what a half-done update means. A `std::sync::Mutex` does the same between threads
//! with poisoning; this is its cross-process form (`PTHREAD_MUTEX_ROBUST`).
//!
//! In your own program: `std::fs::File::lock` (released by the kernel when its holder
//! dies), or a database's transactions, for state that must survive a crash.
//!
//! Copy it: `cargo new robust_lock`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add nix@0.31 --features process
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_ipc::process_shared;
use examples_ipc::sync::{RobustMutex, Semaphore};
use examples_process::{Failure, Process};
use nix::unistd::getpid;

process_shared! {
    /// Two accounts and the amount of a transfer under way between them. Declared with
    /// `process_shared!`, which checks that every field means the same in every process
    /// (plain numbers here), so it may live in shared memory.
    #[derive(Debug)]
    struct Accounts {
        alice: i64,
        bob: i64,
        /// Taken from Alice, not yet given to Bob. Zero when no transfer is under way.
        moving: i64,
    }
}

/// How long a waiter gives up after, in the first part.
const PATIENCE: Duration = Duration::from_millis(500);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    // Part 1: a semaphore used as a lock, which is what CPython's Lock is.
    let lock = Semaphore::shared(1)?;
    let holding = Semaphore::shared(0)?; // the child says "I have it" through this
    let mut holder = Process::new({
        let (lock, holding) = (lock.clone(), holding.clone());
        move || {
            lock.acquire(None).expect("acquire");
            println!("semaphore holder pid={}: acquired, now killed before release", getpid());
            holding.release().expect("release");
            sleep(Duration::from_secs(60)); // killed long before this ends
        }
    });
    holder.start()?;
    holding.acquire(None)?;
    holder.kill()?;
    let holder_code = holder.join()?;
    let got = lock.acquire(Some(PATIENCE))?;
    println!("main: holder exit code {holder_code}; acquire(timeout=0.5) -> {got}, for ever");

    // Part 2: a robust mutex.
    let accounts = RobustMutex::shared(Accounts { alice: 100, bob: 0, moving: 0 })?;
    let mut transfer = Process::new({
        let (accounts, holding) = (accounts.clone(), holding.clone());
        move || {
            let mut a = accounts.lock().expect("lock");
            a.alice -= 30; // first half of the transfer...
            a.moving = 30;
            println!("transfer pid={}: took 30 from alice, killed before giving it", getpid());
            holding.release().expect("release");
            sleep(Duration::from_secs(60)); // ...the second half never comes
            a.bob += 30;
            a.moving = 0;
        }
    });
    transfer.start()?;
    holding.acquire(None)?;
    transfer.kill()?;
    let transfer_code = transfer.join()?;
    println!("main: transfer exit code {transfer_code}");

    // The next process to lock it is told, and repairs the accounts.
    let mut repair = Process::new({
        let accounts = accounts.clone();
        move || {
            let mut a = accounts.lock().expect("lock");
            println!("repair: holder_died={} with {:?}", a.holder_died(), *a);
            assert!(a.holder_died(), "the killed holder must be reported");
            a.alice += a.moving; // roll back the half-done transfer
            a.moving = 0;
            println!("repair: rolled back to {:?}", *a);
        }
    });
    repair.start()?;
    let repair_code = repair.join()?;

    let a = accounts.lock()?;
    println!("main: holder_died={}, {:?}, total {}", a.holder_died(), *a, a.alice + a.bob);

    assert_eq!((holder_code, transfer_code, repair_code), (-9, -9, 0));
    assert!(!got, "a semaphore is not released by a killed holder");
    assert!(!a.holder_died(), "recovered once; from then on an ordinary lock");
    assert_eq!((a.alice, a.bob, a.moving), (100, 0, 0));
    println!("main: ok, the robust lock was recovered and the total is 100");
    Ok(())
}
