//! The transport under [`Queue`](crate::queue::Queue): messages of any length through a
//! ring of bytes in anonymous shared memory, for any number of putting and getting
//! processes and threads.
//!
//! Two robust process-shared locks make it many-to-many: a putter holds the put lock
//! while it writes one message, a getter holds the get lock while it reads one; between
//! the two holders the ring is a single-producer single-consumer stream, as in
//! [`ring`](crate::ring).
//!
//! A message travels as frames: an 8-byte header (flags `FIRST`/`LAST` and the frame's
//! length, and for a first frame the message's whole length) and up to a quarter of the
//! ring of its bytes. Each side moves with **one store**: a putter writes a whole frame,
//! then publishes it by storing `tail`; a getter copies a whole frame out, then frees it
//! by storing `head`. Each position also counts whole messages (those whose `LAST` frame
//! it has passed), in the same word, so `len()` is always the number of whole messages
//! in the ring. So a process killed anywhere leaves the ring consistent:
//!
//! - a putter killed, or a put that times out, between two frames of a message leaves a
//!   message with no `LAST` frame: the next `FIRST` frame tells getters to drop it;
//! - a getter killed between two frames leaves the rest of a message with no `FIRST`
//!   frame: the next getter passes over it. That message is lost, with the getter that
//!   was taking it, and its putter, if it still waits for room, is told so.
//!
//! A small message is one frame, so it is put and got whole or not at all.
//!
//! Nothing read from the shared memory is trusted: a position or a length that cannot be
//! (more bytes than the ring, a frame longer than a quarter of it, a message longer than
//! [`MAX_MESSAGE`]) marks the ring broken, and every call fails from then on, saying so.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::shared::{ProcessShared, SharedMemory};
use crate::sync::{Guard, Lock, new_lock};
use crate::wait::Parking;

/// Bytes in the ring. Only the pages that messages reach are ever touched.
pub(crate) const CAPACITY: usize = 1 << 20;

/// The longest message: as for a [`Connection`](crate::connection::Connection).
pub(crate) const MAX_MESSAGE: usize = crate::connection::MAX_MESSAGE;

/// The room a message needs in front of it for `send` (its first frame's header).
pub(crate) const ROOM: usize = HEADER;

/// The most bytes of a message in one frame: a quarter of the ring, so that a putter
/// and a getter can work on one long message at once.
const MAX_FRAGMENT: usize = CAPACITY / 4;

/// A frame's header: flags and length (4 bytes), then the message's whole length.
const HEADER: usize = 8;
const FIRST: u32 = 1;
const LAST: u32 = 2;

/// A frame's header: its flags and length, and the whole message's length.
fn header(flags: u32, len: usize, total: usize) -> [u8; HEADER] {
    let mut header = [0; HEADER];
    header[..4].copy_from_slice(&(flags | ((len as u32) << 2)).to_le_bytes());
    header[4..].copy_from_slice(&(total as u32).to_le_bytes());
    header
}

/// How often a side that waits in the middle of a message checks that the other side is
/// still at work on it.
const CHECK: Duration = Duration::from_millis(100);

/// A position: bytes passed (low 40 bits, wrapping) and whole messages passed (high 24
/// bits, wrapping), in one word, so that one store moves both. Differences are taken
/// modulo those widths; the ring holds far fewer than 2^24 messages (each frame is at
/// least 8 bytes) and 2^40 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Position(u64);

const BYTE_BITS: u32 = 40;
const BYTE_MASK: u64 = (1 << BYTE_BITS) - 1;
const MESSAGE_MASK: u32 = (1 << (64 - BYTE_BITS)) - 1;

impl Position {
    fn bytes(self) -> u64 {
        self.0 & BYTE_MASK
    }

    fn messages(self) -> u32 {
        (self.0 >> BYTE_BITS) as u32
    }

    fn advanced(self, bytes: usize, last: bool) -> Position {
        let bytes = (self.bytes() + bytes as u64) & BYTE_MASK;
        let messages = (self.messages() + u32::from(last)) & MESSAGE_MASK;
        Position((u64::from(messages) << BYTE_BITS) | bytes)
    }

    /// Bytes and messages from `earlier` to `self`.
    fn since(self, earlier: Position) -> (u64, u32) {
        let bytes = self.bytes().wrapping_sub(earlier.bytes()) & BYTE_MASK;
        let messages = self.messages().wrapping_sub(earlier.messages()) & MESSAGE_MASK;
        (bytes, messages)
    }
}

