//! Timelines of who ran when: spans recorded from any thread of this process and of the
//! children it forks, drawn as one self-contained SVG picture.
//!
//! A [`Timeline`] lives in shared memory, so a child started with fork records into the
//! same log as its parent (children started with spawn or forkserver do not: they do
//! not share the mapping). [`install`](Timeline::install) makes one the process's own:
//! then [`span`] and [`mark`] record there from any function, thread or forked child,
//! with no timeline passed around; before that, and in a run without `--timeline`,
//! they record nothing and cost a load. A span costs two reads of the monotonic clock,
//! which every process shares, one atomic increment and about a hundred bytes of
//! stores: about 150 ns for a span opened and closed here (release build, best of 20
//! runs of 4,000), nothing next to what the examples measure.
//!
//! ```
//! use examples_process::Process;
//! use examples_process::timeline::{self, Timeline};
//!
//! let recorded = Timeline::recording()?.install()?;
//! let mut child = Process::new(|| {
//!     let _working = timeline::span("work"); // ends when dropped
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//! });
//! child.start()?;
//! timeline::mark("started");
//! child.join()?;
//! assert_eq!(recorded.records().len(), 2); // the child's span and the parent's mark
//! assert!(recorded.svg("one child").starts_with("<svg"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A span still open when the picture is drawn (its process was killed, or it has not
//! ended yet) is drawn up to the end with a jagged edge: cut off.
//!
//! The examples take `--timeline FILE.svg` ([`Timeline::from_args_or_exit`] and
//! [`take_flag`]); without it a timeline is [`off`](Timeline::off) and costs nothing.
//!
//! The files: `log.rs` the shared log, `picture.rs` the layout and drawing (with
//! [`crate::svg`]), this file the API, the process's timeline and the `--timeline` flag.

mod log;
mod picture;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::shared::SharedMemory;
pub use log::CAPACITY;
use log::{Entry, Log};

/// A recorder of spans and marks, shared with threads (clone it) and forked children.
/// [`Timeline::off`] records nothing.
#[derive(Clone)]
pub struct Timeline {
    log: Option<SharedMemory<Log>>,
    path: Option<PathBuf>,
}

/// A span being recorded; it ends when dropped. Hold it in a named variable
/// (`let _span = ...`): `let _ = ...` would end it at once.
#[must_use = "a span ends when dropped: bind it with `let _span = ...`"]
pub struct Span<'a> {
    open: Option<(&'a Log, &'a Entry)>,
}

impl Drop for Span<'_> {
    fn drop(&mut self) {
        if let Some((log, entry)) = self.open {
            log.close(entry);
        }
    }
}

/// A span or mark read back from a timeline. Times are since the timeline began.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The row: the process's name for its main thread, else the thread's name.
    pub row: String,
    /// The recording process.
    pub pid: i32,
    /// The recording thread (the kernel's thread id).
    pub tid: i32,
    /// What the span or mark says.
    pub label: String,
    /// When it began (a mark: when it happened).
    pub start: Duration,
    /// When it ended: `None` for a mark, or a span still open.
    pub end: Option<Duration>,
    /// Whether this is a mark (an instant), not a span.
    pub mark: bool,
}

/// The process's timeline, once installed; inherited by the children it forks.
static THIS_PROCESS: OnceLock<Timeline> = OnceLock::new();
/// What [`span`] and [`mark`] use before a timeline is installed.
static OFF: Timeline = Timeline::off();

/// Starts a span labelled `label` on this thread's row of the process's timeline
/// (nothing without one); it ends when the returned guard is dropped.
pub fn span(label: &str) -> Span<'static> {
    THIS_PROCESS.get().unwrap_or(&OFF).span(label)
}

/// Records an instant event on this thread's row of the process's timeline (nothing
/// without one).
pub fn mark(label: &str) {
    THIS_PROCESS.get().unwrap_or(&OFF).mark(label)
}

impl Timeline {
    /// A timeline that records nothing, for a run without `--timeline`.
    pub const fn off() -> Timeline {
        Timeline { log: None, path: None }
    }

    /// A timeline that records, in memory shared with children forked afterwards.
    pub fn recording() -> io::Result<Timeline> {
        let log = SharedMemory::<Log>::zeroed()?;
        log.start();
        Ok(Timeline { log: Some(log), path: None })
    }

    /// A recording timeline that [`save`](Timeline::save) writes to `path`.
    pub fn to_file(path: impl Into<PathBuf>) -> io::Result<Timeline> {
        Ok(Timeline { path: Some(path.into()), ..Timeline::recording()? })
    }

    /// [`to_file`](Timeline::to_file) for `Some(path)`, [`off`](Timeline::off) for
    /// `None`: what [`take_flag`] found.
    pub fn for_flag(path: Option<PathBuf>) -> io::Result<Timeline> {
        path.map_or_else(|| Ok(Timeline::off()), Timeline::to_file)
    }

