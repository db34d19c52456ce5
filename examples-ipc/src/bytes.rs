//! The transport under [`Queue`](crate::queue::Queue): messages of any length through a
//! ring of bytes in anonymous shared memory, for any number of putting and getting
//! processes and threads.
//!
//! Two robust process-shared locks make it many-to-many: a putter holds the put lock
//! while it writes one whole message (a 4-byte length, then the bytes), a getter holds
//! the get lock while it reads one; between the two holders the ring is a
//! single-producer single-consumer stream, as in [`ring`](crate::ring): the putter owns
//! the bytes from `tail` to `head + CAPACITY`, the getter those from `head` to `tail`,
//! and each publishes its counter with Release and reads the other's with Acquire. A
//! message longer than the ring streams through it in pieces. A side that must wait
//! spins briefly (yields, on one CPU), then sleeps on a futex word that the other side
//! bumps when it moves.
//!
//! A process killed while it holds a lock leaves a half-written or half-read message;
//! the next holder finds the lock recovered ([`Guard::holder_died`]) and the ring is
//! broken from then on: every call fails with an error saying so, none waits for ever.

use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use crate::shared::{Guard, Lock, ProcessShared, SharedMemory, new_lock};

/// Bytes in the ring. Only the pages that messages reach are ever touched.
pub(crate) const CAPACITY: usize = 1 << 20;

/// How long a side keeps looking before it sleeps (see `ring::SPIN`).
const SPIN: Duration = Duration::from_micros(20);

/// How often a getter in the middle of a message checks that its putter is alive.
const CHECK: Duration = Duration::from_millis(100);

/// A counter on a cache line of its own.
#[repr(C, align(64))]
struct Line(AtomicU64);

/// A flag on a cache line of its own: written rarely, read after every move, so it
/// stays in the reader's cache.
#[repr(C, align(64))]
struct Flag(AtomicU32);

#[repr(C)]
struct Shared {
    /// Bytes ever written; moved by the putter.
    tail: Line,
    /// Bytes ever read; moved by the getter.
    head: Line,
    getter_sleeps: Flag,
    putter_sleeps: Flag,
    /// Bumped when `tail` moves while a getter sleeps, and when `head` moves while a
    /// putter sleeps: the futex words.
    data: AtomicU32,
    space: AtomicU32,
    /// Set once a holder died in the middle of a message.
    broken: AtomicU32,
    bytes: UnsafeCell<[u8; CAPACITY]>,
}

// SAFETY: `bytes` is written only by the one putter (it holds the put lock) in the range
// it owns, and read only by the one getter (it holds the get lock) in the range it owns;
// the two ranges never overlap, and a range changes hands only through `tail`/`head`
// stores (Release) and loads (Acquire). Everything else is atomic.
unsafe impl Sync for Shared {}
// SAFETY: atomics and bytes only: no pointer, no process-private handle; valid at any
// address in any process.
unsafe impl ProcessShared for Shared {}

/// The shared ring and its two locks. Clones are the same ring.
#[derive(Clone)]
pub(crate) struct ByteRing {
    shared: SharedMemory<Shared>,
    put_lock: SharedMemory<Lock>,
    get_lock: SharedMemory<Lock>,
    /// The last `head` and `tail` this process read. Each only grows, so an old value
    /// is a safe bound (less room, fewer bytes than there are): the other side's
    /// counter, whose cache line lives on the other CPU, is read only when the old
    /// value says "full" or "empty".
    seen: std::sync::Arc<Seen>,
}

#[derive(Default)]
struct Seen {
    head: AtomicU64,
    tail: AtomicU64,
}

impl ByteRing {
    pub(crate) fn new() -> io::Result<ByteRing> {
        // SAFETY: the mapping is zeroed, and all zeros is a valid `Shared`: counters at
        // 0 (an empty ring), no flag set, bytes that nobody reads before writing.
        let shared = SharedMemory::with_init(|_| Ok(()))?;
        Ok(ByteRing {
            shared,
            put_lock: new_lock()?,
            get_lock: new_lock()?,
            seen: Default::default(),
        })
    }

    /// Puts one message, waiting for room as long as it takes (a getter makes room).
    #[cfg(test)]
    pub(crate) fn send(&self, message: &[u8]) -> io::Result<()> {
        let mut frame = vec![0; 4];
        frame.extend_from_slice(message);
        self.send_frame(&mut frame)
    }

    /// Puts one message that `frame` holds after 4 bytes of room for its length (which
    /// this fills in): header and message go in with one copy and one publication.
    pub(crate) fn send_frame(&self, frame: &mut [u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len() - 4)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
        frame[..4].copy_from_slice(&len.to_le_bytes());
        let held = self.put_lock.lock()?;
        self.check(&held)?;
        self.write(frame)
    }

