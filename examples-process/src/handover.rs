//! What `fork` hands from a parent to its child, and when.
//!
//! - [`current_pid`]: `getpid()` read from a cache that every forked child resets, so a
//!   value in shared memory can ask "which process am I?" on every operation.
//! - [`moving_to_child`]: tells a `Drop` impl that the value being dropped is the
//!   parent's copy of something the child now holds.
//! - [`Gate`]: a child waits at it, before running its target, until the parent has
//!   dropped its copy of the target (when that copy has a `Drop`); so whatever those drops hand over is handed over
//!   before the child can use it.

use std::cell::Cell;
use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};

use nix::libc;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
use nix::unistd::getpid;
use rustix::thread::futex;

static PID: AtomicI32 = AtomicI32::new(0);
static FORGET_PID_AT_FORK: Once = Once::new();

extern "C" fn forget_pid() {
    PID.store(0, SeqCst); // async-signal-safe: a plain atomic store
}

/// This process's id. The first call asks the kernel; later calls read a cache that is
/// cleared in every child made by `fork` (the C library's `pthread_atfork` hook, which
/// runs for `Process::start`, `nix::unistd::fork` and `libc::fork` alike), so the value
/// is right in a child too, at the cost of one memory read.
///
/// ```
/// use examples_process::{Process, current_pid};
///
/// let parent = current_pid();
/// assert_eq!(parent, std::process::id() as i32);
/// let mut child = Process::new(move || {
///     assert_ne!(current_pid(), parent, "the child has its own pid");
///     assert_eq!(current_pid(), std::process::id() as i32);
/// });
/// child.start()?;
/// assert_eq!(child.join()?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn current_pid() -> i32 {
    let cached = PID.load(SeqCst);
    if cached != 0 {
        return cached;
    }
    FORGET_PID_AT_FORK.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic, which is allowed
        // in a child of a fork; it is registered once.
        unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
    });
    let pid = getpid().as_raw();
    PID.store(pid, SeqCst);
    pid
}

thread_local! {
    static MOVING_TO: Cell<Option<i32>> = const { Cell::new(None) };
}

/// While `Process::start` drops, in the parent, the values the target captured: the pid
/// of the child that holds them now. `None` at any other time.
///
/// A type whose `Drop` ends something shared (closes a channel, shuts a server down)
/// asks this first: when it is `Some`, the value was moved into the child, which will
/// drop its own copy when it is done with it, and the parent's copy must hand over
/// instead of ending anything.
///
/// ```
/// use examples_process::{Process, moving_to_child};
///
/// struct Announce;
/// impl Drop for Announce {
///     fn drop(&mut self) {
///         match moving_to_child() {
///             Some(pid) => println!("parent: handed over to {pid}"),
///             None => println!("dropped for good"),
///         }
///     }
/// }
///
/// let value = Announce;
/// let mut child = Process::new(move || drop(value)); // the child drops it for good
/// child.start()?; // prints "parent: handed over to <pid>"
/// child.join()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn moving_to_child() -> Option<i32> {
    MOVING_TO.with(Cell::get)
}

/// Runs `drop_copies` with [`moving_to_child`] saying `child`, even if it panics.
pub(crate) fn hand_over(child: i32, drop_copies: impl FnOnce()) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            MOVING_TO.with(|m| m.set(None));
        }
    }
    MOVING_TO.with(|m| m.set(Some(child)));
    let _reset = Reset;
    drop_copies();
}

/// A zeroed anonymous `MAP_SHARED` mapping holding one `T`, never unmapped: every child
/// forked from now on sees the same memory, at the same address.
///
/// # Safety
/// All-zero bytes must be a valid `T`, and `T` must be usable from several processes
/// at once (atomics only).
pub(crate) unsafe fn shared_page<T>() -> io::Result<&'static T> {
    const { assert!(align_of::<T>() <= crate::shared::PAGE, "a page aligns to 4096, no more") };
    let len = NonZeroUsize::new(size_of::<T>()).unwrap_or(NonZeroUsize::MIN);
    // SAFETY: a fresh anonymous mapping aliases nothing; it is zeroed, which the caller
    // promises is a valid `T`, and never unmapped, so the reference lives for ever.
    unsafe {
        let ptr = mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )?;
        Ok(ptr.cast::<T>().as_ref())
    }
}

/// A word in memory shared with every child, counting the starts whose parent side is
/// done. Each process makes its own on its first `start` (a child does not use its
/// parent's, whose counts are not its own).
pub(crate) struct Gate {
    words: NonNull<GateWords>,
    owner: i32,
    tickets: u32,
}

#[repr(C)]
struct GateWords {
    /// The last ticket whose parent side is done.
    released: AtomicU32,
    /// Children sleeping on `released`.
    sleepers: AtomicU32,
}

// SAFETY: the pointer is to a shared mapping that is never unmapped; the words in it
// are atomics.
unsafe impl Send for Gate {}

impl Gate {
    /// This process's gate, made on first use.
    pub(crate) fn for_this_process(slot: &mut Option<Gate>) -> io::Result<&mut Gate> {
        if slot.as_ref().is_none_or(|g| g.owner != current_pid()) {
            // SAFETY: all-zero is a valid `GateWords` (two atomics at 0).
            let words = unsafe { shared_page::<GateWords>() }?;
            *slot = Some(Gate { words: NonNull::from(words), owner: current_pid(), tickets: 0 });
        }
        Ok(slot.as_mut().expect("set above"))
    }

    /// The ticket for the next child.
    pub(crate) fn next_ticket(&mut self) -> Ticket {
        self.tickets = self.tickets.wrapping_add(1);
        Ticket { words: self.words, number: self.tickets }
    }
}

/// One child's place at the gate: the child waits on it, the parent opens it.
#[derive(Clone, Copy)]
pub(crate) struct Ticket {
    words: NonNull<GateWords>,
    number: u32,
}

impl Ticket {
    fn words(&self) -> &GateWords {
        // SAFETY: the mapping is never unmapped and holds two atomics.
        unsafe { self.words.as_ref() }
    }

    /// In the parent: the parent side of this start is done; let the child go.
    pub(crate) fn open(self) {
        let words = self.words();
        words.released.store(self.number, SeqCst);
        if words.sleepers.load(SeqCst) != 0 {
            let _ = futex::wake(&words.released, futex::Flags::empty(), u32::MAX);
        }
    }

    /// In the child: waits until the parent has opened this ticket (or a later one).
    pub(crate) fn wait(self) {
        let words = self.words();
        // Tickets wrap around; "at or after mine" is a signed difference.
        let passed = |released: u32| released.wrapping_sub(self.number) as i32 >= 0;
        loop {
            let released = words.released.load(SeqCst);
            if passed(released) {
                return;
            }
            words.sleepers.fetch_add(1, SeqCst);
            // Look again after saying we sleep: `open` either sees `sleepers` and wakes
            // us, or stored before, and then this load sees it.
            if !passed(words.released.load(SeqCst)) {
                let _ = futex::wait(&words.released, futex::Flags::empty(), released, None);
            }
            words.sleepers.fetch_sub(1, SeqCst);
        }
    }
}
