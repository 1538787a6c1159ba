//! The runc-compatible CLI: `minirun oci COMMAND …`, or top level as `minirun-oci`.

/// Arguments after `minirun oci`.
#[derive(clap::Args, Debug)]
pub struct OciArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<std::ffi::OsString>,
}

/// `minirun oci …`: parse the rest as runc's command line.
pub fn main_oci(a: OciArgs) -> i32 {
    let mut argv = vec![std::ffi::OsString::from("minirun-oci")];
    argv.extend(a.rest);
    main_from_args(argv)
}

/// Entry point when invoked as `minirun-oci` (runc's command line, argv[0] included).
pub fn main_from_args(_argv: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("minirun-oci: not implemented yet");
    1
}
