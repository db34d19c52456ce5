//! A number in shared memory and a lock that works across processes.
//!
//! Mirrors note 003 "进程的锁机制": `Value('i', 0)` and a `Lock`; one process adds 1
//! five times and another adds 3 five times, each holding the lock for its whole loop,
//! so the end value is 20.
//!
//! | CPython                                    | Rust (`examples_ipc::shared`)               |
//! |--------------------------------------------|---------------------------------------------|
//! | `v = Value('i', 0)`, `l = Lock()`          | `let v = RobustMutex::shared(0_i32)?;` (the lock owns the value) |
//! | `l.acquire()` ... `v.value += num` ... `l.release()` | `let mut value = v.lock()?;` ... `*value += num;` ... end of scope |
//! | `Array('i', 6)`                            | `RobustMutex::shared([0_i32; 6])?`          |
//! | `Value('i', 0, lock=lock)`, `get_lock()`, `get_obj()` | `sync::Value::with_lock(0, lock)?`, `v.get_lock()`, `v.get_obj(&mut held)?` |
//! | `Value('i', 0, lock=False)` / `RawValue('i', 0)` | `SharedMemory::new(AtomicI32::new(0))?` (unlocked data must be atomic) |
//! | `shared_memory.SharedMemory(name, create=True)` | `shared_memory::ShmemConf::new().size(n).create()?` |
//!
//! Run: `cargo run -p examples-ipc --bin value`
//!
//! Output, twice: once with forked children and an anonymous shared mapping, once with
//! two independent programs (this one, run as `value add <segment> <n>`) that open a
//! named segment. Each time the running values are either 1..5 then 8, 11, …, 20, or
//! 3, 6, …, 15 then 16..20, whichever process took the lock first, and the end value
//! is 20. The array is filled by two children, half each. Between the two, CPython's
//! own spelling: two values under one lock that two children move 100 units each
//! between (-200 and 200), and an unlocked value they both add to (200). At the end the
//! named segment is no longer in `/dev/shm`. What varies: which process goes first, the
//! segment's name.
//!
//! Where Rust differs: the value lives inside the lock, so it cannot be touched without
//! it. The lock is robust: if its holder is killed, the next `lock` recovers it and
//! says so, where CPython's `Lock` waits for ever. The forked way leaves nothing
//! behind even on SIGKILL (the mapping has no name). The named way must exist under
//! a name until the other programs have opened it; this example removes the name as
//! soon as they have, so after that point nothing can be left behind either. A Ctrl-C
//! or SIGTERM before that point is held back until the name is removed
//! (`DeferTermination`); only a SIGKILL in those few milliseconds can leave the segment
//! in `/dev/shm`. The adder programs die with this one (`die_with_parent`).
//!
//! In your own program: `memmap2` to map a file or segment and atomics inside it;
//! `std::fs::File::lock` as a lock that dies with its holder.
//!
//! Copy it: `cargo new value`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! cargo add nix@0.31 --features mman
//! cargo add shared_memory@0.12
//! ```

use std::io::{self, BufRead, BufReader, Read};
use std::mem::size_of;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::SeqCst};
use std::thread::sleep;
use std::time::Duration;

use examples_ipc::shared::SharedMemory;
use examples_ipc::sync::Value;
use examples_ipc::sync::{RobustMutex, new_lock};
use examples_process::{DeferTermination, Process, die_with_parent};
use nix::sys::mman::shm_unlink;
use shared_memory::{Shmem, ShmemConf};

const USAGE: &str = "usage: value [add <segment> <amount 1..=1000>]";