    /// Takes the oldest message; `Ok(None)` if none began to arrive before `deadline`.
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> io::Result<Option<Vec<u8>>> {
        let held = match deadline {
            None => self.get_lock.lock()?,
            Some(at) => {
                match self.get_lock.lock_timeout(at.saturating_duration_since(Instant::now()))? {
                    Some(held) => held,
                    None => return Ok(None),
                }
            }
        };
        self.check(&held)?;
        if !self.wait_for_data(4, deadline, false)? {
            return Ok(None);
        }
        let mut message = vec![0; self.peek_length() as usize];
        self.read(4, &mut message)?; // the header goes with the first piece
        Ok(Some(message))
    }

    fn check(&self, held: &Guard<'_, ()>) -> io::Result<()> {
        if held.holder_died() {
            self.shared.broken.store(1, Ordering::SeqCst);
        }
        if self.shared.broken.load(Ordering::SeqCst) != 0 {
            return Err(io::Error::other(
                "the queue is broken: a process died in the middle of a put or a get",
            ));
        }
        Ok(())
    }

    /// Writes `data` as the one putter, waiting for room.
    fn write(&self, mut data: &[u8]) -> io::Result<()> {
        let s = &*self.shared;
        while !data.is_empty() {
            let tail = s.tail.0.load(Ordering::Relaxed); // only we move it
            // Another process's putters may have moved far since: the old value can
            // even put more than the ring between them.
            let mut used = tail.saturating_sub(self.seen.head.load(Ordering::Relaxed));
            if used as usize >= CAPACITY {
                let head = s.head.0.load(Ordering::Acquire);
                self.seen.head.fetch_max(head, Ordering::Relaxed);
                used = tail - head;
            }
            if used as usize == CAPACITY {
                self.wait_for_room()?;
                continue;
            }
            let at = tail as usize % CAPACITY;
            let n = data.len().min(CAPACITY - used as usize).min(CAPACITY - at);
            // SAFETY: bytes `at..at + n` are ours: free (the getter has read past them)
            // and written by no one else (we hold the put lock).
            unsafe {
                let start = s.bytes.get().cast::<u8>().add(at);
                std::ptr::copy_nonoverlapping(data.as_ptr(), start, n);
            }
            s.tail.0.store(tail + n as u64, Ordering::SeqCst);
            wake(&s.getter_sleeps.0, &s.data);
            data = &data[n..];
        }
        Ok(())
    }

    /// The length in the header at `head` (at least 4 bytes are there).
    fn peek_length(&self) -> u32 {
        let s = &*self.shared;
        let head = s.head.0.load(Ordering::Relaxed);
        let mut header = [0; 4];
        for (k, byte) in header.iter_mut().enumerate() {
            let at = (head as usize + k) % CAPACITY;
            // SAFETY: published bytes the getter owns (it waited for 4 of them).
            *byte = unsafe { *s.bytes.get().cast::<u8>().add(at) };
        }
        u32::from_le_bytes(header)
    }

    /// Passes over `skip` bytes (all there already), then reads exactly `out.len()` bytes
    /// as the one getter, waiting for them.
    fn read(&self, mut skip: usize, mut out: &mut [u8]) -> io::Result<()> {
        let s = &*self.shared;
        while !out.is_empty() || skip > 0 {
            let head = s.head.0.load(Ordering::Relaxed) + skip as u64; // only we move it
            let mut ready = (self.seen.tail.load(Ordering::Relaxed).max(head) - head) as usize;
            if ready == 0 {
                let tail = s.tail.0.load(Ordering::Acquire);
                self.seen.tail.fetch_max(tail, Ordering::Relaxed);
                ready = (tail - head) as usize;
            }
            if ready == 0 && !out.is_empty() {
                if skip > 0 {
                    self.move_head(head); // let the putter have the header's room
                    skip = 0;
                }
                self.wait_for_data(1, None, true)?;
                continue;
            }
            let at = head as usize % CAPACITY;
            let n = out.len().min(ready).min(CAPACITY - at);
            // SAFETY: bytes `at..at + n` were published by the putter (Acquire above)
            // and are read by no one else (we hold the get lock).
            unsafe {
                let start = s.bytes.get().cast::<u8>().add(at);
                std::ptr::copy_nonoverlapping(start, out.as_mut_ptr(), n);
            }
            self.move_head(head + n as u64);
            (skip, out) = (0, &mut out[n..]);
        }
        Ok(())
    }

    fn move_head(&self, to: u64) {
        let s = &*self.shared;
        s.head.0.store(to, Ordering::SeqCst);
        wake(&s.putter_sleeps.0, &s.space);
    }

    fn wait_for_room(&self) -> io::Result<()> {
        let s = &*self.shared;
        let full = || {
            (s.tail.0.load(Ordering::Relaxed) - s.head.0.load(Ordering::Acquire)) as usize
                == CAPACITY
        };
        wait(&s.putter_sleeps.0, &s.space, || !full(), None).map(drop)
    }

