//! The Rust counterpart of subclassing `Thread` and overriding `run`.
//!
//! Mirrors note 001 "2. 多线程" (downloads started from a function, then from the
//! `MyThread(film)` class), note 002 "多线程 / 创建线程的方法" and note 003 "线程的创建"
//! (the class way: `MyThread(n)` counting down), and note 000 "互斥锁" (a thread class
//! that wraps a function, a name and arguments).
//!
//! | CPython                                          | Rust                                   |
//! |--------------------------------------------------|----------------------------------------|
//! | `Thread(target=download, args=('Venom',))`        | `thread::spawn(move \|\| download(film))` |
//! | `class MyThread(Thread)` with `self.film`        | `struct Download { film }` + `impl Run` |
//! | `def run(self)`                                  | `fn run(self)`                         |
//! | `t1 = MyThread('Venom'); t1.start()`             | `start(Download { .. })?`              |
//! | `super().__init__(target=func, name=name, args=args)` | `struct MyThread { func, name, args }` |
//! | `self._target(*self._args)`                      | `(self.func)(self.args)`               |
//!
//! Run: `cargo run -p examples-thread --bin thread_subclass`
//!
//! Output: two downloads started from a function, then two from the class; each
//! "takes" a random 0.2–0.6 s, and the total elapsed time is printed next to the sum of
//! the two: the total is about the longer one, not the sum; each download began before
//! the other ended ("overlapped: true", which is what the example checks). Then
//! `MyThread("t1")` and `MyThread("t2")` print "task t1" and count down "2s", "1s",
//! "0s" side by side; then two threads made from a function, a name and arguments, each
//! printing its name. What varies: the times and the line order.
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
    // Note 001 "2. 多线程" a: the target is a function, the film its argument.
    let by_function = ["Hands Up", "Venom"].map(|film| thread::spawn(move || download(film)));
    let function_spans: Vec<(Instant, Instant)> = by_function.into_iter().map(join).collect();
    let function_overlap = overlapped(&function_spans);
    println!("main: the downloads started from a function overlapped: {function_overlap}");

    // b: the same, as a class with a `film` attribute and a `run` method.
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
    let overlapped = overlapped(&spans);
    println!("main: the downloads overlapped: {overlapped}");

    // Notes 002 and 003: `MyThread(n)`, whose `run` prints its label and counts down.
    let countdowns = [start(Countdown { n: "t1" })?, start(Countdown { n: "t2" })?];
    countdowns.into_iter().for_each(join);

    // Note 000: a thread type that wraps any function with its name and arguments.
    let adders = [
        start(MyThread { func: add, name: "adder-1", args: (1, 2) })?,
        start(MyThread { func: add, name: "adder-2", args: (30, 40) })?,
    ];
    let sums: Vec<i32> = adders.into_iter().map(join).collect();

    assert!(function_overlap && overlapped, "the downloads ran at the same time");
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

/// Whether two spans overlap: each began before the other ended. (Comparing the elapsed
/// time with the sum would depend on how fast the machine starts threads.)
fn overlapped(spans: &[(Instant, Instant)]) -> bool {
    let [(a_from, a_to), (b_from, b_to)] = [spans[0], spans[1]];
    a_from < b_to && b_from < a_to
}

/// Note 001's `download(film)` for `Thread(target=download, args=(film,))`.
fn download(film: &str) -> (Instant, Instant) {
    let began = Instant::now();
    println!("downloading film: {film}");
    let takes = random_duration(Duration::from_millis(200), Duration::from_millis(600));
    println!("{film}: takes {:.2} s", takes.as_secs_f64());
    sleep(takes);
    println!("{film}: download finished");
    (began, Instant::now())
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
        download(self.film)
    }
}

/// Notes 002 and 003's `MyThread(n)`: a label, printed, then a countdown.
struct Countdown {
    n: &'static str,
}

impl Run for Countdown {
    type Output = ();

    fn name(&self) -> String {
        format!("countdown {}", self.n)
    }

    fn run(self) {
        println!("task {}", self.n);
        for left in (0..3).rev() {
            sleep(Duration::from_millis(100));
            println!("{left}s ({})", self.n);
        }
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
