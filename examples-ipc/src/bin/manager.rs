//! Note 001 "3. c. Manager": a manager process owns a dict, a list and a lock; two
//! children each, under the lock, add their pid to both; then the parent prints both.
//!
//! | CPython                                    | Rust (`examples_ipc::manager`)             |
//! |--------------------------------------------|--------------------------------------------|
//! | `with Manager() as manager:`               | `let manager = Manager::start()?;` (dropped: shut down) |
//! | `d = manager.dict()`, `l = manager.list(range(5))` | `proxy.dict::<i32, i32>()?`, `proxy.list(0..5)?` |
//! | `lock.acquire()` ... `lock.release()`      | `let _held = proxy.lock()?;` ... end of scope |
//! | `d[os.getpid()] = os.getpid()`, `l.append(..)` | `d.insert(pid, pid)?`, `l.append(pid)?`  |
//!
//! Run: `cargo run -p examples-ipc --bin manager`
//!
//! ```text
//! [0, 1, 2, 3, 4, 1568]            <- pids vary; either child may go first
//! [0, 1, 2, 3, 4, 1568, 1569]
//! {1568: 1568, 1569: 1569}
//! [0, 1, 2, 3, 4, 1568, 1569]
//! ```
//!
//! Where Rust differs: a proxy's calls are typed methods, each proxy holding one type
//! of serde value. A lock whose holder dies is released (CPython's stays taken). The
//! note's `Namespace`, `Queue`, `RLock`, `Semaphore` and `Condition`: the `manager`
//! module's docs (`cargo doc -p examples-ipc --open`).
//!
//! Copy it: `cargo new manager`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::io;

use examples_ipc::manager::{DictProxy, ListProxy, Manager, Proxy};
use examples_process::{Failure, Process, current_pid};

fn f(d: &DictProxy<i32, i32>, l: &ListProxy<i32>, lock: &Proxy) -> io::Result<()> {
    let _held = lock.lock()?; // lock.acquire(); released at the end of `f`
    d.insert(current_pid(), current_pid())?;
    l.append(current_pid())?;
    println!("{:?}", l.to_vec()?);
    Ok(())
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let manager = Manager::start()?;
    let proxy = manager.proxy(); // each clone is a connection of its own
    let d = proxy.dict::<i32, i32>()?;
    let l = proxy.list(0..5)?;
    let mut p_list = Vec::new();
    for _ in 0..2 {
        let (d, l, lock) = (d.clone(), l.clone(), proxy.clone());
        let mut p = Process::new(move || f(&d, &l, &lock).expect("the manager answers"));
        p.start()?;
        p_list.push(p);
    }
    for res in &p_list {
        res.join()?;
    }
    let (items, list) = (d.items()?, l.to_vec()?);
    println!(
        "{{{}}}",
        items.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
    );
    println!("{list:?}");
    assert_eq!((items.len(), list.len()), (2, 7), "each child added its pid once");
    Ok(())
}
