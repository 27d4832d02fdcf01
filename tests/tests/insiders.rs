//! Curious insiders and tricked users (issue 14, rows 5, 6 and 9 to 14): what a node's
//! admin, a colleague, or another website can try against one node over real HTTP, with
//! the web UI and the JSON API served as `lotse run` serves them.
//!
//! - An admin gives nobody case access alone, and never learns a password of an account
//!   with case access (four eyes with a team lead).
//! - After sign-in only paths on this site are followed; a sign-in form posted from
//!   another site is refused.
//! - API tokens and sessions expire, and end on a password change, a reset, a role change.
//! - Password changes are rate-limited like sign-ins, and failures are audited.
//! - What a user typed as a username never reaches the log.
//! - Every answer, the JSON API's included, carries the security headers.
//! - Weak and common passwords are refused.
//! - A data directory whose files others may read is refused at start.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::init::{InitOptions, init};
use lotse_node::node::RunningNode;
use serde_json::{Value, json};

/// Everything the node logs in this test binary, for the tests that read the log.
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One started agency node with the web UI, and its first admin's password.
struct Node {
    _tmp: tempfile::TempDir,
    dir: DataDir,
    node: RunningNode,
    base: String,
    admin_password: String,
}

async fn start() -> Node {
    log();
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("mbe"));
    let report = init(
        &dir,
        &InitOptions {
            name: "MBE Teststadt".into(),
            directory: false,
            quic_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            public_addresses: vec![],
        },
    )
    .await
    .unwrap();
    let admin_password = report.first_admin.password.unwrap();
    let node = run(&dir).await;
    let base = format!("http://{}", node.http_addr);
    Node {
        _tmp: tmp,
        dir,
        node,
        base,
        admin_password,
    }
}

async fn run(dir: &DataDir) -> RunningNode {
    let core = Core::open(dir.clone()).unwrap();
    let ui = lotse_admin_ui::router(core.clone());
    lotse_node::node::start(core, ui).await.unwrap()
}

/// An HTTP answer.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
    /// The `name=value` part of the `Set-Cookie` header.
    fn cookie(&self) -> Option<String> {
        self.header("set-cookie")
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
    }
}

