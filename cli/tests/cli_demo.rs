//! `lotse demo` as a newcomer runs it: the network comes up, every node's web UI answers
//! with its sign-in page and the demo accounts work, and Ctrl-C stops everything and
//! removes the temporary data.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A base port whose four ports are free for TCP (on their loopback hosts) and UDP.
fn free_base_port() -> u16 {
    for _ in 0..200 {
        let base = 20_000 + (rand_u16() % 30_000);
        let free = (0..4u8).all(|i| {
            let port = base + u16::from(i);
            TcpListener::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind((format!("127.0.0.{}", i + 1).as_str(), port)).is_ok()
                && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        });
        if free {
            return base;
        }
    }
    panic!("no four free ports found");
}

fn rand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos ^ std::process::id()) as u16
}

#[test]
fn demo_comes_up_and_cleans_up() {
    let base = free_base_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lotse"))
        .args(["demo", "--base-port", &base.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !lines
        .iter()
        .any(|l: &String| l.contains("Beenden mit Strg+C"))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the demo did not come up in time:\n{}", lines.join("\n"));
            }
        }
    }
    let data = lines
        .iter()
        .find_map(|l| l.strip_prefix("Daten: "))
        .and_then(|l| l.split(" (").next())
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&data).is_dir());

    // Every node answers on its own loopback host; a demo account signs in.
    for (i, name) in [
        "KI Musterstadt",
        "Migrationsberatung (MBE) Caritas",
        "Jugendmigrationsdienst (JMD) AWO",
        "Jobcenter Musterstadt",
    ]
    .iter()
    .enumerate()
    {
        let url = format!("http://127.0.0.{}:{}", i + 1, base + i as u16);
        assert!(lines.iter().any(|l| l.contains(&url)), "{url} not printed");
        let page = ureq::get(&format!("{url}/anmelden"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        assert!(page.contains(name), "{url}: {page}");
    }
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let resp = agent
        .post(&format!("http://127.0.0.3:{}/anmelden", base + 2))
        .send_form(&[("username", "okafor"), ("password", "demo-passwort-1")])
        .unwrap();
    assert_eq!(resp.status(), 303, "the demo account signs in");

    // Ctrl-C: a clean stop, and the temporary data is gone.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        !std::path::Path::new(&data).exists(),
        "{data} was not removed"
    );
}
