//! The web UI in a real browser: Debian's Chromium, driven through chromedriver
//! (WebDriver), against real nodes talking QUIC on 127.0.0.1.
//!
//! `warm_handover_in_the_browser` walks a referral from one agency to another and to its
//! end, the way case managers do it, and checks on the way what must hold for a person at
//! the desk: a failed sign-in says so clearly, a referral without consent (or with data the
//! consent does not cover) is refused with the reason on the form and nothing typed is
//! lost, every step shows up at the sending agency, and the admin cannot open the case.
//!
//! Chromium and chromedriver must be installed (`apt-get install chromium
//! chromium-driver`; `.ci/run` does it). Without them the test fails and says so.
//! The screenshots in `docs/screenshots/` come from `cargo run -p lotse-tests --bin
//! screenshots`, which uses the same browser helpers (`lotse_tests::browser`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use fantoccini::Locator;
use lotse_node::auth::Role;
use lotse_tests::TestNet;
use serde_json::json;

use lotse_tests::browser::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_handover_in_the_browser() {
    let net = TestNet::with_routes(2, Arc::new(lotse_admin_ui::router)).await;
    let (a, b) = (net.agency(0), net.agency(1));
    add_user(a, "berger", "Anna Berger", Role::CaseManager).await;
    add_user(a, "it-admin", "IT-Administration", Role::Admin).await;
    add_user(b, "okafor", "Grace Okafor", Role::CaseManager).await;
    add_user(
        &net.ki,
        "koordination",
        "KI-Koordination",
        Role::Coordinator,
    )
    .await;
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

    // Asked what was shared about her, the case manager looks it up under "Auskunft".
    page.goto(&format!("{a_url}/auskunft")).await;
    page.fill("name", "samira haddad").await;
    page.press("Suchen").await;
    let text = page.main_text().await;
    for part in [
        "gesendet an Jugendmigrationsdienst AWO",
        "Begleitung in eine Ausbildung",
        "Name, Sprachen",
        "abgeschlossen",
    ] {
        assert!(
            text.contains(part),
            "the disclosure lacks {part:?}:\n{text}"
        );
    }
    // She prints it for the client: the printout holds the answer, not the navigation or
    // the search form.
    page.emulate_media("print").await;
    assert!(!page.displayed("nav").await, "the navigation is printed");
    assert!(
        !page.displayed("form.filters").await,
        "the search is printed"
    );
    assert!(
        page.displayed("main table").await,
        "the answer is not printed"
    );
    page.emulate_media("screen").await;
    assert!(page.displayed("nav").await && page.displayed("form.filters").await);

    // The admin manages the node but cannot open the case.
    page.sign_in(&a_url, "it-admin", PASSWORD).await;
    assert_eq!(page.h1().await, "Knotenstatus");
    page.goto(&a_detail).await;
    assert_eq!(page.h1().await, "Kein Zugriff");
    let source = page.source().await;
    assert!(!source.contains("Samira Haddad"), "case content leaked");
    assert!(source.contains("Fallinhalte sehen nur"));
    page.goto(&format!("{a_url}/auskunft?name=Samira")).await;
    assert_eq!(page.h1().await, "Kein Zugriff");

    // The KI's coordinator sees the network in figures: offers, gaps, and the referrals
    // as the agencies report them, one referral only as "unter 5".
    lotse_node::statistics::send(b.core(), &b.running().transport)
        .await
        .unwrap();
    let ki_url = net.ki.url();
    page.sign_in(&ki_url, "koordination", PASSWORD).await;
    page.goto(&format!("{ki_url}/netzwerk/zahlen")).await;
    assert_eq!(page.h1().await, "Netzwerk in Zahlen");
    let text = page.main_text().await;
    for part in [
        "Angebote nach Handlungsfeld",
        "kein Angebot",
        "Stellen nach Art",
        "Einzelne Vermittlungen sieht das Integrationszentrum nicht",
        "Vermittlungen nach Handlungsfeld",
        "Von 1 der 2 Stellen gemeldet",
        "unter 5",
        "Letzte Meldung je Stelle",
        "Jugendmigrationsdienst AWO",
    ] {
        assert!(text.contains(part), "the figures lack {part:?}:\n{text}");
    }
    // A year nobody reported, or no year at all: said calmly, and this year's figures stay.
    let year = time::OffsetDateTime::now_utc().year();
    for asked in ["1999", "<b>neu</b>"] {
        page.goto(&format!("{ki_url}/netzwerk/zahlen?jahr={asked}"))
            .await;
        let text = page.main_text().await;
        assert!(
            text.contains(&format!(
                "Für „{asked}“ hat keine Stelle Vermittlungen gemeldet"
            )) && text.contains(&format!("Erhalten im Jahr {year}")),
            "{text}"
        );
    }
    assert!(!page.source().await.contains("<b>neu</b>"));
    assert!(!page.source().await.contains("Samira"));

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
    assert!(
        log.iter()
            .any(|e| e.action == "client.disclosure" && e.actor == "berger")
    );

    client.close().await.unwrap();
    net.shutdown().await;
}
