//! CPython's `multiprocessing.Queue(maxsize)`, for a parent and the children it forks.
//!
//! Items are serialised with serde (postcard; CPython pickles them) and travel through
//! a ring of bytes in anonymous shared memory, which any number of processes and
//! threads may put into and get from; a put or a get of a small item makes no system
//! call unless the other side sleeps. (CPython writes each pickled item into a pipe,
//! from a feeder thread.) The ring has no item limit, so the limit is a process-shared
//! semaphore of free slots in shared memory, as in CPython: `put` takes a slot, `get`
//! returns one.
//! A count of the items in the queue sits in the same shared memory, so `qsize`, `full`
//! and `empty` give the same answer in every process, for bounded and unbounded queues.
//! [`JoinableQueue`] adds `task_done` and `join`.
//!
//! | CPython                                  | here                                        |
//! |------------------------------------------|---------------------------------------------|
//! | `Queue()`, `Queue(n)`                    | `Queue::unbounded()?`, `Queue::bounded(n)?` |
//! | `put(x)`, `put(x, timeout=t)`, `put_nowait(x)` | `put(x)?`, `put_timeout(x, t)?`, `put_nowait(x)?` |
//! | `get()`, `get(timeout=t)`, `get_nowait()` | `get()?`, `get_timeout(t)?`, `get_nowait()?` |
//! | `queue.Full`, `queue.Empty`              | `QueueError::Full`, `QueueError::Empty`     |
//! | `qsize()`, `empty()`, `full()`           | `qsize()`, `empty()`, `full()`              |
//! | `close()`, `join_thread()`               | `close()`, `join_thread()` (nothing to wait for) |
//! | `JoinableQueue()`: `task_done()`, `join()` | `JoinableQueue::unbounded()?`: `task_done()?`, `join()?` |

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use rustix::thread::futex;

use crate::bytes::ByteRing;
use crate::shared::{Semaphore, SharedMemory};

/// Why a `put` or `get` did not happen.
#[derive(Debug)]
pub enum QueueError {
    /// The queue stayed full (CPython: `queue.Full`).
    Full,
    /// The queue stayed empty (CPython: `queue.Empty`).
    Empty,
    /// This process closed the queue (CPython: `ValueError: Queue is closed`).
    Closed,
    /// More `task_done` calls than items put (CPython: `ValueError: task_done() called
    /// too many times`).
    TaskDoneTooOften,
    /// The operating system refused.
    Io(io::Error),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full => f.write_str("full"),
            QueueError::Empty => f.write_str("empty"),
            QueueError::Closed => f.write_str("the queue is closed"),
            QueueError::TaskDoneTooOften => f.write_str("task_done() called too many times"),
            QueueError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for QueueError {}

impl From<io::Error> for QueueError {
    fn from(e: io::Error) -> Self {
        QueueError::Io(e)
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
/// to hand a copy to a child: all clones are the same queue. A `put` that fails (`Full`,
/// or an item that cannot be serialised) gives its slot back, and drops the item.
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
    /// The messages, shared by every process and thread.
    ring: ByteRing,
    /// Counts shared by every process: items in the queue, tasks not done.
    counts: SharedMemory<Counts>,
    /// Free slots and the capacity; `None` for an unbounded queue.
    slots: Option<(SharedMemory<Semaphore>, u32)>,
    /// Set by `close` in this process (CPython's `close` is per process too).
    closed: AtomicBool,
    /// What the messages hold (a function pointer's type keeps `Inner` `Send + Sync`
    /// whatever `T` is: no `T` is ever stored).
    items: PhantomData<fn(T) -> T>,
}

crate::process_shared! {
    /// What every process of a queue counts together. Each count that putters and
    /// getters both change is split in two, one per side, each on its own cache line,
    /// so that a put and a get on two CPUs do not fight over one line.
    #[repr(C)]
    struct Counts {
        /// Items ever put (their `put` counts them before sending, and takes it back if
        /// the send fails).
        put: Padded,
        /// Items ever taken. `qsize()` is `put - got`.
        got: Padded,
        /// Items put whose `task_done` has not come yet (a `JoinableQueue`'s `join`
        /// waits for 0); a futex word.
        unfinished: Padded,
    }
}

crate::process_shared! {
    /// A count alone on its cache line.
    #[repr(C, align(64))]
    struct Padded {
        count: AtomicU32,
    }
}

impl Padded {
    fn new() -> Padded {
        Padded { count: AtomicU32::new(0) }
    }
}

impl std::ops::Deref for Padded {
    type Target = AtomicU32;

    fn deref(&self) -> &AtomicU32 {
        &self.count
    }
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
        Queue::with_slots(None)
    }

