//! The `usersync` command: a thin shell over the host library.

fn main() -> std::process::ExitCode {
    usersync_host::cli::main()
}
