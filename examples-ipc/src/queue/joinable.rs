//! `JoinableQueue`: a `Queue` that also counts the items marked done, and which
//! process took the ones that are not, so that `join` can name one that died.

use std::io;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Queue, QueueError};
use crate::bytes::ByteRing;
use crate::wait::futex_wait;

/// How many processes at once a `JoinableQueue` keeps count of, for `join` to tell
/// when one of them died holding items.
const TAKERS: usize = 32;

/// How often `join` looks for a consumer that died.
const CHECK: Duration = Duration::from_millis(100);

crate::process_shared! {
    /// What a `JoinableQueue`'s processes count together.
    #[repr(C)]
    pub(super) struct Tasks {
        /// `task_done` calls, modulo the ring's count of items sent; a futex word.
        done: CachePadded<AtomicU32>,
        /// Who took items and has not marked them done.
        takers: [Taker; TAKERS],
    }
}

crate::process_shared! {
    /// One process that took items from a `JoinableQueue`.
    #[repr(C)]
    struct Taker {
        /// Its pid; 0 for a free slot.
        pid: AtomicI32,
        /// Items it took and has not marked done.
        unfinished: AtomicU32,
    }
}

impl Tasks {
    /// This process took an item: counted in its slot, before the item leaves the ring
    /// (so a taker killed in between is counted, not missed). A slot is this process's,
    /// a free one, or one whose process has ended with nothing unfinished.
    pub(super) fn took_one(&self) {
        let me = examples_process::current_pid();
        if let Some(mine) = self.takers.iter().find(|t| t.pid.load(SeqCst) == me) {
            mine.unfinished.fetch_add(1, SeqCst);
            return;
        }
        for taker in &self.takers {
            let pid = taker.pid.load(SeqCst);
            let free = pid == 0 || (taker.unfinished.load(SeqCst) == 0 && process_has_ended(pid));
            if free && taker.pid.compare_exchange(pid, me, SeqCst, SeqCst).is_ok() {
                taker.unfinished.store(1, SeqCst);
                return;
            }
        } // every slot busy: this process goes uncounted (join cannot tell if it dies)
    }

    /// One item marked done by this process: its slot counts one fewer.
    pub(super) fn done_one(&self) {
        let me = examples_process::current_pid();
        if let Some(mine) = self.takers.iter().find(|t| t.pid.load(SeqCst) == me) {
            let _ = mine.unfinished.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        }
    }

    /// A process that ended holding unfinished items, if there is one.
    pub(super) fn dead_taker(&self) -> Option<(i32, u32)> {
        self.takers.iter().find_map(|t| {
            let (pid, unfinished) = (t.pid.load(SeqCst), t.unfinished.load(SeqCst));
            (pid != 0 && unfinished > 0 && process_has_ended(pid)).then_some((pid, unfinished))
        })
    }
}

/// Whether the process `pid` has ended (gone, or a zombie not yet reaped). A pid can be
/// reused once reaped: a process that ended long ago may look alive again, which makes
/// `join` wait as CPython's does, never fail wrongly.
fn process_has_ended(pid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else { return true };
    if rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH) {
        return true;
    }
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()));
    let state = stat.ok().and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()));
    matches!(state, Some('Z' | 'X'))
}

/// CPython's `multiprocessing.JoinableQueue`: a [`Queue`] whose `join` waits until every
/// item put has been marked done with `task_done`, in whichever process. It derefs to
/// its `Queue` for `put`, `get` and the rest.
///
/// `join` does not wait for a process that died holding items it never marked done: it
/// fails with [`QueueError::Died`], naming it (CPython's waits for ever).
///
/// ```
/// use examples_ipc::queue::JoinableQueue;
/// use examples_process::Process;
///
/// let q = JoinableQueue::bounded(10)?;
/// let mut worker = Process::new({
///     let q = q.clone();
///     move || {
///         while let Ok(item) = q.get() {
///             if item == 0 { break }
///             q.task_done().expect("one task_done per get");
///         }
///     }
/// });
/// worker.start()?;
/// for item in [3, 2, 1] {
///     q.put(item)?;
/// }
/// q.join()?; // returns once the worker has marked all three done
/// q.put(0)?; // the worker's cue to stop
/// worker.join()?;
/// # Ok::<(), examples_ipc::queue::QueueError>(())
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue { queue: self.queue.clone() }
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// An unbounded joinable queue (CPython: `JoinableQueue()`).
    pub fn unbounded() -> io::Result<JoinableQueue<T>> {
        Ok(JoinableQueue { queue: Queue::make(u32::MAX, true)? })
    }

    /// A joinable queue of at most `capacity` items (CPython: `JoinableQueue(capacity)`).
    pub fn bounded(capacity: u32) -> io::Result<JoinableQueue<T>> {
        if capacity == 0 {
            return Queue::bounded(0).map(|queue| JoinableQueue { queue });
        }
        Ok(JoinableQueue { queue: Queue::make(capacity, true)? })
    }

    fn tasks(&self) -> &Tasks {
        self.queue.inner.tasks.as_ref().expect("a joinable queue counts tasks")
    }

    /// Items put and not yet marked done, from the ring's count of items sent.
    fn unfinished(&self, done: u32) -> u32 {
        self.queue.inner.ring.sent().wrapping_sub(done) & ByteRing::MESSAGES_WRAP
    }

    /// Marks one item taken with `get` as processed (CPython: `task_done()`). More
    /// `task_done` calls than items put is an error, as CPython's `ValueError`.
    pub fn task_done(&self) -> Result<(), QueueError> {
        let tasks = self.tasks();
        let done = &tasks.done;
        let mut seen = done.load(SeqCst);
        loop {
            if self.unfinished(seen) == 0 {
                return Err(QueueError::TaskDoneTooOften);
            }
            let next = seen.wrapping_add(1) & ByteRing::MESSAGES_WRAP;
            match done.compare_exchange(seen, next, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        tasks.done_one();
        let _ = rustix::thread::futex::wake(done, rustix::thread::futex::Flags::empty(), u32::MAX);
        Ok(())
    }

    /// Waits until every item put so far has been marked done (CPython: `join()`), or
    /// fails if a process died holding items it never marked done.
    pub fn join(&self) -> Result<(), QueueError> {
        let tasks = self.tasks();
        loop {
            let done = tasks.done.load(SeqCst);
            if self.unfinished(done) == 0 {
                return Ok(());
            }
            if let Some((pid, unfinished)) = tasks.dead_taker() {
                return Err(QueueError::Died { pid, unfinished });
            }
            // Sleeps while the count is still `done`; `task_done` wakes it.
            futex_wait(&tasks.done, done, Some(CHECK));
        }
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}
