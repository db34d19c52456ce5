//! A manager process owns a dict, a list and a lock; children reach them by proxy.
//!
//! Mirrors note 001 "3. c. Manager": two children each take the lock, put their pid into
//! the shared dict, append it to the shared list `[0, 1, 2, 3, 4]`, print the list and
//! release the lock; the parent then prints the dict and the list.
//!
//! | CPython                                    | Rust (`examples_ipc::manager`)             |
//! |--------------------------------------------|--------------------------------------------|
//! | `with Manager() as manager:`               | `let manager = Manager::start(list)?;` (dropped: shut down) |
//! | `d = manager.dict()`, `l = manager.list(range(5))` | the server's dict, and the list given to `start` |
//! | `lock = manager.Lock()`                    | the server's lock, through `proxy.lock()?` |
//! | `Process(target=f, args=(d, l, lock))`     | `Process::new(move \|\| f(&proxy))` with a cloned proxy |
//! | `d[os.getpid()] = os.getpid()`             | `proxy.dict_insert(pid, pid)?`             |
//! | `l.append(os.getpid())`, `print(l)`        | `proxy.list_append(pid)?`, `proxy.list()?` |
//!
//! Run: `cargo run -p examples-ipc --bin manager`
//!
//! Output: the parent holds the manager's lock while both children start; they queue
//! for it, and meanwhile the manager still answers the parent ("2 clients waiting,
//! list still [0, 1, 2, 3, 4]"). Then each child, in turn, prints the list with its pid
//! appended; the parent prints the dict (both pids) and the 7-item list; after
//! shutdown, a proxy call returns an error. What varies: the pids, and which child
//! goes first.
//!
//! Where Rust differs: a proxy's calls are typed methods, not attribute access on a
//! generic proxy object, and this manager serves one fixed set of objects (a dict and
//! a list of integers, a lock) where CPython's can register any type. A call to a
//! manager that has shut down returns `Err` immediately.
//!
//! In your own program: a server you talk to over a socket (a database, Redis) when
//! several programs share state; `Arc<Mutex<_>>` when they are threads of one.
//!
//! Copy it: `cargo new manager`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add nix@0.31 --features process
//! ```

use std::io;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_ipc::manager::{Manager, Proxy};
use examples_process::{Failure, Process};
use nix::unistd::getpid;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let manager = Manager::start((0..5).collect())?;
    let proxy = manager.proxy();
    println!("main: manager server pid={}", manager.pid().unwrap_or_default());

    let mut children: Vec<Process> = (0..2)
        .map(|_| {
            let proxy = manager.proxy();
            Process::new(move || f(&proxy).expect("the manager answers"))
        })
        .collect();
    // Hold the lock while the children start, so both queue up at the server. Taken
    // after `children` is declared, so that if anything below fails, the lock is
    // released before the children's handles wait for them (locals drop in reverse).
    let held = proxy.lock()?;
    for child in &mut children {
        child.start()?;
    }
    let waiting = wait_for_waiters(&proxy, 2)?;
    let list_meanwhile = proxy.list()?;
    println!(
        "main: {waiting} clients waiting for the lock; the manager still answers: list {list_meanwhile:?}"
    );
    // Keep them waiting a moment, long enough to watch (or to press Ctrl-C).
    sleep(Duration::from_millis(300));
    drop(held); // lock.release(): the first waiter gets it

    let codes = children.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;
    let dict = proxy.dict()?;
    let list = proxy.list()?;
    println!("main: d = {dict:?}");
    println!("main: l = {list:?}");

    manager.shutdown()?;
    let after = proxy.list();
    println!("main: a call after shutdown returns an error: {}", after.is_err());

    let pids: Vec<i64> = children.iter().filter_map(|c| c.pid()).map(i64::from).collect();
    assert_eq!(codes, [0, 0]);
    assert_eq!((waiting, list_meanwhile.as_slice()), (2, &[0, 1, 2, 3, 4][..]));
    assert_eq!(dict.len(), 2);
    assert!(pids.iter().all(|pid| dict.get(pid) == Some(pid)));
    assert_eq!(list.len(), 7);
    assert_eq!(list[..5], [0, 1, 2, 3, 4]);
    assert!(pids.iter().all(|pid| list[5..].contains(pid)));
    assert!(after.is_err());
    println!("main: ok");
    Ok(())
}

/// The note's `f(d, l, lock)`.
fn f(proxy: &Proxy) -> io::Result<()> {
    let pid = i64::from(getpid().as_raw());
    let _lock = proxy.lock()?; // lock.acquire(); released at the end of `f`
    proxy.dict_insert(pid, pid)?;
    proxy.list_append(pid)?;
    println!("child pid={pid}: l = {:?}", proxy.list()?);
    Ok(())
}

/// Asks the manager until `n` clients wait for its lock (at most 10 s).
fn wait_for_waiters(proxy: &Proxy, n: usize) -> io::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = proxy.lock_waiters()?;
        if waiting >= n || Instant::now() >= deadline {
            return Ok(waiting);
        }
        sleep(Duration::from_millis(5));
    }
}
