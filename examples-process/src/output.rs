//! What a program does when its standard output fails, and the one-line error for
//! `main`. See [`exit_on_stdout_failure`] and [`Failure`].

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::panic::{self, PanicHookInfo};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::SeqCst};
use std::sync::{Once, OnceLock};

use nix::libc;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;

use crate::current_pid;

/// What the whole process tree knows about standard output, in memory shared by the
/// program and every child it forks.
#[repr(C)]
struct Tree {
    /// `FINE`, `CLOSED` or `FAILED`.
    state: AtomicU32,
    /// The process that called [`exit_on_stdout_failure`] first: the tree's root.
    root: AtomicI32,
    /// 1 once the line saying what failed has been written.
    said: AtomicU32,
}

const FINE: u32 = 0;
/// Whoever reads our output has gone (`| head`): end quietly, as `cat` does.
const CLOSED: u32 = 1;
/// Writing failed otherwise (a full disk): end with one line and exit code 1.
const FAILED: u32 = 2;

static TREE: OnceLock<&'static Tree> = OnceLock::new();

/// Makes a failure to print end the program at once, instead of a panic in whichever
/// thread or process printed and a hang in whoever waited for it.
///
/// - Standard output closed (`example | head -1`): every process of the program ends
///   quietly, killed by SIGPIPE, as `cat` or `grep` are.
/// - Any other write error (`example > /dev/full`): one line on standard error,
///   `example: cannot write to standard output: No space left on device`, and exit
///   code 1.
/// - A thread that cannot be started (too many processes or threads): one line,
///   `example: cannot start a thread: ...`, and exit code 1.
///
/// Inside a [`DeferTermination`](crate::DeferTermination) stretch, the failing thread
/// unwinds to the end of the stretch first, so that its cleanup (removing a file, a
/// named segment) runs, and the program ends there.
///
/// Call it first in `main`. It works through a panic hook (`println!` panics when it
/// cannot write) and a SIGPIPE handler, both inherited by the children that
/// [`Process`](crate::Process) forks: the process that fails tells the program's first
/// process, which ends, and the kernel ends the rest (`PR_SET_PDEATHSIG`). Other panics
/// are reported as usual. SIGPIPE stays harmless otherwise: a write to a closed pipe or
/// socket still returns an error (`BrokenPipe`), as Rust programs expect.
///
/// Rust ignores SIGPIPE, so without this `println!` to a closed pipe panics with
/// "failed printing to stdout: Broken pipe". CPython ignores it too and raises
/// `BrokenPipeError`.
pub fn exit_on_stdout_failure() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        TREE.get_or_init(new_tree);
        let on_sigpipe =
            SigAction::new(SigHandler::Handler(on_sigpipe), SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: the handler only reads atomics and makes async-signal-safe calls
        // (`signal`, `sigprocmask`, `raise`, `_exit`).
        let _ = unsafe { signal::sigaction(Signal::SIGPIPE, &on_sigpipe) };
        let report = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !handle_output_panic(info) {
                report(info);
            }
        }));
    });
}

/// Whether this process has called [`exit_on_stdout_failure`] (or inherited it).
pub(crate) fn installed() -> bool {
    TREE.get().is_some()
}

/// The shared page, made by the root before it forks anything. If it cannot be mapped,
/// a private one: the program still ends, only its children do not learn why.
fn new_tree() -> &'static Tree {
    // SAFETY: all-zero is a valid `Tree` (atomics at 0: `FINE`, no root yet, not said).
    let tree = unsafe { crate::handover::shared_page::<Tree>() }.unwrap_or_else(|_| {
        let zero = || AtomicU32::new(0);
        Box::leak(Box::new(Tree { state: zero(), root: AtomicI32::new(0), said: zero() }))
    });
    tree.root.store(current_pid(), SeqCst);
    tree
}

/// The text a panic carries: `panic!("literal")` gives a `&str`, a formatted message
/// or a failed `expect` a `String`; anything else (`panic_any`) has none.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    let literal = payload.downcast_ref::<&str>().copied();
    literal.or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Recognises the panics that mean "output failed" (or "no more threads") and ends the
/// program; returns false for any other panic.
fn handle_output_panic(info: &PanicHookInfo<'_>) -> bool {
    let Some(tree) = TREE.get() else { return false };
    let message = panic_message(info.payload()).unwrap_or("");
    if let Some(error) = message
        .strip_prefix("failed printing to stdout: ")
        .or_else(|| message.strip_prefix("failed printing to stderr: "))
    {
        if error.contains("os error 32") {
            let _ = tree.state.compare_exchange(FINE, CLOSED, SeqCst, SeqCst);
        } else {
            fail(tree, &format!("cannot write to standard output: {error}"));
        }
    } else if message.starts_with("failed to spawn thread")
        || message.starts_with("The global thread pool has not been initialized")
    {
        fail(tree, &format!("cannot start a thread: {}", os_message(message)));
    } else if tree.state.load(SeqCst) == FINE {
        return false; // an ordinary panic: the usual report
    }
    // Any panic once output has failed is a consequence of it: say nothing more.
    if crate::signals::holding() {
        // Inside a `DeferTermination` stretch: unwind to its end, so that what it
        // protects is cleaned up; its drop ends the program.
        return true;
    }
    end_the_tree(tree)
}

