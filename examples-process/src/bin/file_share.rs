//! Processes share no memory, but they can talk through a file.
//!
//! Mirrors note 002 "多进程特点": every change a process makes stays in that process;
//! writing a file is an indirect way to pass data between them.
//!
//! | CPython                                      | Rust                                      |
//! |----------------------------------------------|-------------------------------------------|
//! | `open(path, 'a').write(line)` in each child  | `OpenOptions::new().append(true)` + one `write_all` per line |
//! | `open(path).read()` in the parent            | `std::fs::read_to_string(path)?`          |
//! | `os.remove(path)`                            | `std::fs::remove_file`, in a guard's `Drop` |
//!
//! Run: `cargo run -p examples-process --bin file_share`
//!
//! Output: each of two children adds to its own copy of `counter` and appends three
//! lines to one file; the parent's `counter` is still 0 afterwards, yet it reads all
//! six lines from the file, and the file is gone when the program ends. What varies:
//! pids, the file's name, and the order of the two children's lines in the file.
//!
//! Where Rust differs: nothing essential. Each line goes to the file in one `write`
//! on a file opened for appending, so lines from two processes never mix (`O_APPEND`).
//!
//! Ctrl-C (or SIGTERM) while it runs is held back until the file is removed, then ends
//! the program: no file is left behind (`DeferTermination`). Only SIGKILL, which
//! nothing can hold back, could leave it.
//!
//! In your own program: `tempfile` makes a file that is removed when dropped; processes
//! that share data usually do so through a pipe or a socket instead.
//!
//! Copy it: `cargo new file_share`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31 --features process
//! ```

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use examples_process::{DeferTermination, Failure, Process};
use nix::unistd::getpid;

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    // Declared first, so dropped last: after `file` has been removed.
    let _hold_signals = DeferTermination::new()?;
    let file = TempFile(std::env::temp_dir().join(format!("file_share-{}.txt", getpid())));
    println!("main: file={}", file.0.display());

    let mut counter = 0;
    let mut writers = Vec::new();
    for step in [1, 10] {
        let path = file.0.clone();
        writers.push(Process::new(move || {
            for _ in 0..3 {
                counter += step; // this process's own copy
                let line = format!("pid={} counter={counter}\n", getpid());
                if let Err(e) = append(&path, &line) {
                    panic!("cannot write {}: {e}", path.display()); // exit code 1
                }
            }
        }));
    }
    for writer in &mut writers {
        writer.start()?;
    }
    let codes = writers.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;

    let text = fs::read_to_string(&file.0)?;
    for line in text.lines() {
        println!("main: read from file: {line}");
    }
    println!("main: counter={counter} here; the children counted in their own copies");

    assert_eq!(codes, [0, 0]);
    assert_eq!(counter, 0);
    assert_eq!(text.lines().count(), 6);
    for last in ["counter=3", "counter=30"] {
        assert!(text.lines().any(|l| l.ends_with(last)), "missing {last}");
    }
    drop(file);
    println!("main: ok, six lines passed through the file, which is now removed");
    Ok(())
}

fn append(path: &Path, line: &str) -> io::Result<()> {
    OpenOptions::new().create(true).append(true).open(path)?.write_all(line.as_bytes())
}

/// Removes the file when dropped, on the way out of `main` or of a failed `?`. Only the
/// parent drops it: children leave with `_exit`, which runs no destructor.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
