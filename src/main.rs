//! Thin entry point: parse, call the library, map the error to an exit code.
fn main() {
    std::process::exit(minirun::cli::main());
}
