//! A bounded single-producer single-consumer queue in anonymous shared memory: the
//! fastest way here to stream plain values from one process to another.
//!
//! The ring is `N` slots and two counters in one [`SharedMemory`] mapping: the producer
//! writes a slot and then moves `tail`, the consumer reads a slot and then moves `head`.
//! No system call is made while the ring is neither full nor empty. A side that must
//! wait spins briefly, then sleeps in the kernel (a `futex` on the shared mapping) until
//! the other side has moved, with an optional timeout: it never spins for ever.
//!
//! [`channel`] returns the two ends; neither can be cloned, so there is one producer and
//! one consumer. Move one end into a forked child (`examples_process::Process`).
//!
//! Closing: an end is closed when the process that used it drops it, or by `close`.
//! The consumer then gets what is left and then [`RingError::Closed`]; a waiting
//! producer gets `Closed` too. "Used" matters because of `fork`: the parent's copy
//! of an end moved into a child is dropped by `start`, and that copy, never used in
//! the parent, must not close the ring under the child. An end whose process is
//! killed cannot say anything; use the `_timeout` forms when the other side may die.
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
//! }); // the child used `tx`, so dropping it at the end of the closure closes the ring
//! producer.start()?; // the parent's unused copy of `tx` is dropped: nothing happens
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
use std::hint::spin_loop;
use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use nix::libc;

use crate::shared::SharedMemory;

/// Why a `push` or `pop` did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The timeout passed first.
    Timeout,
    /// The other end was dropped (and, for `pop`, everything it sent was received).
    Closed,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RingError::Timeout => "timed out",
            RingError::Closed => "the other end is closed",
        })
    }
}

impl std::error::Error for RingError {}

