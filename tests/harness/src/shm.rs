//! A `/dev/shm` of its own for each run, so that what is left there after the run is
//! that run's, whatever else the machine does meanwhile.
//!
//! The run starts in a mount namespace of its own (`unshare(CLONE_NEWNS)`), where a
//! fresh directory of the real `/dev/shm` (a tmpfs, mode 0700) is bind-mounted over
//! `/dev/shm`. `shm_open` in the run and in everything it starts creates its names
//! there; the test reads the directory afterwards. Making a mount namespace needs
//! `CAP_SYS_ADMIN` (root, as in CI here); without it, runs see the real `/dev/shm` and
//! the check is skipped, with a note saying so.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use nix::libc;

/// A run's own `/dev/shm`: a directory of the real one, removed when dropped.
pub(crate) struct PrivateShm {
    dir: PathBuf,
    c_dir: CString,
}

impl PrivateShm {
    /// A new one, or `None` (and a note, once) where mount namespaces cannot be made.
    pub(crate) fn new() -> Option<PrivateShm> {
        if let Err(why) = available() {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| crate::skipped("the per-run /dev/shm check", why));
            return None;
        }
        let dir = crate::private_dir::make_private_dir_in(Path::new("/dev/shm"), "harness");
        let c_dir = CString::new(dir.as_os_str().as_bytes()).expect("no NUL in the path");
        Some(PrivateShm { dir, c_dir })
    }

    /// Where the run's `/dev/shm` is, seen from the test.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Makes `command` start in a mount namespace where this directory is `/dev/shm`.
    pub(crate) fn apply(&self, command: &mut Command) {
        let dir = self.c_dir.clone();
        // SAFETY: runs in the forked child before `exec`; `unshare` and `mount` are
        // system calls, and nothing is allocated (the path was made before the fork).
        unsafe { command.pre_exec(move || enter(&dir)) };
    }

    /// The names the run left in its `/dev/shm`.
    pub(crate) fn left(&self) -> Vec<String> {
        // Read or fail: an unreadable directory must not pass as an empty one.
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .unwrap_or_else(|e| panic!("cannot read {:?}: {e}", self.dir))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for PrivateShm {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// In the child, before `exec`: a mount namespace of its own, mounts not shared back
/// to the machine's, and `dir` over `/dev/shm`.
fn enter(dir: &CString) -> std::io::Result<()> {
    let check =
        |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
    let none = std::ptr::null();
    // SAFETY: plain system calls with valid NUL-terminated paths (or null where the
    // call takes none).
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            none.cast(),
        ))?;
        check(libc::mount(dir.as_ptr(), c"/dev/shm".as_ptr(), none, libc::MS_BIND, none.cast()))
    }
}

/// Whether this machine lets the test make mount namespaces: tried once, on `true`.
fn available() -> Result<(), &'static str> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        let mut command = Command::new("true");
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let shm = c"/dev/shm".to_owned();
        // SAFETY: as in `apply`.
        unsafe { command.pre_exec(move || enter(&shm)) };
        match command.status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("`true` in a mount namespace ended with {status}")),
            Err(e) => Err(format!("no mount namespace can be made here ({e})")),
        }
    });
    answer.as_ref().map(|_| ()).map_err(String::as_str)
}
