//! [`DeferTermination`]: a stretch of code that Ctrl-C waits for.

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

thread_local! {
    /// The signal mask before the outermost `DeferTermination` of this thread, if any:
    /// a child forked meanwhile gets it back (see `restore_in_child`).
    static BEFORE: Cell<Option<SigSet>> = const { Cell::new(None) };
    /// How many `DeferTermination`s of this thread are alive: the mask comes back when
    /// the last one goes, whatever order they are dropped in.
    static LIVE: Cell<u32> = const { Cell::new(0) };
}

/// Holds back Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT while it lives, so that a
/// short stretch that must not be cut (a file or a named segment exists and must be
/// removed) runs to its end. When it is dropped, a signal that arrived meanwhile is
/// delivered and does what it does by default: end the process. SIGKILL can never be
/// held back.
///
/// An output failure inside the stretch is held back the same way (see
/// [`exit_on_stdout_failure`](crate::exit_on_stdout_failure)): the failing thread
/// unwinds to the end of the stretch, so what it protects is cleaned up, and SIGPIPE,
/// by which a failing child tells this process to end, waits with the others. (A write
/// to a closed pipe still fails with `BrokenPipe` meanwhile.)
///
/// The signal mask belongs to a thread, so the guard cannot be sent to another thread
/// (it is not `Send`), and children that [`Process`](crate::Process) forks while it
/// lives start with the signals let through again: `terminate()` works on them.
///
/// ```
/// use examples_process::DeferTermination;
///
/// let hold = DeferTermination::new()?;
/// // ... create something named, use it, remove it ...
/// drop(hold); // a Ctrl-C pressed meanwhile takes effect here
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ```compile_fail,E0277
/// let hold = examples_process::DeferTermination::new()?;
/// std::thread::spawn(move || drop(hold)); // the mask is this thread's
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct DeferTermination {
    _this_thread: PhantomData<*const ()>,
}

impl DeferTermination {
    /// Starts holding the signals back, on the calling thread.
    ///
    /// Guards may be dropped in any order: the signals come back when the last one of
    /// the thread goes.
    ///
    /// ```
    /// use examples_process::DeferTermination;
    ///
    /// let first = DeferTermination::new()?;
    /// let second = DeferTermination::new()?;
    /// drop(first); // still held: `second` lives
    /// drop(second); // let through again
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<DeferTermination> {
        let mut held = SigSet::empty();
        for signal in
            [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGPIPE]
        {
            held.add(signal);
        }
        let mut previous = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&held), Some(&mut previous))?;
        if LIVE.get() == 0 {
            BEFORE.set(Some(previous));
        }
        LIVE.set(LIVE.get() + 1);
        Ok(DeferTermination { _this_thread: PhantomData })
    }
}

impl Drop for DeferTermination {
    fn drop(&mut self) {
        LIVE.set(LIVE.get().saturating_sub(1));
        if LIVE.get() > 0 {
            return;
        }
        // An output failure inside the stretch (see `exit_on_stdout_failure`) unwound to
        // here; now the program ends.
        crate::output::end_if_failed();
        if let Some(before) = BEFORE.take() {
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None);
        }
    }
}

/// Whether this thread is inside a `DeferTermination` stretch.
pub(crate) fn holding() -> bool {
    LIVE.get() > 0
}

/// In a forked child: the mask from before any `DeferTermination` of the forking thread
/// (the parent's guards are not the child's: it never drops them).
pub(crate) fn restore_in_child() {
    // Written only if set: a write to the thread's data costs a forked child a page fault.
    if LIVE.get() != 0 {
        LIVE.set(0);
    }
    if let Some(before) = BEFORE.get().and(BEFORE.take()) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None);
    }
}