    /// Waits until at least `bytes` can be read. `Ok(false)` at the deadline. Without
    /// one, it checks every [`CHECK`] that a putter is still at work when a message has
    /// begun (`mid_message`, or part of a header has come): if nobody holds the put
    /// lock, or its holder died, the rest will never come, and that is an error.
    fn wait_for_data(
        &self,
        bytes: u64,
        deadline: Option<Instant>,
        mid_message: bool,
    ) -> io::Result<bool> {
        let s = &*self.shared;
        let available = || s.tail.0.load(Ordering::Acquire) - s.head.0.load(Ordering::Relaxed);
        let ready = || available() >= bytes;
        if ready() {
            return Ok(true); // the usual case: no clock, no waiting
        }
        loop {
            let until = deadline.unwrap_or_else(|| Instant::now() + CHECK);
            if wait(&s.getter_sleeps.0, &s.data, ready, Some(until))? {
                return Ok(true);
            }
            if deadline.is_some() {
                return Ok(false);
            }
            let begun = mid_message || available() > 0;
            if let Some(held) = self.put_lock.try_lock()? {
                let died = held.holder_died();
                drop(held);
                if died || (begun && !ready()) {
                    s.broken.store(1, Ordering::SeqCst);
                    return Err(io::Error::other(
                        "the queue is broken: a process died in the middle of a put",
                    ));
                }
            }
        }
    }
}

/// Waits until `ready()`, or `until` passes (then `Ok(false)`): spins (or yields, on
/// one CPU) a little, then sleeps on `event`, saying so in `sleeps`.
fn wait(
    sleeps: &AtomicU32,
    event: &AtomicU32,
    ready: impl Fn() -> bool,
    until: Option<Instant>,
) -> io::Result<bool> {
    if crate::ring::one_cpu() {
        for _ in 0..4 {
            if ready() {
                return Ok(true);
            }
            std::thread::yield_now();
        }
    } else {
        let spin_until = Instant::now() + SPIN;
        loop {
            for _ in 0..256 {
                if ready() {
                    return Ok(true);
                }
                spin_loop();
            }
            if Instant::now() >= spin_until {
                break;
            }
        }
    }
    loop {
        let seen = event.load(Ordering::SeqCst); // a later bump wakes the wait below
        sleeps.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst); // pairs with the fence after a move
        if ready() {
            sleeps.store(0, Ordering::Relaxed);
            return Ok(true);
        }
        let left = match until {
            None => None,
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    sleeps.store(0, Ordering::Relaxed);
                    return Ok(ready());
                }
            },
        };
        let timeout = left.map(|t| futex::Timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: t.subsec_nanos().into(),
        });
        let _ = futex::wait(event, futex::Flags::empty(), seen, timeout.as_ref());
        if ready() {
            sleeps.store(0, Ordering::Relaxed); // awake: the other side need not call
            return Ok(true);
        }
    }
}

/// After a move (a SeqCst store, which this SeqCst load cannot pass): wakes the other
/// side if it said it sleeps, and clears that, so the next moves make no system call.
fn wake(sleeps: &AtomicU32, event: &AtomicU32) {
    if sleeps.load(Ordering::SeqCst) != 0 && sleeps.swap(0, Ordering::SeqCst) != 0 {
        event.fetch_add(1, Ordering::SeqCst);
        let _ = futex::wake(event, futex::Flags::empty(), u32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_putters_and_getters_each_message_whole_and_once() {
        let ring = ByteRing::new().unwrap();
        // Sizes from empty to twice the ring: the large ones stream through in pieces.
        let sizes = [0, 1, 3, 4, 5, 1000, 70_000, CAPACITY - 1, CAPACITY, 2 * CAPACITY + 7];
        let putters: Vec<_> = (0..3_u8)
            .map(|p| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    for (k, &size) in sizes.iter().enumerate() {
                        let mut message = vec![p; size];
                        if let Some(first) = message.first_mut() {
                            *first = k as u8; // which size it is
                        }
                        ring.send(&message).unwrap();
                    }
                })
            })
            .collect();
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(m) =
                        ring.recv(Some(Instant::now() + Duration::from_secs(2))).unwrap()
                    {
                        got.push(m);
                    }
                    got
                })
            })
            .collect();
        putters.into_iter().for_each(|t| t.join().unwrap());
        let mut got: Vec<Vec<u8>> = getters.into_iter().flat_map(|t| t.join().unwrap()).collect();
        assert_eq!(got.len(), 3 * sizes.len());
        got.sort_by_key(|m| (m.len(), m.get(1).copied()));
        for m in &got {
            let k = sizes.iter().position(|&s| s == m.len()).expect("a size that was sent");
            if m.len() > 1 {
                assert_eq!(m[0] as usize, k, "the message is the one of its size");
                assert!(m[1..].iter().all(|&b| b == m[1]), "not mixed with another");
            }
        }
    }

    #[test]
    fn a_get_with_a_deadline_returns_none_when_nothing_comes() {
        let ring = ByteRing::new().unwrap();
        let started = Instant::now();
        assert!(ring.recv(Some(started + Duration::from_millis(50))).unwrap().is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(ring.recv(Some(Instant::now())).unwrap().is_none(), "get_nowait");
        ring.send(b"x").unwrap();
        assert_eq!(ring.recv(Some(Instant::now())).unwrap().unwrap(), b"x");
    }
}
