//! The web UI over HTTP, without a browser: who gets in, which forms are refused, and the
//! headers every answer carries. (The full flow in a real browser is in
//! `tests/tests/browser.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lotse_node::auth::{Role, users};
use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::init::{InitOptions, init};
use tower::ServiceExt;

const PASSWORD: &str = "richtig-lang-1";

async fn node() -> (tempfile::TempDir, Arc<Core>) {
    node_of("Testagentur", false).await
}

/// A node named `name` (the KI's directory node if `directory`), with the users `keller`
/// (team lead), `berger` (case manager), `it` (admin) and, on the KI's node,
/// `koordination` (coordinator).
async fn node_of(name: &str, directory: bool) -> (tempfile::TempDir, Arc<Core>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("node"));
    init(
        &dir,
        &InitOptions {
            name: name.into(),
            directory,
            quic_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            public_addresses: vec![],
        },
    )
    .await
    .unwrap();
    let core = Core::open(dir).unwrap();
    // The team lead first: the node's first is made on the server, and confirms berger.
    let mut people = vec![
        ("keller", Role::TeamLead),
        ("berger", Role::CaseManager),
        ("it", Role::Admin),
    ];
    if directory {
        people.push(("koordination", Role::Coordinator));
    }
    for (name, role) in people {
        lotse_admin_ui::demo::add_account(&core, name, name, role, PASSWORD)
            .await
            .unwrap();
    }
    (tmp, core)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(core: &Arc<Core>, req: Request<Body>) -> Answer {
    let resp = lotse_admin_ui::router(core.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut r =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::from(form.to_string())).unwrap()
}