fn main() -> ExitCode {
    examples_process::exit_on_stdout_failure();
    // `args_os`, not `args`, which panics on an argument that is not UTF-8.
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => forked().and_then(|()| cpython_shape()).and_then(|()| named()),
        ["add", segment, amount] => {
            let Ok(n @ 1..=1000) = amount.parse::<i32>() else {
                return usage_error(&format!(
                    "amount must be a whole number from 1 to 1000, not {amount:?}"
                ));
            };
            match ShmemConf::new().os_id(segment).open() {
                Ok(shmem) => match NamedSegment::check(&shmem) {
                    Some(named) => add_to_named(named, n),
                    None => {
                        return usage_error(&format!(
                            "{segment:?} is not a segment this program made"
                        ));
                    }
                },
                Err(e) => return usage_error(&format!("cannot open segment {segment:?}: {e}")),
            }
        }
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => return usage_error(&format!("unexpected arguments {args:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("value: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(what: &str) -> ExitCode {
    eprintln!("value: {what}; {USAGE}");
    ExitCode::from(2)
}

/// The note's `job(v, num, l)`: add `num` five times, holding the lock throughout.
/// Returns the running values.
fn job(v: &RobustMutex<i32>, num: i32) -> io::Result<Vec<i32>> {
    let mut value = v.lock()?; // l.acquire()
    let mut seen = Vec::new();
    for _ in 0..5 {
        *value += num;
        seen.push(*value);
        sleep(Duration::from_millis(10)); // without the lock, the other process would cut in here
    }
    println!("job({num}): running values {seen:?}");
    Ok(seen)
} // l.release()

/// Forked children and an anonymous shared mapping.
fn forked() -> io::Result<()> {
    let v = RobustMutex::shared(0_i32)?;
    let mut jobs = [1, 3].map(|num| {
        let v = v.clone();
        Process::new(move || {
            job(&v, num).expect("lock");
        })
    });
    for p in &mut jobs {
        p.start()?;
    }
    let codes = jobs.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;
    let end = *v.lock()?;
    println!("forked: v.value = {end}");

    // An array: two children fill a half each.
    let array = RobustMutex::shared([0_i32; 6])?;
    let mut fillers = [0, 3].map(|from| {
        let array = array.clone();
        Process::new(move || {
            let mut a = array.lock().expect("lock");
            for i in from..from + 3 {
                a[i] = (i * i) as i32;
            }
        })
    });
    for p in &mut fillers {
        p.start()?;
    }
    let filler_codes = fillers.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;
    let filled = *array.lock()?;
    println!("forked: array = {filled:?}");

    assert_eq!(codes, [0, 0]);
    assert_eq!(end, 20);
    assert_eq!(filler_codes, [0, 0]);
    assert_eq!(filled, [0, 1, 4, 9, 16, 25]);
    Ok(())
}

/// CPython's own spelling: `Value` with `get_lock()` / `get_obj()`, a lock shared by two
/// values (`lock=`), and `lock=False`, which in Rust must be an atomic.
fn cpython_shape() -> io::Result<()> {
    let lock = new_lock()?;
    let (a, b) = (Value::with_lock(0_i32, lock.clone())?, Value::with_lock(0_i32, lock.clone())?);
    let raw = SharedMemory::new(AtomicI32::new(0))?; // Value('i', 0, lock=False)
    let mut movers = [1, 2].map(|_| {
        let (a, b, lock, raw) = (a.clone(), b.clone(), lock.clone(), raw.clone());
        Process::new(move || {
            for _ in 0..100 {
                // with lock: a.value -= 1; b.value += 1 (one lock, both values)
                let mut held = lock.lock().expect("lock");
                *a.get_obj(&mut held).expect("a's lock") -= 1;
                *b.get_obj(&mut held).expect("b's lock") += 1;
                drop(held);
                raw.fetch_add(1, SeqCst); // no lock: an atomic add
            }
        })
    });
    for p in &mut movers {
        p.start()?;
    }
    let codes = movers.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;
    let (a_end, b_end, raw_end) = (a.get()?, b.get()?, raw.load(SeqCst));
    println!("values under one lock: a.value={a_end} b.value={b_end}; the raw value {raw_end}");
    assert_eq!(codes, [0, 0]);
    assert_eq!((a_end, b_end, raw_end), (-200, 200, 200));
    Ok(())
}

/// What `named` puts in its segment: a tag, so that `value add` touches only segments
/// this program made, and the value with its lock.
#[repr(C)]
struct NamedSegment {
    tag: AtomicU64,
    value: RobustMutex<i32>,
}

impl NamedSegment {
    /// "value:i32" in ASCII, written once the lock is initialised.
    const TAG: u64 = u64::from_be_bytes(*b"valu:i32");

    /// The segment's contents, if it is large enough and carries the tag.
    fn check(segment: &Shmem) -> Option<&NamedSegment> {
        if segment.len() < size_of::<NamedSegment>() {
            return None;
        }
        let named = segment.as_ptr().cast::<NamedSegment>();
        // SAFETY: the mapping is page-aligned and large enough, and any 8 bytes are a
        // valid `AtomicU64`, whoever made the segment.
        let tag = unsafe { &(*named).tag };
        // SAFETY: the tag is written after the lock is initialised (Release, read with
        // Acquire), so a tagged segment holds an initialised `RobustMutex<i32>`, mapped
        // while `segment` lives.
        (tag.load(SeqCst) == NamedSegment::TAG).then(|| unsafe { &*named })
    }
}

/// A named segment, opened by two programs that are not this one's forked children.
fn named() -> io::Result<()> {
    // Ctrl-C or SIGTERM from here until the name is removed waits for that removal.
    let hold_signals = DeferTermination::new()?;
    let mut segment =
        ShmemConf::new().size(size_of::<NamedSegment>()).create().map_err(io::Error::other)?;
    let name = segment.get_os_id().to_string();
    let slot = segment.as_ptr().cast::<NamedSegment>();
    // SAFETY: the segment is new, zeroed, page-aligned and large enough; nobody else
    // has it yet. The tag goes in last, once the lock is ready.
    unsafe {
        RobustMutex::init(std::ptr::addr_of_mut!((*slot).value), 0)?;
        (*slot).tag.store(NamedSegment::TAG, SeqCst);
    }
    println!("named: created segment {name}");

    let me = std::env::current_exe()?;
    let mut adders = Vec::new();
    for amount in ["1", "3"] {
        let mut adder = die_with_parent(&mut Command::new(&me))?
            .args(["add", &name, amount])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = adder.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let mut output = BufReader::new(stdout);
        let mut attached = String::new();
        output.read_line(&mut attached)?;
        println!("named: adder {amount} says {:?}", attached.trim_end());
        adders.push((adder, output));
    }
    // Both programs have the segment mapped: the name is no longer needed. Removing it
    // now means nothing is left in /dev/shm, however any of us ends from here on.
    segment.set_owner(false);
    shm_unlink(name.as_str())?;
    let listed = Path::new("/dev/shm").join(name.trim_start_matches('/')).exists();
    println!("named: name removed; {name} in /dev/shm: {listed}");
    drop(hold_signals);

    for (mut adder, mut output) in adders {
        let mut rest = String::new();
        output.read_to_string(&mut rest)?; // the same reader: nothing it buffered is lost
        print!("{rest}");
        let status = adder.wait()?;
        if !status.success() {
            return Err(io::Error::other(format!("an adder failed: {status}")));
        }
    }
    // SAFETY: the segment stays mapped while `segment` lives; the lock was initialised.
    let end = *unsafe { &(*slot).value }.lock()?;
    println!("named: value = {end}");

    assert!(!listed);
    assert_eq!(end, 20);
    println!("main: ok");
    Ok(())
}

/// `value add <segment> <amount>`, once `main` has checked the segment: say so, add.
fn add_to_named(segment: &NamedSegment, amount: i32) -> io::Result<()> {
    println!("attached"); // the creator may remove the name once it reads this
    job(&segment.value, amount)?;
    Ok(())
}
