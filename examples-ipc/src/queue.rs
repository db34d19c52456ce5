//! CPython's `multiprocessing.Queue(maxsize)`, for a parent and the children it forks.
//!
//! Items travel through an `ipc-channel` channel (a Unix socket, serde-serialised).
//! `ipc-channel` has no capacity limit, so the limit is a process-shared semaphore of
//! free slots in shared memory, as in CPython: `put` takes a slot, `get` returns one.
//! The semaphore is also what `qsize`, `full` and `empty` read, so they give the same
//! answer in every process.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::shared::{Semaphore, SharedMemory};

/// Why a `put` or `get` did not happen.
#[derive(Debug)]
pub enum QueueError {
    /// The queue stayed full (CPython: `queue.Full`).
    Full,
    /// The queue stayed empty (CPython: `queue.Empty`).
    Empty,
    /// The operating system refused.
    Io(io::Error),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full => f.write_str("full"),
            QueueError::Empty => f.write_str("empty"),
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
/// to hand a copy to a child: all clones are the same queue. A `put` that fails with
/// `Full` drops its item, as the queue never had it.
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
/// assert_eq!(q.get()?, 1);
/// # Ok::<(), QueueError>(())
/// ```
pub struct Queue<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    tx: IpcSender<T>,
    rx: IpcReceiver<T>,
    /// Free slots; `None` for an unbounded queue.
    slots: Option<(SharedMemory<Semaphore>, u32)>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { inner: Arc::clone(&self.inner) }
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue with no limit (CPython: `Queue()`). `put` does not wait, unless the
    /// kernel's socket buffer is full.
    pub fn unbounded() -> io::Result<Queue<T>> {
        let (tx, rx) = ipc::channel()?;
        Ok(Queue { inner: Arc::new(Inner { tx, rx, slots: None }) })
    }

    /// A queue that holds at most `capacity` items (CPython: `Queue(capacity)`).
    pub fn bounded(capacity: u32) -> io::Result<Queue<T>> {
        if capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a bounded queue needs a capacity of at least 1",
            ));
        }
        let (tx, rx) = ipc::channel()?;
        let slots = Semaphore::shared(capacity)?;
        Ok(Queue { inner: Arc::new(Inner { tx, rx, slots: Some((slots, capacity)) }) })
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
        if let Some((slots, _)) = &self.inner.slots
            && !slots.acquire(timeout)?
        {
            return Err(QueueError::Full);
        }
        self.send(item)
    }

    fn send(&self, item: T) -> Result<(), QueueError> {
        self.inner.tx.send(item).map_err(ipc_error)
    }

    /// Takes the oldest item, waiting while the queue is empty (CPython: `get()`).
    pub fn get(&self) -> Result<T, QueueError> {
        let item = self.inner.rx.recv().map_err(ipc_error)?;
        self.free_slot()?;
        Ok(item)
    }

    /// Takes the oldest item, waiting at most `timeout`; `Empty` after that
    /// (CPython: `get(block=True, timeout=t)`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.took(self.inner.rx.try_recv_timeout(timeout))
    }

    /// Takes the oldest item if there is one now, else `Empty` (CPython: `get_nowait`).
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        self.took(self.inner.rx.try_recv())
    }

    fn took(&self, received: Result<T, TryRecvError>) -> Result<T, QueueError> {
        match received {
            Ok(item) => {
                self.free_slot()?;
                Ok(item)
            }
            Err(TryRecvError::Empty) => Err(QueueError::Empty),
            Err(TryRecvError::IpcError(e)) => Err(ipc_error(e)),
        }
    }

    fn free_slot(&self) -> io::Result<()> {
        match &self.inner.slots {
            Some((slots, _)) => slots.release(),
            None => Ok(()),
        }
    }

    /// How many items are in the queue, as seen from any process. For an unbounded
    /// queue this is not known (CPython raises on macOS); `None`.
    pub fn qsize(&self) -> Option<u32> {
        self.inner.slots.as_ref().map(|(slots, capacity)| capacity - slots.value().min(*capacity))
    }

    /// Whether a bounded queue has no free slot (CPython: `full()`).
    pub fn full(&self) -> bool {
        self.inner.slots.as_ref().is_some_and(|(slots, _)| slots.value() == 0)
    }

    /// Whether a bounded queue holds nothing (CPython: `empty()`).
    pub fn empty(&self) -> bool {
        self.qsize() == Some(0)
    }
}

/// Every clone of a queue holds both ends of its channel, so while one exists the
/// channel cannot be disconnected: any error is the operating system's.
fn ipc_error(e: IpcError) -> QueueError {
    match e {
        IpcError::Io(e) => QueueError::Io(e),
        other => QueueError::Io(io::Error::other(other)),
    }
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
        assert_eq!((q.qsize(), q.full()), (Some(2), true));
        assert!(matches!(q.put_nowait(3), Err(QueueError::Full)));
        assert!(matches!(q.put_timeout(3, Duration::from_millis(10)), Err(QueueError::Full)));
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(matches!(q.get_nowait(), Err(QueueError::Empty)));
        assert!(matches!(q.get_timeout(Duration::from_millis(10)), Err(QueueError::Empty)));
        assert_eq!(q.qsize(), Some(0));
    }

    #[test]
    fn clones_are_the_same_queue() {
        let q = Queue::bounded(4).unwrap();
        let other = q.clone();
        other.put("from the clone".to_string()).unwrap();
        assert_eq!(q.qsize(), Some(1));
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
    fn a_capacity_of_zero_is_refused() {
        let err = Queue::<u8>::bounded(0).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
