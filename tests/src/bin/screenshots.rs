//! Renders the main pages of a demo network into `docs/screenshots/`:
//!
//! ```sh
//! cargo run -p lotse-tests --bin screenshots
//! ```
//!
//! It starts a KI and three agencies on 127.0.0.1, walks a referral through its steps and
//! photographs each page in headless Chromium at 1280×900 (`lotse_tests::browser`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use fantoccini::Locator;
use lotse_node::auth::Role;
use lotse_tests::TestNet;

use lotse_tests::browser::*;

/// Renders the main pages of a demo network into `docs/screenshots/`.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
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
    page.goto(&format!("{a_url}/auskunft?name=Samira+Haddad"))
        .await;
    shot("16-auskunft").await;

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
    for agency in [a, b, c] {
        lotse_node::statistics::send(agency.core(), &agency.running().transport)
            .await
            .unwrap();
    }
    page.goto(&format!("{ki_url}/netzwerk/zahlen")).await;
    shot("17-netzwerk-zahlen").await;
    page.goto(&format!("{ki_url}/netzwerk/zahlen#vermittlungen"))
        .await;
    shot("18-netzwerk-zahlen-vermittlungen").await;

    page.sign_in(&a_url, "berger", "falsch-falsch-falsch").await;
    shot("08-anmelden-fehler").await;

    client.close().await.unwrap();
    net.shutdown().await;
}
