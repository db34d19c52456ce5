//! Directories of the tests' own under the shared temporary directory.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Makes a new directory `<temp>/<prefix>-<random>`, mode 0700, exclusively: never one
/// that someone else made first (a name that is already there is passed over), so no
/// other user can see into it or plant a link in it for a test to write through.
pub fn make_private_dir(prefix: &str) -> PathBuf {
    make_private_dir_in(&std::env::temp_dir(), prefix)
}

/// As [`make_private_dir`], under `parent`.
pub(crate) fn make_private_dir_in(parent: &Path, prefix: &str) -> PathBuf {
    loop {
        let random = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), prefix);
        let dir = parent.join(format!("{prefix}-{random:016x}"));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create {dir:?}: {e}"),
        }
    }
}

/// A directory made by [`make_private_dir`], removed with what it holds when dropped.
pub struct PrivateDir(PathBuf);

impl PrivateDir {
    /// A new one, named after `prefix`.
    pub fn new(prefix: &str) -> PrivateDir {
        PrivateDir(make_private_dir(prefix))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
