//! A bounded single-producer single-consumer queue in anonymous shared memory: the
//! fastest way here to stream plain values from one process to another.
//!
//! The ring is `N` slots and two counters in one [`SharedMemory`] mapping: the producer
//! writes a slot and then moves `tail`, the consumer reads a slot and then moves `head`.
//! No system call is made while the ring is neither full nor empty. A side that must
//! wait spins briefly, then sleeps in the kernel (a `futex` on the shared mapping) until
//! the other side has moved, with an optional timeout: it never spins for ever.
//!
//! Items are [`ProcessShared`] values (numbers, arrays, plain structs), copied in and
//! out; nothing in them may point into one process's memory. A `&str` is refused:
//!
//! ```compile_fail,E0277
//! let (tx, rx) = examples_ipc::ring::channel::<&'static str, 4>()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! **One process per end.** Neither end can be cloned, but `fork` copies everything, so
//! the ring also records in shared memory which process uses each end: the first that
//! pushes (or pops) claims it, and any other process that tries gets
//! [`RingError::OtherProcess`] instead of corrupting the ring. An end moved into a
//! child's target (`examples_process::Process`) is handed over to that child: the
//! parent's copy, dropped by `start`, passes the claim on instead of closing anything.
//!
//! **Closing.** Dropping an end closes it, in the process that uses it, or in any
//! process if none has used it yet (so an end given up before its first push still
//! ends the consumer's wait). The consumer then gets what is left and then
//! [`RingError::Closed`]; a waiting producer gets `Closed` too. A copy that some other
//! process has claimed closes nothing when dropped. An end whose process is killed
//! cannot say anything; use the `_timeout` forms when the other side may die.
//!
//! ```
//! use examples_ipc::ring;
//! use examples_process::Process;
//!
//! let (tx, rx) = ring::channel::<u64, 64>()?;
//! let mut producer = Process::new(move || {
//!     for i in 0..1000 {
//!         tx.push(i).expect("the consumer is there");
//!     }
//! }); // the child drops `tx` at the end of the closure, which closes the ring
//! producer.start()?; // the parent's copy of `tx` hands over to the child
//! let mut sum = 0;
//! while let Ok(i) = rx.pop() {
//!     sum += i;
//! }
//! assert_eq!(sum, 499_500);
//! assert_eq!(producer.join()?, 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use examples_process::{current_pid, moving_to_child};

use crate::shared::{ProcessShared, SharedMemory};
use crate::wait::Parking;

/// Why a `push` or `pop` did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The timeout passed first.
    Timeout,
    /// The other end was dropped (and, for `pop`, everything it sent was received).
    Closed,
    /// This end belongs to another process, the one with this pid: each end is used by
    /// one process only.
    OtherProcess(i32),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Timeout => f.write_str("timed out"),
            RingError::Closed => f.write_str("the other end is closed"),
            RingError::OtherProcess(pid) => {
                write!(f, "this end of the ring is used by process {pid}, not this one")
            }
        }
    }
}

impl std::error::Error for RingError {}

impl From<RingError> for io::Error {
    fn from(e: RingError) -> Self {
        let kind = match e {
            RingError::Timeout => io::ErrorKind::TimedOut,
            RingError::Closed => io::ErrorKind::BrokenPipe,
            RingError::OtherProcess(_) => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, e)
    }
}

/// One side's state: its position (on a cache line of its own, so the two processes do
/// not invalidate each other's line on every step), where it sleeps, whether it closed,
/// and which process uses it.
#[repr(C)]
struct Side {
    position: CachePadded<AtomicU32>,
    /// Where this side sleeps when it must wait; the other side wakes it.
    parking: Parking,
    closed: AtomicU32,
    /// The pid of the process that uses this end; 0 until one claims it.
    owner: AtomicI32,
}

#[repr(C)]
struct Ring<T, const N: usize> {
    producer: Side, // position = tail, the next slot to write
    consumer: Side, // position = head, the next slot to read
    slots: [UnsafeCell<MaybeUninit<T>>; N],
}

// SAFETY: a slot is written only by the producer before it publishes `tail`, and read
// only by the consumer after it sees that `tail` (Release/Acquire); each end is used by
// one thread at a time (`Producer` and `Consumer` are not `Sync`) of one process (the
// `owner` claim), so there is one writer and one reader. `T: Send` lets the value move
// between threads.
unsafe impl<T: ProcessShared + Send, const N: usize> Sync for Ring<T, N> {}
// SAFETY: the counters are atomics and the futex words are woken without the private
// flag; the slots hold `ProcessShared` values. All-zero is an empty, open ring.
unsafe impl<T: ProcessShared, const N: usize> ProcessShared for Ring<T, N> {}

