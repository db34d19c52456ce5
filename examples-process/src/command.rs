//! Children that are other programs: [`die_with_parent`] and [`run_self`].

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{getpid, getppid};

/// Runs this same program again with one argument (a "role"), prints its standard
/// output indented behind `  | `, and returns those lines. It is how an example shows
/// what happens when a program *ends*, which can only be seen from outside. Fails if
/// the run does not exit with code 0.
pub fn run_self(role: &str) -> io::Result<Vec<String>> {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let name = std::path::Path::new(&arg0).file_name().unwrap_or_default().to_string_lossy();
    println!("main: running `{name} {role}`:");
    let run = die_with_parent(&mut Command::new(std::env::current_exe()?))?.arg(role).output()?;
    let lines: Vec<String> =
        String::from_utf8_lossy(&run.stdout).lines().map(String::from).collect();
    for line in &lines {
        println!("  | {line}");
    }
    if !run.status.success() {
        let err = String::from_utf8_lossy(&run.stderr);
        let last = err.lines().next_back().unwrap_or("");
        return Err(io::Error::other(format!("`{role}` run failed with {}: {last}", run.status)));
    }
    Ok(lines)
}

/// Makes a child started with `std::process::Command` get SIGKILL when this process
/// dies, as [`Process`](crate::Process) children do, so a Ctrl-C or `kill` of the
/// parent leaves no orphan running.
///
/// The kernel ties this to the *thread* that starts the child, not the process: the
/// child would be killed as soon as that thread ends. So it works only on the main
/// thread, which lives as long as the process; on any other thread it is an error.
/// Start the child on the thread that called this.
///
/// ```
/// use std::process::Command;
/// use examples_process::die_with_parent;
///
/// let status = die_with_parent(&mut Command::new("true"))?.status()?;
/// assert!(status.success());
///
/// let on_a_thread = std::thread::spawn(|| die_with_parent(&mut Command::new("true")).is_err());
/// assert!(on_a_thread.join().unwrap());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn die_with_parent(command: &mut Command) -> io::Result<&mut Command> {
    let parent = getpid();
    if rustix::thread::gettid().as_raw_nonzero().get() != parent.as_raw() {
        return Err(io::Error::other(
            "die_with_parent works on the main thread only: PR_SET_PDEATHSIG fires when \
             the thread that starts the child ends",
        ));
    }
    // SAFETY: the closure runs in the forked child before `exec` and only makes
    // async-signal-safe system calls (prctl, getppid); it allocates nothing.
    Ok(unsafe {
        command.pre_exec(move || {
            prctl::set_pdeathsig(Signal::SIGKILL)?;
            // A parent that died before the call above sends no signal: check.
            if getppid() != parent {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            Ok(())
        })
    })
}
