//! Memory shared between a process and the children it forks afterwards, and the two
//! process-shared primitives CPython builds on: a semaphore and a lock.
//!
//! [`SharedMemory`] is an anonymous `MAP_SHARED` mapping. It has no name, so nothing
//! appears in `/dev/shm` and nothing is left behind, even if every process using it is
//! killed: the kernel frees it when the last process unmaps it or exits.

use std::cell::UnsafeCell;
use std::io;
use std::marker::PhantomData;
use std::mem::{MaybeUninit, size_of};
use std::num::NonZeroUsize;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::libc;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// One `T` in an anonymous shared mapping. Cloning shares the same mapping; it is
/// unmapped when the last clone in this process is dropped. A forked child sees the
/// same memory, not a copy.
///
/// `T` must hold no pointers into process-private memory (no `Box`, `Vec`, `String`):
/// only plain values, atomics and the process-shared primitives of this module.
pub struct SharedMemory<T: Sync> {
    mapping: Arc<Mapping<T>>,
}

struct Mapping<T> {
    ptr: NonNull<T>,
}

// SAFETY: the mapping is plain memory; `T: Sync` makes shared access from several
// threads sound, and unmapping happens once, in `Drop`.
unsafe impl<T: Sync> Send for Mapping<T> {}
unsafe impl<T: Sync> Sync for Mapping<T> {}

impl<T: Sync> SharedMemory<T> {
    /// Maps shared memory and initialises it in place with `init`, which must fully
    /// initialise the value (it receives the uninitialised slot).
    pub(crate) fn with_init(
        init: impl FnOnce(&mut MaybeUninit<T>) -> io::Result<()>,
    ) -> io::Result<SharedMemory<T>> {
        let len = NonZeroUsize::new(size_of::<T>().max(1)).unwrap_or(NonZeroUsize::MIN);
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let raw = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        let ptr = raw.cast::<T>();
        // SAFETY: the mapping is page-aligned, large enough for T, and ours alone so far.
        if let Err(e) = init(unsafe { ptr.cast::<MaybeUninit<T>>().as_mut() }) {
            // SAFETY: unmapping what we just mapped; nothing refers to it.
            let _ = unsafe { munmap(raw, len.get()) };
            return Err(e);
        }
        Ok(SharedMemory { mapping: Arc::new(Mapping { ptr }) })
    }

    /// Puts `value` in a new shared mapping.
    pub fn new(value: T) -> io::Result<SharedMemory<T>> {
        SharedMemory::with_init(|slot| {
            slot.write(value);
            Ok(())
        })
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
        // SAFETY: initialised in `with_init`, mapped until the last clone is dropped.
        unsafe { self.mapping.ptr.as_ref() }
    }
}

impl<T> Drop for Mapping<T> {
    fn drop(&mut self) {
        // No destructor for T: other processes may still use it (a semaphore or mutex
        // needs none on Linux). Unmapping only removes this process's view.
        let len = size_of::<T>().max(1);
        // SAFETY: the pointer and length are those of our own mapping.
        let _ = unsafe { munmap(self.ptr.cast(), len) };
    }
}

/// A counting semaphore that works across `fork`: CPython's
/// `multiprocessing.Semaphore`, which is also a POSIX `sem_t` in shared memory.
pub struct Semaphore {
    sem: UnsafeCell<libc::sem_t>,
}

// SAFETY: `sem_t` is designed for concurrent use through its functions.
unsafe impl Sync for Semaphore {}
unsafe impl Send for Semaphore {}

