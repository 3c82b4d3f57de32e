//! The `gavel` command. All the work is in the library and `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
