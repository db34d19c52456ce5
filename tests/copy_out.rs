//! Every example copies out. For each `src/bin/*.rs` of the workspace, this test does
//! what a reader does: `cargo new` a crate outside the workspace, put the file in as
//! `src/main.rs`, run the `cargo add` lines of the file's "Copy it" block and nothing
//! else, build with warnings and unused dependencies denied, and run the binary, which
//! must exit with code 0.
//!
//! `cargo add` and the builds run offline (`CARGO_NET_OFFLINE`): every crate they need
//! must be in Cargo's cache once the workspace has been built, on a machine whose cache
//! was empty before. So each step of the copy starts from the workspace's `Cargo.lock`
//! (the versions such a cache holds, where a busy cache may hold newer ones), and after its build every registry package it builds must be
//! one of the workspace's: a block that names a feature the workspace does not build
//! (timely's default `getopts`, say) fails here even where an older cache happens to
//! hold the crate. All the crates share one target directory (`target/tmp/copy-out`),
//! so each dependency is compiled once and a second run only rebuilds what changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The arguments each example is run with; `None`: it only has to build (the benchmark
/// needs the repository's Python script). Every other example runs with none.
const ARGS: &[(&str, Option<&[&str]>)] =
    &[("gil_compare", Some(&["--n", "200000"])), ("side_by_side", None)];

const MEMBERS: [&str; 5] =
    ["examples-process", "examples-thread", "examples-ipc", "examples-locks", "examples-pool"];

#[test]
fn every_example_copies_out() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("copy-out");
    let crates = TempDir::new("copy-out");
    let mut failures = Vec::new();
    let mut checked = 0;
    for source in examples(&repo) {
        let name = source.file_stem().unwrap().to_string_lossy().into_owned();
        let started = Instant::now();
        match copy_out(&repo, &source, &crates.0.join(&name), &target) {
            Ok(()) => checked += 1,
            Err(why) => failures.push(format!("{name}: {why}")),
        }
        eprintln!("copy-out: {name} in {:.1} s", started.elapsed().as_secs_f64());
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n\n{}",
        failures.len(),
        checked + failures.len(),
        failures.join("\n\n")
    );
    assert!(checked >= 34, "only {checked} examples found under {repo:?}");
}

/// Every example's source, sorted by member and name.
fn examples(repo: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for member in MEMBERS {
        let dir = repo.join(member).join("src/bin");
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        all.extend(files);
    }
    all
}

/// Copies one example out and runs it; the error names the step that failed.
fn copy_out(repo: &Path, source: &Path, dir: &Path, target: &Path) -> Result<(), String> {
    let text = fs::read_to_string(source).map_err(|e| format!("cannot read {source:?}: {e}"))?;
    let block = copy_block(&text)?;
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();

    let parent = dir.parent().unwrap();
    run(cargo(repo, target, parent).args(["new", "--quiet", "--vcs", "none", "--bin", &name]))
        .map_err(|e| format!("`cargo new {name}` failed: {e}"))?;
    fs::copy(source, dir.join("src/main.rs")).map_err(|e| format!("copy: {e}"))?;
    let workspace_lock = repo.join("Cargo.lock");
    // Before every step: a `cargo add` rewrites the lock with only the packages used so
    // far, and the next one would take the newest version a busy cache holds.
    let seed_lock =
        || fs::copy(&workspace_lock, dir.join("Cargo.lock")).map_err(|e| format!("copy: {e}"));
    for line in &block {
        seed_lock()?;
        // Through the shell, as the reader types it, so `$REPO` is expanded there.
        run(isolated(Command::new("sh").args(["-c", line]), repo, target, dir))
            .map_err(|e| format!("`{line}` failed: {e}"))?;
    }
    seed_lock()?;
    run(cargo(repo, target, dir).args(["build", "--quiet"]))
        .map_err(|e| format!("the build with the block's dependencies failed:\n{e}"))?;
    let known = registry_packages(&workspace_lock)?;
    let built = run(cargo(repo, target, dir).args(tree_args()))
        .map_err(|e| format!("`cargo tree` failed: {e}"))?;
    let foreign: Vec<String> = String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter(|line| !line.contains(" (/") && !line.ends_with("(*)")) // path packages, repeats
        .map(|line| line.trim_end_matches(" (proc-macro)"))
        .filter(|line| !known.iter().any(|k| k == line))
        .map(String::from)
        .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "the block needs packages the workspace never downloads (a fresh machine's cache \
             lacks them): {}",
            foreign.join(", ")
        ));
    }

    let args = ARGS.iter().find(|(bin, _)| *bin == name).map_or(Some(&[][..]), |(_, a)| *a);
    if let Some(args) = args {
        let bin = target.join("debug").join(&name);
        let out = harness::run(bin.to_str().unwrap(), args);
        if !out.status.success() {
            return Err(format!("the copied binary ended with {}\n{}", out.status, out.show()));
        }
    }
    Ok(())
}