impl Semaphore {
    /// A semaphore holding `permits`, in new shared memory.
    pub fn shared(permits: u32) -> io::Result<SharedMemory<Semaphore>> {
        SharedMemory::with_init(|slot: &mut MaybeUninit<Semaphore>| {
            let sem = slot.as_mut_ptr().cast::<libc::sem_t>();
            // SAFETY: `sem` points to writable shared memory; pshared = 1.
            if unsafe { libc::sem_init(sem, 1, permits) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }

    /// Takes a permit, waiting at most `timeout` (for ever if `None`). Returns false
    /// if the timeout passed first; with a zero timeout, a free permit is still taken.
    pub fn acquire(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let deadline = timeout.map(|t| SystemTime::now() + t);
        loop {
            // SAFETY: `self.sem` was initialised by `sem_init`.
            let rc = unsafe {
                match deadline {
                    None => libc::sem_wait(self.sem.get()),
                    Some(at) => {
                        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
                        let ts = libc::timespec {
                            tv_sec: since.as_secs() as libc::time_t,
                            tv_nsec: since.subsec_nanos() as libc::c_long,
                        };
                        libc::sem_timedwait(self.sem.get(), &ts)
                    }
                }
            };
            if rc == 0 {
                return Ok(true);
            }
            match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ETIMEDOUT) => return Ok(false),
                e if e.kind() == io::ErrorKind::Interrupted => continue,
                e => return Err(e),
            }
        }
    }

    /// Returns a permit.
    pub fn release(&self) -> io::Result<()> {
        // SAFETY: initialised semaphore.
        if unsafe { libc::sem_post(self.sem.get()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// How many permits are free now (a snapshot: other processes may change it).
    pub fn value(&self) -> u32 {
        let mut value = 0;
        // SAFETY: initialised semaphore; `value` is a valid out-pointer.
        unsafe { libc::sem_getvalue(self.sem.get(), &mut value) };
        value.max(0) as u32
    }
}

/// A value and the lock that guards it, in shared memory: CPython's `Value('i', 0)`
/// with its `get_lock()`, except that here the lock owns the value.
///
/// The lock is a process-shared, *robust* `pthread_mutex_t`: if a process dies while
/// holding it, the next `lock` succeeds and says so ([`Guard::holder_died`]) instead of
/// waiting for ever, as CPython's `multiprocessing.Lock` does. It works in any memory
/// that several processes map: [`RobustMutex::shared`] makes an anonymous mapping for
/// forked children; [`RobustMutex::init`] sets one up in memory mapped by name.
///
/// ```
/// use examples_ipc::shared::RobustMutex;
/// use examples_process::Process;
///
/// let counter = RobustMutex::shared(0_i32)?;
/// let mut child = Process::new({
///     let counter = counter.clone();
///     move || *counter.lock().expect("lock") += 5
/// });
/// child.start()?;
/// child.join()?;
/// assert_eq!(*counter.lock()?, 5); // the child's change, seen by the parent
/// # Ok::<(), std::io::Error>(())
/// ```
#[repr(C)]
pub struct RobustMutex<T> {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through a guard that holds `mutex`, and only plain
// `Copy` data is allowed in it, so it is meaningful in every process.
unsafe impl<T: Copy + Send> Sync for RobustMutex<T> {}

impl<T: Copy + Send> RobustMutex<T> {
    /// `value` behind a new lock, in a new anonymous shared mapping.
    pub fn shared(value: T) -> io::Result<SharedMemory<RobustMutex<T>>> {
        // SAFETY: `with_init` hands us writable memory for one `RobustMutex<T>`.
        SharedMemory::with_init(|slot: &mut MaybeUninit<RobustMutex<T>>| unsafe {
            RobustMutex::init(slot.as_mut_ptr(), value)
        })
    }

    /// Initialises a lock holding `value` at `slot`, in memory that other processes
    /// map too (for example a named segment). Call it once, before anyone locks.
    ///
    /// # Safety
    /// `slot` must be valid for writes of `size_of::<RobustMutex<T>>()` bytes, suitably
    /// aligned, and not in use by any process yet.
    pub unsafe fn init(slot: *mut RobustMutex<T>, value: T) -> io::Result<()> {
        // SAFETY: the caller guarantees `slot`; the attribute object lives on this
        // stack frame and is destroyed before returning.
        unsafe {
            std::ptr::addr_of_mut!((*slot).value).write(UnsafeCell::new(value));
            let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let attr = attr.as_mut_ptr();
            let result =
                check(libc::pthread_mutexattr_setpshared(attr, libc::PTHREAD_PROCESS_SHARED))
                    .and_then(|()| {
                        check(libc::pthread_mutexattr_setrobust(attr, libc::PTHREAD_MUTEX_ROBUST))
                    })
                    .and_then(|()| {
                        check(libc::pthread_mutex_init(
                            std::ptr::addr_of_mut!((*slot).mutex).cast(),
                            attr,
                        ))
                    });
            libc::pthread_mutexattr_destroy(attr);
            result
        }
    }

    /// Waits for the lock. If its last holder died holding it, the lock is made
    /// consistent again and the guard's [`Guard::holder_died`] is true: the value may
    /// be half-updated, and it is yours to check.
    pub fn lock(&self) -> io::Result<Guard<'_, T>> {
        let mutex = self.mutex.get();
        // SAFETY: initialised process-shared mutex.
        match unsafe { libc::pthread_mutex_lock(mutex) } {
            0 => Ok(Guard { cell: self, holder_died: false, _not_send: PhantomData }),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD means acquired).
                check(unsafe { libc::pthread_mutex_consistent(mutex) })?;
                Ok(Guard { cell: self, holder_died: true, _not_send: PhantomData })
            }
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// Access to a [`RobustMutex`]'s value; the lock is released when it is dropped.
pub struct Guard<'a, T> {
    cell: &'a RobustMutex<T>,
    holder_died: bool,
    /// Not `Send`: a pthread mutex must be unlocked by the thread that locked it.
    _not_send: PhantomData<*const ()>,
}

impl<T> Guard<'_, T> {
    /// Whether the previous holder died while holding the lock (it was recovered).
    pub fn holder_died(&self) -> bool {
        self.holder_died
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we hold the lock.
        unsafe { libc::pthread_mutex_unlock(self.cell.mutex.get()) };
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) }
}
