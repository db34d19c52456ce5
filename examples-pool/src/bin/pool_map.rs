//! Note 003 "进程池": a pool of 4 given 10 `apply_async` tasks, then `close` and `join`;
//! `with Pool(...) as pool:` around `apply_async(...).get(timeout)`, and around `map`.
//!
//! | CPython                                    | Rust (`examples_pool::Pool`)              |
//! |--------------------------------------------|-------------------------------------------|
//! | `p = Pool(processes=4)` ... `p.close(); p.join()` | `let p = Pool::new(4)?;` ... `p.close().join()?` |
//! | `with Pool(processes=2) as pool:`          | a block `{ let pool = Pool::new(2)?; ... }` |
//! | `pool.apply_async(f, (10,)).get(timeout=1)` | `pool.apply_async(f, 10)?.get_timeout(1 s)?` |
//! | `pool.map(f, range(10))`                   | `pool.map(f, 0..10)?`                     |
//!
//! Run: `cargo run -p examples-pool --bin pool_map`
//!
//! ```text
//! 10 tasks on Pool(4): closed and joined
//! 100
//! [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//! get(timeout=0.1) of a 0.5 s task -> a timeout after 100 ms; later get() -> 25
//! ```
//!
//! Where Rust differs: the end of the block drops the pool, which terminates its
//! workers as leaving `with` does. After a timeout the result can still be asked for,
//! as in CPython. `map_async`, `starmap`, `imap_unordered` and callbacks: the
//! `examples_pool::Pool` docs (`cargo doc -p examples-pool --open`).
//!
//! Copy it: `cargo new pool_map`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! ```

use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_pool::{Pool, PoolError};
use examples_process::Failure;

fn fun1(_: u32) {}

fn square(x: u64) -> u64 {
    x * x
}

fn slow_square(x: u64) -> u64 {
    sleep(Duration::from_millis(500));
    x * x
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let p = Pool::new(4)?;
    for i in 0..10 {
        p.apply_async(fun1, i)?; // the result is not kept, as in the note
    }
    p.close().join()?;
    println!("10 tasks on Pool(4): closed and joined");

    {
        let pool = Pool::new(2)?; // with Pool(processes=2) as pool:
        println!("{}", pool.apply_async(square, 10)?.get_timeout(Duration::from_secs(1))?);
    } // the block's end terminates the pool
    {
        let pool = Pool::new(2)?;
        println!("{:?}", pool.map(square, 0..10)?);
    }

    // What the example adds: a timeout that passes; the task goes on and gives its result.
    let pool = Pool::new(2)?;
    let result = pool.apply_async(slow_square, 5)?;
    let asked = Instant::now();
    let early = result.get_timeout(Duration::from_millis(100));
    let waited = asked.elapsed().as_millis();
    let later = result.get()?;
    println!(
        "get(timeout=0.1) of a 0.5 s task -> a timeout after {waited} ms; later get() -> {later}"
    );
    assert!(matches!(early, Err(PoolError::Timeout)));
    Ok(())
}
