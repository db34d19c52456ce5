//! How one side of a ring in shared memory waits for the other: spin a little, then
//! sleep on a futex until the other side says it moved. [`ring`](crate::ring) and the
//! queue's ring of bytes both wait this way; the numbers live here.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use rustix::thread::futex;

/// How long a side keeps looking before it goes to sleep. Waking a sleeping process
/// costs a system call on one side and a trip through the scheduler on the other (often
/// a millisecond on an idle virtual CPU here), while the other side usually moves within
/// microseconds; spinning longer would only burn the core.
const SPIN: Duration = Duration::from_micros(50);

/// Checks between two readings of the clock while spinning.
const CHECKS_PER_ROUND: u32 = 64;

/// How many times a side gives up the CPU before it sleeps, when only one CPU can run
/// this process: the other side cannot run while we spin, so let it move many items at
/// once before anyone pays for sleeping and waking (100,000 items through the ring under
/// `taskset -c 0`: 96 ms spinning, 2.3 ms yielding).
const YIELDS: u32 = 4;

crate::process_shared! {
    /// Where one side sleeps and how the other wakes it. All zero: awake, never slept.
    #[repr(C)]
    #[derive(Default)]
    pub(crate) struct Parking {
        /// Bumped to wake the sleeper: the futex word (shared, not the private kind: the
        /// sleeper may be another process).
        event: AtomicU32,
        /// 1 while the side sleeps or is about to.
        sleeping: AtomicU32,
        /// How many times it went to sleep.
        sleeps: AtomicU32,
    }
}

impl Parking {
    /// Waits until `ready()` or `deadline`: spins (or yields, on one CPU) a little, then
    /// sleeps until woken. Returns whether `ready()` held. `ready` is called often; it
    /// reads the other side's position.
    pub(crate) fn wait(&self, ready: impl Fn() -> bool, deadline: Option<Instant>) -> bool {
        if ready() {
            return true; // the usual case: no clock, no system call
        }
        if one_cpu() {
            for _ in 0..YIELDS {
                if ready() {
                    return true;
                }
                std::thread::yield_now();
            }
        } else {
            let spin_until = Instant::now() + SPIN;
            loop {
                for _ in 0..CHECKS_PER_ROUND {
                    if ready() {
                        return true;
                    }
                    spin_loop();
                }
                if Instant::now() >= spin_until {
                    break;
                }
            }
        }
        loop {
            let seen = self.event.load(Ordering::SeqCst); // a later bump ends the sleep
            self.sleeping.store(1, Ordering::SeqCst);
            fence(Ordering::SeqCst); // pairs with the fence in `wake`
            // Look again after saying we sleep: the other side either sees `sleeping` and
            // bumps `event`, or moved before, and then `ready()` sees it here.
            if ready() {
                self.sleeping.store(0, Ordering::Relaxed);
                return true;
            }
            let left = match deadline {
                None => None,
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        self.sleeping.store(0, Ordering::Relaxed);
                        return ready();
                    }
                },
            };
            self.sleeps.fetch_add(1, Ordering::Relaxed);
            futex_wait(&self.event, seen, left);
            self.sleeping.store(0, Ordering::Relaxed); // awake: the other side need not call
        }
    }

    /// Called by the other side after it moved (its position stored): wakes this side if
    /// it sleeps, and clears the flag, so the next moves make no system call while it is
    /// on its way back (on one CPU that can be many moves).
    pub(crate) fn wake(&self) {
        // Orders the caller's store before the load of `sleeping`; pairs with the fence
        // in `wait`: either the sleeper sees the new position, or we see its flag.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) != 0
            && self.sleeping.swap(0, Ordering::SeqCst) != 0
        {
            self.wake_always();
        }
    }

    /// Wakes this side whatever it is doing (the other side closed).
    pub(crate) fn wake_always(&self) {
        self.event.fetch_add(1, Ordering::SeqCst);
        let _ = futex::wake(&self.event, futex::Flags::empty(), u32::MAX);
    }

    /// How many times this side has gone to sleep.
    pub(crate) fn sleeps(&self) -> u32 {
        self.sleeps.load(Ordering::Relaxed)
    }
}

/// Whether this process may run on one CPU only (`taskset -c 0`, a one-CPU machine or
/// container): then spinning only delays the other side. Asked at every wait that must
/// wait (one `sched_getaffinity`, about 0.2 µs), not once: a program may change its CPUs
/// as it runs, as the peers benchmark does, and a forked child inherits whatever was
/// cached (cached, the ring under `taskset` spun where it should yield: 13.5 ms instead
/// of 2.7 for 100,000 items, in the peers benchmark).
pub(crate) fn one_cpu() -> bool {
    rustix::thread::sched_getaffinity(None).map_or(true, |cpus| cpus.count() == 1)
}

/// Sleeps while `word` still holds `expected`, at most `timeout`. Returns on a wake-up,
/// a change, a signal or the timeout; the caller looks again in every case.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let timeout = timeout.map(|t| futex::Timespec {
        tv_sec: t.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: t.subsec_nanos().into(),
    });
    let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
}
