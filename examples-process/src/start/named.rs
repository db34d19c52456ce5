//! Naming a function for another process that runs this same executable: how
//! [`Process::call`](crate::Process::call) and the process pool tell a spawned child or
//! a worker what to run. CPython names a function by its module and name and looks it
//! up on the other side; here the compiler makes, for each function sent, a small
//! record in the executable's read-only data ([`Named`]), and what travels is where
//! that record is.
//!
//! What travels is the record's offset from a fixed point of this library, which means
//! the same thing in any process running the same executable file (a fork of it, or it
//! run again), wherever that process has it mapped. The receiver trusts none of it: it
//! follows an offset only if it lands inside the executable's own loaded, readable
//! segments, and calls a record only if it carries the 128-bit mark that only genuine
//! records have, of the kind it expects. The function itself never travels: each record
//! holds a function the compiler generated for that one target (a zero-sized function
//! item or closure), in this executable. So a function of a shared library (say
//! `std::thread::sleep` in a `-C prefer-dynamic` build) is called through code of the
//! executable, and a corrupted or foreign offset is refused, never jumped to.

use std::ffi::c_int;
use std::sync::OnceLock;

use nix::libc;

/// A function another process running this executable can be told to call: the
/// function the compiler made for one target, behind a mark. Made only in constants
/// (`const NAMED: &Named<O> = &Named::new(KIND, run)`), so that it lives in the
/// executable's read-only data.
#[repr(C)]
pub struct Named<O: 'static> {
    mark: [u64; 2],
    run: fn(&[u8]) -> O,
}

/// The mark of a genuine record; its second half is xor-ed with the kind of record.
const MARK: [u64; 2] = [0x5eed_c0de_7a1e_4b1d, 0x0ff5_e71a_be11_ed00];

impl<O: 'static> Named<O> {
    /// A record of kind `kind` (not 0) for `run`, which decodes its input from bytes.
    /// The kind tells records of different output types apart: a receiver asks for one
    /// kind, and each kind must always be used with the same `O`.
    pub const fn new(kind: u64, run: fn(&[u8]) -> O) -> Named<O> {
        assert!(kind != 0, "kind 0 would make the mark the bare constant");
        Named { mark: [MARK[0], MARK[1] ^ kind], run }
    }

    /// Where this record is, as an offset that means the same in any process running
    /// this executable.
    pub fn offset(&'static self) -> isize {
        // Asked here, in the process that names the record, so that a child forked from
        // it finds the segments already known (asking in the child costs it page faults:
        // about 4 of the 32 a `Process::call` child took).
        executable_segments();
        (std::ptr::from_ref(self) as usize).wrapping_sub(anchor as fn() -> u32 as usize) as isize
    }

    /// The record of kind `kind` at `offset`, if there is one: the offset must land,
    /// whole, in a readable segment of this executable, and the bytes there must carry
    /// the mark. Anything else (garbage, another program's offset, a record of another
    /// kind) is `None`.
    pub fn find(offset: isize, kind: u64) -> Option<&'static Named<O>> {
        let address = (anchor as fn() -> u32 as usize).wrapping_add(offset as usize);
        let size = size_of::<Named<O>>();
        let aligned = address.is_multiple_of(align_of::<Named<O>>());
        let inside = executable_segments().iter().any(|&(start, end)| {
            address >= start && address.checked_add(size).is_some_and(|e| e <= end)
        });
        if !aligned || !inside {
            return None;
        }
        // SAFETY: the bytes are inside a readable segment of this executable, mapped for
        // the life of the process, and aligned; reading two words from them is fine
        // whatever they hold.
        let mark = unsafe { std::ptr::read(address as *const [u64; 2]) };
        // Computed here, so that no constant of the binary holds this kind's mark.
        let expected = std::hint::black_box(MARK);
        if kind == 0 || mark != [expected[0], expected[1] ^ kind] {
            return None;
        }
        // SAFETY: only `Named::new` writes this mark with this kind, and a `Named<O>` of
        // one kind always has the same `O` (each kind names one output type), so these
        // bytes are a `Named<O>`, in constant data that lives as long as the process.
        Some(unsafe { &*(address as *const Named<O>) })
    }

    /// Calls the record's function on `input`.
    pub fn call(&self, input: &[u8]) -> O {
        (self.run)(input)
    }
}

