//! Note 003 "进程的锁机制": `Value('i', 0)` in shared memory and a `Lock` passed to two
//! processes; one adds 1 five times, the other 3, each holding the lock for its whole
//! loop, so the end value is 20.
//!
//! | CPython                                   | Rust (`examples_ipc::sync`)                  |
//! |-------------------------------------------|----------------------------------------------|
//! | `v = mp.Value('i', 0)`, `l = mp.Lock()`   | `let v = RobustMutex::shared(0_i32)?;`: the lock owns the value |
//! | `l.acquire()`, `v.value += num`, `l.release()` | `let mut value = v.lock()?;`, `*value += num;`, end of scope |
//!
//! Run: `cargo run -p examples-ipc --bin value`
//!
//! ```text
//! job(1): 1 2 3 4 5         <- or job(3) first: 3 6 9 12 15, then job(1): 16 .. 20
//! job(3): 8 11 14 17 20
//! 20
//! ```
//!
//! Where Rust differs: the value lives inside the lock: it cannot be touched without
//! it. The lock is robust: if its holder is killed, the next `lock` recovers it and says
//! so (CPython's waits for ever). `Value('i', 0, lock=False)`'s `v.value += 1` can lose
//! updates between processes; Rust offers no unlocked `+=` on shared data, only an
//! atomic add, which never loses one. `Value`/`Array` with `get_lock()`: the
//! `examples_ipc::sync` docs; a named segment: `named_value`.
//!
//! Copy it: `cargo new value`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_ipc::sync::RobustMutex;
use examples_process::{Failure, Process};

/// The note's `job(v, num, l)`; prints the running values once it has let go.
fn job(v: &RobustMutex<i32>, num: i32) {
    let mut value = v.lock().expect("the lock"); // l.acquire()
    let mut seen = Vec::new();
    for _ in 0..5 {
        *value += num;
        seen.push(value.to_string());
        sleep(Duration::from_millis(10)); // without the lock, the other would cut in here
    }
    drop(value); // l.release()
    println!("job({num}): {}", seen.join(" "));
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let v = RobustMutex::shared(0_i32)?;
    let mut p1 = Process::new({
        let v = v.clone();
        move || job(&v, 1)
    });
    let mut p2 = Process::new({
        let v = v.clone();
        move || job(&v, 3)
    });
    p1.start()?;
    p2.start()?;
    p1.join()?;
    p2.join()?;
    let end = *v.lock()?;
    println!("{end}");
    assert_eq!(end, 20);
    Ok(())
}
