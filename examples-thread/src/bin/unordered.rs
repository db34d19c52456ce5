//! Threads run in no fixed order: the scheduler decides.
//!
//! Mirrors note 004 "线程", point 1: the order in which threads run is not the order in
//! which they were started; the CPU scheduler picks.
//!
//! | CPython                                    | Rust                                    |
//! |--------------------------------------------|-----------------------------------------|
//! | `for i in range(5): Thread(target=f, args=(i,)).start()` | `for i in 0..5 { s.spawn(move \|\| f(i)); }` in a `thread::scope` |
//! | `print` from each thread                   | `println!` (one whole line per call)    |
//!
//! Run: `cargo run -p examples-thread --bin unordered`, or with
//! `-- --timeline unordered.svg` to draw round 1: one row per thread, in start order.
//!
//! Output: round 1 prints one line from each of five threads, in whatever order they
//! ran, and the order it saw. Then 200 more rounds, counted: how many distinct orders
//! appeared and how often the start order (0 1 2 3 4) came out. What varies: all of it,
//! between runs and between machines; on an idle machine the start order may dominate.
//!
//! Where Rust differs: nothing about the ordering, which is the operating system's.
//! Each `println!` takes stdout's lock for the whole line, so lines never mix, as
//! CPython's `print` of one string does not.
//!
//! Copy it: `cargo new unordered`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::thread;

use examples_process::Failure;
use examples_process::timeline::Timeline;

const THREADS: usize = 5;
const ROUNDS: usize = 200;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let timeline = Timeline::from_args_or_exit(); // off without --timeline FILE.svg
    let first = round(true, timeline);
    println!("main: round 1 ran in order {first:?}");

    let mut seen: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
    for _ in 0..ROUNDS {
        *seen.entry(round(false, &Timeline::off())).or_default() += 1;
    }
    let in_start_order = seen.get(&(0..THREADS).collect::<Vec<_>>()).copied().unwrap_or(0);
    println!("main: {ROUNDS} more rounds gave {} distinct orders", seen.len());
    println!("main: the start order came out {in_start_order} times of {ROUNDS}");

    // Whatever the order, every thread ran exactly once per round.
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(sorted, (0..THREADS).collect::<Vec<_>>());
    for order in seen.keys() {
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..THREADS).collect::<Vec<_>>());
    }
    assert_eq!(seen.values().sum::<usize>(), ROUNDS);
    println!("main: ok, every thread ran once in every round");
    if let Some(path) =
        timeline.save("unordered: five threads started in order 0 to 4 (round 1)")?
    {
        println!("main: timeline written to {}", path.display());
    }
    Ok(())
}

/// Starts threads 0..THREADS; each records (and maybe prints) that it ran. Returns the
/// order in which they did.
fn round(print: bool, timeline: &Timeline) -> Vec<usize> {
    let order = Mutex::new(Vec::with_capacity(THREADS));
    thread::scope(|s| {
        for i in 0..THREADS {
            let order = &order;
            timeline.mark(&format!("start {i}"));
            // Named, as CPython's `Thread(name=...)`: the name is the timeline's row.
            let named = thread::Builder::new().name(format!("thread {i}"));
            let started = named.spawn_scoped(s, move || {
                let _ran = timeline.span("ran");
                // Record and print under one lock, so the list matches the printed lines.
                let mut order = order.lock().unwrap_or_else(|e| e.into_inner());
                order.push(i);
                if print {
                    println!("thread {i}: running");
                }
            });
            started.expect("failed to spawn thread"); // one line and exit code 1, as `spawn`
        }
    });
    order.into_inner().unwrap_or_else(|e| e.into_inner())
}
