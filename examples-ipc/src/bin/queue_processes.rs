//! Note 001 "3. a. Queue": the parent puts 11, a child puts 22, the parent gets 11 then
//! 22. Note 003 "进程间的通信": a child puts, the parent gets while it runs, here through
//! `ipc-channel`, the crate a program of your own would use.
//!
//! | CPython                                 | Rust                                          |
//! |-----------------------------------------|-----------------------------------------------|
//! | `q = Queue()`; `q.put('11')`            | `Queue::unbounded()?`; `q.put("11".into())?`  |
//! | `Process(target=f, args=(q,))`          | `Process::new(move \|\| f(&q))` with a clone of `q` |
//! | `q.get_nowait()`, `q.empty()`           | `q.get_nowait()?`, `q.empty()`                |
//! | `q.put(x)` in a child; `q.get()`        | `tx.send(x)?`; `rx.recv()?` (`ipc::channel()?`) |
//!
//! Run: `cargo run -p examples-ipc --bin queue_processes`
//!
//! ```text
//! got: 11
//! got: 22
//! empty: true
//! from the child, through ipc-channel: "a reading of 21.5"
//! ```
//!
//! Where Rust differs: the item type is fixed when the queue is made (`Queue<String>`,
//! `IpcSender<String>`) and serde turns it into bytes: a wrong type does not compile.
//!
//! Copy it: `cargo new queue_processes`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add ipc-channel@0.23
//! ```

use examples_ipc::queue::Queue;
use examples_process::{Failure, Process};
use ipc_channel::ipc;

fn f(q: &Queue<String>) {
    q.put("22".into()).expect("an unbounded queue has room");
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let q: Queue<String> = Queue::unbounded()?;
    q.put("11".into())?;
    let mut p = Process::new({
        let q = q.clone();
        move || f(&q)
    });
    p.start()?;
    p.join()?;
    let (first, second) = (q.get_nowait()?, q.get_nowait()?);
    println!("got: {first}");
    println!("got: {second}");
    println!("empty: {}", q.empty());
    assert_eq!((first.as_str(), second.as_str(), q.empty()), ("11", "22", true));

    // Note 003's exchange with ipc-channel: a channel made before the child starts.
    let (tx, rx) = ipc::channel::<String>()?;
    let mut p = Process::new(move || tx.send("a reading of 21.5".into()).expect("the parent"));
    p.start()?;
    println!("from the child, through ipc-channel: {:?}", rx.recv()?); // while it runs
    p.join()?;
    Ok(())
}
