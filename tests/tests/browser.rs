//! The web UI in a real browser: Debian's Chromium, driven through chromedriver
//! (WebDriver), against real nodes talking QUIC on 127.0.0.1.
//!
//! `warm_handover_in_the_browser` walks a referral from one agency to another and to its
//! end, the way case managers do it, and checks on the way what must hold for a person at
//! the desk: a failed sign-in says so clearly, a referral without consent (or with data the
//! consent does not cover) is refused with the reason on the form and nothing typed is
//! lost, every step shows up at the sending agency, and the admin cannot open the case.
//!
//! `screenshots` (ignored; run it on purpose) renders the main pages of a demo network
//! into `docs/screenshots/`:
//!
//! ```sh
//! cargo test -p lotse-tests --test browser -- --ignored screenshots
//! ```
//!
//! Chromium and chromedriver must be installed (`apt-get install chromium
//! chromium-driver`; `.ci/run` does it). Without them the tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use lotse_admin_ui::demo;
use lotse_node::auth::{Role, users};
use lotse_node::core::Core;
use lotse_tests::{TestNet, TestNode, wait_for};
use serde_json::json;

const PASSWORD: &str = "browser-Passwort-1";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str = "Chromium and chromedriver are needed for the browser tests: \
                       run `apt-get install chromium chromium-driver` (as root), then test again";

/// chromedriver as a child process, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and a headless Chromium session with a window of `width`×`height`.
async fn browser(width: u32, height: u32) -> (Driver, Client) {
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

/// A page in the browser, with the helpers the scenarios use.
struct Page<'a> {
    c: &'a Client,
}

