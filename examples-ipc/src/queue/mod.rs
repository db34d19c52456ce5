//! CPython's `multiprocessing.Queue(maxsize)`, for a parent and the children it forks.
//!
//! Items are serialised with serde (postcard; CPython pickles them) and travel through
//! a ring of bytes in anonymous shared memory, which any number of processes and
//! threads may put into and get from; a put or a get of a small item makes no system
//! call unless the other side sleeps. (CPython writes each pickled item into a pipe,
//! from a feeder thread.) The ring counts the whole items in it, so `qsize`, `full` and
//! `empty` give the same answer in every process, and a bounded `put` waits while the
//! count is at the limit. [`JoinableQueue`] adds `task_done` and `join`.
//!
//! What a process that dies does to a queue (CPython's queue is left corrupt when a
//! process dies in the middle of a pipe write or read):
//!
//! - a putter killed in the middle of an item: the item was never put; the queue goes on;
//! - a getter killed in the middle of an item: the item is lost with it; the queue goes
//!   on, and a putter still writing that item gets [`QueueError::TakerDied`];
//! - a process killed while it waits, holding no item: nothing is lost;
//! - a [`JoinableQueue`] consumer killed before `task_done`: `join` fails with
//!   [`QueueError::Died`] instead of waiting for ever.
//!
//! Timeouts bound every wait of a call: for the lock, the count, and the room in the
//! ring. A `put` that times out half-way through a long item puts none of it; a `get`'s
//! timeout covers the wait for an item to begin, and an item that has begun is taken
//! whole, as CPython's `get` reads a whole message once one has begun.
//!
//! | CPython                                  | here                                        |
//! |------------------------------------------|---------------------------------------------|
//! | `Queue()`, `Queue(n)`                    | `Queue::unbounded()?`, `Queue::bounded(n)?` |
//! | `put(x)`, `put(x, timeout=t)`, `put_nowait(x)` | `put(x)?`, `put_timeout(x, t)?`, `put_nowait(x)?` |
//! | `get()`, `get(timeout=t)`, `get_nowait()` | `get()?`, `get_timeout(t)?`, `get_nowait()?` |
//! | `queue.Full`, `queue.Empty`              | `QueueError::Full`, `QueueError::Empty`     |
//! | item larger than a pipe message (2 GiB)  | `QueueError::TooLarge` (64 MiB)             |
//! | `qsize()`, `empty()`, `full()`           | `qsize()`, `empty()`, `full()`              |
//! | `close()`, `join_thread()`               | `close()`, `join_thread()` (nothing to wait for) |
//! | `JoinableQueue()`: `task_done()`, `join()` | `JoinableQueue::unbounded()?`: `task_done()?`, `join()?` |

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bytes::{self, ByteRing};
use crate::shared::SharedMemory;

mod joinable;

pub use joinable::JoinableQueue;
use joinable::Tasks;