#[repr(C)]
struct Shared {
    /// Where the putter writes next; moved (Release) only by the put lock's holder.
    tail: CachePadded<AtomicU64>,
    /// Where the getter reads next; moved (Release) only by the get lock's holder.
    head: CachePadded<AtomicU64>,
    /// Getters sleep here for data; putters wake them.
    data: CachePadded<Parking>,
    /// Putters sleep here for room; getters wake them.
    room: CachePadded<Parking>,
    /// Set once the positions or a header were found to make no sense.
    broken: AtomicU32,
    bytes: UnsafeCell<[u8; CAPACITY]>,
}

// SAFETY: `bytes` is written only by the one putter (it holds the put lock) in the range
// it owns (from `tail` to `head + CAPACITY`), and read only by the one getter (it holds
// the get lock) in the range it owns (from `head` to `tail`); the ranges never overlap,
// and a range changes hands only through `tail`/`head` stores (Release) and loads
// (Acquire). Everything else is atomic.
unsafe impl Sync for Shared {}
// SAFETY: atomics and bytes only: no pointer, no process-private handle; valid at any
// address in any process, and all-zero is an empty ring.
unsafe impl ProcessShared for Shared {}

/// Why a send or a receive failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The deadline passed before the message was sent whole (none of it will arrive).
    TimedOut,
    /// The getter that was taking this message died: it is lost.
    TakerDied,
    /// The ring's shared memory makes no sense any more.
    Broken(String),
    /// The message is longer than [`MAX_MESSAGE`].
    TooLong(usize),
    /// A lock failed.
    Io(io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::TimedOut => f.write_str("timed out"),
            Failure::TakerDied => {
                f.write_str("the process that was taking this item died; the item is lost")
            }
            Failure::Broken(why) => write!(f, "the queue is broken: {why}"),
            Failure::TooLong(len) => {
                write!(f, "an item of {len} bytes is longer than a queue takes ({MAX_MESSAGE})")
            }
            Failure::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// The shared ring and its two locks. Clones are the same ring.
#[derive(Clone)]
pub(crate) struct ByteRing {
    shared: SharedMemory<Shared>,
    put_lock: SharedMemory<Lock>,
    get_lock: SharedMemory<Lock>,
    /// The other side's position as this process last read it. Positions only move
    /// forward, so an old one is a safe bound (less room, fewer bytes than there are);
    /// the other side's cache line, which lives on the other CPU, is read only when the
    /// old value is not enough. Written and read under the side's lock, which orders
    /// them between this process's threads.
    seen: std::sync::Arc<Seen>,
}

#[derive(Default)]
struct Seen {
    head: AtomicU64,
    tail: AtomicU64,
}

impl ByteRing {
    pub(crate) fn new() -> io::Result<ByteRing> {
        Ok(ByteRing {
            shared: SharedMemory::zeroed()?, // an empty ring
            put_lock: new_lock()?,
            get_lock: new_lock()?,
            seen: Default::default(),
        })
    }

    /// How many whole messages are in the ring (a snapshot).
    pub(crate) fn len(&self) -> u32 {
        let head = Position(self.shared.head.load(Ordering::Acquire));
        let tail = Position(self.shared.tail.load(Ordering::Acquire));
        tail.since(head).1
    }

    /// Messages ever put whole, modulo 2^24.
    pub(crate) fn sent(&self) -> u32 {
        Position(self.shared.tail.load(Ordering::Acquire)).messages()
    }

    /// The modulus of [`sent`](ByteRing::sent).
    pub(crate) const MESSAGES_WRAP: u32 = MESSAGE_MASK;

    /// Puts the message that `frame` holds after [`HEADER`] bytes of room (which this
    /// fills in), once fewer than `most` messages are in the ring and there is room,
    /// waiting until `deadline` at most (for the lock, the count and the room). A
    /// message of one frame goes into the ring with one copy.
    pub(crate) fn send(
        &self,
        frame: &mut [u8],
        most: u32,
        deadline: Option<Instant>,
    ) -> Result<(), Failure> {
        let len = frame.len() - HEADER;
        if len > MAX_MESSAGE {
            return Err(Failure::TooLong(len));
        }
        let _held = lock_until(&self.put_lock, deadline)?.ok_or(Failure::TimedOut)?;
        self.check()?;
        let s = &*self.shared;
        let tail = || Position(s.tail.load(Ordering::Relaxed)); // only we move it
        let fewer = || {
            let (bytes, messages) = tail().since(self.head_seen());
            if bytes <= CAPACITY as u64 && messages < most {
                return true; // known from the position seen before
            }
            tail().since(self.head_now()).1 < most
        };
        if !s.room.wait(fewer, deadline) {
            return Err(Failure::TimedOut);
        }
        let start = tail();
        if len <= MAX_FRAGMENT {
            self.wait_for_room(frame.len(), start, true, deadline)?;
            frame[..HEADER].copy_from_slice(&header(FIRST | LAST, len, len));
            self.publish(frame, true);
            return Ok(());
        }
        let (_, message) = frame.split_at(HEADER);
        let mut pieces = message.chunks(MAX_FRAGMENT).peekable();
        let mut first = true;
        while let Some(piece) = pieces.next() {
            let last = pieces.peek().is_none();
            self.wait_for_room(HEADER + piece.len(), start, first, deadline)?;
            let flags = if first { FIRST } else { 0 } | if last { LAST } else { 0 };
            let at = tail();
            self.copy_in(at.bytes(), &header(flags, piece.len(), len));
            self.copy_in(at.bytes() + HEADER as u64, piece);
            s.tail.store(at.advanced(HEADER + piece.len(), last).0, Ordering::Release);
            s.data.wake();
            first = false;
        }
        Ok(())
    }

    /// As the putter: copies a whole frame in at `tail` and publishes it (the commit: the
    /// frame, and a whole message if it is the last), then wakes a sleeping getter.
    fn publish(&self, frame: &[u8], last: bool) {
        let s = &*self.shared;
        let at = Position(s.tail.load(Ordering::Relaxed));
        self.copy_in(at.bytes(), frame);
        s.tail.store(at.advanced(frame.len(), last).0, Ordering::Release);
        s.data.wake();
    }

    /// Waits (as the putter) until `need` bytes are free. In the middle of a message
    /// (`!first`), checks every [`CHECK`] that the getter taking it is still alive.
    fn wait_for_room(
        &self,
        need: usize,
        start: Position,
        first: bool,
        deadline: Option<Instant>,
    ) -> Result<(), Failure> {
        let s = &*self.shared;
        let free = || -> Result<bool, Failure> {
            let tail = Position(s.tail.load(Ordering::Relaxed));
            let used = tail.since(self.head_seen()).0 as usize;
            if used <= CAPACITY && CAPACITY - used >= need {
                return Ok(true); // known from the position seen before
            }
            let used = tail.since(self.head_now()).0 as usize;
            if used > CAPACITY {
                return Err(self.broken(format!("{used} bytes in a ring of {CAPACITY}")));
            }
            Ok(CAPACITY - used >= need)
        };
        loop {
            if free()? {
                return Ok(());
            }
            let until = match deadline {
                Some(at) if first => at,
                _ => deadline.unwrap_or(far()).min(Instant::now() + CHECK),
            };
            if s.room.wait(|| free().unwrap_or(true), Some(until)) {
                continue; // room, or a count to check again
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(Failure::TimedOut); // the frames sent so far are dropped
            }
            // Part of this message has been read and nobody is reading it now: its getter
            // died (a live one holds the get lock until the message's last frame).
            let head = Position(s.head.load(Ordering::Acquire));
            let (read, _) = head.since(start);
            let (sent, _) = Position(s.tail.load(Ordering::Relaxed)).since(start);
            if read > 0 && read <= sent && self.get_lock.try_lock()?.is_some() {
                return Err(Failure::TakerDied);
            }
        }
    }

    /// Takes the next message and gives its bytes to `open`; `Ok(None)` if none began to
    /// arrive before `deadline` (a message that has begun is waited for whole, as
    /// CPython's `get` does). `taking` is called just before the message is taken out of
    /// the ring. A message in one frame that does not wrap is read where it lies in the
    /// ring, with no copy.
    pub(crate) fn recv<R>(
        &self,
        deadline: Option<Instant>,
        taking: impl FnOnce(),
        open: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, Failure> {
        let Some(_held) = lock_until(&self.get_lock, deadline)? else { return Ok(None) };
        self.check()?;
        let s = &*self.shared;
        let mut partial: Option<Vec<u8>> = None;
        loop {
            let head = Position(s.head.load(Ordering::Relaxed)); // only we move it
            let Some(available) = self.wait_for_data(head, partial.is_some(), deadline)? else {
                match partial {
                    Some(_) => {
                        partial = None; // its putter is gone: drop what came of it
                        continue;
                    }
                    None => return Ok(None),
                }
            };
            let (flags, len, total) = self.read_header(head, available)?;
            let last = flags & LAST != 0;
            if flags & FIRST != 0 {
                if total > MAX_MESSAGE || len > total {
                    return Err(self.broken(format!("a frame of {len} bytes of {total}")));
                }
                if last
                    && len == total
                    && let Some(bytes) = self.in_place(head, len)
                {
                    // The usual case: a whole message, in one piece of the ring.
                    let opened = open(bytes);
                    taking();
                    self.free(head.advanced(HEADER + len, true));
                    return Ok(Some(opened));
                }
                partial = Some(Vec::with_capacity(total)); // drops an unfinished one
            }
            let Some(message) = &mut partial else {
                // The rest of a message whose getter died: pass over it.
                self.free(head.advanced(HEADER + len, last));
                continue;
            };
            if message.len() + len > total || (last && message.len() + len != total) {
                return Err(self.broken(format!("frames that do not add up to {total} bytes")));
            }
            let at = message.len();
            message.resize(at + len, 0);
            self.copy_out(head.bytes() + HEADER as u64, &mut message[at..]);
            if !last {
                self.free(head.advanced(HEADER + len, false));
                continue;
            }
            let opened = open(message);
            taking();
            self.free(head.advanced(HEADER + len, true));
            return Ok(Some(opened));
        }
    }

    /// The `len` bytes of the frame at `head`, where they lie in the ring, if they do not
    /// wrap around its end. Only the getter (the get lock's holder) reads them, until it
    /// frees them.
    fn in_place(&self, head: Position, len: usize) -> Option<&[u8]> {
        let at = ((head.bytes() + HEADER as u64) % CAPACITY as u64) as usize;
        if at + len > CAPACITY {
            return None;
        }
        // SAFETY: the bytes were published by the putter (seen before `tail`, Acquire)
        // and are the getter's until it stores `head` past them, which the caller does
        // only after its last use of this slice; `at + len` stays inside the ring.
        Some(unsafe {
            std::slice::from_raw_parts(self.shared.bytes.get().cast::<u8>().add(at), len)
        })
    }

    /// Waits (as the getter) until a frame is there; returns the bytes available.
    /// `None` when `deadline` passes before a message began, or, in the middle of a
    /// message (`mid`), when its putter is gone without finishing it.
    fn wait_for_data(
        &self,
        head: Position,
        mid: bool,
        deadline: Option<Instant>,
    ) -> Result<Option<u64>, Failure> {
        let s = &*self.shared;
        let seen = self.tail_seen().since(head).0;
        if seen > 0 && seen <= CAPACITY as u64 {
            return Ok(Some(seen)); // known from the position seen before
        }
        let available = || self.tail_now().since(head).0;
        let now = available();
        if now > 0 && now <= CAPACITY as u64 {
            return Ok(Some(now)); // the usual case: no clock, no waiting
        }
        loop {
            let until = if mid { Instant::now() + CHECK } else { deadline.unwrap_or_else(far) };
            if s.data.wait(|| available() > 0, Some(until)) {
                let bytes = available();
                if bytes > CAPACITY as u64 {
                    return Err(self.broken(format!("{bytes} bytes in a ring of {CAPACITY}")));
                }
                return Ok(Some(bytes));
            }
            if !mid {
                if deadline.is_some_and(|at| Instant::now() >= at) {
                    return Ok(None);
                }
                continue;
            }
            // Mid-message with nothing new: if nobody holds the put lock (or its holder
            // died), the rest will never come. Holding it while we look, no putter can
            // begin meanwhile.
            if let Some(_putter_gone) = self.put_lock.try_lock()?
                && available() == 0
            {
                return Ok(None);
            }
        }
    }

    /// Reads and checks the header at `head`: flags, the frame's length, the message's.
    fn read_header(&self, head: Position, available: u64) -> Result<(u32, usize, usize), Failure> {
        let mut header = [0; HEADER];
        self.copy_out(head.bytes(), &mut header);
        let word = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let total = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
        let (flags, len) = (word & 3, (word >> 2) as usize);
        if len > MAX_FRAGMENT || (HEADER + len) as u64 > available {
            return Err(self.broken(format!("a frame of {len} bytes, {available} available")));
        }
        Ok((flags, len, total))
    }

    /// The getter's position as this process last read it (as the putter).
    fn head_seen(&self) -> Position {
        Position(self.seen.head.load(Ordering::Relaxed))
    }

    /// The getter's position now (as the putter), kept as the one seen.
    fn head_now(&self) -> Position {
        let head = self.shared.head.load(Ordering::Acquire);
        self.seen.head.store(head, Ordering::Relaxed);
        Position(head)
    }

    /// The putter's position as this process last read it (as the getter).
    fn tail_seen(&self) -> Position {
        Position(self.seen.tail.load(Ordering::Relaxed))
    }

    /// The putter's position now (as the getter), kept as the one seen.
    fn tail_now(&self) -> Position {
        let tail = self.shared.tail.load(Ordering::Acquire);
        self.seen.tail.store(tail, Ordering::Relaxed);
        Position(tail)
    }

    /// As the getter: frees the ring up to `to`, and wakes a putter waiting for room.
    fn free(&self, to: Position) {
        self.shared.head.store(to.0, Ordering::Release);
        self.shared.room.wake();
    }

    fn check(&self) -> Result<(), Failure> {
        match self.shared.broken.load(Ordering::Acquire) {
            0 => Ok(()),
            _ => Err(Failure::Broken("its shared memory was found to make no sense".into())),
        }
    }

    fn broken(&self, why: String) -> Failure {
        self.shared.broken.store(1, Ordering::Release);
        Failure::Broken(why)
    }

    /// Copies `data` into the ring at byte position `at`, wrapping at the end. Inlined,
    /// with the usual case (no wrap) first: a copy of a length known where it is called
    /// (a header's 8 bytes) then compiles to a move, not a call.
    #[inline(always)]
    fn copy_in(&self, at: u64, data: &[u8]) {
        let at = (at % CAPACITY as u64) as usize;
        let base = self.shared.bytes.get().cast::<u8>();
        if data.len() <= CAPACITY - at {
            // SAFETY: as below, with no wrap: `at + data.len() <= CAPACITY`.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), base.add(at), data.len()) };
            return;
        }
        let first = CAPACITY - at;
        // SAFETY: the bytes from `at` (wrapping) for `data.len()` are the putter's: free
        // (checked by `wait_for_room`) and written by no one else (the put lock). Both
        // copies stay inside the ring (`first <= CAPACITY - at`, the rest from 0).
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), base.add(at), first);
            std::ptr::copy_nonoverlapping(data.as_ptr().add(first), base, data.len() - first);
        }
    }

    /// Copies the ring's bytes at position `at` into `out`, wrapping at the end (inlined
    /// as [`copy_in`](Self::copy_in) is).
    #[inline(always)]
    fn copy_out(&self, at: u64, out: &mut [u8]) {
        let at = (at % CAPACITY as u64) as usize;
        let base = self.shared.bytes.get().cast::<u8>();
        if out.len() <= CAPACITY - at {
            // SAFETY: as below, with no wrap: `at + out.len() <= CAPACITY`.
            unsafe { std::ptr::copy_nonoverlapping(base.add(at), out.as_mut_ptr(), out.len()) };
            return;
        }
        let first = CAPACITY - at;
        // SAFETY: the bytes from `at` for `out.len()` were published by the putter (the
        // caller saw them before `tail`, loaded with Acquire) and are read by no one else
        // (the get lock); both copies stay inside the ring.
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(at), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(base, out.as_mut_ptr().add(first), out.len() - first);
        }
    }
}

/// Takes `lock`, waiting until `deadline` at most (`None` then). A holder that died is
/// no harm here: every move is one store, so the ring is whole whatever it was doing.
fn lock_until(lock: &Lock, deadline: Option<Instant>) -> io::Result<Option<Guard<'_, ()>>> {
    match deadline {
        None => lock.lock().map(Some),
        Some(at) => lock.lock_timeout(at.saturating_duration_since(Instant::now())),
    }
}

/// A deadline for "no deadline" in a wait that needs one: about a century away.
fn far() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests;