/// The value of a zero-sized `Copy` type: a function item, or a closure that captures
/// nothing. The sending process had one (it named the function by it);
/// this is its twin, made where the record's function runs.
///
/// # Safety
///
/// `F` must be inhabited: a type of which some value existed (a function item or a
/// closure that was named by a value). `F` being zero-sized and `Copy` is checked.
pub unsafe fn conjure<F: Copy>() -> F {
    const {
        assert!(
            size_of::<F>() == 0,
            "name the function (`Process::call(greet, ..)`, `pool.map(square, ..)`), or pass \
             a closure that captures nothing: a function pointer or a captured value cannot \
             cross to another process"
        )
    };
    // SAFETY: `F` has no bytes (checked at compile time), so a value of it is made of
    // nothing; `Copy` means it owns nothing to drop twice; and it is inhabited (the
    // caller's promise).
    unsafe { std::mem::zeroed() }
}

/// The point the offsets count from: a function of this library, linked into the
/// executable.
#[inline(never)]
fn anchor() -> u32 {
    0x5eed
}

/// The executable's loaded, readable segments, as address ranges (asked once).
fn executable_segments() -> &'static [(usize, usize)] {
    static SEGMENTS: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    SEGMENTS.get_or_init(|| {
        let mut segments: Vec<(usize, usize)> = Vec::new();
        // SAFETY: `dl_iterate_phdr` calls `each` with valid `dl_phdr_info`s, the first
        // being the executable; `data` is our `Vec`, alive for the whole call.
        unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut segments).cast()) };
        segments
    })
}

/// `dl_iterate_phdr`'s callback: records the first object's (the executable's)
/// readable `PT_LOAD` segments, then stops.
unsafe extern "C" fn each(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> c_int {
    // SAFETY: the C library passes a valid `info` for the call, and `data` is the
    // `Vec` given to `dl_iterate_phdr` above.
    let (info, segments) = unsafe { (&*info, &mut *data.cast::<Vec<(usize, usize)>>()) };
    // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    for header in headers {
        if header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_R != 0 {
            let start = info.dlpi_addr as usize + header.p_vaddr as usize;
            segments.push((start, start + header.p_memsz as usize));
        }
    }
    1 // the executable comes first: that is all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(input: &[u8]) -> u32 {
        2 * u32::from(input[0])
    }

    const RECORD: &Named<u32> = &Named::new(7, double);

    #[test]
    fn a_record_is_found_by_its_offset_and_kind_only() {
        let found = Named::<u32>::find(RECORD.offset(), 7).expect("the record");
        assert_eq!(found.call(&[21]), 42);
        assert!(Named::<u32>::find(RECORD.offset(), 8).is_none(), "another kind");
        assert!(Named::<u32>::find(RECORD.offset() + 8, 7).is_none(), "not at a record");
        assert!(Named::<u32>::find(RECORD.offset() + 1, 7).is_none(), "misaligned");
    }

    #[test]
    fn offsets_outside_the_executable_are_refused() {
        let base = anchor as fn() -> u32 as usize;
        // A function of the C library, a shared object: not part of the executable.
        let libc_function = libc::getpid as *const () as usize;
        let on_the_heap = Box::into_raw(Box::new(RECORD.mark)) as usize;
        for address in [libc_function, on_the_heap, 0, usize::MAX - 7] {
            let offset = address.wrapping_sub(base) as isize;
            assert!(Named::<u32>::find(offset, 7).is_none(), "{address:#x}");
        }
        for offset in [isize::MIN, isize::MAX, -1, 1 << 40] {
            assert!(Named::<u32>::find(offset, 7).is_none(), "{offset}");
        }
    }
}
