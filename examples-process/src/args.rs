//! The examples' command line: most take no arguments, and say so.

/// Ends the program with a one-line usage error and exit code 2 if it was given any
/// argument (an example that takes none, given `--timeline`, says so instead of
/// ignoring it). Call it first in `main`, after
/// [`exit_on_stdout_failure`](crate::exit_on_stdout_failure).
pub fn no_arguments() {
    if let Some(arg) = std::env::args_os().nth(1) {
        let program = crate::output::program_name();
        eprintln!("{program}: unexpected argument {arg:?}; usage: {program} (no arguments)");
        std::process::exit(2);
    }
}