/// Why a `put`, a `get` or a `join` did not happen.
#[derive(Debug)]
pub enum QueueError {
    /// The queue stayed full, or the put could not begin, within the timeout (CPython:
    /// `queue.Full`).
    Full,
    /// The queue stayed empty (CPython: `queue.Empty`).
    Empty,
    /// This process closed the queue (CPython: `ValueError: Queue is closed`).
    Closed,
    /// More `task_done` calls than items put (CPython: `ValueError: task_done() called
    /// too many times`).
    TaskDoneTooOften,
    /// The process that was taking this item died in the middle of it: the item is
    /// lost, and the queue goes on.
    TakerDied,
    /// `join`: the process with this pid died holding this many items it had taken and
    /// not marked done, so `join` would wait for ever (CPython's does).
    Died {
        /// The process that died.
        pid: i32,
        /// The items it took and never marked done.
        unfinished: u32,
    },
    /// The item, serialised, is this many bytes: more than a queue takes (64 MiB).
    TooLarge(usize),
    /// The queue's shared memory was found to make no sense (something overwrote it):
    /// every call fails from then on.
    Broken(String),
    /// The item could not be serialised or deserialised, or the operating system refused.
    Io(io::Error),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full => f.write_str("full"),
            QueueError::Empty => f.write_str("empty"),
            QueueError::Closed => f.write_str("the queue is closed"),
            QueueError::TaskDoneTooOften => f.write_str("task_done() called too many times"),
            QueueError::TakerDied => {
                f.write_str("the process that was taking this item died; the item is lost")
            }
            QueueError::Died { pid, unfinished } => {
                write!(f, "process {pid} died holding {unfinished} item(s) it never marked done")
            }
            QueueError::TooLarge(len) => write!(
                f,
                "an item of {len} bytes is larger than a queue takes ({} bytes)",
                bytes::MAX_MESSAGE
            ),
            QueueError::Broken(why) => write!(f, "the queue is broken: {why}"),
            QueueError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for QueueError {
    fn from(e: io::Error) -> Self {
        QueueError::Io(e)
    }
}

impl From<bytes::Failure> for QueueError {
    fn from(failure: bytes::Failure) -> Self {
        match failure {
            bytes::Failure::TimedOut => QueueError::Full,
            bytes::Failure::TakerDied => QueueError::TakerDied,
            bytes::Failure::Broken(why) => QueueError::Broken(why),
            bytes::Failure::TooLong(len) => QueueError::TooLarge(len),
            bytes::Failure::Io(e) => QueueError::Io(e),
        }
    }
}

impl From<QueueError> for io::Error {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// A first-in first-out queue shared by a process and its forked children. Clone it
/// to hand a copy to a child: all clones are the same queue. A `put` that fails drops
/// the item.
///
/// ```
/// use std::time::Duration;
/// use examples_ipc::queue::{Queue, QueueError};
///
/// let q = Queue::bounded(2)?;
/// q.put(1)?;
/// q.put(2)?;
/// assert!(q.full());
/// assert!(matches!(q.put_timeout(3, Duration::from_millis(10)), Err(QueueError::Full)));
/// assert_eq!((q.get()?, q.qsize()), (1, 1));
///
/// let unbounded = Queue::unbounded()?;
/// assert!(unbounded.empty());
/// unbounded.put("a".to_string())?;
/// assert_eq!((unbounded.qsize(), unbounded.empty()), (1, false));
/// # Ok::<(), QueueError>(())
/// ```
pub struct Queue<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    /// The items, shared by every process and thread.
    ring: ByteRing,
    /// The most items the queue holds (`u32::MAX`: no limit but the ring's room).
    capacity: u32,
    /// What a `JoinableQueue` counts; `None` for a plain queue.
    tasks: Option<SharedMemory<Tasks>>,
    /// Set by `close` in this process (CPython's `close` is per process too).
    closed: AtomicBool,
    /// What the messages hold (a function pointer's type keeps `Inner` `Send + Sync`
    /// whatever `T` is: no `T` is ever stored).
    items: PhantomData<fn(T) -> T>,
}

/// The most bytes an item may take to be serialised on the stack by `put`.
const SMALL: usize = 240;

thread_local! {
    /// Where `put` serialises an item larger than [`SMALL`], kept between puts.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { inner: Arc::clone(&self.inner) }
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue with no limit (CPython: `Queue()`). `put` does not wait, unless the ring
    /// (1 MiB) is full of items nobody has taken yet.
    pub fn unbounded() -> io::Result<Queue<T>> {
        Queue::make(u32::MAX, false)
    }

    /// A queue that holds at most `capacity` items (CPython: `Queue(capacity)`).
    pub fn bounded(capacity: u32) -> io::Result<Queue<T>> {
        if capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a bounded queue needs a capacity of at least 1",
            ));
        }
        Queue::make(capacity, false)
    }

    fn make(capacity: u32, joinable: bool) -> io::Result<Queue<T>> {
        let tasks = if joinable { Some(SharedMemory::zeroed()?) } else { None };
        let inner = Inner {
            ring: ByteRing::new()?,
            capacity,
            tasks,
            closed: AtomicBool::new(false),
            items: PhantomData,
        };
        Ok(Queue { inner: Arc::new(inner) })
    }

    /// Puts an item, waiting while the queue is full (CPython: `put(item)`).
    pub fn put(&self, item: T) -> Result<(), QueueError> {
        self.put_until(item, None)
    }

    /// Puts an item, waiting at most `timeout` in all; `Full` after that (CPython:
    /// `put(item, block=True, timeout=t)`).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), QueueError> {
        self.put_until(item, Instant::now().checked_add(timeout))
    }

    /// Puts an item if it can go in now, else `Full` at once (CPython: `put_nowait`).
    pub fn put_nowait(&self, item: T) -> Result<(), QueueError> {
        self.put_until(item, Some(Instant::now()))
    }

    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), QueueError> {
        self.check_open()?;
        // A small item is serialised on the stack (postcard writing into a slice is
        // several times faster than into a growing `Vec`); a larger one into a buffer
        // this thread keeps: no allocation per item either way.
        let mut small = [0; bytes::ROOM + SMALL];
        if let Ok(item) = postcard::to_slice(&item, &mut small[bytes::ROOM..]) {
            let len = bytes::ROOM + item.len();
            return Ok(self.inner.ring.send(&mut small[..len], self.inner.capacity, deadline)?);
        }
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            scratch.resize(bytes::ROOM, 0); // the frame's header goes there
            let mut frame = postcard::to_extend(&item, std::mem::take(scratch))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let sent = self.inner.ring.send(&mut frame, self.inner.capacity, deadline);
            if frame.capacity() <= 1 << 20 {
                *scratch = frame; // kept for the next put, unless it grew large
            }
            Ok(sent?)
        })
    }

    /// Takes the oldest item, waiting while the queue is empty (CPython: `get()`).
    pub fn get(&self) -> Result<T, QueueError> {
        self.get_until(None)
    }

    /// Takes the oldest item, waiting at most `timeout` for one to begin; `Empty` after
    /// that (CPython: `get(block=True, timeout=t)`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.get_until(Some(Instant::now().checked_add(timeout).unwrap_or_else(far_future)))
    }

    /// Takes the oldest item if there is one now, else `Empty` (CPython: `get_nowait`).
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        self.get_until(Some(Instant::now()))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, QueueError> {
        self.check_open()?;
        let taking = || {
            if let Some(tasks) = &self.inner.tasks {
                tasks.took_one();
            }
        };
        let decode = |bytes: &[u8]| postcard::from_bytes::<T>(bytes);
        match self.inner.ring.recv(deadline, taking, decode)? {
            None => Err(QueueError::Empty),
            Some(item) => {
                item.map_err(|e| QueueError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
            }
        }
    }

    /// How many items are in the queue, as seen from any process, bounded or not (as
    /// on Linux in CPython). A snapshot: other processes may change it at once.
    pub fn qsize(&self) -> u32 {
        self.inner.ring.len()
    }

    /// Whether a `put` would wait now for the count: a bounded queue that holds its
    /// capacity (CPython: `full()`). An unbounded queue is never full.
    pub fn full(&self) -> bool {
        self.inner.capacity != u32::MAX && self.qsize() >= self.inner.capacity
    }

    /// Whether the queue holds nothing (CPython: `empty()`).
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// No more `put` or `get` through this process's handles (CPython: `close()`):
    /// they fail with [`QueueError::Closed`]. Other processes are not affected, and
    /// the items already put stay in the queue for them.
    pub fn close(&self) {
        self.inner.closed.store(true, SeqCst);
    }

    /// CPython's `join_thread()` waits for the queue's feeder thread to flush what this
    /// process put. There is no feeder thread here (`put` has sent the item when it
    /// returns), so there is nothing to wait for; it exists for the mapping.
    pub fn join_thread(&self) {}

    fn check_open(&self) -> Result<(), QueueError> {
        if self.inner.closed.load(SeqCst) { Err(QueueError::Closed) } else { Ok(()) }
    }
}

/// A deadline for a timeout too large for the clock: about a century from now.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests;
