//! Locks, conditions and events between processes: CPython's `multiprocessing` versions
//! of what note 003 "线程锁机制" shows for threads.
//!
//! Goes beyond the notes, which use `Lock` and `Condition` with threads only: the same
//! primitives work between processes when they live in shared memory. A child holds a
//! `Lock` while the parent tries it without waiting and with a timeout; a child takes
//! an `RLock` twice; a `BoundedSemaphore` refuses a release too many; a consumer process
//! waits on a `Condition` until a producer process has put three items; the parent
//! waits on an `Event` that a child sets.
//!
//! | CPython                                    | Rust (`examples_ipc`)                          |
//! |--------------------------------------------|------------------------------------------------|
//! | `lock = Lock()`                            | `let lock = sync::new_lock()?;`               |
//! | `lock.acquire(block=False)`, `acquire(timeout=0.1)` | `lock.try_lock()?`, `lock.lock_timeout(d)?` (`None`: not taken) |
//! | `r = RLock()`, `with r: with r: ...`       | `let r = sync::RLock::shared()?;`, `r.acquire()?` twice |
//! | `s = BoundedSemaphore(1)`, one release too many | `Semaphore::bounded_shared(1)?`, `release()` → `Err` |
//! | `c = Condition()`, `with c: c.wait_for(p)`, `c.notify()` | `Condition::shared(state)?`, `c.lock()?.wait_for(p, None)?`, `.notify(1)` |
//! | `e = Event()`, `e.set()`, `e.wait(timeout)` | `Event::shared()?`, `e.set()`, `e.wait(Some(d))` |
//!
//! Run: `cargo run -p examples-ipc --bin process_sync`
//!
//! Output: the lock is taken by the child (`try_lock` gives nothing, a 0.1 s timeout
//! gives nothing), then free once the child lets go; the child's two holds of the
//! RLock; the bounded semaphore's refusal; the producer's three puts and the consumer
//! waking with all three; the event set by a child. What varies: pids.
//!
//! Where Rust differs: a condition's state lives inside it (`Condition<u32>` here), so
//! it cannot be read without the lock; `wait` and `notify` are methods of the guard,
//! so calling them without the lock does not compile (CPython: `RuntimeError`). Every
//! lock here is robust: a holder that is killed does not leave it taken for ever.
//!
//! In your own program: `std::fs::File::lock` (released when its holder dies), a pipe
//! or socket to wake another process, or a database, for state that must outlive a
//! crash.
//!
//! Copy it: `cargo new process_sync`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_ipc::sync::{Condition, Event, RLock};
use examples_ipc::sync::{Semaphore, new_lock};
use examples_process::{Failure, Process};

const PATIENCE: Duration = Duration::from_secs(10);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    // Lock: held by a child; the parent tries without waiting, then with a timeout.
    let lock = new_lock()?;
    let holding = Event::shared()?;
    let mut holder = Process::new({
        let (lock, holding) = (lock.clone(), holding.clone());
        move || {
            let _held = lock.lock().expect("lock");
            holding.set();
            sleep(Duration::from_millis(300));
        }
    });
    holder.start()?;
    holding.wait(Some(PATIENCE));
    let at_once = lock.try_lock()?.is_some();
    let within = lock.lock_timeout(Duration::from_millis(100))?.is_some();
    println!(
        "lock: held by the child; acquire(block=False) -> {at_once}, acquire(timeout=0.1) -> {within}"
    );
    let later = lock.lock_timeout(PATIENCE)?.is_some();
    println!("lock: once the child let go, acquire(timeout=10) -> {later}");
    holder.join()?;

    // RLock: one holder, twice.
    let rlock = RLock::shared()?;
    let mut twice = Process::new({
        let rlock = rlock.clone();
        move || {
            let _outer = rlock.acquire().expect("rlock");
            let _inner = rlock.acquire().expect("the holder may take it again");
            println!("rlock: the child holds it twice");
        }
    });
    twice.start()?;
    let rlock_code = twice.join()?;

    // BoundedSemaphore: a release without an acquire is refused.
    let bounded = Semaphore::bounded_shared(1)?;
    let refused = bounded.release().is_err();
    println!("bounded semaphore(1): a release without an acquire is refused: {refused}");

    // Condition: the consumer sleeps until the producer has put three items.
    let items = Condition::shared(0_u32)?;
    let mut consumer = Process::new({
        let items = items.clone();
        move || {
            let mut count = items.lock().expect("lock");
            let all = count.wait_for(|n| *n == 3, Some(PATIENCE)).expect("wait");
            println!("condition: the consumer woke with {} items (predicate held: {all})", *count);
        }
    });
    let mut producer = Process::new({
        let items = items.clone();
        move || {
            for _ in 0..3 {
                sleep(Duration::from_millis(20));
                let mut count = items.lock().expect("lock");
                *count += 1;
                println!("condition: the producer put item {}", *count);
                count.notify(1);
            }
        }
    });
    consumer.start()?;
    producer.start()?;
    let condition_codes = [producer.join()?, consumer.join()?];

    // Event: set by a child, waited for by the parent.
    let ready = Event::shared()?;
    let mut setter = Process::new({
        let ready = ready.clone();
        move || {
            sleep(Duration::from_millis(50));
            ready.set();
        }
    });
    setter.start()?;
    let set = ready.wait(Some(PATIENCE));
    println!("event: the child set it; wait(10) -> {set}");
    setter.join()?;

    assert_eq!((at_once, within, later), (false, false, true));
    assert_eq!(rlock_code, 0);
    assert!(refused);
    assert_eq!(condition_codes, [0, 0]);
    assert_eq!(*items.lock()?, 3);
    assert!(set);
    println!("main: ok");
    Ok(())
}
