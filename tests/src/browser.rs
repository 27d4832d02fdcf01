//! Driving Debian's Chromium through chromedriver (WebDriver) for the browser test and the
//! screenshot generator: start a driver and a fresh headless browser, and a small page API
//! (fill, press, wait for text) that reads like what a person does at the desk.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::{TestNode, wait_for};
use fantoccini::{Client, ClientBuilder, Locator};
use lotse_admin_ui::demo;
use lotse_node::auth::Role;
use lotse_node::core::Core;
use serde_json::json;

pub const PASSWORD: &str = "browser-Passwort-1";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const INSTALL: &str = "Chromium and chromedriver are needed for the browser tests: \
                       run `apt-get install chromium chromium-driver` (as root), then test again";

/// chromedriver as a child process, killed when dropped.
pub struct Driver {
    pub child: Child,
    pub port: u16,
    pub _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver runs in its own process group with the Chromium it started: end the
        // whole group, so a failed test leaves no browser behind.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and a headless Chromium session with a window of `width`×`height`.
pub async fn browser(width: u32, height: u32) -> (Driver, Client) {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing. {INSTALL}"
    );
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        // German browser UI: date inputs then read "TT.MM.JJJJ", as at the agencies.
        .env("LANGUAGE", "de")
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}). {INSTALL}"));
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let user_data = driver._profile.path().display().to_string();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--lang=de-DE",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={user_data}"),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a Chromium session through chromedriver: {last:?}. {INSTALL}");
}

/// A Chrome DevTools command, sent through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// A page in the browser, with the helpers the scenarios use.
pub struct Page<'a> {
    pub c: &'a Client,
}

impl Page<'_> {
    pub async fn goto(&self, url: &str) {
        self.c.goto(url).await.unwrap();
    }

    pub async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    pub async fn h1(&self) -> String {
        self.c
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Renders pages as for `media`: "print" (as the browser prints them) or "screen".
    pub async fn emulate_media(&self, media: &str) {
        let cmd = DevTools {
            cmd: "Emulation.setEmulatedMedia",
            params: json!({ "media": media }),
        };
        self.c.issue_cmd(cmd).await.unwrap();
    }

    /// Whether the first element that matches `css` is displayed.
    pub async fn displayed(&self, css: &str) -> bool {
        let e = self.c.find(Locator::Css(css)).await.unwrap();
        e.is_displayed().await.unwrap()
    }

    /// The visible text of the main area.
    pub async fn main_text(&self) -> String {
        match self.c.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.unwrap(),
            Err(e) => panic!(
                "no <main> on {}: {e}\n{}",
                self.c.current_url().await.unwrap(),
                self.source().await
            ),
        }
    }

    /// Clicks `e` and waits until the page it leads to has loaded (the old page's root
    /// element is gone and the new document is complete).
    pub async fn click_and_wait(&self, e: fantoccini::elements::Element) {
        let old = self.c.find(Locator::Css("html")).await.unwrap();
        e.click().await.unwrap();
        for _ in 0..400 {
            if old.attr("lang").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        for _ in 0..400 {
            let state = self
                .c
                .execute("return document.readyState;", vec![])
                .await
                .ok();
            if state.as_ref().and_then(|s| s.as_str()) == Some("complete") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the page did not finish loading");
    }

    pub async fn fill(&self, id: &str, value: &str) {
        let e = self
            .c
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    /// Sets a value by script (date and time inputs, whose typing is locale-dependent).
    pub async fn set(&self, id: &str, value: &str) {
        self.c
            .execute(
                "document.getElementById(arguments[0]).value = arguments[1];",
                vec![json!(id), json!(value)],
            )
            .await
            .unwrap();
    }

    pub async fn click_id(&self, id: &str) {
        self.c
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    pub async fn select(&self, id: &str, value: &str) {
        self.c
            .find(Locator::Id(id))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap();
    }

    pub async fn value(&self, id: &str) -> String {
        self.c
            .find(Locator::Id(id))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Clicks the submit button of the form that carries `aktion=<action>`.
    pub async fn act(&self, action: &str) {
        self.open_details().await;
        let xpath = format!(
            "//form[.//input[@name='aktion' and @value='{action}']]//button[@type='submit']"
        );
        let button = self
            .c
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no form for the action {action}: {e}"));
        self.click_and_wait(button).await;
    }

    /// Clicks the button with exactly this text.
    pub async fn press(&self, text: &str) {
        let xpath = format!("//button[normalize-space(.)='{text}']");
        let button = self
            .c
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"));
        self.click_and_wait(button).await;
    }

    /// Opens every collapsed action box, so their fields can be used.
    pub async fn open_details(&self) {
        self.c
            .execute(
                "document.querySelectorAll('details').forEach(function (d) { d.open = true; });",
                vec![],
            )
            .await
            .unwrap();
    }

    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/anmelden")).await;
        if !self.source().await.contains("name=\"password\"") {
            // Still signed in as someone else on this host: sign out first.
            self.press("Abmelden").await;
            self.goto(&format!("{base}/anmelden")).await;
        }
        self.fill("username", username).await;
        self.fill("password", password).await;
        self.press("Anmelden").await;
    }

    /// Reloads `url` until the main area shows `text`.
    pub async fn wait_for_text(&self, url: &str, text: &str) {
        let mut last = String::new();
        for _ in 0..120 {
            self.goto(url).await;
            last = self.main_text().await;
            if last.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{url} never showed {text:?}; it shows:\n{last}");
    }
}

pub async fn add_user(node: &TestNode, username: &str, display: &str, role: Role) {
    crate::add_account(node.core(), username, display, role, PASSWORD).await;
}

/// Publishes the demo services of `kind` for `node` and waits until `others` list them.
pub async fn publish_services(
    node: &TestNode,
    kind: lotse_protocol::directory::AgencyKind,
    others: &[&Arc<Core>],
) {
    let services = demo::services(kind);
    let count = services.len();
    lotse_node::services::publish(node.core(), services)
        .await
        .unwrap();
    for core in others {
        let core = (*core).clone();
        let id = node.id;
        wait_for("the services to reach every node", 30, move || {
            let core = core.clone();
            async move {
                core.directory
                    .member(&id)
                    .is_some_and(|m| m.profile.services.len() == count)
            }
        })
        .await;
    }
}

pub fn in_days_at(days: i64, hour: u8) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    format!("{d}T{hour:02}:00")
}