impl From<RingError> for io::Error {
    fn from(e: RingError) -> Self {
        let kind = match e {
            RingError::Timeout => io::ErrorKind::TimedOut,
            RingError::Closed => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}

/// How long a side keeps looking before it goes to sleep. Waking a sleeping process
/// costs a system call on one side and a trip through the scheduler on the other
/// (measured here: often a millisecond on an idle virtual CPU), while the other side
/// usually moves within microseconds; spinning longer would only burn the core.
const SPIN: Duration = Duration::from_micros(50);

/// Keeps each side's hot counter on its own cache line, so the two processes do not
/// invalidate each other's line on every step.
#[repr(C, align(64))]
struct Line(AtomicU32);

/// One side's state: its position, the event word the *other* side sleeps on, whether
/// it sleeps, whether it closed, and how often it slept.
#[repr(C)]
struct Side {
    position: Line,
    /// Bumped to wake this side. A futex needs a word whose change means "look again".
    event: AtomicU32,
    sleeping: AtomicU32,
    closed: AtomicU32,
    sleeps: AtomicU32,
}

#[repr(C)]
struct Ring<T, const N: usize> {
    producer: Side, // position = tail, the next slot to write
    consumer: Side, // position = head, the next slot to read
    slots: [UnsafeCell<MaybeUninit<T>>; N],
}

// SAFETY: a slot is written only by the producer before it publishes `tail`, and read
// only by the consumer after it sees that `tail` (Release/Acquire); `T: Copy + Send`
// holds no pointers or destructors that could be wrong in another process.
unsafe impl<T: Copy + Send, const N: usize> Sync for Ring<T, N> {}

/// The sending end.
pub struct Producer<T: Copy + Send, const N: usize> {
    ring: SharedMemory<Ring<T, N>>,
    user: User,
    /// The consumer's position when last read.
    seen: Cell<u32>,
}

/// The receiving end.
pub struct Consumer<T: Copy + Send, const N: usize> {
    ring: SharedMemory<Ring<T, N>>,
    user: User,
    /// The producer's position when last read.
    seen: Cell<u32>,
}

/// The pid of the process that used an end (0: none yet), so that only that process
/// closes it when dropping it.
#[derive(Default)]
struct User(Cell<u32>);

impl User {
    fn mark(&self) {
        if self.0.get() == 0 {
            self.mark_this_process();
        }
    }

    fn mark_this_process(&self) {
        self.0.set(std::process::id());
    }

    fn is_this_process(&self) -> bool {
        self.0.get() == std::process::id()
    }
}

/// A new ring of `N` slots (a power of two) in anonymous shared memory.
pub fn channel<T: Copy + Send, const N: usize>() -> io::Result<(Producer<T, N>, Consumer<T, N>)> {
    const { assert!(N.is_power_of_two() && N <= 1 << 30, "N must be a power of two") };
    // An anonymous mapping starts zeroed, and all-zero is an empty, open ring: counters
    // at 0, nobody asleep, nothing closed; the slots are uninitialised by design.
    let ring = SharedMemory::with_init(|_: &mut MaybeUninit<Ring<T, N>>| Ok(()))?;
    let producer = Producer { ring: ring.clone(), user: User::default(), seen: Cell::new(0) };
    Ok((producer, Consumer { ring, user: User::default(), seen: Cell::new(0) }))
}

impl<T: Copy + Send, const N: usize> Producer<T, N> {
    /// Sends `value`, waiting for room as long as it takes.
    pub fn push(&self, value: T) -> Result<(), RingError> {
        self.push_until(value, None)
    }

    /// Sends `value`, waiting at most `timeout` for room.
    pub fn push_timeout(&self, value: T, timeout: Duration) -> Result<(), RingError> {
        self.push_until(value, Some(Instant::now() + timeout))
    }

    /// How many times this end has gone to sleep because the ring was full.
    pub fn sleeps(&self) -> u32 {
        self.ring.producer.sleeps.load(Ordering::Relaxed)
    }

    /// Closes the ring for the consumer, from any process (dropping does it too, in
    /// the process that used this end).
    pub fn close(self) {
        self.user.mark_this_process(); // then `Drop` closes it, once
    }

    fn push_until(&self, value: T, deadline: Option<Instant>) -> Result<(), RingError> {
        self.user.mark();
        let ring = &*self.ring;
        let tail = ring.producer.position.0.load(Ordering::Relaxed); // only we move it
        // Read the consumer's position only when the last one we saw says "full": each
        // read of it pulls its cache line over from the other core.
        if tail.wrapping_sub(self.seen.get()) >= N as u32 {
            let has_room = || {
                self.seen.set(ring.consumer.position.0.load(Ordering::Acquire));
                tail.wrapping_sub(self.seen.get()) < N as u32
            };
            wait_for(&ring.producer, &ring.consumer, has_room, deadline)?;
        }
        // SAFETY: the slot is free (the consumer has moved past it) and only we write.
        unsafe { (*ring.slots[tail as usize % N].get()).write(value) };
        publish(&ring.producer, &ring.consumer, tail.wrapping_add(1));
        Ok(())
    }
}

impl<T: Copy + Send, const N: usize> Consumer<T, N> {
    /// Receives the next value, waiting as long as it takes. `Err(Closed)` once the
    /// producer is gone and every value it sent has been received.
    pub fn pop(&self) -> Result<T, RingError> {
        self.pop_until(None)
    }

    /// Receives the next value, waiting at most `timeout`.
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, RingError> {
        self.pop_until(Some(Instant::now() + timeout))
    }

    /// How many times this end has gone to sleep because the ring was empty.
    pub fn sleeps(&self) -> u32 {
        self.ring.consumer.sleeps.load(Ordering::Relaxed)
    }

    /// Closes the ring for the producer, from any process.
    pub fn close(self) {
        self.user.mark_this_process(); // then `Drop` closes it, once
    }

    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, RingError> {
        self.user.mark();
        let ring = &*self.ring;
        let head = ring.consumer.position.0.load(Ordering::Relaxed); // only we move it
        // As in `push`: read the producer's position only when the last one seen is used up.
        if self.seen.get() == head {
            let has_item = || {
                self.seen.set(ring.producer.position.0.load(Ordering::Acquire));
                self.seen.get() != head
            };
            match wait_for(&ring.consumer, &ring.producer, has_item, deadline) {
                // A closed producer may have sent more before it closed: look once more.
                Err(RingError::Closed) if has_item() => {}
                other => other?,
            }
        }
        // SAFETY: the producer published this slot (Acquire above) and will not touch
        // it again until we move `head` past it.
        let value = unsafe { (*ring.slots[head as usize % N].get()).assume_init_read() };
        publish(&ring.consumer, &ring.producer, head.wrapping_add(1));
        Ok(value)
    }
}

/// Waits until `ready()`: spins a little, then sleeps on `me.event` until `other`
/// moves or closes. Fails with `Closed` if `other` closed, `Timeout` after `deadline`.
fn wait_for(
    me: &Side,
    other: &Side,
    ready: impl Fn() -> bool,
    deadline: Option<Instant>,
) -> Result<(), RingError> {
    let spin_until = Instant::now() + SPIN;
    'spin: loop {
        for _ in 0..64 {
            if ready() {
                return Ok(());
            }
            spin_loop();
        }
        if Instant::now() >= spin_until {
            break 'spin;
        }
    }
    loop {
        let event = me.event.load(Ordering::SeqCst); // before looking: a later bump wakes us
        if ready() {
            return Ok(());
        }
        if other.closed.load(Ordering::SeqCst) != 0 {
            return Err(RingError::Closed);
        }
        me.sleeping.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst); // pairs with the fence in `publish`
        // Look again after saying we sleep: the other side either sees `sleeping` and
        // bumps `event`, or moved before, and then we see it here.
        if ready() || other.closed.load(Ordering::SeqCst) != 0 {
            me.sleeping.store(0, Ordering::Relaxed);
            continue;
        }
        me.sleeps.fetch_add(1, Ordering::Relaxed);
        let left = match deadline {
            None => None,
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    me.sleeping.store(0, Ordering::Relaxed);
                    return Err(RingError::Timeout);
                }
            },
        };
        futex_wait(&me.event, event, left);
        me.sleeping.store(0, Ordering::Relaxed);
    }
}