    /// A queue that holds at most `capacity` items (CPython: `Queue(capacity)`).
    pub fn bounded(capacity: u32) -> io::Result<Queue<T>> {
        if capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a bounded queue needs a capacity of at least 1",
            ));
        }
        Queue::with_slots(Some((Semaphore::shared(capacity)?, capacity)))
    }

    fn with_slots(slots: Option<(SharedMemory<Semaphore>, u32)>) -> io::Result<Queue<T>> {
        let ring = ByteRing::new()?;
        let counts = SharedMemory::new(Counts {
            put: Padded::new(),
            got: Padded::new(),
            unfinished: Padded::new(),
        })?;
        let closed = AtomicBool::new(false);
        let inner = Inner { ring, counts, slots, closed, items: PhantomData };
        Ok(Queue { inner: Arc::new(inner) })
    }

    /// Puts an item, waiting while the queue is full (CPython: `put(item)`).
    pub fn put(&self, item: T) -> Result<(), QueueError> {
        self.put_waiting(item, None)
    }

    /// Puts an item, waiting at most `timeout` for a free slot; `Full` after that
    /// (CPython: `put(item, block=True, timeout=t)`).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), QueueError> {
        self.put_waiting(item, Some(timeout))
    }

    /// Puts an item if there is room now, else `Full` at once (CPython: `put_nowait`).
    pub fn put_nowait(&self, item: T) -> Result<(), QueueError> {
        self.put_waiting(item, Some(Duration::ZERO)) // a free slot is still taken at once
    }

    fn put_waiting(&self, item: T, timeout: Option<Duration>) -> Result<(), QueueError> {
        self.check_open()?;
        if let Some((slots, _)) = &self.inner.slots
            && !slots.acquire(timeout)?
        {
            return Err(QueueError::Full);
        }
        // Counted before it is sent, so that a `get` elsewhere never sees more taken
        // than put; taken back if the send fails.
        let counts = &self.inner.counts;
        counts.put.fetch_add(1, SeqCst);
        counts.unfinished.fetch_add(1, SeqCst);
        let sent = postcard::to_extend(&item, vec![0; 4]) // room for the length
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
            .and_then(|mut frame| self.inner.ring.send_frame(&mut frame));
        if let Err(e) = sent {
            counts.put.fetch_sub(1, SeqCst);
            self.task_finished();
            self.free_slot()?; // the slot is not lost (CPython had this bug in its feeder)
            return Err(QueueError::Io(e));
        }
        Ok(())
    }

    /// Takes the oldest item, waiting while the queue is empty (CPython: `get()`).
    pub fn get(&self) -> Result<T, QueueError> {
        self.check_open()?;
        self.took(None)
    }

    /// Takes the oldest item, waiting at most `timeout`; `Empty` after that
    /// (CPython: `get(block=True, timeout=t)`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.check_open()?;
        self.took(Some(Instant::now().checked_add(timeout).unwrap_or_else(far_future)))
    }

    /// Takes the oldest item if there is one now, else `Empty` (CPython: `get_nowait`).
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        self.check_open()?;
        self.took(Some(Instant::now()))
    }

    /// Takes the next message (waiting until `deadline`), counts it out, decodes it.
    fn took(&self, deadline: Option<Instant>) -> Result<T, QueueError> {
        let Some(bytes) = self.inner.ring.recv(deadline)? else {
            return Err(QueueError::Empty);
        };
        self.taken()?;
        postcard::from_bytes(&bytes)
            .map_err(|e| QueueError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
    }

    /// An item has left the queue: count it out and free its slot.
    fn taken(&self) -> io::Result<()> {
        self.inner.counts.got.fetch_add(1, SeqCst);
        self.free_slot()
    }

    fn free_slot(&self) -> io::Result<()> {
        match &self.inner.slots {
            Some((slots, _)) => slots.release(),
            None => Ok(()),
        }
    }

    /// How many items are in the queue, as seen from any process, bounded or not (as
    /// on Linux in CPython). A snapshot: other processes may change it at once.
    pub fn qsize(&self) -> u32 {
        // `got` first: an item is counted in `put` before it can be taken, so `put`
        // read after is never behind it.
        let got = self.inner.counts.got.load(SeqCst);
        self.inner.counts.put.load(SeqCst).saturating_sub(got)
    }

    /// Whether a `put` would wait now: a bounded queue with no free slot (CPython:
    /// `full()`). An unbounded queue is never full.
    pub fn full(&self) -> bool {
        self.inner.slots.as_ref().is_some_and(|(slots, _)| slots.value() == 0)
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

    /// One task fewer not done; wakes `join` at zero.
    fn task_finished(&self) -> bool {
        let unfinished = &self.inner.counts.unfinished;
        match unfinished.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)) {
            Ok(1) => {
                let _ = futex::wake(unfinished, futex::Flags::empty(), u32::MAX);
                true
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }
}

/// CPython's `multiprocessing.JoinableQueue`: a [`Queue`] whose `join` waits until every
/// item put has been marked done with `task_done`, in whichever process. It derefs to
/// its `Queue` for `put`, `get` and the rest.
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
        Ok(JoinableQueue { queue: Queue::unbounded()? })
    }

    /// A joinable queue of at most `capacity` items (CPython: `JoinableQueue(capacity)`).
    pub fn bounded(capacity: u32) -> io::Result<JoinableQueue<T>> {
        Ok(JoinableQueue { queue: Queue::bounded(capacity)? })
    }

    /// Marks one item taken with `get` as processed (CPython: `task_done()`). More
    /// `task_done` calls than items put is an error, as CPython's `ValueError`.
    pub fn task_done(&self) -> Result<(), QueueError> {
        if self.queue.task_finished() { Ok(()) } else { Err(QueueError::TaskDoneTooOften) }
    }

    /// Waits until every item put so far has been marked done (CPython: `join()`).
    pub fn join(&self) -> Result<(), QueueError> {
        let unfinished = &self.queue.inner.counts.unfinished;
        loop {
            let now = unfinished.load(SeqCst);
            if now == 0 {
                return Ok(());
            }
            // Sleeps only while the count is still `now`; `task_done` wakes at zero.
            let _ = futex::wait(unfinished, futex::Flags::empty(), now, None);
        }
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

/// A deadline for a timeout too large for the clock: about a century from now.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_queue_is_first_in_first_out_and_counts() {
        let q = Queue::bounded(2).unwrap();
        assert!(q.empty());
        q.put(1_u8).unwrap();
        q.put_nowait(2).unwrap();
        assert_eq!((q.qsize(), q.full()), (2, true));
        assert!(matches!(q.put_nowait(3), Err(QueueError::Full)));
        assert!(matches!(q.put_timeout(3, Duration::from_millis(10)), Err(QueueError::Full)));
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(matches!(q.get_nowait(), Err(QueueError::Empty)));
        assert!(matches!(q.get_timeout(Duration::from_millis(10)), Err(QueueError::Empty)));
        assert_eq!(q.qsize(), 0);
    }

    #[test]
    fn clones_are_the_same_queue() {
        let q = Queue::bounded(4).unwrap();
        let other = q.clone();
        other.put("from the clone".to_string()).unwrap();
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get().unwrap(), "from the clone");
        assert!(other.empty());
    }

    #[test]
    fn a_huge_timeout_does_not_panic() {
        let q = Queue::bounded(1).unwrap();
        q.put_timeout(5_u8, Duration::MAX).unwrap();
        assert_eq!(q.get_timeout(Duration::MAX).unwrap(), 5);
    }

    #[test]
    fn an_unbounded_queue_counts_and_can_be_empty() {
        let q = Queue::unbounded().unwrap();
        let mut sizes = vec![q.qsize()];
        assert!(q.empty() && !q.full());
        q.put(1_u8).unwrap();
        sizes.push(q.qsize());
        q.put(2).unwrap();
        sizes.push(q.qsize());
        q.get().unwrap();
        sizes.push(q.qsize());
        q.get().unwrap();
        sizes.push(q.qsize());
        assert_eq!(sizes, [0, 1, 2, 1, 0], "as CPython's on Linux");
        assert!(q.empty(), "before, an unbounded queue was never empty");
    }

    /// A value whose serialisation always fails.
    struct Unsendable;

    impl Serialize for Unsendable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("this value cannot be sent"))
        }
    }

    impl<'de> serde::Deserialize<'de> for Unsendable {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Ok(Unsendable)
        }
    }

    #[test]
    fn a_failed_put_gives_its_slot_back() {
        let q = Queue::<Unsendable>::bounded(1).unwrap();
        assert!(q.put(Unsendable).is_err());
        assert_eq!((q.qsize(), q.full(), q.empty()), (0, false, true));
        // Before, the slot stayed taken and this put waited for ever.
        assert!(q.put_timeout(Unsendable, Duration::from_millis(50)).is_err());
        assert!(!matches!(
            q.put_timeout(Unsendable, Duration::from_millis(50)),
            Err(QueueError::Full)
        ));
    }

    #[test]
    fn a_closed_queue_refuses_put_and_get_here() {
        let q = Queue::unbounded().unwrap();
        q.put(1_u8).unwrap();
        let other = q.clone();
        q.close();
        q.join_thread();
        assert!(matches!(q.put(2), Err(QueueError::Closed)));
        assert!(matches!(other.get(), Err(QueueError::Closed)), "every handle of this process");
        assert_eq!(q.qsize(), 1, "what was put stays for other processes");
    }

    #[test]
    fn join_waits_for_every_task_done() {
        let q = JoinableQueue::unbounded().unwrap();
        for i in 0..3_u32 {
            q.put(i).unwrap();
        }
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    q.get().unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                    q.task_done().unwrap();
                }
            })
        };
        let started = std::time::Instant::now();
        q.join().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50), "join waited for the tasks");
        worker.join().unwrap();
        assert!(matches!(q.task_done(), Err(QueueError::TaskDoneTooOften)));
        q.join().unwrap(); // nothing unfinished: at once
    }

    #[test]
    fn a_capacity_of_zero_is_refused() {
        let err = Queue::<u8>::bounded(0).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
