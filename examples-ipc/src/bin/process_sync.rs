//! Note 003 "线程锁机制"'s `Lock` and `Condition`, between processes (`multiprocessing`'s):
//! two children take the lock; a consumer `wait_for`s three items a producer notifies.
//!
//! | CPython                                     | Rust (`examples_ipc::sync`)                |
//! |---------------------------------------------|--------------------------------------------|
//! | `lock = multiprocessing.Lock()`             | `let lock = new_lock()?;`                  |
//! | `if lock.acquire(1): ...; lock.release()`   | `let _held = lock.lock()?;` ... end of scope |
//! | `c = Condition()`; `with c: c.wait_for(p)`  | `Condition::shared(state)?`; `c.lock()?.wait_for(p, None)?` |
//! | `with c: ...; c.notify()`                   | `let mut s = c.lock()?; ...; s.notify(1)`  |
//!
//! Run: `cargo run -p examples-ipc --bin process_sync`
//!
//! ```text
//! Process-1 holds the lock        <- either process may go first
//! Process-2 holds the lock
//! producer: put 1 of 3
//! producer: put 2 of 3
//! producer: put 3 of 3
//! consumer: woke with 3 items
//! ```
//!
//! Where Rust differs: `wait`/`notify` are methods of the guard (no lock, no compile); a
//! killed holder leaves no lock taken. `RLock`, `Semaphore`, `Event`: `examples_ipc::sync`.
//!
//! Copy it: `cargo new process_sync`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_ipc::sync::{Condition, new_lock};
use examples_process::{Failure, Process, current_process};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let lock = new_lock()?;
    let mut runs = [1, 2].map(|_| {
        let lock = lock.clone();
        Process::new(move || {
            let _held = lock.lock().expect("the lock"); // lock.acquire(1)
            println!("{} holds the lock", current_process().name);
        }) // released when `_held` goes
    });
    runs.iter_mut().try_for_each(Process::start)?;
    runs.iter().try_for_each(|p| p.join().map(drop))?;

    // A condition: its state is how many items are ready.
    let ready = Condition::shared(0_u32)?;
    let mut consumer = Process::new({
        let ready = ready.clone();
        move || {
            let mut items = ready.lock().expect("the lock");
            items.wait_for(|n| *n == 3, None).expect("the condition"); // lets go while asleep
            println!("consumer: woke with {} items", *items);
        }
    });
    let mut producer = Process::new({
        let ready = ready.clone();
        move || {
            for i in 1..=3 {
                sleep(Duration::from_millis(50));
                let mut items = ready.lock().expect("the lock");
                *items += 1;
                println!("producer: put {i} of 3");
                items.notify(1);
            }
        }
    });
    consumer.start()?;
    producer.start()?;
    let codes = [producer.join()?, consumer.join()?];
    assert_eq!((codes, *ready.lock()?), ([0, 0], 3));
    Ok(())
}
