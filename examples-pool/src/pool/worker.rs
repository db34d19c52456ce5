//! One worker: the process, its connection, and the loop it runs.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::panic;

use examples_ipc::connection::{self, Connection};
use examples_process::{Process, StartMethod, panic_message, passed_fds};

use super::wire::{self, Done, ENVELOPE, Failed, Order, Task};

/// The most tasks a worker is sent ahead of its results. With its byte limit (a
/// quarter of the connection's send buffer, at most 64 KiB), it keeps a `send` from
/// ever blocking the parent while the worker is blocked writing results nobody reads.
/// 256 rather than 64: the parent refills a worker's queue less often (a map of 10,000
/// one-item tasks on 2 CPUs: about 0.7 µs a task instead of 1.1).
pub const IN_FLIGHT: usize = 256;

/// The most bytes of results a worker holds back (see [`serve`]).
const HELD_BYTES: usize = 64 << 10;

pub(crate) struct Worker {
    pub(crate) process: Process,
    pub(crate) conn: Connection,
    /// The tasks sent to it and not yet answered, in the order it runs them.
    pub(crate) running: VecDeque<u64>,
    /// Bytes of those tasks' arguments.
    pub(crate) running_bytes: usize,
    /// How many bytes of tasks may wait in its connection (see [`IN_FLIGHT`]).
    window: usize,
}

impl Worker {
    /// Starts worker number `number` with `method`. `others` are the pool's other
    /// workers: a forked worker closes its copies of their ends of their connections
    /// (one holding a copy of another's end would keep that one from ever seeing
    /// end-of-file); a spawned one never had them.
    pub(crate) fn start(
        others: &[Worker],
        number: usize,
        method: StartMethod,
    ) -> io::Result<Worker> {
        let (conn, worker_end) = connection::pipe()?;
        let inherited: Vec<RawFd> = match method {
            StartMethod::Fork => others
                .iter()
                .map(|w| w.conn.as_fd().as_raw_fd())
                .chain([conn.as_fd().as_raw_fd()])
                .collect(),
            _ => Vec::new(),
        };
        let name = match method {
            StartMethod::Fork => "ForkPoolWorker",
            StartMethod::Spawn => "SpawnPoolWorker",
            StartMethod::Forkserver => "ForkServerPoolWorker",
        };
        let mut process = Process::call(worker_main, inherited)
            .pass_fd(worker_end.into())
            .with_start_method(method)
            .with_name(format!("{name}-{number}")); // CPython's names for them
        process.start()?;
        let sndbuf = rustix::net::sockopt::socket_send_buffer_size(&conn).unwrap_or(0);
        let window = (sndbuf / 4).min(64 << 10);
        Ok(Worker { process, conn, running: VecDeque::new(), running_bytes: 0, window })
    }

    /// Whether a task of `bytes` may be sent now: always to an idle worker (it is
    /// reading), else within the limits of [`IN_FLIGHT`].
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        self.running.is_empty()
            || (self.running.len() < IN_FLIGHT
                && self.running_bytes + bytes + ENVELOPE <= self.window)
    }
}

impl Drop for Worker {
    /// Stops the worker whatever it is doing (it may be waiting for a task, or running
    /// one); then the `Process` handle reaps it. A worker that has exited is not touched.
    fn drop(&mut self) {
        let _ = self.process.terminate();
    }
}

/// A worker process: close what a forked worker inherited from the pool, take the
/// connection the pool passed, and serve.
fn worker_main(inherited: Vec<RawFd>) {
    for fd in inherited {
        // SAFETY: these are the parent's ends, which this forked child inherited with
        // the parent's memory; the objects that own them are the parent's and are never
        // used or dropped here (the child leaves with `_exit`).
        unsafe { nix::libc::close(fd) };
    }
    if let Some(fd) = passed_fds().pop() {
        serve(Connection::from(fd));
    }
}

thread_local! {
    /// Whether the worker is inside a task, whose panic is reported to the parent.
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The worker's loop: run tasks until told to stop (or the parent is gone).
///
/// A result is written at once, as CPython's worker does, with one exception: when the
/// task is a chunk of a `map` that succeeded and the next task, already read, is the
/// next chunk of the same call, the result waits and goes with that one's, up to [`IN_FLIGHT`] results
/// and [`HELD_BYTES`] in one write. Nobody sees a map's results before all of them, so
/// this delays nothing anyone sees, and it makes a map with chunksize 1 several times
/// cheaper (one write per batch instead of one per task, and the parent woken once). If
/// the worker dies with results held, the death is charged to the call (see
/// `scheduler::fail_and_requeue`).
fn serve(conn: Connection) {
    // A task's panic goes back to the parent as `PoolError::Panicked`, as CPython's
    // pool re-raises a task's exception in `get`; the worker prints nothing. A failure
    // to print or to start a thread is reported as usual (see `exit_on_stdout_failure`).
    let report = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let message = panic_message(info.payload()).unwrap_or("");
        if !IN_TASK.get() || message.starts_with("failed ") {
            report(info);
        }
    }));
    let (mut held, mut held_bytes): (Vec<Done>, usize) = (Vec::new(), 0);
    let mut next = conn.recv::<Order<Task>>();
    while let Ok(Order::Run(task)) = next {
        let result = run(&task);
        let failed = result.is_err(); // a failure goes at once: it fails the whole call
        held_bytes += result.as_ref().map_or(0, |bytes| bytes.len());
        held.push(Done { id: task.id, result });
        // The next order, if it has come whole already (never waits here).
        let following = if conn.buffered() { Some(conn.recv::<Order<Task>>()) } else { None };
        let same_call = |next: &Order<Task>| match next {
            Order::Run(next) => !failed && task.job.is_some() && next.job == task.job,
            Order::Stop => false,
        };
        match following {
            Some(Ok(order))
                if held.len() < IN_FLIGHT && held_bytes < HELD_BYTES && same_call(&order) =>
            {
                next = Ok(order);
            }
            following => {
                if conn.send_all(&held).is_err() {
                    break;
                }
                held.clear();
                held_bytes = 0;
                next = following.unwrap_or_else(|| conn.recv::<Order<Task>>());
            }
        }
    }
}

/// Runs one task: its results, or why there are none.
fn run(task: &Task) -> wire::Outcome {
    IN_TASK.set(true);
    let result = wire::run(task.entry, &task.args);
    IN_TASK.set(false);
    let bytes = result.as_ref().map_or(0, |b| b.len());
    if bytes > connection::MAX_MESSAGE - ENVELOPE { Err(Failed::TooLarge(bytes)) } else { result }
}
