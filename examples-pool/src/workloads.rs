//! The workloads of the GIL-style comparison: one CPU-bound kernel computed serially,
//! on two threads, on two threads that share one global lock (a GIL emulation), on two
//! processes and on a pool; and twenty IO-bound naps, serially, on threads and on
//! processes. `gil_compare` runs and explains them; `side_by_side` times them against
//! their CPython counterparts. Below them, what `side_by_side` and the Rust-peers
//! benchmark (`examples-pool/bench/peers`) both time: integers sent to a child through
//! a `Queue` and through a ring, round trips over a pipe and over a bare socketpair,
//! and starting a process. Every function returns its result, so that callers can
//! check that each variant computed the same thing. The CPU-bound ones record what ran
//! when on the process's timeline, if one is installed (`gil_compare --timeline`; see
//! [`examples_process::timeline`]).
//!
//! ```
//! use examples_pool::workloads::{self, halves};
//! use examples_process::timeline::Timeline;
//!
//! let n = 100_000;
//! let serial = workloads::kernel((0, n));
//! assert_eq!(workloads::two_threads(halves(n)), serial); // no timeline: nothing recorded
//! let timeline = Timeline::recording()?.install()?;
//! assert_eq!(workloads::with_global_lock(halves(n)), serial);
//! assert!(timeline.records().iter().all(|r| r.label == "holds the GIL"));
//! assert_eq!(workloads::two_processes(halves(n))?, serial);
//! assert_eq!(workloads::pool_of_two(halves(n))?, serial);
//! assert_eq!(workloads::queue_to_child(1000)?.0, 1000 * 999 / 2);
//! assert_eq!(workloads::pipe_round_trips(10)?.0, 10 * 9 / 2);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use examples_ipc::connection;
use examples_ipc::queue::Queue;
use examples_ipc::ring;
use examples_ipc::shared::SharedMemory;
use examples_process::timeline;
use examples_process::{Process, StartMethod};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use parking_lot::{Mutex, MutexGuard};

use crate::Pool;

/// The CPU-bound kernel: the sum over i in lo..hi of (i·i) mod 1 000 000 007, in u64.
pub fn kernel((lo, hi): (u64, u64)) -> u64 {
    (lo..hi).map(|i| (i * i) % 1_000_000_007).sum()
}

/// `0..n` cut in two, one half per thread or process.
pub fn halves(n: u64) -> [(u64, u64); 2] {
    [(0, n / 2), (n / 2, n)]
}

/// Each half on its own thread (named `thread 1` and `thread 2`), each a span.
pub fn two_threads(halves: [(u64, u64); 2]) -> u64 {
    thread::scope(|s| {
        [1, 2]
            .map(|k| {
                spawn_named(s, format!("thread {k}"), move || {
                    let _computing = timeline::span(&format!("half {k}"));
                    kernel(halves[k - 1])
                })
            })
            .map(join)
            .iter()
            .sum()
    })
}

/// Two threads that may compute only while holding one global lock, and hand it over
/// every 5 ms, as CPython's threads hand over the GIL (its switch interval is 5 ms).
/// Each time a thread holds the lock is a span.
pub fn with_global_lock(halves: [(u64, u64); 2]) -> u64 {
    let gil = Mutex::new(());
    thread::scope(|s| {
        [1, 2]
            .map(|k| {
                let (gil, (lo, hi)) = (&gil, halves[k - 1]);
                spawn_named(s, format!("GIL thread {k}"), move || {
                    let (mut sum, mut i) = (0_u64, lo);
                    while i < hi {
                        let held: MutexGuard<'_, ()> = gil.lock();
                        let _holding = timeline::span("holds the GIL");
                        let until = Instant::now() + Duration::from_millis(5);
                        while i < hi && Instant::now() < until {
                            let end = (i + 65_536).min(hi);
                            sum += kernel((i, end));
                            i = end;
                        }
                        drop(_holding);
                        MutexGuard::unlock_fair(held); // hand the lock to the waiting thread
                    }
                    sum
                })
            })
            .map(join)
            .iter()
            .sum()
    })
}

/// Two forked children, each computing a half into shared memory, each a span.
pub fn two_processes(halves: [(u64, u64); 2]) -> io::Result<u64> {
    let results = SharedMemory::new([AtomicU64::new(0), AtomicU64::new(0)])?;
    let mut children = [0, 1].map(|k| {
        let results = results.clone();
        Process::new(move || {
            let _computing = timeline::span(&format!("half {}", k + 1));
            results[k].store(kernel(halves[k]), SeqCst);
        })
    });
    for child in &mut children {
        child.start()?;
    }
    for child in &children {
        child.join()?;
    }
    Ok(results.iter().map(|r| r.load(SeqCst)).sum())
}

/// A pool of two processes mapping the kernel over the halves, the pool's start
/// included (CPython: `with Pool(2) as pool: sum(pool.map(kernel, halves))`).
pub fn pool_of_two(halves: [(u64, u64); 2]) -> io::Result<u64> {
    Ok(Pool::new(2)?.map(kernel, halves)?.iter().sum())
}

/// How many naps the IO-bound variants take, each of [`NAP`].
pub const NAPS: u64 = 20;
/// One IO-bound task: a sleep, standing for a wait on a disk or a network.
pub const NAP: Duration = Duration::from_millis(100);

/// The naps one after another. Returns how many were taken.
pub fn naps_serially() -> u64 {
    (0..NAPS).for_each(|_| sleep(NAP));
    NAPS
}

/// Each nap on its own thread.
pub fn naps_in_threads() -> u64 {
    thread::scope(|s| (0..NAPS).map(|_| s.spawn(|| sleep(NAP))).collect::<Vec<_>>().len() as u64)
}

