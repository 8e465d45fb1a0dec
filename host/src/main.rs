//! The `usersync` command: a thin shell over the host library.

/// A run allocates millions of small strings; mimalloc is markedly faster
/// than the system allocator at that (measured with `benches/csv_sync.rs`).
/// The binary chooses the allocator; a program embedding the library
/// keeps its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    usersync_host::cli::main()
}
