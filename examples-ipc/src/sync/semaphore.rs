//! `Semaphore` and `BoundedSemaphore`: a POSIX `sem_t` in shared memory, as CPython's.

use std::cell::UnsafeCell;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::libc;

use crate::shared::SharedMemory;

/// A counting semaphore that works across `fork`: CPython's
/// `multiprocessing.Semaphore`, which is also a POSIX `sem_t` in shared memory.
pub struct Semaphore {
    sem: UnsafeCell<libc::sem_t>,
    /// For a bounded semaphore, the most permits it may hold; 0 for no bound.
    bound: u32,
}

// SAFETY: `sem_t` is made for concurrent use through its functions, from any thread.
unsafe impl Sync for Semaphore {}
// SAFETY: as above; a `sem_t` is not tied to the thread that made it.
unsafe impl Send for Semaphore {}

impl Semaphore {
    /// A semaphore holding `permits`, in new shared memory.
    pub fn shared(permits: u32) -> io::Result<SharedMemory<Semaphore>> {
        Semaphore::make(permits, 0)
    }

    /// A semaphore that never holds more than `permits` (CPython:
    /// `BoundedSemaphore(permits)`): a release past that is an error.
    ///
    /// ```
    /// use examples_ipc::sync::Semaphore;
    ///
    /// let sem = Semaphore::bounded_shared(1)?;
    /// sem.acquire(None)?;
    /// sem.release()?;
    /// assert!(sem.release().is_err()); // released too many times
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bounded_shared(permits: u32) -> io::Result<SharedMemory<Semaphore>> {
        Semaphore::make(permits, permits.max(1))
    }

    fn make(permits: u32, bound: u32) -> io::Result<SharedMemory<Semaphore>> {
        let init = |slot: *mut Semaphore| {
            // SAFETY: `slot` points to writable, zeroed shared memory for one
            // `Semaphore`, not yet seen by anyone else.
            unsafe {
                if libc::sem_init(std::ptr::addr_of_mut!((*slot).sem).cast(), 1, permits) != 0 {
                    return Err(io::Error::last_os_error());
                }
                std::ptr::addr_of_mut!((*slot).bound).write(bound);
            }
            Ok(())
        };
        // SAFETY: on success the slot holds a semaphore made with pshared = 1 (no
        // pointer, woken through a shared futex: it works in any process that maps it)
        // and its bound.
        unsafe { SharedMemory::init_in_place(init) }
    }

    /// Takes a permit, waiting at most `timeout` (for ever if `None`, or if the timeout
    /// is too large to add to the clock). Returns false if the timeout passed first;
    /// with a zero timeout, a free permit is still taken.
    pub fn acquire(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let deadline = timeout.and_then(|t| SystemTime::now().checked_add(t));
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

    /// Returns a permit. For a bounded semaphore already full, an error (CPython:
    /// `ValueError: Semaphore released too many times`); two processes releasing at the
    /// same instant may both pass that check, as in CPython.
    pub fn release(&self) -> io::Result<()> {
        if self.bound > 0 && self.value() >= self.bound {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "semaphore released too many times",
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_semaphore_counts_and_times_out() {
        let sem = Semaphore::shared(1).unwrap();
        assert_eq!(sem.value(), 1);
        assert!(sem.acquire(Some(Duration::ZERO)).unwrap());
        assert!(!sem.acquire(Some(Duration::from_millis(10))).unwrap());
        sem.release().unwrap();
        assert!(sem.acquire(None).unwrap());
        sem.release().unwrap();
        assert!(sem.acquire(Some(Duration::MAX)).unwrap(), "no overflow, no panic");
    }
}
