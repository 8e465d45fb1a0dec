//! The `usersync` command: a thin shell over the host library.

/// A run allocates millions of small strings; mimalloc is markedly faster
/// than the system allocator at that (measured with `benches/csv_sync.rs`).
/// The binary chooses the allocator; a program embedding the library
/// keeps its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_purge_delay` (this number is the option's place
/// in its enum; the test below fails if a new mimalloc moves it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc 3 gives freed memory back to the system a whole second after
/// it is freed. A run frees its read (hundreds of MB at 100k users) just
/// before it writes, so the peak held both: 10 ms (and no huge pages) took
/// a 100k-user full sync's peak from 465-516 to ~320 MB, with no
/// measurable loss of speed (bench/RESULTS.md).
fn tune_allocator() {
    // SAFETY: sets one integer option; mimalloc reads it at each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    usersync_host::cli::main()
}

#[cfg(test)]
mod tests {
    /// The option numbers above belong to mimalloc 3's enum: it has 47
    /// options, and the purge delay defaults to 1000 ms.
    #[test]
    fn the_purge_delay_option_is_the_one_we_set() {
        assert_eq!(libmimalloc_sys::_mi_option_last, 47);
        // SAFETY: reads one integer option.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert!(delay == 1000 || delay == 10, "purge delay {delay}");
    }
}