/// Moves `me`'s position to `to` and wakes `other` if it sleeps.
fn publish(me: &Side, other: &Side, to: u32) {
    me.position.0.store(to, Ordering::SeqCst);
    fence(Ordering::SeqCst); // pairs with the fence in `wait_for`
    if other.sleeping.load(Ordering::SeqCst) != 0 {
        other.event.fetch_add(1, Ordering::SeqCst);
        futex_wake(&other.event);
    }
}

/// Marks `me` closed and wakes `other`, whatever it is doing.
fn close(me: &Side, other: &Side) {
    me.closed.store(1, Ordering::SeqCst);
    other.event.fetch_add(1, Ordering::SeqCst);
    futex_wake(&other.event);
}

impl<T: Copy + Send, const N: usize> Drop for Producer<T, N> {
    fn drop(&mut self) {
        if self.user.is_this_process() {
            close(&self.ring.producer, &self.ring.consumer);
        }
    }
}

impl<T: Copy + Send, const N: usize> Drop for Consumer<T, N> {
    fn drop(&mut self) {
        if self.user.is_this_process() {
            close(&self.ring.consumer, &self.ring.producer);
        }
    }
}

/// Sleeps while `word` still holds `expected`, at most `timeout`. Returns on a wake-up,
/// a change, a signal or the timeout; the caller looks again in every case. Not the
/// `_PRIVATE` form: the word is in memory shared with another process.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, ts_ptr);
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: as above; wakes at most one waiter (there is only one per word).
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1);
    }
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
        unused_tx.close(); // never used, yet closed on request
        assert_eq!(rx.pop(), Err(RingError::Closed));
    }
}