    /// Makes this the process's timeline, where [`span`] and [`mark`] record from now
    /// on, here and in the children forked afterwards. Once per process: a second
    /// timeline is an error.
    pub fn install(self) -> io::Result<&'static Timeline> {
        let mut mine = false;
        let installed = THIS_PROCESS.get_or_init(|| {
            mine = true;
            self
        });
        if !mine {
            return Err(io::Error::other("this process has a timeline already"));
        }
        Ok(installed)
    }

    /// For an example whose only argument is `--timeline FILE.svg`: a timeline writing
    /// there, or [`off`](Timeline::off) without the flag, installed as the process's.
    /// `--help` prints the usage and exits; anything else, or a file in a directory that
    /// does not exist, ends the program with a one-line usage error and exit code 2.
    pub fn from_args_or_exit() -> &'static Timeline {
        let program = crate::output::program_name();
        let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let usage = |what: &str| -> ! {
            eprintln!("{program}: {what}; usage: {program} [--timeline FILE.svg]");
            std::process::exit(2)
        };
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!("usage: {program} [--timeline FILE.svg]");
            std::process::exit(0);
        }
        let path = take_flag(&mut args).unwrap_or_else(|e| usage(&e));
        if let Some(extra) = args.first() {
            usage(&format!("unexpected argument {extra:?}"));
        }
        match Timeline::for_flag(path).and_then(Timeline::install) {
            Ok(timeline) => timeline,
            Err(e) => {
                eprintln!("{program}: cannot record a timeline: {e}");
                std::process::exit(1)
            }
        }
    }

    /// Whether this timeline records.
    pub fn is_on(&self) -> bool {
        self.log.is_some()
    }

    /// Starts a span labelled `label` on this thread's row; it ends when the returned
    /// guard is dropped.
    pub fn span(&self, label: &str) -> Span<'_> {
        let log = self.log.as_deref();
        Span { open: log.and_then(|log| Some((log, log.open(label)?))) }
    }

    /// Records an instant event on this thread's row (drawn as a mark with its label
    /// above the rows).
    pub fn mark(&self, label: &str) {
        if let Some(log) = &self.log {
            log.mark(label);
        }
    }

    /// What has been recorded so far, in the order the entries were claimed. Spans
    /// still open have `end: None`.
    pub fn records(&self) -> Vec<Record> {
        self.log.as_ref().map_or_else(Vec::new, |log| log.records())
    }

    /// How many spans and marks did not fit (beyond [`CAPACITY`]).
    pub fn dropped(&self) -> usize {
        self.log.as_ref().map_or(0, |log| log.dropped())
    }

    /// The picture of what has been recorded, as SVG, titled `title`.
    pub fn svg(&self, title: &str) -> String {
        let now = self.log.as_ref().map_or(0, |log| log.now());
        picture::render(title, &self.records(), Duration::from_nanos(now))
    }

    /// Writes the picture to the file given to [`to_file`](Timeline::to_file) (nothing
    /// for a timeline without one) and returns its path. It goes to a temporary file
    /// beside it first, renamed into place: a failed write leaves no partial file.
    pub fn save(&self, title: &str) -> io::Result<Option<&Path>> {
        let Some(path) = &self.path else { return Ok(None) };
        write_atomically(path, self.svg(title).as_bytes()).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot write the timeline {}: {e}", path.display()))
        })?;
        Ok(Some(path))
    }
}

/// Takes `--timeline FILE` (or `--timeline=FILE`) out of `args` and returns the file,
/// checked: it must name a file in a directory that exists. The error is one line for
/// a usage message.
pub fn take_flag(args: &mut Vec<OsString>) -> Result<Option<PathBuf>, String> {
    let Some(at) = args
        .iter()
        .position(|a| a == "--timeline" || a.to_string_lossy().starts_with("--timeline="))
    else {
        return Ok(None);
    };
    let flag = args.remove(at);
    let value = match flag.to_string_lossy().strip_prefix("--timeline=") {
        Some(value) => OsString::from(value),
        None if at < args.len() => args.remove(at),
        None => return Err("--timeline needs a file name".into()),
    };
    let path = PathBuf::from(&value);
    if value.is_empty() || path.file_name().is_none() || path.is_dir() {
        return Err(format!("--timeline needs a file name, not {value:?}"));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!("--timeline: no directory {}", dir.display()));
    }
    Ok(Some(path))
}

/// Writes `bytes` to a new file beside `path`, then renames it over `path`: a reader
/// sees the old file or the new one, never half of one. The new file's name cannot be
/// guessed (a random number from the operating system's keys) and it is created
/// exclusively, so a name planted in a shared directory (a link to someone's file) is
/// never written through.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::hash::{BuildHasher, RandomState};
    use std::io::Write;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for attempt in 0..16_u32 {
        let random = RandomState::new().hash_one((attempt, std::time::SystemTime::now()));
        let temporary = path.with_file_name(format!(".{name}.{random:016x}.tmp"));
        let mut file = match std::fs::File::options().write(true).create_new(true).open(&temporary)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = file.write_all(bytes).and_then(|()| std::fs::rename(&temporary, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        return written;
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name beside it"))
}