/// The `cargo add` lines of a file's "Copy it" block: the last `sh` code block of its
/// `//!` header, which must end the header. Lines starting with `#` are comments.
fn copy_block(text: &str) -> Result<Vec<String>, String> {
    let header: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim())
        .collect();
    let open = header
        .iter()
        .rposition(|l| *l == "```sh")
        .ok_or("the header has no \"Copy it\" block (a ```sh block of `cargo add` lines)")?;
    let body = &header[open + 1..];
    let close = body.iter().position(|l| *l == "```").ok_or("the ```sh block is not closed")?;
    if close + 1 != body.len() {
        return Err("the \"Copy it\" block must end the header".into());
    }
    let mut lines = Vec::new();
    for line in &body[..close] {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.starts_with("cargo add ") {
            return Err(format!("not a `cargo add` line: `{line}`"));
        }
        lines.push(line.to_string());
    }
    Ok(lines)
}

/// `cargo tree` arguments that list, one `name vVERSION` a line, the packages a build
/// for this machine compiles (a `Cargo.lock` also lists other platforms' packages,
/// which are never downloaded).
fn tree_args() -> [&'static str; 7] {
    ["tree", "--offline", "-e", "normal,build", "--prefix", "none", "--format={p}"]
}

/// The `name vVERSION` of every package from a registry in a `Cargo.lock`.
fn registry_packages(lock: &Path) -> Result<Vec<String>, String> {
    let text = fs::read_to_string(lock).map_err(|e| format!("cannot read {lock:?}: {e}"))?;
    let mut packages = Vec::new();
    for entry in text.split("[[package]]").skip(1) {
        let field = |key: &str| {
            entry
                .lines()
                .find_map(|l| l.strip_prefix(key)?.trim().strip_prefix("= \""))
                .map(|v| v.trim_end_matches('"').to_string())
        };
        if field("source ").is_some_and(|s| s.starts_with("registry+")) {
            let (name, version) =
                (field("name ").unwrap_or_default(), field("version ").unwrap_or_default());
            packages.push(format!("{name} v{version}"));
        }
    }
    Ok(packages)
}

/// `cargo` in `dir`, set up by [`isolated`].
fn cargo(repo: &Path, target: &Path, dir: &Path) -> Command {
    let mut command = Command::new("cargo");
    isolated(&mut command, repo, target, dir);
    command
}

/// Runs `command` in `dir` with none of the outer build's settings: offline, warnings
/// and dependencies the file does not use denied, the shared target directory, `REPO` for the block's `$REPO`, and the cargo
/// that runs this test first on the `PATH`.
fn isolated<'a>(
    command: &'a mut Command,
    repo: &Path,
    target: &Path,
    dir: &Path,
) -> &'a mut Command {
    let cargo = PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    let mut path = vec![cargo.parent().unwrap_or(Path::new("")).to_path_buf()];
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME") || key.starts_with("RUST") {
            command.env_remove(&*key);
        }
    }
    command
        .current_dir(dir)
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never")
        .env("RUSTFLAGS", "-D warnings -D unused-crate-dependencies")
        .env("REPO", repo)
        .env("PATH", std::env::join_paths(path).unwrap())
}

