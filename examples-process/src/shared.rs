//! Memory shared between a process and the children it forks afterwards, and what may
//! live there.
//!
//! [`SharedMemory`] is an anonymous `MAP_SHARED` mapping. It has no name, so nothing
//! appears in `/dev/shm` and nothing is left behind, even if every process using it is
//! killed: the kernel frees it when the last process unmaps it or exits.
//!
//! Only types that implement [`ProcessShared`] can be put there by safe code: numbers,
//! atomics, arrays and tuples of them, and your own plain structs declared with
//! [`process_shared!`](crate::process_shared). The compiler refuses the rest, which
//! would be wrong in another process:
//!
//! ```compile_fail,E0277
//! // A `String` points into this process's heap: another process would read garbage.
//! let text = examples_process::shared::SharedMemory::new(std::sync::Mutex::new(String::new()));
//! ```
//!
//! ```compile_fail,E0277
//! // `std::sync::Mutex` sleeps on a futex private to one process: a waiter in another
//! // process would never be woken.
//! let count = examples_process::shared::SharedMemory::new(std::sync::Mutex::new(0_u64));
//! ```
//!
//! Locks and semaphores made for processes (`examples_ipc`'s) need setting up in place
//! and are not `ProcessShared`: each is made by its own constructor, which uses
//! [`SharedMemory::init_in_place`]. So safe code cannot make one from zero bytes (a
//! zeroed pthread mutex is a *process-private* one, whose waiters in another process
//! would never be woken).
//!
//! A mapping is aligned to the page (4 KiB), so a type that asks for more is refused:
//!
//! ```compile_fail,E0080
//! #[repr(align(65536))]
//! struct Huge(u8);
//! // SAFETY: a plain byte (the alignment is what is wrong here).
//! unsafe impl examples_process::shared::ProcessShared for Huge {}
//! let huge = examples_process::shared::SharedMemory::new(Huge(0));
//! ```
//!
//! (The same with `align(4096)` is accepted.)
//!
//! ```
//! #[repr(align(4096))]
//! struct Paged(u8);
//! // SAFETY: a plain byte.
//! unsafe impl examples_process::shared::ProcessShared for Paged {}
//! let paged = examples_process::shared::SharedMemory::new(Paged(7))?;
//! assert_eq!((paged.0, std::ptr::from_ref(&*paged) as usize % 4096), (7, 0));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::mem::size_of;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16,
    AtomicU32, AtomicU64, AtomicUsize,
};

/// Values that mean the same in every process that maps them, so they may live in
/// memory shared between processes.
///
/// # Safety
///
/// Implement it only for a type that
/// - holds no pointer or reference (`Box`, `Vec`, `String`, `&T`, `Arc`, a function
///   pointer): an address is valid only in the process that made it;
/// - holds no handle private to one process (a file descriptor number, a thread id);
/// - waits, if it waits at all, in a way other processes can wake (a futex without
///   `FUTEX_PRIVATE_FLAG`, a process-shared pthread object), unlike `std::sync::Mutex`;
/// - is valid at any address it is mapped at, and all-zero bytes are a valid, working
///   value of it ([`SharedMemory::zeroed`] hands out such memory), which rules out
///   types that must be set up in place (a pthread mutex: zeroed, it is a
///   process-private one);
/// - asks for no more alignment than a page (4096 bytes);
/// - has no `Drop` that must run: a shared value is never dropped, as no single
///   process owns it.
///
/// For a struct whose fields all are `ProcessShared`, use
/// [`process_shared!`](crate::process_shared), which checks the fields and needs no
/// `unsafe`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be placed in memory shared between processes",
    label = "not `ProcessShared`",
    note = "shared memory holds plain values: numbers, atomics, arrays and tuples of them, \
            and structs declared with `process_shared!`; a lock for processes is made by its \
            own constructor (`RobustMutex::shared`)",
    note = "a pointer (`String`, `Vec`, `Box`, `&str`) is valid only in the process that \
            made it, and `std::sync::Mutex` cannot wake a waiter in another process"
)]
pub unsafe trait ProcessShared {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: a number, a bool or an atomic holds no pointer and no handle, and
        // atomic instructions work on shared memory across processes.
        unsafe impl ProcessShared for $t {}
    )* };
}
plain!(bool, char, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, ());
plain!(AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize);
plain!(AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize);

