//! A queue carries values between a parent and its child, first in, first out.
//!
//! Mirrors note 001 "3. a. Queue" (the parent puts 11, the child puts 22, the parent gets
//! 11 then 22) and note 003 "进程间的通信" (a child puts, the parent gets).
//!
//! | CPython                                   | Rust                                        |
//! |-------------------------------------------|---------------------------------------------|
//! | `q = Queue()`                             | `Queue::unbounded()?`                       |
//! | `Process(target=f, args=(q,))`            | `Process::new({ let q = q.clone(); move \|\| f(&q) })` |
//! | `q.put('11')`, `q.get_nowait()`           | `q.put("11".into())?`, `q.get_nowait()?`    |
//! | any picklable object                      | any `Serialize + Deserialize` type, e.g. a struct with `#[derive]` |
//!
//! Run: `cargo run -p examples-ipc --bin queue_processes`
//!
//! Output: "got: 11" then "got: 22"; then three `Reading` structs sent by a child through
//! an `ipc-channel` channel, the crate you would use in a program of your own, and their
//! average. What varies: the child's pid in the readings.
//!
//! Where Rust differs: the item type is fixed when the queue is made (`Queue<String>`,
//! `IpcSender<Reading>`), and serde derives the conversion to bytes; a wrong type is a
//! compile error rather than a surprise in the receiver.
//!
//! Copy it: `cargo new queue_processes`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add nix@0.31 --features process
//! cargo add serde@1 --features derive
//! cargo add ipc-channel@0.23
//! ```

use examples_ipc::queue::Queue;
use examples_process::{Failure, Process};
use ipc_channel::ipc;
use nix::unistd::getpid;
use serde::{Deserialize, Serialize};

/// A typed message: what a child measured.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Reading {
    sensor: String,
    value: f64,
    pid: i32,
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    // Note 001: the parent puts 11, a child puts 22, the parent takes both after join.
    let q: Queue<String> = Queue::unbounded()?;
    q.put("11".into())?;
    let mut p = Process::new({
        let q = q.clone();
        move || f(&q)
    });
    p.start()?;
    p.join()?;
    let first = q.get_nowait()?;
    println!("got: {first}");
    let second = q.get_nowait()?;
    println!("got: {second}");

    // Note 003, with a struct and the crates.io way: an ipc-channel channel made before
    // the fork; the child sends, the parent receives while it runs.
    let (readings, incoming) = ipc::channel::<Reading>()?;
    let mut sensor = Process::new({
        move || {
            for (i, sensor) in ["north", "east", "south"].into_iter().enumerate() {
                let reading = Reading {
                    sensor: sensor.into(),
                    value: 20.0 + i as f64,
                    pid: getpid().as_raw(),
                };
                readings.send(reading).expect("the parent is listening");
            }
        }
    });
    sensor.start()?;
    let mut got = Vec::new();
    for _ in 0..3 {
        let reading = incoming.recv()?;
        println!("got: {reading:?}");
        got.push(reading);
    }
    let sensor_pid = sensor.pid();
    let code = sensor.join()?;
    let average = got.iter().map(|r| r.value).sum::<f64>() / got.len() as f64;
    println!("average: {average:.1}");

    assert_eq!((first.as_str(), second.as_str()), ("11", "22"), "first in, first out");
    assert_eq!(p.exitcode(), Some(0));
    let sensors: Vec<&str> = got.iter().map(|r| r.sensor.as_str()).collect();
    assert_eq!(sensors, ["north", "east", "south"]);
    assert!(got.iter().all(|r| Some(r.pid) == sensor_pid), "sent by the child");
    assert_eq!((code, average), (0, 21.0));
    println!("main: ok");
    Ok(())
}

/// The note's `f(q)`: put one item.
fn f(q: &Queue<String>) {
    q.put("22".into()).expect("an unbounded queue has room");
}