/// Runs a command to completion; its standard error if it failed.
fn run(command: &mut Command) -> Result<Output, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!("{}\n{}", out.status, String::from_utf8_lossy(&out.stderr).trim_end()))
    }
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        TempDir(harness::make_private_dir(prefix))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_block_is_read_and_checked() {
    let good = "//! Header.\n//!\n//! ```sh\n//! # a comment\n//! cargo add nix@0.31\n//! ```\n\nfn main() {}\n";
    assert_eq!(copy_block(good), Ok(vec!["cargo add nix@0.31".to_string()]));
    let not_last = "//! ```sh\n//! cargo add nix\n//! ```\n//! More text.\n";
    assert!(copy_block(not_last).unwrap_err().contains("must end the header"));
    let other = "//! ```sh\n//! cp x y\n//! ```\n";
    assert!(copy_block(other).unwrap_err().contains("`cp x y`"));
    assert!(copy_block("//! No block.\nfn main() {}\n").is_err());
}

#[test]
fn registry_packages_are_read_from_a_lock() {
    let dir = TempDir::new("lock-test");
    let lock = dir.0.join("Cargo.lock");
    let text = "version = 4\n\n[[package]]\nname = \"getopts\"\nversion = \"0.2.21\"\n\
                source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
                [[package]]\nname = \"examples-process\"\nversion = \"0.1.0\"\n";
    fs::write(&lock, text).unwrap();
    assert_eq!(registry_packages(&lock).unwrap(), ["getopts v0.2.21"]);
}

/// A function of a shared library, named as a process's target: in a build that links
/// the standard library dynamically (`-C prefer-dynamic`), `std::thread::sleep` lives in
/// `libstd-*.so`, not in the executable. The spawned child must call it, not jump to a
/// meaningless address (before, a code offset from the executable was sent, and the
/// child died of SIGSEGV).
#[test]
fn a_target_from_a_shared_library_crosses_exec() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("copy-out");
    let crates = TempDir::new("prefer-dynamic");
    let dir = crates.0.join("dynamic_std");
    fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"dynamic_std\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [dependencies]\nexamples-process = {{ path = {:?} }}\n",
        repo.join("examples-process")
    );
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let program = "use std::time::Duration;\n\
        use examples_process::{Process, StartMethod, main_guard};\n\
        fn main() {\n\
            main_guard();\n\
            for method in [StartMethod::Spawn, StartMethod::Forkserver, StartMethod::Fork] {\n\
                let mut child = Process::call(std::thread::sleep, Duration::from_millis(1))\n\
                    .with_start_method(method);\n\
                child.start().expect(\"start\");\n\
                assert_eq!(child.join().expect(\"join\"), 0, \"{method}\");\n\
            }\n\
        }\n";
    fs::write(dir.join("src/main.rs"), program).unwrap();
    // The flag goes to the program's own link only: the dependencies are the ones the
    // copy-out test builds, in the same target directory.
    run(cargo(&repo, &target, &dir).args(["rustc", "--quiet", "--", "-C", "prefer-dynamic"]))
        .unwrap_or_else(|e| panic!("the build failed: {e}"));
    let libdir = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "target-libdir"])
        .output()
        .unwrap();
    let libdir = String::from_utf8(libdir.stdout).unwrap();
    let bin = target.join("debug/dynamic_std");
    let out = Command::new(&bin).env("LD_LIBRARY_PATH", libdir.trim()).output().unwrap();
    assert!(out.status.success(), "{}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let linked = Command::new("ldd").arg(&bin).env("LD_LIBRARY_PATH", libdir.trim()).output();
    if let Ok(linked) = linked {
        let linked = String::from_utf8_lossy(&linked.stdout);
        assert!(linked.contains("libstd-"), "std is not linked dynamically:\n{linked}");
    }
}