// SAFETY: a `ProcessShared` value with padding around it (`repr(C)`, aligned to 128
// bytes or less, well within a page): the same value, valid all-zero as it is.
unsafe impl<T: ProcessShared> ProcessShared for crossbeam_utils::CachePadded<T> {}

// SAFETY: an array of `ProcessShared` values is those values side by side.
unsafe impl<T: ProcessShared, const N: usize> ProcessShared for [T; N] {}

macro_rules! tuple {
    ($($name:ident),+) => {
        // SAFETY: a tuple of `ProcessShared` values is those values side by side.
        unsafe impl<$($name: ProcessShared),+> ProcessShared for ($($name,)+) {}
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);

/// Declares a struct and makes it [`ProcessShared`], after checking at compile time that
/// every field is. Attributes (documentation, `derive`) go on the struct as usual.
///
/// ```
/// use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
/// use examples_process::process_shared;
/// use examples_process::shared::SharedMemory;
///
/// process_shared! {
///     /// Two balances, side by side in memory shared with children.
///     pub struct Accounts {
///         pub alice: AtomicI64,
///         pub bob: AtomicI64,
///     }
/// }
///
/// let accounts = SharedMemory::new(Accounts { alice: AtomicI64::new(100), bob: AtomicI64::new(0) })?;
/// accounts.bob.fetch_add(1, Relaxed);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A field that is not `ProcessShared` is refused:
///
/// ```compile_fail,E0277
/// examples_process::process_shared! {
///     struct Named { name: String }
/// }
/// ```
#[macro_export]
macro_rules! process_shared {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$field_meta])* $field_vis $field: $ty ),*
        }

        // SAFETY: every field is `ProcessShared` (checked just below), so the struct
        // holds no pointer, no private handle and no destructor either.
        unsafe impl $crate::shared::ProcessShared for $name {}

        // Evaluated by the compiler: a field that is not `ProcessShared` fails here.
        const _: () = {
            const fn check<T: $crate::shared::ProcessShared>() {}
            $( check::<$ty>(); )*
        };
    };
}

/// One `T` in an anonymous shared mapping. Cloning shares the same mapping; it is
/// unmapped when the last clone in this process is dropped. A forked child sees the
/// same memory, not a copy.
///
/// Safe code puts only [`ProcessShared`] values there ([`new`](SharedMemory::new),
/// [`zeroed`](SharedMemory::zeroed)): the compiler refuses anything that would be wrong
/// in another process. Types that must be set up in place use
/// [`init_in_place`](SharedMemory::init_in_place). `T` is never dropped: other processes
/// may still use it.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
/// use examples_process::shared::SharedMemory;
/// use examples_process::Process;
///
/// let counter = SharedMemory::new(AtomicU64::new(0))?;
/// let mut child = Process::new({
///     let counter = counter.clone();
///     move || { counter.fetch_add(5, SeqCst); }
/// });
/// child.start()?;
/// child.join()?;
/// assert_eq!(counter.load(SeqCst), 5); // the child's write, seen by the parent
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SharedMemory<T: Sync> {
    mapping: Arc<Mapping<T>>,
}

struct Mapping<T> {
    ptr: NonNull<T>,
}

// SAFETY: the mapping only hands out `&T`, and `T: Sync` makes `&T` usable from several
// threads at once; unmapping happens once, in `Drop`, after the last `&T` is gone.
unsafe impl<T: Sync> Send for Mapping<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Mapping<T> {}

impl<T: ProcessShared + Sync> SharedMemory<T> {
    /// Puts `value` in a new shared mapping.
    pub fn new(value: T) -> io::Result<SharedMemory<T>> {
        // SAFETY: the closure writes a whole `T` into the slot.
        unsafe {
            SharedMemory::init_in_place(|slot: *mut T| {
                slot.write(value);
                Ok(())
            })
        }
    }