/// Ends the program as a closed standard output does: quietly, killed by SIGPIPE, with
/// every process it forked. For a program that learns it from a child it ran with
/// `std::process::Command` (the child was killed by SIGPIPE): it shares no memory with
/// the program, so it could not say so itself. (A `Process` started with spawn or
/// forkserver needs no call: its handle does this when it finds the child so ended.)
pub fn end_as_stdout_closed() -> ! {
    let tree = TREE.get_or_init(new_tree);
    let _ = tree.state.compare_exchange(FINE, CLOSED, SeqCst, SeqCst);
    end_the_tree(tree)
}

/// Ends the program if output has failed; called where a `DeferTermination` ends.
pub(crate) fn end_if_failed() {
    if let Some(tree) = TREE.get()
        && tree.state.load(SeqCst) != FINE
    {
        end_the_tree(tree);
    }
}

/// Records a failure; the first process to fail says what failed, on one line, written
/// at once (one system call), so that nothing else can cut into it.
fn fail(tree: &Tree, what: &str) {
    if tree.state.compare_exchange(FINE, FAILED, SeqCst, SeqCst).is_ok() {
        let line = format!("{}: {what}\n", program_name());
        let _ = io::stderr().write_all(line.as_bytes());
        tree.said.store(1, SeqCst);
    }
}

/// Tells the root to end (its SIGPIPE handler reads the state), then ends this process.
/// After a failure, waits (a little) until its line is written: the process or thread
/// that writes it would be cut off if this one ended the program first.
fn end_the_tree(tree: &Tree) -> ! {
    if tree.state.load(SeqCst) == FAILED {
        for _ in 0..200 {
            if tree.said.load(SeqCst) == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let root = tree.root.load(SeqCst);
    if root != current_pid() {
        let _ = signal::kill(Pid::from_raw(root), Signal::SIGPIPE);
    }
    end_this_process(tree.state.load(SeqCst))
}

fn end_this_process(state: u32) -> ! {
    if state == CLOSED {
        // SAFETY: sets the default action (terminate), which needs no handler code.
        let _ = unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
        let mut pipe = SigSet::empty();
        pipe.add(Signal::SIGPIPE);
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&pipe), None);
        let _ = signal::raise(Signal::SIGPIPE);
    }
    // SAFETY: ends the process at once: no destructor could run safely now (another
    // thread may hold a lock that a destructor would wait for).
    unsafe { libc::_exit(1) }
}

/// SIGPIPE: a write to a closed pipe or socket (the write then fails with `BrokenPipe`,
/// as if SIGPIPE were ignored), or a process of the tree whose output failed.
extern "C" fn on_sigpipe(_: libc::c_int) {
    if let Some(tree) = TREE.get() {
        match tree.state.load(SeqCst) {
            FINE => {}
            state => end_this_process(state),
        }
    }
}

/// "Resource temporarily unavailable (os error 11)" out of a panic message that holds
/// an `io::Error`'s `Debug` form (`Os { code: 11, kind: .., message: ".." }`).
fn os_message(message: &str) -> String {
    let after = |key: &str| message.split_once(key).map(|(_, rest)| rest);
    let code = after("code: ").and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next());
    let text = after("message: \"").and_then(|rest| rest.split('"').next());
    match (text, code) {
        (Some(text), Some(code)) => format!("{text} (os error {code})"),
        _ => message.to_string(),
    }
}

pub(crate) fn program_name() -> String {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let path = std::path::Path::new(&arg0);
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// An error for `main` to return, printed as one line that says what failed:
/// `Error: cannot start Process-3: Resource temporarily unavailable (os error 11)`.
///
/// `main` may return `Result<(), Failure>` and use `?` on any error. Rust prints the
/// `Debug` form of the error `main` returns; an `io::Error`'s is a struct
/// (`Os { code: 11, kind: WouldBlock, ... }`), while `Failure`'s is the message.
///
/// Making a `Failure` says the program is failing: a [`Process`](crate::Process) handle
/// dropped from then on (as `?` returns from `main` and its locals drop) terminates its
/// child instead of waiting for it, since the child may wait for something the failing
/// code held. So an error returned from `main` never turns into a wait.
///
/// ```
/// use examples_process::Failure;
///
/// fn run() -> Result<(), Failure> {
///     let n: u32 = "seven".parse()?;
///     println!("{n}");
///     Ok(())
/// }
/// let failure = run().unwrap_err();
/// assert_eq!(format!("{failure:?}"), "invalid digit found in string");
/// ```
pub struct Failure(Box<dyn Error + Send + Sync>);

impl<E: Error + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Failure {
        FAILING.store(true, SeqCst);
        Failure(Box::new(error))
    }
}

impl Failure {
    /// A failure with a message of your own.
    pub fn new(message: impl Into<String>) -> Failure {
        FAILING.store(true, SeqCst);
        Failure(message.into().into())
    }
}

/// Set once a [`Failure`] has been made in this process: the program is on its way out
/// with an error, so handles dropped from then on end their children instead of waiting.
static FAILING: AtomicBool = AtomicBool::new(false);

/// Whether this process has made a [`Failure`].
pub(crate) fn failing() -> bool {
    FAILING.load(SeqCst)
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_are_read_out_of_their_debug_form() {
        let debug = format!("{:?}", io::Error::from_raw_os_error(11));
        assert_eq!(
            os_message(&format!("failed to spawn thread: {debug}")),
            "Resource temporarily unavailable (os error 11)"
        );
        assert_eq!(os_message("no details"), "no details");
    }

    #[test]
    fn a_failure_prints_its_message_only() {
        let failure = Failure::from(io::Error::other("cannot start worker 3 of 3"));
        assert_eq!(format!("{failure:?}"), "cannot start worker 3 of 3");
        assert_eq!(Failure::new("plain").to_string(), "plain");
    }
}
