//! A pool with and without a scope; `get(timeout)`; `map` keeps input order.
//!
//! Mirrors note 003 "进程池": a pool of 4 given 10 `apply_async` tasks then `close` and
//! `join`; `with Pool(...) as pool:` around `apply_async(...).get(timeout)` and around
//! `map`.
//!
//! | CPython                                      | Rust (`examples_pool::Pool`)              |
//! |----------------------------------------------|-------------------------------------------|
//! | `p = Pool(processes=4)` ... `close`, `join`  | `let p = Pool::new(4)?;` ... `p.close().join()?` |
//! | `with Pool(processes=2) as pool:`            | a block `{ let pool = Pool::new(2)?; … }`: its end terminates the pool |
//! | `pool.apply_async(f, (10,)).get(timeout=1)`  | `pool.apply_async(f, 10)?.get_timeout(Duration::from_secs(1))?` |
//! | `multiprocessing.TimeoutError`               | `Err(PoolError::Timeout)`                 |
//! | `pool.map(f, range(10))`                     | `pool.map(f, 0..10)?`                     |
//! | `pool.map_async(f, items, callback=c)`       | `pool.map_async(f, items)?.callback(c)`   |
//! | `pool.starmap(add, [(1, 2), (3, 4)])`        | `pool.starmap(add, [(1, 2), (3, 4)])?`    |
//! | `pool.imap_unordered(f, items)`              | `pool.imap_unordered(f, items, 1)?` (an iterator) |
//!
//! Run: `cargo run -p examples-pool --bin pool_map`
//!
//! Output: ten tasks on a pool of 4, closed and joined; `get(timeout=1)` of `square(10)`
//! giving 100; a 0.1 s `get` of a 0.5 s task failing with a timeout, after which the
//! same task still finishes and gives its result; `map` of `square` over 0..10 giving
//! `[0, 1, 4, …, 81]` in order; `map_async` whose callback sees the squares (sum 285),
//! `starmap` of `add` over pairs, `imap_unordered` giving the quicker task's result
//! first; a scope left while a one-minute task runs, whose two
//! workers are gone at once. What varies: the pids and the time taken to leave.
//!
//! Where Rust differs: the end of a block drops the pool, which terminates the workers
//! as leaving CPython's `with` does; nothing else needs to be called. After a timeout
//! the result can still be asked for, as in CPython.
//!
//! In your own program: `rayon`'s `par_iter().map(f).collect()` is `pool.map` on
//! threads; `procspawn::Pool` runs tasks in processes without `fork`.
//!
//! Copy it: `cargo new pool_map`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! cargo add nix@0.31 --features process,signal
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_pool::{Pool, PoolError};
use examples_process::Failure;
use nix::sys::signal::kill;
use nix::unistd::{Pid, getpid};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    // Without a scope: close and join by hand.
    let p = Pool::new(4)?;
    for i in 0..10 {
        p.apply_async(fun1, i)?; // the result is not kept, as in the note
    }
    p.close().join()?;
    println!("without a scope: closed and joined after 10 tasks");

    // With a scope: the pool ends with the block.
    let (hundred, timed_out, later) = {
        let pool = Pool::new(2)?;
        let hundred = pool.apply_async(square, 10)?.get_timeout(Duration::from_secs(1))?;
        println!("get(timeout=1) of square(10) = {hundred}");

        let slow = pool.apply_async(slow_square, 7)?;
        let first = slow.get_timeout(Duration::from_millis(100));
        println!(
            "get(timeout=0.1) of a 0.5 s task: {}",
            first.as_ref().map_or_else(|e| e.to_string(), |v| v.to_string())
        );
        let later = slow.get()?; // the task went on; now wait for it
        println!("the same task later gave {later}");
        (hundred, matches!(first, Err(PoolError::Timeout)), later)
    }; // the pool is dropped here: its workers are terminated

    let squares = {
        let pool = Pool::new(4)?;
        pool.map(square, 0..10)?
    };
    println!("map(square, range(10)) = {squares:?}");

    // The other ways to map: asynchronously with a callback, over argument pairs, and
    // as results come in.
    let (from_callback, sums, first_done) = {
        let pool = Pool::new(2)?;
        let from_callback = Rc::new(Cell::new(0));
        let pending = pool.map_async(square, 0..10)?.callback({
            let from_callback = Rc::clone(&from_callback);
            move |squares: &Vec<u64>| from_callback.set(squares.iter().sum())
        });
        let squares_again = pending.get()?;
        println!(
            "map_async(square, range(10), callback=...): the callback saw a sum of {}, get() gave {}",
            from_callback.get(),
            squares_again.len()
        );
        let sums = pool.starmap(add, [(1, 2), (3, 4), (5, 6)])?;
        println!("starmap(add, [(1, 2), (3, 4), (5, 6)]) = {sums:?}");
        let as_done: Vec<u64> =
            pool.imap_unordered(slow_echo, [300, 10], 1)?.collect::<Result<_, _>>()?;
        println!("imap_unordered(slow_echo, [300, 10]) gave {as_done:?}: the quicker first");
        (from_callback.get(), sums, as_done[0])
    };

    // Leaving the scope while a task still runs: terminate, as leaving `with` does.
    let (workers, left_after) = {
        let pool = Pool::new(2)?;
        let _minute = pool.apply_async(slow_minute, ())?; // never asked for
        let workers = pool.worker_pids();
        println!("a one-minute task is running on the pool's workers {workers:?}");
        (workers, Instant::now())
    }; // dropped here: the workers are terminated, the task with them
    let left_in = left_after.elapsed();
    let gone = workers.iter().all(|&pid| kill(Pid::from_raw(pid), None).is_err());
    println!("left the scope in {:.2} s; the workers are gone: {gone}", left_in.as_secs_f64());

    assert_eq!(hundred, 100);
    assert!(timed_out);
    assert_eq!(later, 49);
    assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<u64>>());
    assert_eq!((from_callback, sums, first_done), (285, vec![3, 7, 11], 10));
    assert!(gone, "terminated and reaped");
    assert!(left_in < Duration::from_secs(30), "the scope did not wait for the task");
    println!("main: ok");
    Ok(())
}

fn fun1(i: u32) {
    println!("fun1({i}) in pid={}", getpid());
}

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// Sleeps `ms` milliseconds and returns them.
fn slow_echo(ms: u64) -> u64 {
    sleep(Duration::from_millis(ms));
    ms
}

fn slow_minute(_: ()) {
    sleep(Duration::from_secs(60));
}

fn slow_square(x: u64) -> u64 {
    sleep(Duration::from_millis(500));
    x * x
}