    /// A new shared mapping holding a `T` of zero bytes, which is a valid, working value
    /// of every `ProcessShared` type (an empty ring, a counter at 0, a cleared flag).
    pub fn zeroed() -> io::Result<SharedMemory<T>> {
        // SAFETY: the mapping starts zeroed, and `T: ProcessShared` promises that zero
        // bytes are a valid `T`, in any process.
        unsafe { SharedMemory::init_in_place(|_| Ok(())) }
    }
}

impl<T: Sync> SharedMemory<T> {
    /// Maps zeroed shared memory for one `T` and lets `init` set it up in place, for
    /// the types that cannot be made elsewhere and moved in (a process-shared pthread
    /// mutex or semaphore); an error from `init` unmaps it again.
    ///
    /// # Safety
    ///
    /// When `init` returns `Ok`, the slot (zeroed before the call) must hold a valid
    /// `T` that works from every process that maps it: no pointer or process-private
    /// handle in it, and any waiting done through process-shared objects (set up with
    /// `PTHREAD_PROCESS_SHARED`, or a futex without the private flag).
    pub unsafe fn init_in_place(
        init: impl FnOnce(*mut T) -> io::Result<()>,
    ) -> io::Result<SharedMemory<T>> {
        let ptr = map_zeroed::<T>()?;
        if let Err(e) = init(ptr.as_ptr()) {
            drop(Mapping { ptr }); // unmaps it
            return Err(e);
        }
        Ok(SharedMemory { mapping: Arc::new(Mapping { ptr }) })
    }
}

impl<T: Sync> Clone for SharedMemory<T> {
    fn clone(&self) -> Self {
        SharedMemory { mapping: Arc::clone(&self.mapping) }
    }
}

impl<T: Sync> Deref for SharedMemory<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised when made (`init_in_place`'s contract), mapped until the
        // last clone is dropped.
        unsafe { self.mapping.ptr.as_ref() }
    }
}

/// The alignment every mapping has: a page (the smallest page size Linux uses).
pub(crate) const PAGE: usize = 4096;

/// A new zeroed anonymous `MAP_SHARED` mapping, large enough for one `T` (page-aligned;
/// a `T` that needs more alignment fails to compile).
#[cfg(not(miri))]
fn map_zeroed<T>() -> io::Result<NonNull<T>> {
    use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
    use std::num::NonZeroUsize;

    const { assert!(align_of::<T>() <= PAGE, "shared memory is aligned to 4096 bytes, no more") };

    let len = NonZeroUsize::new(size_of::<T>().max(1)).unwrap_or(NonZeroUsize::MIN);
    // SAFETY: a fresh anonymous mapping aliases nothing; the callers only put
    // `ProcessShared` values in it, which is what makes sharing it with children right.
    let raw = unsafe {
        mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    }?;
    Ok(raw.cast())
}

/// Under Miri, which cannot share memory between processes (nor fork): ordinary zeroed
/// memory, so that the threads-only tests of `ring` and `shared` can run there.
#[cfg(miri)]
fn map_zeroed<T>() -> io::Result<NonNull<T>> {
    // SAFETY: the layout's size is at least 1.
    NonNull::new(unsafe { std::alloc::alloc_zeroed(miri_layout::<T>()) }.cast())
        .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

#[cfg(miri)]
fn miri_layout<T>() -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(size_of::<T>().max(1), align_of::<T>())
        .expect("a type's own size and alignment")
}

impl<T> Drop for Mapping<T> {
    fn drop(&mut self) {
        // No destructor for T: other processes may still use it (a semaphore or mutex
        // needs none on Linux). Unmapping only removes this process's view.
        #[cfg(not(miri))]
        // SAFETY: the pointer and length are those of our own mapping.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), size_of::<T>().max(1)) };
        #[cfg(miri)]
        // SAFETY: allocated by `map_zeroed` with this layout.
        unsafe {
            std::alloc::dealloc(self.ptr.as_ptr().cast(), miri_layout::<T>())
        };
    }
}
