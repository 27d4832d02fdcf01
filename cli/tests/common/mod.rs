//! What the CLI tests share: running `lotse` as an operator does, a free HTTP address, and
//! a node started with `lotse run` for as long as a test needs it.

// Each test file uses its own part of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `lotse` with `args`, writing `stdin` (if any) to its standard input.
pub(crate) fn lotse(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lotse"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lotse");
    {
        let mut input = child.stdin.take().expect("lotse's standard input");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write to lotse");
        }
    }
    child.wait_with_output().expect("run lotse")
}

/// Standard output and standard error as text.
pub(crate) fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A path as the `&str` an argument needs.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// `127.0.0.1:PORT` with a port that was free a moment ago, for `--http`.
pub(crate) fn free_http() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("127.0.0.1:{port}")
}

/// A node started with `lotse run`; stopped (SIGTERM) when dropped.
pub(crate) struct Running(Child);

impl Running {
    /// Starts the node in `dir` and waits until it answers at `http`.
    pub(crate) fn start(dir: &Path, http: &str) -> Running {
        let child = Command::new(env!("CARGO_BIN_EXE_lotse"))
            .args(["run", "--data-dir", s(dir)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lotse run");
        let node = Running(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(http).is_err() {
            assert!(Instant::now() < deadline, "the node did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