/// Each nap in its own process.
pub fn naps_in_processes() -> io::Result<u64> {
    let mut naps: Vec<Process> = (0..NAPS).map(|_| Process::new(|| sleep(NAP))).collect();
    for p in &mut naps {
        p.start()?;
    }
    let codes = naps.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;
    Ok(codes.len() as u64)
}

/// `items` integers (0, 1, …) from this process to a child that sums them and sends the
/// sum back, through `examples_ipc::queue::Queue`. Returns the sum and how long the
/// items and the sum took (the child's start and join left out).
pub fn queue_to_child(items: u64) -> io::Result<(u64, Duration)> {
    let (q, back) = (Queue::<u64>::unbounded()?, Queue::<u64>::unbounded()?);
    let mut child = Process::new({
        let (q, back) = (q.clone(), back.clone());
        move || {
            let sum = (0..items).map(|_| q.get().expect("an item")).sum();
            back.put(sum).expect("the parent waits");
        }
    });
    child.start()?;
    let start = Instant::now();
    for i in 0..items {
        q.put(i).map_err(io::Error::other)?;
    }
    let sum = back.get().map_err(io::Error::other)?;
    let took = start.elapsed();
    child.join()?;
    Ok((sum, took))
}

/// The same through the shared-memory ring of plain values, `examples_ipc::ring`.
pub fn ring_to_child(items: u64) -> io::Result<(u64, Duration)> {
    let (tx, rx) = ring::channel::<u64, 1024>()?;
    let (sum_tx, sum_rx) = ring::channel::<u64, 1>()?;
    let mut child = Process::new(move || {
        let sum = (0..items).map(|_| rx.pop().expect("an item")).sum();
        sum_tx.push(sum).expect("the parent waits");
    });
    child.start()?;
    let start = Instant::now();
    for i in 0..items {
        tx.push(i)?;
    }
    let sum = sum_rx.pop()?;
    let took = start.elapsed();
    child.join()?;
    Ok((sum, took))
}

/// `trips` round trips over a `connection::pipe()` to a child that echoes each number.
/// Returns the echoes' sum and the time of all trips (after 100 warm-ups).
pub fn pipe_round_trips(trips: u64) -> io::Result<(u64, Duration)> {
    let (parent, child_end) = connection::pipe()?;
    let mut child = Process::new(move || {
        while let Ok(Some(x)) = child_end.recv::<Option<u64>>() {
            child_end.send(&Some(x)).expect("send");
        }
    });
    child.start()?;
    let measured = round_trips(trips, |i| {
        parent.send(&Some(i))?;
        parent.recv::<Option<u64>>()?.ok_or_else(|| io::Error::other("no echo"))
    });
    parent.send(&None::<u64>)?;
    child.join()?;
    measured
}

/// The reference for round trips: 8 bytes each way over a bare `socketpair`, one
/// `write` and one `read` per direction, no framing, no serialisation.
pub fn socketpair_round_trips(trips: u64) -> io::Result<(u64, Duration)> {
    let (mut parent, mut child_end) = UnixStream::pair()?;
    let mut child = Process::new(move || {
        let mut word = [0; 8];
        while child_end.read_exact(&mut word).is_ok() && word != [0xff; 8] {
            child_end.write_all(&word).expect("write");
        }
    });
    child.start()?;
    let measured = round_trips(trips, |i| {
        parent.write_all(&i.to_le_bytes())?;
        let mut word = [0; 8];
        parent.read_exact(&mut word)?;
        Ok(u64::from_le_bytes(word))
    });
    parent.write_all(&[0xff; 8])?;
    child.join()?;
    measured
}

/// Calls `trip(i)` 100 times to warm up, then `trips` times: the sum of what the timed
/// calls returned (the echoes), and how long they took.
pub fn round_trips(
    trips: u64,
    mut trip: impl FnMut(u64) -> io::Result<u64>,
) -> io::Result<(u64, Duration)> {
    for i in 0..100 {
        trip(i)?;
    }
    let start = Instant::now();
    let mut total = 0;
    for i in 0..trips {
        total += trip(i)?;
    }
    Ok((total, start.elapsed()))
}

fn noop(_: ()) {}

/// Starts and joins one process that does nothing, with `method`.
pub fn start_and_join(method: StartMethod) -> io::Result<()> {
    let mut p = Process::call(noop, ()).with_start_method(method);
    p.start()?;
    match p.join()? {
        0 => Ok(()),
        code => Err(io::Error::other(format!("{method} child exit code {code}"))),
    }
}

/// The reference for starting a process: `fork`, `_exit(0)` in the child, `waitpid`.
pub fn fork_and_waitpid() -> io::Result<()> {
    io::stdout().flush()?;
    // SAFETY: the child calls only `_exit`, which is async-signal-safe, so this is
    // sound even if other threads run.
    match unsafe { fork() }? {
        // SAFETY: `_exit` ends the child at once; it is always safe to call.
        ForkResult::Child => unsafe { nix::libc::_exit(0) },
        ForkResult::Parent { child } => match waitpid(child, None)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(io::Error::other(format!("child ended with {other:?}"))),
        },
    }
}

/// Starts a named scoped thread (the name is its row in a timeline).
fn spawn_named<'scope, T: Send + 'scope>(
    s: &'scope thread::Scope<'scope, '_>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> thread::ScopedJoinHandle<'scope, T> {
    // A thread that cannot start ends the program with one line (see
    // `examples_process::exit_on_stdout_failure`), as `thread::spawn` does.
    thread::Builder::new().name(name).spawn_scoped(s, f).expect("failed to spawn thread")
}

/// Joins a scoped thread, passing its panic on.
fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
