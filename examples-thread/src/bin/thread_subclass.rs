//! The Rust counterpart of subclassing `Thread` and overriding `run`.
//!
//! Mirrors note 001 "2. 多线程" (the `MyThread(film)` downloads), note 000 "互斥锁" (a
//! thread class that wraps a function, a name and arguments) and note 003 "线程的创建"
//! (the class way).
//!
//! | CPython                                          | Rust                                   |
//! |--------------------------------------------------|----------------------------------------|
//! | `class MyThread(Thread)` with `self.film`        | `struct Download { film }` + `impl Run` |
//! | `def run(self)`                                  | `fn run(self)`                         |
//! | `t1 = MyThread('Venom'); t1.start()`             | `start(Download { .. })?`              |
//! | `super().__init__(target=func, name=name, args=args)` | `struct MyThread { func, name, args }` |
//! | `self._target(*self._args)`                      | `(self.func)(self.args)`               |
//!
//! Run: `cargo run -p examples-thread --bin thread_subclass`
//!
//! Output: two downloads start at once, each "takes" a random 0.2–0.6 s, both end, and
//! the total elapsed time is printed next to the sum of the two: the total is about the
//! longer one, not the sum; each download began before the other ended ("overlapped:
//! true", which is what the example checks). Then two threads made from a function, a
//! name and arguments, each printing its name. What varies: the times and the line
//! order.
//!
//! Where Rust differs: there is no inheritance and no `Thread` object to subclass. A
//! struct carries the data, a trait method is the `run`, and one generic function
//! starts any such value on a named thread. The `Send + 'static` bound is the
//! compiler's check that the value may move to another thread.
//!
//! In your own program: the `rand` crate (`rand::random_range(1.0..5.0)`) instead of
//! `random_duration`.
//!
//! Copy it: `cargo new thread_subclass`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::io;
use std::thread::{self, JoinHandle, sleep};
use std::time::{Duration, Instant};

use examples_process::{Failure, random_duration};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let started = Instant::now();
    let downloads = [start(Download { film: "Venom" })?, start(Download { film: "Kong" })?];
    let spans: Vec<(Instant, Instant)> = downloads.into_iter().map(join).collect();
    let total = started.elapsed();
    let sum: Duration = spans.iter().map(|(from, to)| *to - *from).sum();
    println!(
        "main: elapsed {:.2} s; the two downloads took {:.2} s added up",
        total.as_secs_f64(),
        sum.as_secs_f64()
    );
    // At the same time: each began before the other ended. (Comparing the elapsed time
    // with the sum would depend on how fast the machine starts threads.)
    let [(a_from, a_to), (b_from, b_to)] = [spans[0], spans[1]];
    let overlapped = a_from < b_to && b_from < a_to;
    println!("main: the downloads overlapped: {overlapped}");

    // Note 000: a thread type that wraps any function with its name and arguments.
    let adders = [
        start(MyThread { func: add, name: "adder-1", args: (1, 2) })?,
        start(MyThread { func: add, name: "adder-2", args: (30, 40) })?,
    ];
    let sums: Vec<i32> = adders.into_iter().map(join).collect();

    assert!(overlapped, "the downloads ran at the same time");
    assert_eq!(sums, [3, 70]);
    println!("main: ok");
    Ok(())
}

/// What a thread runs: the counterpart of overriding `Thread.run`.
trait Run: Send + 'static {
    type Output: Send + 'static;
    /// A name for the thread (CPython: `name=` or `self.name`).
    fn name(&self) -> String;
    fn run(self) -> Self::Output;
}

/// Starts `job.run()` on a new thread named after the job (CPython: `start()`).
fn start<R: Run>(job: R) -> io::Result<JoinHandle<R::Output>> {
    thread::Builder::new().name(job.name()).spawn(move || job.run())
}

fn join<T>(handle: JoinHandle<T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Note 001's `MyThread(film)`.
struct Download {
    film: &'static str,
}

impl Run for Download {
    /// When the download began and ended.
    type Output = (Instant, Instant);

    fn name(&self) -> String {
        format!("download {}", self.film)
    }

    fn run(self) -> (Instant, Instant) {
        let began = Instant::now();
        println!("downloading film: {}", self.film);
        let takes = random_duration(Duration::from_millis(200), Duration::from_millis(600));
        println!("{}: takes {:.2} s", self.film, takes.as_secs_f64());
        sleep(takes);
        println!("{}: download finished", self.film);
        (began, Instant::now())
    }
}

/// Note 000's `MyThread(func, name, args)`: any function, a name, its arguments.
struct MyThread<A, T> {
    func: fn(A) -> T,
    name: &'static str,
    args: A,
}

impl<A: Send + 'static, T: Send + 'static> Run for MyThread<A, T> {
    type Output = T;

    fn name(&self) -> String {
        self.name.to_string()
    }

    fn run(self) -> T {
        (self.func)(self.args)
    }
}

fn add((a, b): (i32, i32)) -> i32 {
    let sum = a + b;
    println!("{}: {a} + {b} = {sum}", thread::current().name().unwrap_or("<unnamed>"));
    sum
}