impl Page<'_> {
    async fn goto(&self, url: &str) {
        self.c.goto(url).await.unwrap();
    }

    async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    async fn h1(&self) -> String {
        self.c
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The visible text of the main area.
    async fn main_text(&self) -> String {
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
    async fn click_and_wait(&self, e: fantoccini::elements::Element) {
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

    async fn fill(&self, id: &str, value: &str) {
        let e = self
            .c
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    /// Sets a value by script (date and time inputs, whose typing is locale-dependent).
    async fn set(&self, id: &str, value: &str) {
        self.c
            .execute(
                "document.getElementById(arguments[0]).value = arguments[1];",
                vec![json!(id), json!(value)],
            )
            .await
            .unwrap();
    }

    async fn click_id(&self, id: &str) {
        self.c
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn select(&self, id: &str, value: &str) {
        self.c
            .find(Locator::Id(id))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn value(&self, id: &str) -> String {
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
    async fn act(&self, action: &str) {
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
    async fn press(&self, text: &str) {
        let xpath = format!("//button[normalize-space(.)='{text}']");
        let button = self
            .c
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"));
        self.click_and_wait(button).await;
    }

    /// Opens every collapsed action box, so their fields can be used.
    async fn open_details(&self) {
        self.c
            .execute(
                "document.querySelectorAll('details').forEach(function (d) { d.open = true; });",
                vec![],
            )
            .await
            .unwrap();
    }

    async fn sign_in(&self, base: &str, username: &str, password: &str) {
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
    async fn wait_for_text(&self, url: &str, text: &str) {
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

async fn add_user(node: &TestNode, username: &str, display: &str, role: Role) {
    users::add_user(
        node.core(),
        "test",
        username,
        display,
        role,
        Some(PASSWORD.into()),
    )
    .await
    .unwrap();
}

/// Publishes the demo services of `kind` for `node` and waits until `others` list them.
async fn publish_services(
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

fn in_days_at(days: i64, hour: u8) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    format!("{d}T{hour:02}:00")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_handover_in_the_browser() {
    let net = TestNet::with_routes(2, Arc::new(lotse_admin_ui::router)).await;
    let (a, b) = (net.agency(0), net.agency(1));
    add_user(a, "berger", "Anna Berger", Role::CaseManager).await;
    add_user(a, "it-admin", "IT-Administration", Role::Admin).await;
    add_user(b, "okafor", "Grace Okafor", Role::CaseManager).await;
    publish_services(
        b,
        lotse_protocol::directory::AgencyKind::Jmd,
        &[a.core(), net.ki.core()],
    )
    .await;
    let (a_url, b_url) = (a.url(), b.url());
    let (_driver, client) = browser(1280, 900).await;
    let page = Page { c: &client };

    // A failed sign-in says clearly what is wrong and keeps the username.
    page.sign_in(&a_url, "berger", "falsches-Passwort").await;
    let text = page.main_text().await;
    assert!(
        text.contains("Benutzername oder Passwort ist falsch"),
        "{text}"
    );
    assert_eq!(page.value("username").await, "berger");

    // Signed in, the overview greets the case manager.
    page.fill("password", PASSWORD).await;
    page.press("Anmelden").await;
    assert_eq!(page.h1().await, "Übersicht");

    // Find the youth migration service's offer in the directory and choose it.
    page.goto(&format!(
        "{a_url}/vermittlungen/neu?feld=education&alter=19"
    ))
    .await;
    let choose = format!("a[href*='stelle={}'][href*='angebot=jmd-begleitung']", b.id);
    let link = client
        .find(Locator::Css(&choose))
        .await
        .expect("the JMD's service is found by field and age");
    page.click_and_wait(link).await;
    assert!(
        page.main_text()
            .await
            .contains("Jugendmigrationsdienst AWO")
    );

    // Without consent nothing is sent: the reason is on the form, the typed data stays.
    page.fill("client_name", "Samira Haddad").await;
    page.fill("need_text_1", "Sucht einen Ausbildungsplatz")
        .await;
    page.press("Vermittlung senden").await;
    let text = page.main_text().await;
    assert!(
        text.contains("Ohne Einwilligung der Klientin oder des Klienten kann keine Vermittlung gesendet werden"),
        "{text}"
    );
    assert_eq!(page.value("client_name").await, "Samira Haddad");
    assert_eq!(
        page.value("need_text_1").await,
        "Sucht einen Ausbildungsplatz"
    );

    // With consent for the needs only, the name is refused, and the page says which data.
    page.fill("consent_purpose", "Begleitung in eine Ausbildung")
        .await;
    page.click_id("cat_needs").await;
    page.press("Vermittlung senden").await;
    let text = page.main_text().await;
    assert!(
        text.contains(
            "Die Einwilligung deckt nicht alle eingegebenen Angaben ab. Nicht eingewilligt: Name"
        ),
        "{text}"
    );
    assert_eq!(page.value("client_name").await, "Samira Haddad");
    assert_eq!(
        page.value("consent_purpose").await,
        "Begleitung in eine Ausbildung"
    );

    // Consent covers name, languages and needs: the referral goes out.
    page.click_id("cat_name").await;
    page.click_id("cat_languages").await;
    page.fill("client_languages", "Arabisch, Deutsch (A2)")
        .await;
    // The signed consent form goes along as a file.
    let scan_dir = tempfile::tempdir().unwrap();
    let scan = scan_dir.path().join("einwilligung-haddad.pdf");
    std::fs::write(&scan, b"%PDF-1.4 signed consent form").unwrap();
    client
        .find(Locator::Id("consent_scan"))
        .await
        .unwrap()
        .send_keys(&scan.display().to_string())
        .await
        .unwrap();
    page.press("Vermittlung senden").await;
    let text = page.main_text().await;
    assert!(text.contains("Die Vermittlung wurde gesendet"), "{text}");
    assert_eq!(page.h1().await, "Vermittlung an Jugendmigrationsdienst AWO");
    let detail_path = client.current_url().await.unwrap().path().to_string();
    let a_detail = format!("{a_url}{detail_path}");
    let b_detail = format!("{b_url}{detail_path}");
    page.wait_for_text(&a_detail, "zugestellt am").await;

    // B: the referral waits in the agency inbox; the case manager takes it, then sees it all.
    page.sign_in(&b_url, "okafor", PASSWORD).await;
    page.wait_for_text(&format!("{b_url}/"), "Neue Eingänge 1")
        .await;
    assert!(
        page.main_text()
            .await
            .contains("von Migrationsberatung Caritas")
    );
    page.goto(&b_detail).await;
    assert!(!page.main_text().await.contains("Samira Haddad"));
    page.act("assign").await;
    let text = page.main_text().await;
    assert!(
        text.contains("Samira Haddad")
            && text.contains("Begleitung in eine Ausbildung")
            && text.contains("einwilligung-haddad.pdf"),
        "{text}"
    );
    // The signed form arrived intact.
    let size = client
        .execute_async(
            "var done = arguments[arguments.length - 1]; \
             fetch(document.querySelector('a[href$=\"/dokument/einwilligung\"]').href) \
               .then(function (r) { return r.arrayBuffer(); }) \
               .then(function (b) { done(b.byteLength); });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(size, json!(28));
    page.fill("accept_contact", "Grace Okafor, Tel. 0211 555-310")
        .await;
    page.act("accept").await;
    assert!(
        page.main_text()
            .await
            .contains("Sie haben die Vermittlung angenommen")
    );

    // B proposes a handover meeting with an interpreter.
    page.open_details().await;
    page.set("slot_1", &in_days_at(3, 10)).await;
    page.set("slot_2", &in_days_at(4, 14)).await;
    page.fill("place_detail", "Jugendmigrationsdienst, Am Markt 3")
        .await;
    page.click_id("interpreter_needed").await;
    page.fill("interpreter_language", "Arabisch").await;
    page.act("propose_handover").await;
    let text = page.main_text().await;
    assert!(
        text.contains("Ihr Terminvorschlag wurde gesendet"),
        "{text}"
    );

    // A confirms one of the slots.
    page.sign_in(&a_url, "berger", PASSWORD).await;
    page.wait_for_text(&a_detail, "Übergabe vorgeschlagen")
        .await;
    assert!(page.main_text().await.contains("Sprachmittlung"));
    let slot = client
        .find(Locator::Css("input[name='confirm_slot']"))
        .await
        .unwrap();
    slot.click().await.unwrap();
    page.act("confirm_handover").await;
    assert!(
        page.main_text()
            .await
            .contains("Der Übergabetermin ist bestätigt")
    );

    // B: the meeting took place, a progress report, then closure.
    page.sign_in(&b_url, "okafor", PASSWORD).await;
    page.wait_for_text(&b_detail, "Übergabe vereinbart").await;
    page.act("handover_done").await;
    page.open_details().await;
    page.fill(
        "update_note",
        "Bewerbung bei der Stadtwerke-Ausbildung läuft",
    )
    .await;
    page.act("status_update").await;
    assert!(
        page.main_text()
            .await
            .contains("Ihre Rückmeldung wurde gesendet")
    );
    page.open_details().await;
    page.select("close_outcome", "goals_met").await;
    page.fill("close_note", "Ausbildungsplatz gefunden").await;
    page.act("close").await;
    assert!(
        page.main_text()
            .await
            .contains("Die Vermittlung ist abgeschlossen")
    );

    // A sees every step, each message delivered.
    page.sign_in(&a_url, "berger", PASSWORD).await;
    page.wait_for_text(&a_detail, "abgeschlossen: Ziele erreicht")
        .await;
    let text = page.main_text().await;
    for step in [
        "Vermittlung gesendet",
        "Angenommen",
        "Ansprechperson: Grace Okafor, Tel. 0211 555-310",
        "Übergabetermin vorgeschlagen",
        "Übergabetermin bestätigt",
        "Übergabe erfolgt",
        "Rückmeldung",
        "Bewerbung bei der Stadtwerke-Ausbildung läuft",
        "Abgeschlossen",
        "Ergebnis: Ziele erreicht",
        "Ausbildungsplatz gefunden",
    ] {
        assert!(text.contains(step), "A's timeline lacks {step:?}:\n{text}");
    }
    assert!(!text.contains("nicht zugestellt"), "{text}");
    page.goto(&format!("{a_url}/ausgang?status=closed")).await;
    assert!(
        page.main_text()
            .await
            .contains("an Jugendmigrationsdienst AWO")
    );

    // The admin manages the node but cannot open the case.
    page.sign_in(&a_url, "it-admin", PASSWORD).await;
    assert_eq!(page.h1().await, "Knotenstatus");
    page.goto(&a_detail).await;
    assert_eq!(page.h1().await, "Kein Zugriff");
    let source = page.source().await;
    assert!(!source.contains("Samira Haddad"), "case content leaked");
    assert!(source.contains("Fallinhalte sehen nur"));

    // Every view of the case content was audited.
    let log = lotse_node::audit::list(a.core().store.as_ref(), None, 1000).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "referral.read" && e.actor == "berger")
    );
    assert!(
        !log.iter()
            .any(|e| e.actor == "it-admin" && e.action == "referral.read")
    );

    client.close().await.unwrap();
    net.shutdown().await;
}

/// Renders the main pages of a demo network into `docs/screenshots/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/screenshots; run on purpose: cargo test -p lotse-tests --test browser -- --ignored screenshots"]
async fn screenshots() {
    use lotse_protocol::directory::AgencyKind;

    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&out).unwrap();
    let net = TestNet::with_routes(3, Arc::new(lotse_admin_ui::router)).await;
    let (a, b, c) = (net.agency(0), net.agency(1), net.agency(2));
    add_user(a, "berger", "Anna Berger", Role::CaseManager).await;
    add_user(a, "it-admin", "IT-Administration", Role::Admin).await;
    add_user(b, "okafor", "Grace Okafor", Role::CaseManager).await;
    add_user(&net.ki, "koordination", "Miriam Koch", Role::Coordinator).await;
    let all = [a.core(), b.core(), c.core(), net.ki.core()];
    for (node, kind) in [
        (b, AgencyKind::Jmd),
        (c, AgencyKind::JobCentre),
        (a, AgencyKind::Mbe),
    ] {
        publish_services(node, kind, &all).await;
    }
    let (_driver, client) = browser(1280, 900).await;
    let page = Page { c: &client };
    let shot = |name: &'static str| {
        let client = client.clone();
        let path = out.join(format!("{name}.png"));
        async move {
            let png = client.screenshot().await.unwrap();
            std::fs::write(&path, png).unwrap();
        }
    };
    let (a_url, b_url, ki_url) = (a.url(), b.url(), net.ki.url());

    page.goto(&format!("{a_url}/anmelden")).await;
    shot("01-anmelden").await;
    page.sign_in(&a_url, "berger", PASSWORD).await;

    // A referral with a proposed handover, and one to the job centre.
    for (agency, service, name, languages, need) in [
        (
            c,
            "integrationscoaching",
            "Olena Kovalenko",
            "Ukrainisch, Englisch",
            "Anerkennung als Pflegefachkraft und Arbeitssuche",
        ),
        (
            b,
            "jmd-begleitung",
            "Samira Haddad",
            "Arabisch, Deutsch (A2)",
            "Sucht einen Ausbildungsplatz im Handwerk",
        ),
    ] {
        page.goto(&format!(
            "{a_url}/vermittlungen/neu?stelle={}&angebot={service}",
            agency.id
        ))
        .await;
        page.fill("consent_purpose", "Begleitung in Ausbildung und Arbeit")
            .await;
        for cat in ["cat_name", "cat_languages", "cat_needs", "cat_summary"] {
            page.click_id(cat).await;
        }
        page.fill("client_name", name).await;
        page.fill("client_languages", languages).await;
        page.fill("need_text_1", need).await;
        page.fill("client_summary", "Seit acht Monaten in Musterstadt, lebt mit zwei Kindern. Termine am besten vormittags.").await;
        page.set("slot_1", &in_days_at(3, 10)).await;
        page.set("slot_2", &in_days_at(5, 14)).await;
        page.fill("place_detail", "Beratungsstelle Lindenstraße 12, Raum 2")
            .await;
        if agency.id == b.id {
            page.click_id("interpreter_needed").await;
            page.fill("interpreter_language", "Arabisch").await;
            client
                .execute(
                    "document.activeElement.blur(); document.getElementById('einwilligung').scrollIntoView();",
                    vec![],
                )
                .await
                .unwrap();
            shot("04-neue-vermittlung-formular").await;
        }
        page.press("Vermittlung senden").await;
    }
    let detail = client.current_url().await.unwrap().path().to_string();

    // A referral without consent is refused, with the reason on the form.
    page.goto(&format!(
        "{a_url}/vermittlungen/neu?stelle={}&angebot=leistungsberatung",
        c.id
    ))
    .await;
    page.fill("client_name", "Olena Kovalenko").await;
    page.press("Vermittlung senden").await;
    client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    shot("15-vermittlung-ohne-einwilligung").await;

    // B takes it, accepts and confirms a slot; A sees it.
    page.sign_in(&b_url, "okafor", PASSWORD).await;
    page.wait_for_text(&format!("{b_url}/"), "Neue Eingänge 1")
        .await;
    shot("09-eingang-jmd").await;
    page.goto(&format!("{b_url}{detail}")).await;
    page.act("assign").await;
    page.fill("accept_contact", "Grace Okafor, Tel. 0211 555-310")
        .await;
    page.fill(
        "accept_note",
        "Wir übernehmen gern. Frau Haddad kann zum ersten Termin kommen.",
    )
    .await;
    page.act("accept").await;
    client
        .find(Locator::Css("input[name='confirm_slot']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.act("confirm_handover").await;

    page.sign_in(&a_url, "berger", PASSWORD).await;
    page.wait_for_text(&format!("{a_url}{detail}"), "Übergabe vereinbart")
        .await;
    client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    shot("05-vermittlung-detail").await;
    client
        .execute(
            "document.getElementById('verlauf').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    shot("14-vermittlung-verlauf").await;
    page.goto(&format!("{a_url}/")).await;
    shot("02-uebersicht").await;
    page.goto(&format!("{a_url}/ausgang")).await;
    shot("06-ausgang").await;
    page.goto(&format!("{a_url}/vermittlungen/neu?feld=work"))
        .await;
    shot("03-neue-vermittlung-suche").await;
    page.goto(&format!("{a_url}/verzeichnis?q=sprach")).await;
    shot("07-verzeichnis").await;

    page.sign_in(&a_url, "it-admin", PASSWORD).await;
    page.goto(&format!("{a_url}/verwaltung/status")).await;
    shot("10-knotenstatus").await;
    page.goto(&format!("{a_url}/verwaltung/benutzer")).await;
    shot("11-benutzer").await;

    page.sign_in(&ki_url, "koordination", PASSWORD).await;
    page.goto(&format!("{ki_url}/netzwerk")).await;
    shot("12-netzwerk-mitglieder").await;
    page.goto(&format!("{ki_url}/netzwerk/einladungen")).await;
    page.fill("agency_name", "Flüchtlingsberatung Diakonie")
        .await;
    page.select("agency_kind", "refugee_counselling").await;
    page.press("Einladung erstellen").await;
    shot("13-netzwerk-einladung").await;

    page.sign_in(&a_url, "berger", "falsch-falsch-falsch").await;
    shot("08-anmelden-fehler").await;

    client.close().await.unwrap();
    net.shutdown().await;
}