/// Signs in; returns the cookie and the CSRF token of the session.
async fn sign_in(core: &Arc<Core>, user: &str) -> (String, String) {
    let a = send(
        core,
        post(
            "/anmelden",
            None,
            &format!("username={user}&password={PASSWORD}&weiter=%2Fkonto"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.headers[header::LOCATION], "/konto");
    let set = a.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let cookie = set.split(';').next().unwrap().to_string();
    let page = send(core, get("/konto", Some(&cookie))).await;
    let csrf = page
        .body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF field on the page")
        .to_string();
    (cookie, csrf)
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_back() {
    let (_t, core) = node().await;
    let a = send(&core, get("/", None)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/anmelden");
    let a = send(&core, get("/eingang?status=sent", None)).await;
    assert_eq!(
        a.headers[header::LOCATION],
        "/anmelden?weiter=%2Feingang%3Fstatus%3Dsent"
    );
    // Only paths on this site are followed after sign-in.
    let a = send(
        &core,
        post(
            "/anmelden",
            None,
            &format!("username=berger&password={PASSWORD}&weiter=%2F%2Fevil.example"),
        ),
    )
    .await;
    assert_eq!(a.headers[header::LOCATION], "/");
}

#[tokio::test]
async fn failed_sign_in_is_clear_and_rate_limited() {
    let (_t, core) = node().await;
    let a = send(
        &core,
        post("/anmelden", None, "username=berger&password=falsch-falsch"),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.body.contains("Benutzername oder Passwort ist falsch"),
        "{}",
        a.body
    );
    assert!(a.body.contains("value=\"berger\""), "the username stays");
    for _ in 0..lotse_node::auth::ratelimit::USER_FAILURES {
        send(
            &core,
            post("/anmelden", None, "username=berger&password=falsch-falsch"),
        )
        .await;
    }
    let a = send(
        &core,
        post(
            "/anmelden",
            None,
            &format!("username=berger&password={PASSWORD}"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.contains_key(header::RETRY_AFTER));
    assert!(
        a.body
            .contains("Bitte versuchen Sie es in 15 Minuten erneut"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_change_nothing() {
    let (_t, core) = node().await;
    let (cookie, csrf) = sign_in(&core, "berger").await;
    let form = "current=richtig-lang-1&new=neues-Passwort-1&repeat=neues-Passwort-1";
    let a = send(&core, post("/konto", Some(&cookie), form)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("Formular abgelaufen"));
    let a = send(
        &core,
        post("/konto", Some(&cookie), &format!("{form}&csrf_token=0000")),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The old password still works: nothing changed.
    users::verify_login(&core, "berger", PASSWORD)
        .await
        .unwrap();
    let a = send(
        &core,
        post(
            "/konto",
            Some(&cookie),
            &format!("{form}&csrf_token={csrf}"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    users::verify_login(&core, "berger", "neues-Passwort-1")
        .await
        .unwrap();
    // Signing out needs the token too.
    let a = send(&core, post("/abmelden", Some(&cookie), "")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = send(
        &core,
        post("/abmelden", Some(&cookie), &format!("csrf_token={csrf}")),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = send(&core, get("/", Some(&cookie))).await;
    assert_eq!(
        a.headers[header::LOCATION],
        "/anmelden",
        "the session ended"
    );
}

#[tokio::test]
async fn roles_see_only_their_pages() {
    let (_t, core) = node().await;
    let (admin, _) = sign_in(&core, "it").await;
    let id = lotse_protocol::ReferralId::random();
    for path in [
        format!("/vermittlungen/{id}"),
        "/eingang".into(),
        "/vermittlungen/neu".into(),
        "/auskunft?name=Niemand".into(),
    ] {
        let a = send(&core, get(&path, Some(&admin))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            a.body.contains("Kein Zugriff") && a.body.contains("Fallinhalte sehen nur"),
            "{path}"
        );
    }
    let a = send(&core, get("/verwaltung/benutzer", Some(&admin))).await;
    assert_eq!(a.status, StatusCode::OK);
    let (cm, _) = sign_in(&core, "berger").await;
    let a = send(&core, get("/verwaltung/benutzer", Some(&cm))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    for path in ["/netzwerk", "/netzwerk/zahlen"] {
        let a = send(&core, get(path, Some(&cm))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
    }
    let a = send(&core, get(&format!("/vermittlungen/{id}"), Some(&cm))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_are_german_accessible_and_guarded_by_headers() {
    let (_t, core) = node().await;
    let (cm, _) = sign_in(&core, "berger").await;
    for path in [
        "/",
        "/eingang",
        "/ausgang",
        "/vermittlungen/neu",
        "/verzeichnis",
        "/auskunft",
        "/auskunft?name=Niemand+Bekannt",
        "/konto",
    ] {
        let a = send(&core, get(path, Some(&cm))).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(a.body.contains("<html lang=\"de\">"), "{path}");
        assert_eq!(a.body.matches("<h1").count(), 1, "{path}: one h1");
        assert!(a.body.contains("href=\"#inhalt\""), "{path}: skip link");
        // Every field has a label.
        for id in a
            .body
            .split(" id=\"")
            .skip(1)
            .filter_map(|r| r.split('"').next())
        {
            let is_field = a.body.contains(&format!("<input id=\"{id}\""))
                || a.body.contains(&format!("<select id=\"{id}\""))
                || a.body.contains(&format!("<textarea id=\"{id}\""));
            if is_field {
                assert!(
                    a.body.contains(&format!("for=\"{id}\"")),
                    "{path}: #{id} has no label"
                );
            }
        }
        let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    }
    let a = send(&core, get("/assets/lotse.css", None)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        a.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let a = send(&core, get("/gibt-es-nicht", Some(&cm))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("Diese Seite gibt es nicht"));
    let a = send(&core, get("/api/v1/gibt-es-nicht", None)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.starts_with('{'));
}

#[tokio::test]
async fn the_ki_exports_the_reported_figures_of_a_year_as_csv() {
    use lotse_protocol::client::FieldOfAction;
    use lotse_protocol::statistics::{Count, FieldFigures, StatisticsReport, YearFigures};

    let (_t, ki) = node_of("KI Teststadt", true).await;
    // A report as a member sends it (here the KI's own id, the one active member).
    let row = |field, received, median| FieldFigures {
        field,
        received,
        taken_on: Count::Exact(6),
        declined_no_capacity: Count::Few,
        declined_not_responsible: Count::Exact(0),
        declined_by_client: Count::Exact(0),
        declined_other: Count::Exact(0),
        waiting: Count::Exact(0),
        median_hours_to_accept: median,
    };
    let report = StatisticsReport {
        taken_at: lotse_protocol::Timestamp(1),
        years: vec![
            YearFigures {
                year: 2025,
                fields: vec![row(FieldOfAction::Housing, Count::Exact(9), Some(30))],
            },
            YearFigures {
                year: 2026,
                fields: vec![
                    row(FieldOfAction::Work, Count::Exact(12), Some(50)),
                    row(FieldOfAction::Health, Count::Few, None),
                ],
            },
        ],
    };
    let taken =
        lotse_node::statistics::take_report(&ki, ki.id, &lotse_protocol::codec::encode(&report))
            .await;
    assert_eq!(taken.status, lotse_node::transport::frame::Status::Ok);

    let (coordinator, _) = sign_in(&ki, "koordination").await;
    let a = send(&ki, get("/netzwerk/zahlen.csv", Some(&coordinator))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        a.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"lotse-vermittlungen-2026.csv\""
    );
    let lines: Vec<&str> = a.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 3, "{}", a.body);
    assert!(lines[0].starts_with("Jahr;Handlungsfeld;erhalten;angenommen"));
    assert_eq!(lines[1], "2026;Arbeit;12;6;unter 5;0;0;0;0;2 Tage");
    assert_eq!(lines[2], "2026;Gesundheit;unter 5;6;unter 5;0;0;0;0;–");
    for line in &lines {
        assert_eq!(line.split(';').count(), 10, "{line}");
    }
    // Another year on request; one nobody reported gives the latest.
    let a = send(
        &ki,
        get("/netzwerk/zahlen.csv?jahr=2025", Some(&coordinator)),
    )
    .await;
    assert!(
        a.body.contains("2025;Wohnen;9;6;unter 5;0;0;0;0;30 Std."),
        "{}",
        a.body
    );
    let a = send(
        &ki,
        get("/netzwerk/zahlen.csv?jahr=1999", Some(&coordinator)),
    )
    .await;
    assert!(a.body.contains("2026;Arbeit;"), "{}", a.body);
    // The page links the export of the year it shows.
    let a = send(&ki, get("/netzwerk/zahlen?jahr=2025", Some(&coordinator))).await;
    assert!(
        a.body.contains("/netzwerk/zahlen.csv?jahr=2025"),
        "{}",
        a.body
    );
    // Only the coordinator.
    for user in ["berger", "it"] {
        let (cookie, _) = sign_in(&ki, user).await;
        let a = send(&ki, get("/netzwerk/zahlen.csv", Some(&cookie))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{user}");
    }
    let a = send(&ki, get("/netzwerk/zahlen.csv", None)).await;
    assert_ne!(a.status, StatusCode::OK);
}
