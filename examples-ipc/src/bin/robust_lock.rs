//! Beyond note 003 "进程的锁机制": what if the process holding the lock is killed?
//! CPython's `multiprocessing.Lock` is a semaphore with no owner: it stays taken, and
//! every later `acquire()` waits for ever. A robust mutex knows its owner: the next
//! process to lock it is told the holder died, and repairs what it left half-done.
//!
//! | CPython                                   | Rust (`examples_ipc::sync`)                  |
//! |-------------------------------------------|----------------------------------------------|
//! | `lock = Lock()`; holder killed: stuck     | `RobustMutex::shared(value)?`; `lock()?.holder_died()` |
//!
//! Run: `cargo run -p examples-ipc --bin robust_lock`
//!
//! ```text
//! transfer: took 30 from alice; killed before giving it to bob
//! main: the transfer's exit code -9
//! repair: holder_died=true with Accounts { alice: 70, bob: 0, moving: 30 }
//! repair: rolled back to Accounts { alice: 100, bob: 0, moving: 0 }
//! main: holder_died=false, total 100
//! ```
//!
//! Where Rust differs: `holder_died()` is part of what `lock()` returns, so the code
//! that takes the lock decides what a half-done update means; a `std::sync::Mutex`
//! does the same between threads with poisoning. This is `PTHREAD_MUTEX_ROBUST`.
//!
//! Copy it: `cargo new robust_lock`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_ipc::process_shared;
use examples_ipc::sync::{Event, RobustMutex};
use examples_process::{Failure, Process};

process_shared! {
    /// Two accounts and a transfer under way (plain numbers: they mean the same in
    /// every process, which `process_shared!` checks).
    #[derive(Debug)]
    struct Accounts {
        alice: i64,
        bob: i64,
        /// Taken from Alice, not yet given to Bob.
        moving: i64,
    }
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let accounts = RobustMutex::shared(Accounts { alice: 100, bob: 0, moving: 0 })?;
    let halfway = Event::shared()?;
    let mut transfer = Process::new({
        let (accounts, halfway) = (accounts.clone(), halfway.clone());
        move || {
            let mut a = accounts.lock().expect("the lock");
            a.alice -= 30;
            a.moving = 30;
            println!("transfer: took 30 from alice; killed before giving it to bob");
            halfway.set();
            sleep(Duration::from_secs(60)); // killed long before the second half
            a.bob += 30;
            a.moving = 0;
        }
    });
    transfer.start()?;
    while !halfway.wait(Some(Duration::from_millis(50))) {
        if !transfer.is_alive() {
            return Err(Failure::new("the transfer ended before it was half-way"));
        }
    }
    transfer.kill()?;
    println!("main: the transfer's exit code {}", transfer.join()?);

    let mut repair = Process::new({
        let accounts = accounts.clone();
        move || {
            let mut a = accounts.lock().expect("the lock");
            println!("repair: holder_died={} with {:?}", a.holder_died(), *a);
            a.alice += a.moving; // roll the half-done transfer back
            a.moving = 0;
            println!("repair: rolled back to {:?}", *a);
        }
    });
    repair.start()?;
    repair.join()?;
    let a = accounts.lock()?;
    println!("main: holder_died={}, total {}", a.holder_died(), a.alice + a.bob);
    assert_eq!((a.alice, a.bob, a.moving), (100, 0, 0));
    Ok(())
}