/// The sending end.
pub struct Producer<T: ProcessShared + Send, const N: usize> {
    end: End<T, N>,
    /// The consumer's position when last read.
    seen: Cell<u32>,
}

/// The receiving end.
pub struct Consumer<T: ProcessShared + Send, const N: usize> {
    end: End<T, N>,
    /// The producer's position when last read.
    seen: Cell<u32>,
}

/// What both ends share: the mapping, which side is ours, and the pid for which this
/// copy has checked the claim (a copy made by `fork` must check again).
struct End<T: ProcessShared + Send, const N: usize> {
    ring: SharedMemory<Ring<T, N>>,
    producer: bool,
    checked_for: Cell<i32>,
}

impl<T: ProcessShared + Send, const N: usize> End<T, N> {
    fn mine(&self) -> &Side {
        if self.producer { &self.ring.producer } else { &self.ring.consumer }
    }

    fn other(&self) -> &Side {
        if self.producer { &self.ring.consumer } else { &self.ring.producer }
    }

    /// Claims this end for the calling process the first time it uses it, and fails if
    /// another process has. One memory read when the claim was checked before.
    fn claim(&self) -> Result<(), RingError> {
        let me = current_pid();
        if self.checked_for.get() == me {
            return Ok(());
        }
        match self.mine().owner.compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {}
            Err(owner) if owner == me => {}
            Err(owner) => return Err(RingError::OtherProcess(owner)),
        }
        self.checked_for.set(me);
        Ok(())
    }
}

impl<T: ProcessShared + Send, const N: usize> Drop for End<T, N> {
    fn drop(&mut self) {
        let me = current_pid();
        let owner = &self.mine().owner;
        if let Some(child) = moving_to_child() {
            // `start` drops the parent's copy of an end moved into a child: pass the
            // claim on (if it is ours or nobody's) and close nothing.
            let _ = owner.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                (o == me || o == 0).then_some(child)
            });
            return;
        }
        let current = owner.load(Ordering::SeqCst);
        if current == me || current == 0 {
            close(self.mine(), self.other());
        } // else: a copy of an end another process uses; that process closes it
    }
}

/// A new ring of `N` slots (a power of two) in anonymous shared memory.
pub fn channel<T: ProcessShared + Send, const N: usize>()
-> io::Result<(Producer<T, N>, Consumer<T, N>)> {
    const { assert!(N.is_power_of_two() && N <= 1 << 30, "N must be a power of two") };
    // An anonymous mapping starts zeroed, and all-zero is an empty, open ring: counters
    // at 0, nobody asleep, nothing closed, no owner; the slots are uninitialised by design.
    let ring = SharedMemory::<Ring<T, N>>::zeroed()?;
    let end = |producer| End { ring: ring.clone(), producer, checked_for: Cell::new(0) };
    let producer = Producer { end: end(true), seen: Cell::new(0) };
    Ok((producer, Consumer { end: end(false), seen: Cell::new(0) }))
}

impl<T: ProcessShared + Send, const N: usize> Producer<T, N> {
    /// Sends `value`, waiting for room as long as it takes.
    pub fn push(&self, value: T) -> Result<(), RingError> {
        self.push_until(value, None)
    }

    /// Sends `value`, waiting at most `timeout` for room.
    pub fn push_timeout(&self, value: T, timeout: Duration) -> Result<(), RingError> {
        self.push_until(value, Instant::now().checked_add(timeout))
    }

    /// How many times this end has gone to sleep because the ring was full.
    pub fn sleeps(&self) -> u32 {
        self.end.ring.producer.parking.sleeps()
    }

    /// Closes the ring for the consumer (dropping the end does the same). Fails, and
    /// closes nothing, if another process uses this end.
    pub fn close(self) -> Result<(), RingError> {
        self.end.claim() // then `Drop` closes it
    }

    fn push_until(&self, value: T, deadline: Option<Instant>) -> Result<(), RingError> {
        self.end.claim()?;
        let ring = &*self.end.ring;
        let tail = ring.producer.position.load(Ordering::Relaxed); // only we move it
        // Read the consumer's position only when the last one we saw says "full": each
        // read of it pulls its cache line over from the other core.
        if tail.wrapping_sub(self.seen.get()) >= N as u32 {
            let has_room = || {
                self.seen.set(ring.consumer.position.load(Ordering::Acquire));
                tail.wrapping_sub(self.seen.get()) < N as u32
            };
            wait_for(&ring.producer, &ring.consumer, has_room, deadline)?;
        }
        // SAFETY: the slot is free (the consumer has moved past it) and only we write:
        // this process claimed the producer's end, and this thread holds it.
        unsafe { (*ring.slots[tail as usize % N].get()).write(value) };
        publish(&ring.producer, &ring.consumer, tail.wrapping_add(1));
        Ok(())
    }
}

