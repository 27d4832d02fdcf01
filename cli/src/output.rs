//! Standard output for the commands: a line at a time, and a quiet end when the reader has
//! gone.
//!
//! `println!` panics when standard output is a pipe whose reader closed early
//! (`lotse outbox | head`). Command-line tools end quietly then, so every command prints
//! through [`out!`] instead.

use std::io::{self, Write};

/// Writes one line to standard output; ends the process quietly (status 0) if the reader
/// has gone, or with status 1 and a message if writing fails otherwise.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{args}") {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` for the commands, through [`line`].
macro_rules! out {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
