//! Note 002 "多进程特点": a change a process makes stays in that process; a file is an
//! indirect way to pass data between processes.
//!
//! | CPython                                      | Rust                                      |
//! |----------------------------------------------|-------------------------------------------|
//! | `f = tempfile.TemporaryFile()` before the children | an unnamed file: `O_TMPFILE`, mode 0600 |
//! | `f.write(line)` in each child, `f.read()` after | `(&file).write_all(line)`, `read_to_string` |
//!
//! Run: `cargo run -p examples-process --bin file_share`
//!
//! ```text
//! main: the children write to an unnamed file in /tmp
//! main: read from file: pid=26165 counter=10        <- pids vary; the two children's
//! main: read from file: pid=26165 counter=20           lines may come in either order
//! main: read from file: pid=26165 counter=30
//! main: read from file: pid=26164 counter=1
//! main: read from file: pid=26164 counter=2
//! main: read from file: pid=26164 counter=3
//! main: counter=0 here; the children counted in their own copies
//! ```
//!
//! Where Rust differs: nothing essential. The file has no name (nobody else can open
//! it or plant a link there); each line is one `write` in append mode: lines never mix.
//!
//! Copy it: `cargo new file_share`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;

use examples_process::{Failure, Process};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let dir = std::env::temp_dir();
    let file = unnamed_file(&dir)?;
    println!("main: the children write to an unnamed file in {}", dir.display());

    let mut counter = 0;
    let mut writers = Vec::new();
    for step in [1, 10] {
        let file = file.try_clone()?; // the same open file: one offset, appending
        writers.push(Process::new(move || {
            for _ in 0..3 {
                counter += step; // this process's own copy
                let line = format!("pid={} counter={counter}\n", std::process::id());
                (&file).write_all(line.as_bytes()).expect("the file is open"); // else exit 1
            }
        }));
    }
    for writer in &mut writers {
        writer.start()?;
    }
    let codes = writers.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;

    let mut text = String::new();
    (&file).rewind()?;
    (&file).read_to_string(&mut text)?;
    for line in text.lines() {
        println!("main: read from file: {line}");
    }
    println!("main: counter={counter} here; the children counted in their own copies");
    assert_eq!((codes, counter, text.lines().count()), (vec![0, 0], 0, 6));
    Ok(())
}

/// A file in `dir` that has no name (`O_TMPFILE`), readable and writable by this user
/// only, for appending; the kernel frees it when the last process closes it.
fn unnamed_file(dir: &std::path::Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(nix::libc::O_TMPFILE)
        .mode(0o600)
        .open(dir)
}