impl<T: ProcessShared + Send, const N: usize> Consumer<T, N> {
    /// Receives the next value, waiting as long as it takes. `Err(Closed)` once the
    /// producer is gone and every value it sent has been received.
    pub fn pop(&self) -> Result<T, RingError> {
        self.pop_until(None)
    }

    /// Receives the next value, waiting at most `timeout` (CPython: `q.get(timeout=t)`,
    /// `queue.Empty` after it).
    ///
    /// ```
    /// use std::time::Duration;
    /// use examples_ipc::ring::{self, RingError};
    ///
    /// let (tx, rx) = ring::channel::<u64, 2>()?;
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(10)), Err(RingError::Timeout));
    /// tx.push(7)?;
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(10)), Ok(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, RingError> {
        self.pop_until(Instant::now().checked_add(timeout))
    }

    /// How many times this end has gone to sleep because the ring was empty.
    pub fn sleeps(&self) -> u32 {
        self.end.ring.consumer.parking.sleeps()
    }

    /// Closes the ring for the producer (dropping the end does the same). Fails, and
    /// closes nothing, if another process uses this end.
    pub fn close(self) -> Result<(), RingError> {
        self.end.claim()
    }

    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, RingError> {
        self.end.claim()?;
        let ring = &*self.end.ring;
        let head = ring.consumer.position.load(Ordering::Relaxed); // only we move it
        // As in `push`: read the producer's position only when the last one seen is used up.
        if self.seen.get() == head {
            let has_item = || {
                self.seen.set(ring.producer.position.load(Ordering::Acquire));
                self.seen.get() != head
            };
            match wait_for(&ring.consumer, &ring.producer, has_item, deadline) {
                // A closed producer may have sent more before it closed: look once more.
                Err(RingError::Closed) if has_item() => {}
                other => other?,
            }
        }
        // SAFETY: the producer published this slot (Acquire above) and will not touch
        // it again until we move `head` past it; only we read: this process claimed
        // the consumer's end, and this thread holds it.
        let value = unsafe { (*ring.slots[head as usize % N].get()).assume_init_read() };
        publish(&ring.consumer, &ring.producer, head.wrapping_add(1));
        Ok(value)
    }
}

/// Waits until `ready()` (spinning a little, then sleeping until `other` moves or
/// closes). Fails with `Closed` if `other` closed, `Timeout` after `deadline`.
fn wait_for(
    me: &Side,
    other: &Side,
    ready: impl Fn() -> bool,
    deadline: Option<Instant>,
) -> Result<(), RingError> {
    let closed = || other.closed.load(Ordering::SeqCst) != 0;
    if !me.parking.wait(|| ready() || closed(), deadline) {
        return Err(RingError::Timeout);
    }
    if ready() { Ok(()) } else { Err(RingError::Closed) }
}

/// Moves `me`'s position to `to` (Release: the slot's write is seen before the new
/// position) and wakes `other` if it sleeps.
fn publish(me: &Side, other: &Side, to: u32) {
    me.position.store(to, Ordering::Release);
    other.parking.wake();
}

/// Marks `me` closed and wakes `other`, whatever it is doing.
fn close(me: &Side, other: &Side) {
    me.closed.store(1, Ordering::SeqCst);
    other.parking.wake_always();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_arrive_in_order_and_then_closed() {
        let (tx, rx) = channel::<u32, 4>().unwrap();
        let sender = std::thread::spawn(move || {
            for i in 0..10_000 {
                tx.push(i).unwrap();
            }
        });
        for i in 0..10_000 {
            assert_eq!(rx.pop(), Ok(i));
        }
        sender.join().unwrap();
        assert_eq!(rx.pop(), Err(RingError::Closed));
    }

    #[test]
    fn timeouts_and_a_closed_consumer() {
        let (tx, rx) = channel::<u8, 2>().unwrap();
        assert_eq!(rx.pop_timeout(Duration::from_millis(20)), Err(RingError::Timeout));
        tx.push(1).unwrap();
        tx.push(2).unwrap();
        assert_eq!(tx.push_timeout(3, Duration::from_millis(20)), Err(RingError::Timeout));
        assert!(tx.sleeps() >= 1 && rx.sleeps() >= 1);
        drop(rx);
        assert_eq!(tx.push(3), Err(RingError::Closed));

        let (unused_tx, rx) = channel::<u8, 2>().unwrap();
        unused_tx.close().unwrap(); // never used, yet closed on request
        assert_eq!(rx.pop(), Err(RingError::Closed));
    }
}
