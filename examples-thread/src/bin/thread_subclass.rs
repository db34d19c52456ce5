//! Note 001 "2. 多线程", way b (and the class way of notes 002 and 003): a `Thread`
//! subclass keeps its film and `run` downloads it; two at once take the longer time.
//!
//! | CPython                                           | Rust (std)                          |
//! |---------------------------------------------------|-------------------------------------|
//! | `class MyThread(Thread)`, `self.film = film`      | `struct MyThread { film }`          |
//! | override `def run(self)`                          | `impl MyThread { fn run(self) }`    |
//! | `t1 = MyThread('Venom'); t1.start()`              | `thread::spawn(move \|\| t1.run())` |
//! | `super().__init__(target=func, name=name, args=args)` | `Builder::new().name(name).spawn(move \|\| func(args))` |
//!
//! Run: `cargo run -p examples-thread --bin thread_subclass`
//!
//! ```text
//! downloading film: Venom       <- the order of the lines and the times vary
//! Venom: takes 0.3 s
//! downloading film: Kong
//! Kong: takes 0.5 s
//! Venom: download finished
//! Kong: download finished
//! elapsed 0.50 s for downloads of 0.3 s and 0.5 s: they ran at the same time
//! ```
//!
//! Where Rust differs: no class to inherit from: a struct holds what `__init__` stored,
//! a method does what `run` did, and the thread owns the struct (`move`).
//!
//! Copy it: `cargo new thread_subclass`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::hash::{BuildHasher, RandomState};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

struct MyThread {
    film: &'static str,
}

impl MyThread {
    /// The note's `run`; returns how long it took.
    fn run(self) -> Duration {
        println!("downloading film: {}", self.film);
        let a = Duration::from_millis(100 * (3 + RandomState::new().hash_one(self.film) % 5));
        println!("{}: takes {:.1} s", self.film, a.as_secs_f64()); // 3 to 7 s in the note
        sleep(a);
        println!("{}: download finished", self.film);
        a
    }
}

fn main() {
    init();
    let t1 = MyThread { film: "Venom" };
    let t2 = MyThread { film: "Kong" };
    let time1 = Instant::now();
    let t1 = thread::spawn(move || t1.run());
    let t2 = thread::spawn(move || t2.run());
    let took = [t1.join().expect("t1"), t2.join().expect("t2")]; // the note's joins
    let elapsed = time1.elapsed();
    let [a, b] = took.map(|t| t.as_secs_f64());
    let together = elapsed < took[0] + took[1];
    let how = if together { "they ran at the same time" } else { "one after the other?" };
    println!(
        "elapsed {:.2} s for downloads of {a:.1} s and {b:.1} s: {how}",
        elapsed.as_secs_f64()
    );
    assert!(together, "two threads sleeping at once take the longer time, not the sum");
}

/// Refuses arguments (a usage error, exit code 2), and makes a panic in any thread end
/// the program at once (exit code 101), so that no thread waits for one that failed.
fn init() {
    if let Some(arg) = std::env::args_os().nth(1) {
        eprintln!("{}: unexpected argument {arg:?}", env!("CARGO_BIN_NAME"));
        std::process::exit(2);
    }
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        report(panic);
        std::process::exit(101);
    }));
}