/// The body of a request.
enum Body<'a> {
    None,
    Json(Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// One request without following redirects, on tokio's blocking pool.
async fn req(method: &str, url: String, headers: &[(&str, &str)], body: Body<'_>) -> Resp {
    let method = method.to_string();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = match body {
        Body::None => None,
        Body::Json(v) => Some(("application/json", v.to_string())),
        Body::Form(pairs) => {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                s.append_pair(k, v);
            }
            Some(("application/x-www-form-urlencoded", s.finish()))
        }
    };
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .redirects(0)
            .build();
        let mut r = agent.request(&method, &url);
        for (k, v) in &headers {
            r = r.set(k, v);
        }
        let result = match body {
            Some((kind, b)) => r.set("Content-Type", kind).send_string(&b),
            None => r.call(),
        };
        let resp = match result {
            Ok(resp) => resp,
            Err(ureq::Error::Status(_, resp)) => resp,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .flat_map(|n| {
                resp.all(&n)
                    .into_iter()
                    .map(|v| (n.clone(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let text = resp.into_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    })
    .await
    .unwrap()
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn core(&self) -> &Arc<Core> {
        &self.node.core
    }

    async fn login(&self, username: &str, password: &str) -> Resp {
        req(
            "POST",
            self.url("/api/v1/login"),
            &[],
            Body::Json(json!({"username": username, "password": password})),
        )
        .await
    }

    /// Signs in and returns the bearer header value.
    async fn bearer(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status, 200, "{r:?}");
        format!("Bearer {}", r.body["token"].as_str().unwrap())
    }

    async fn get(&self, path: &str, auth: &str) -> Resp {
        req(
            "GET",
            self.url(path),
            &[("Authorization", auth)],
            Body::None,
        )
        .await
    }

    async fn post(&self, path: &str, auth: &str, body: Value) -> Resp {
        req(
            "POST",
            self.url(path),
            &[("Authorization", auth)],
            Body::Json(body),
        )
        .await
    }

    /// Signs in through the web UI's form; returns the session cookie.
    async fn ui_sign_in(&self, username: &str, password: &str) -> String {
        let r = req(
            "POST",
            self.url("/anmelden"),
            &[],
            Body::Form(&[("username", username), ("password", password)]),
        )
        .await;
        assert_eq!(r.status, 303, "{r:?}");
        r.cookie().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Row 6: redirects after sign-in, login CSRF

#[tokio::test(flavor = "multi_thread")]
async fn after_sign_in_only_paths_on_this_site_are_followed() {
    let n = start().await;
    let pw = n.admin_password.clone();
    for hostile in [
        "//evil.example",
        "/\t/evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%2F%2Fevil.example",
        "/\r\n/evil.example",
        "/konto\r\nSet-Cookie: x=1",
    ] {
        let r = req(
            "POST",
            n.url("/anmelden"),
            &[],
            Body::Form(&[
                ("username", "admin"),
                ("password", &pw),
                ("weiter", hostile),
            ]),
        )
        .await;
        assert_eq!(r.status, 303, "{hostile:?}: {r:?}");
        assert_eq!(r.header("location"), Some("/"), "{hostile:?}");
    }
    let r = req(
        "POST",
        n.url("/anmelden"),
        &[],
        Body::Form(&[
            ("username", "admin"),
            ("password", &pw),
            ("weiter", "/verwaltung/benutzer?x=1"),
        ]),
    )
    .await;
    assert_eq!(r.header("location"), Some("/verwaltung/benutzer?x=1"));

    // Signed in, the sign-in page forwards at once: CR/LF there once gave a 500.
    let cookie = r.cookie().unwrap();
    for hostile in [
        "%0D%0A%2F%2Fevil.example",
        "%2F%09%2Fevil.example",
        "%2F%0D%0A",
    ] {
        let r = req(
            "GET",
            n.url(&format!("/anmelden?weiter={hostile}")),
            &[("Cookie", &cookie)],
            Body::None,
        )
        .await;
        assert_eq!(r.status, 303, "{hostile}: {r:?}");
        assert_eq!(r.header("location"), Some("/"), "{hostile}");
    }
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_posted_from_another_site_is_refused() {
    let n = start().await;
    let pw = n.admin_password.clone();
    let form = [("username", "admin"), ("password", pw.as_str())];
    for headers in [
        vec![
            ("Sec-Fetch-Site", "cross-site"),
            ("Origin", "https://evil.example"),
        ],
        vec![("Sec-Fetch-Site", "same-site")],
        vec![("Origin", "https://evil.example")],
        vec![("Origin", "null")],
    ] {
        let r = req("POST", n.url("/anmelden"), &headers, Body::Form(&form)).await;
        assert_eq!(r.status, 403, "{headers:?}: {r:?}");
        assert!(r.header("set-cookie").is_none(), "no session: {headers:?}");
        assert!(r.text.contains("von einer anderen Website"), "{}", r.text);
        let r = req(
            "POST",
            n.url("/api/v1/login"),
            &headers,
            Body::Json(json!({"username": "admin", "password": pw})),
        )
        .await;
        assert_eq!(r.status, 403, "{headers:?}: {r:?}");
        assert!(r.header("set-cookie").is_none());
        assert!(r.error().contains("another website"), "{r:?}");
    }
    // The browser's own page, and clients that are no browser, still sign in.
    let host = n.base.trim_start_matches("http://").to_string();
    let origin = n.base.clone();
    for headers in [
        vec![
            ("Sec-Fetch-Site", "same-origin"),
            ("Origin", origin.as_str()),
        ],
        vec![("Origin", origin.as_str()), ("Host", host.as_str())],
        vec![],
    ] {
        let r = req("POST", n.url("/anmelden"), &headers, Body::Form(&form)).await;
        assert_eq!(r.status, 303, "{headers:?}: {r:?}");
    }
    n.node.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Row 11: no typed username in the log

#[tokio::test(flavor = "multi_thread")]
async fn what_was_typed_as_a_username_never_reaches_the_log() {
    let n = start().await;
    // A password typed into the username field, again and again until rate-limited.
    let typed = "Mein-Geheimes-Passwort-4711";
    for _ in 0..8 {
        let r = n.login(typed, "irgendwas-anderes").await;
        assert!(r.status == 401 || r.status == 429, "{r:?}");
    }
    let r = n.login(typed, "irgendwas-anderes").await;
    assert_eq!(r.status, 429, "{r:?}");
    let text = String::from_utf8_lossy(&log().lock().unwrap()).to_lowercase();
    assert!(
        text.contains("sign-in refused: rate limited"),
        "the refusal is logged"
    );
    assert!(
        !text.contains(&typed.to_lowercase()),
        "the typed username is in the log"
    );
    // Nor in the audit log.
    let admin = n.bearer("admin", &n.admin_password).await;
    let audit = n.get("/api/v1/audit?limit=1000", &admin).await;
    assert!(!audit.text.to_lowercase().contains(&typed.to_lowercase()));
    n.node.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Row 12: security headers on every answer

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_the_security_headers() {
    let n = start().await;
    let admin = n.bearer("admin", &n.admin_password).await;
    let cookie = n.ui_sign_in("admin", &n.admin_password).await;
    let answers = [
        (
            "GET /api/v1/session",
            n.get("/api/v1/session", &admin).await,
        ),
        ("GET /api/v1/users", n.get("/api/v1/users", &admin).await),
        ("GET /api/v1/audit", n.get("/api/v1/audit", &admin).await),
        (
            "GET /api/v1/referrals (403)",
            n.get("/api/v1/referrals", &admin).await,
        ),
        (
            "GET /api/v1/session (401)",
            n.get("/api/v1/session", "Bearer x").await,
        ),
        (
            "POST /api/v1/login (401)",
            n.login("admin", "falsch-falsch-falsch").await,
        ),
        (
            "GET /api/v1/openapi.json",
            n.get("/api/v1/openapi.json", "").await,
        ),
        ("GET /healthz", n.get("/healthz", "").await),
        (
            "GET /api/v1/admin/status",
            n.get(
                "/api/v1/admin/status",
                &format!("Bearer {}", n.dir.load_token().unwrap()),
            )
            .await,
        ),
        (
            "GET /verwaltung/benutzer",
            req(
                "GET",
                n.url("/verwaltung/benutzer"),
                &[("Cookie", &cookie)],
                Body::None,
            )
            .await,
        ),
        (
            "GET /anmelden",
            req("GET", n.url("/anmelden"), &[], Body::None).await,
        ),
    ];
    for (what, r) in &answers {
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{what}");
        let csp = r.header("content-security-policy").unwrap_or("");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    }
    // Assets keep their own long cache time.
    let css = req("GET", n.url("/assets/lotse.css"), &[], Body::None).await;
    assert!(css.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(css.header("x-content-type-options"), Some("nosniff"));
    n.node.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Row 5: four eyes on case access

impl Node {
    /// The local admin API, as `lotse user` uses it on the server.
    fn server(&self) -> String {
        format!("Bearer {}", self.dir.load_token().unwrap())
    }

    /// The node's first team lead, made on the server; returns its bearer header.
    async fn first_team_lead(&self, username: &str) -> String {
        let r = self
            .post(
                "/api/v1/admin/users",
                &self.server(),
                json!({"username": username, "role": "team_lead"}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body["user"]["pending"].is_null(), "{r:?}");
        let pw = r.body["password"].as_str().unwrap().to_string();
        self.bearer(username, &pw).await
    }

    /// The admin asks for a case manager, `lead` confirms, the user sets `password` with
    /// the code; returns the user's bearer header.
    async fn confirmed_case_manager(
        &self,
        admin: &str,
        lead: &str,
        username: &str,
        password: &str,
    ) -> String {
        let r = self
            .post(
                "/api/v1/users",
                admin,
                json!({"username": username, "role": "case_manager"}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        let r = self
            .post(
                &format!("/api/v1/account-changes/{username}/confirm"),
                lead,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        let code = r.body["code"]["code"].as_str().unwrap().to_string();
        let r = req(
            "POST",
            self.url("/api/v1/password/reset"),
            &[],
            Body::Json(json!({"username": username, "code": code, "new_password": password})),
        )
        .await;
        assert_eq!(r.status, 204, "{r:?}");
        self.bearer(username, password).await
    }

    async fn audit_actions(&self) -> Vec<String> {
        let r = self
            .get("/api/v1/audit?limit=1000", &self.server_admin().await)
            .await;
        r.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    }

    async fn server_admin(&self) -> String {
        self.bearer("admin", &self.admin_password).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_alone_gives_no_case_access() {
    let n = start().await;
    let admin = n.server_admin().await;

    // The admin asks for a team lead: the account waits, and there is no password to see.
    let r = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "lena", "role": "team_lead", "password": "admin-kennt-es-1"}),
        )
        .await;
    assert_eq!(r.status, 400, "no password from the admin: {r:?}");
    let r = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "lena", "display_name": "Lena Team", "role": "team_lead"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["user"]["pending"]["change"]["kind"], "new_account");
    assert!(r.body.get("password").is_none(), "{r:?}");
    // Nobody can confirm it yet: the admin is no team lead.
    let r = n
        .post("/api/v1/account-changes/lena/confirm", &admin, json!({}))
        .await;
    assert_eq!(r.status, 403, "{r:?}");

    // The first team lead, made on the server, needs nobody; a second one there waits.
    let keller = n.first_team_lead("keller").await;
    let r = n
        .post(
            "/api/v1/admin/users",
            &n.server(),
            json!({"username": "zweite", "role": "team_lead"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["user"]["pending"].is_object() && r.body.get("password").is_none());

    // The team lead sees what waits and confirms; only then can lena sign in, with the
    // password she set herself with the code keller was shown.
    let changes = n.get("/api/v1/account-changes", &keller).await;
    assert_eq!(changes.status, 200, "{changes:?}");
    let waiting: Vec<&str> = changes.body["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, ["lena", "zweite"]);
    let r = n
        .post("/api/v1/account-changes/lena/confirm", &keller, json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let code = r.body["code"]["code"].as_str().unwrap().to_string();
    let r = req(
        "POST",
        n.url("/api/v1/password/reset"),
        &[],
        Body::Json(
            json!({"username": "lena", "code": code, "new_password": "lenas-eigenes-passwort"}),
        ),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let lena = n.bearer("lena", "lenas-eigenes-passwort").await;
    assert_eq!(
        n.get("/api/v1/session", &lena).await.body["role"],
        "team_lead"
    );

    // An admin raising an account whose password they know gets nothing out of it.
    let r = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "trick", "role": "coordinator", "password": "admin-kennt-es-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = n
        .post(
            "/api/v1/users/trick/role",
            &admin,
            json!({"role": "case_manager"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "coordinator", "unchanged until confirmed");
    let r = n
        .post("/api/v1/account-changes/trick/confirm", &keller, json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body["code"]["code"].is_string());
    assert_eq!(n.login("trick", "admin-kennt-es-1").await.status, 401);

    // Enabling a disabled team lead waits too; the team lead cannot confirm for herself.
    let r = n
        .post("/api/v1/users/lena/disable", &admin, json!({}))
        .await;
    assert_eq!(r.status, 200);
    let r = n.post("/api/v1/users/lena/enable", &admin, json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["disabled"], true);
    assert_eq!(r.body["pending"]["change"]["kind"], "enable");
    assert_eq!(n.login("lena", "lenas-eigenes-passwort").await.status, 403);

    // The node's status page and the team leads' list show who got access on the server.
    let cookie = n.ui_sign_in("admin", &n.admin_password).await;
    let status = req(
        "GET",
        n.url("/verwaltung/status"),
        &[("Cookie", &cookie)],
        Body::None,
    )
    .await;
    let card = status
        .text
        .split("ohne Bestätigung einer Teamleitung")
        .nth(1)
        .unwrap_or_else(|| panic!("no card on the status page: {}", status.text));
    assert!(card.contains("keller"), "{card}");
    let changes = n.get("/api/v1/account-changes", &keller).await;
    assert_eq!(changes.body["granted_on_server"][0]["username"], "keller");
    let actions = n.audit_actions().await;
    for a in ["user.request", "user.add_on_server", "user.confirm"] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admins_reset_shows_the_admin_no_password_and_a_team_lead_the_code_once() {
    let n = start().await;
    let admin = n.server_admin().await;
    let keller = n.first_team_lead("keller").await;
    let berger = n
        .confirmed_case_manager(&admin, &keller, "berger", "bergers-passwort-1")
        .await;
    let token = n
        .post("/api/v1/tokens", &berger, json!({"name": "Fachverfahren"}))
        .await;
    let token = format!("Bearer {}", token.body["token"].as_str().unwrap());
    assert_eq!(n.get("/api/v1/session", &token).await.status, 200);

    // The admin resets: no password in the answer, the old one, the session and the API
    // token end.
    let r = n
        .post("/api/v1/users/berger/reset-password", &admin, json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.get("password").is_none(), "{r:?}");
    assert_eq!(r.body["user"]["password_reset_open"], true);
    let r = n
        .post(
            "/api/v1/users/berger/reset-password",
            &admin,
            json!({"password": "vom-admin-gewaehlt-1"}),
        )
        .await;
    assert_eq!(r.status, 400, "the admin cannot choose it either: {r:?}");
    assert_eq!(n.login("berger", "bergers-passwort-1").await.status, 401);
    assert_eq!(n.get("/api/v1/session", &berger).await.status, 401);
    assert_eq!(n.get("/api/v1/session", &token).await.status, 401);
    let r = n
        .post("/api/v1/account-changes/berger/code", &admin, json!({}))
        .await;
    assert_eq!(r.status, 403, "the admin gets no code: {r:?}");

    // The team lead is shown a code once; asking again makes a new one.
    let first = n
        .post("/api/v1/account-changes/berger/code", &keller, json!({}))
        .await;
    assert_eq!(first.status, 200, "{first:?}");
    let first = first.body["code"].as_str().unwrap().to_string();
    let second = n
        .post("/api/v1/account-changes/berger/code", &keller, json!({}))
        .await;
    let second = second.body["code"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    for (who, path) in [
        (&keller, "/api/v1/account-changes"),
        (&admin, "/api/v1/users"),
        (&admin, "/api/v1/audit?limit=1000"),
    ] {
        let r = n.get(path, who).await;
        assert!(
            !r.text.contains(&second) && !r.text.contains(&first),
            "{path}"
        );
    }
    assert!(
        lotse_tests::files_containing(n.dir.root(), second.as_bytes()).is_empty(),
        "the code is stored only as a hash"
    );

    // With the code, berger sets her own password on the web page.
    let form = |code: &str| {
        vec![
            ("username", "berger".to_string()),
            ("code", code.to_string()),
            ("new", "bergers-neues-passwort".to_string()),
            ("repeat", "bergers-neues-passwort".to_string()),
        ]
    };
    let set = |code: String| {
        let url = n.url("/passwort-setzen");
        async move {
            let pairs = form(&code);
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            req("POST", url, &[], Body::Form(&pairs)).await
        }
    };
    let r = set(first).await;
    assert_eq!(r.status, 401, "the replaced code: {r:?}");
    assert!(r.text.contains("Der Code stimmt nicht"), "{}", r.text);
    let r = set(second.clone()).await;
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/anmelden?ok=password_set"));
    assert_eq!(
        n.login("berger", "bergers-neues-passwort").await.status,
        200
    );
    let r = set(second).await;
    assert_eq!(r.status, 401, "a code works once");
    let actions = n.audit_actions().await;
    for a in [
        "user.reset_requested",
        "user.reset_code",
        "user.password_set_with_code",
        "password.code_failed",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    n.node.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Rows 9 and 10: expiring and revoked credentials; password changes limited and audited

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_expire_and_end_on_password_and_role_changes() {
    let n = start().await;
    let admin = n.server_admin().await;
    let r = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "koord", "role": "coordinator", "password": "koordination-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let token_of = |session: String| {
        let n = &n;
        async move {
            let r = n
                .post("/api/v1/tokens", &session, json!({"name": "Skript"}))
                .await;
            assert_eq!(r.status, 200, "{r:?}");
            format!("Bearer {}", r.body["token"].as_str().unwrap())
        }
    };
    let koord = n.bearer("koord", "koordination-1").await;

    // Expiry: 90 days by default.
    let t = token_of(koord.clone()).await;
    let r = n.get("/api/v1/tokens", &koord).await;
    let expires = r.body[0]["expires_at"].as_u64().unwrap();
    let created = r.body[0]["created_at"].as_u64().unwrap();
    assert_eq!(expires - created, 90 * 24 * 3600 * 1000);
    assert_eq!(n.get("/api/v1/session", &t).await.status, 200);
    n.core().clock.set_offset_ms(90 * 24 * 3600 * 1000);
    assert_eq!(n.get("/api/v1/session", &t).await.status, 401, "expired");
    n.core().clock.set_offset_ms(0);
    let koord = n.bearer("koord", "koordination-1").await;

    // A password change ends every API token (the session making it stays).
    let t = token_of(koord.clone()).await;
    let r = n
        .post(
            "/api/v1/password",
            &koord,
            json!({"current_password": "koordination-1", "new_password": "koordination-2"}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(n.get("/api/v1/session", &t).await.status, 401);
    assert_eq!(n.get("/api/v1/session", &koord).await.status, 200);

    // So does an admin's reset, with the session.
    let t = token_of(koord.clone()).await;
    let r = n
        .post("/api/v1/users/koord/reset-password", &admin, json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(n.get("/api/v1/session", &t).await.status, 401);
    assert_eq!(n.get("/api/v1/session", &koord).await.status, 401);
    let pw = r.body["password"].as_str().unwrap().to_string();

    // And a role change.
    let koord = n.bearer("koord", &pw).await;
    let t = token_of(koord.clone()).await;
    let r = n
        .post("/api/v1/users/koord/role", &admin, json!({"role": "admin"}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "admin");
    assert_eq!(n.get("/api/v1/session", &t).await.status, 401);
    assert_eq!(n.get("/api/v1/session", &koord).await.status, 401);
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn password_changes_are_rate_limited_and_audited() {
    let n = start().await;
    let admin = n.server_admin().await;
    let r = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "koord", "role": "coordinator", "password": "koordination-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let koord = n.bearer("koord", "koordination-1").await;
    let change = |current: &'static str| {
        let (n, koord) = (&n, koord.clone());
        async move {
            n.post(
                "/api/v1/password",
                &koord,
                json!({"current_password": current, "new_password": "koordination-neu"}),
            )
            .await
        }
    };
    for i in 0..lotse_node::auth::ratelimit::USER_FAILURES {
        let r = change("falsch-geraten-1").await;
        assert_eq!(r.status, 403, "attempt {i}: {r:?}");
    }
    // Now even the right one waits.
    let r = change("koordination-1").await;
    assert_eq!(r.status, 429, "{r:?}");
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= 15 * 60);
    let failed = n
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a == "password.change_failed")
        .count();
    assert_eq!(failed, lotse_node::auth::ratelimit::USER_FAILURES);
    n.core()
        .clock
        .set_offset_ms(lotse_node::auth::ratelimit::WINDOW_MS as i64 + 1000);
    let koord = n.bearer("koord", "koordination-1").await;
    let r = n
        .post(
            "/api/v1/password",
            &koord,
            json!({"current_password": "koordination-1", "new_password": "koordination-neu"}),
        )
        .await;
    assert_eq!(r.status, 204, "after the window: {r:?}");
    n.node.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Row 13: password policy

#[tokio::test(flavor = "multi_thread")]
async fn weak_and_common_passwords_are_refused() {
    let n = start().await;
    let admin = n.server_admin().await;
    for (password, says) in [
        ("kurz-kurz-1", "at least 12"),
        ("Sommer2024!!", "most common"),
        ("Passwort1234", "most common"),
        ("qwertzuiop123", "most common"),
        ("hallohallo12", "most common"),
        ("123456789012", "most common"),
        ("koord-2024!!", "most common"),
    ] {
        let r = n
            .post(
                "/api/v1/users",
                &admin,
                json!({"username": "koord", "role": "coordinator", "password": password}),
            )
            .await;
        assert_eq!(r.status, 400, "{password}: {r:?}");
        assert!(r.error().contains(says), "{password}: {r:?}");
    }
    let r = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "koord", "role": "coordinator", "password": "Kaffee mit Hafermilch"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    // Changing one's own: the same rules, and a clear German message on the page.
    let koord = n.bearer("koord", "Kaffee mit Hafermilch").await;
    let r = n
        .post(
            "/api/v1/password",
            &koord,
            json!({"current_password": "Kaffee mit Hafermilch", "new_password": "Fussball2024"}),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    let cookie = n.ui_sign_in("koord", "Kaffee mit Hafermilch").await;
    let page = req("GET", n.url("/konto"), &[("Cookie", &cookie)], Body::None).await;
    let csrf = page
        .text
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let r = req(
        "POST",
        n.url("/konto"),
        &[("Cookie", &cookie)],
        Body::Form(&[
            ("csrf_token", &csrf),
            ("current", "Kaffee mit Hafermilch"),
            ("new", "Passwort2024!"),
            ("repeat", "Passwort2024!"),
        ]),
    )
    .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.text.contains("Dieses Passwort ist zu bekannt"),
        "{}",
        r.text
    );
    n.node.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Row 14: file modes

/// Every file and directory below `dir` with its mode.
fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        out.push((
            d.clone(),
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
        ));
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                out.push((path, mode));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_open_to_other_users_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let n = start().await;
    // Some writes while running, so the store has made its files.
    let admin = n.server_admin().await;
    let r = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "koord", "role": "coordinator"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let dir = n.dir.clone();
    let root = dir.root().to_path_buf();
    n.node.shutdown().await;

    // Everything the node made is its user's alone.
    let all = modes(&root);
    assert!(all.len() > 6, "{all:?}");
    for (path, mode) in &all {
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
    let store_file = all
        .iter()
        .find(|(p, _)| p.starts_with(dir.store_path()) && p.is_file())
        .unwrap()
        .0
        .clone();

    // Opening refuses each opening for others, naming it and the chmod.
    for (path, mode, fix) in [
        (root.clone(), 0o755, "chmod 700"),
        (dir.case_keys_path(), 0o644, "chmod 600"),
        (root.join("keys"), 0o711, "chmod 700"),
        (dir.store_path(), 0o755, "chmod 700"),
        (store_file, 0o644, "chmod 600"),
        (dir.token_path(), 0o640, "chmod 600"),
    ] {
        let before = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = Core::open(dir.clone()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("{fix} {}", path.display())),
            "{}: {err}",
            path.display()
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(before)).unwrap();
    }
    let node = run(&dir).await;
    node.shutdown().await;
}

/// The CSRF token of the form on `path`, for the session `cookie`.
async fn csrf_of(n: &Node, path: &str, cookie: &str) -> (Resp, String) {
    let page = req("GET", n.url(path), &[("Cookie", cookie)], Body::None).await;
    let csrf = page
        .text
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no form on {path}: {}", page.text))
        .to_string();
    (page, csrf)
}

#[tokio::test(flavor = "multi_thread")]
async fn team_leads_confirm_in_the_web_ui() {
    let n = start().await;
    let r = n
        .post(
            "/api/v1/admin/users",
            &n.server(),
            json!({"username": "keller", "role": "team_lead"}),
        )
        .await;
    let keller_pw = r.body["password"].as_str().unwrap().to_string();

    // The admin asks for a case manager on the users page: it waits, and says so.
    let admin = n.ui_sign_in("admin", &n.admin_password).await;
    let (_, csrf) = csrf_of(&n, "/verwaltung/benutzer", &admin).await;
    let r = req(
        "POST",
        n.url("/verwaltung/benutzer"),
        &[("Cookie", &admin)],
        Body::Form(&[
            ("csrf_token", &csrf),
            ("username", "berger"),
            ("display_name", "Anna Berger"),
            ("role", "case_manager"),
        ]),
    )
    .await;
    assert_eq!(r.status, 303, "{r:?}");
    let location = r.header("location").unwrap().to_string();
    let page = req("GET", n.url(&location), &[("Cookie", &admin)], Body::None).await;
    assert!(
        page.text
            .contains("Neues Konto wartet auf Bestätigung durch eine Teamleitung"),
        "{}",
        page.text
    );

    // The team lead finds it under "Kontenänderungen" and confirms: the code shows once.
    let keller = n.ui_sign_in("keller", &keller_pw).await;
    let (page, csrf) = csrf_of(&n, "/kontenaenderungen", &keller).await;
    assert!(page.text.contains("Wartet auf Ihre Bestätigung") && page.text.contains("berger"));
    let r = req(
        "POST",
        n.url("/kontenaenderungen/berger"),
        &[("Cookie", &keller)],
        Body::Form(&[("csrf_token", &csrf), ("aktion", "confirm")]),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let code = r
        .text
        .split("id=\"secret\"")
        .nth(1)
        .and_then(|t| t.split("value=\"").nth(1))
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no code: {}", r.text))
        .to_string();
    let again = req(
        "GET",
        n.url("/kontenaenderungen"),
        &[("Cookie", &keller)],
        Body::None,
    )
    .await;
    assert!(!again.text.contains(&code), "shown once");
    assert!(again.text.contains("Änderung bestätigt"), "{}", again.text);
    let r = req(
        "POST",
        n.url("/passwort-setzen"),
        &[],
        Body::Form(&[
            ("username", "berger"),
            ("code", &code),
            ("new", "annas-eigenes-passwort"),
            ("repeat", "annas-eigenes-passwort"),
        ]),
    )
    .await;
    assert_eq!(r.status, 303, "{r:?}");
    n.ui_sign_in("berger", "annas-eigenes-passwort").await;
    n.node.shutdown().await;
}
