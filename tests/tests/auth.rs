//! Sign-in, sessions, API tokens, CSRF, rate limiting, user administration and the audit
//! log, over real HTTP against a started node.

// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lotse_node::core::Core;
use lotse_node::datadir::DataDir;
use lotse_node::init::{InitOptions, init};
use lotse_node::node::RunningNode;
use lotse_node::store::{Batch, Space};
use serde_json::{Value, json};

/// A started single directory node and its first admin's password.
struct Node {
    _tmp: tempfile::TempDir,
    dir: DataDir,
    node: RunningNode,
    base: String,
    admin_password: String,
}

async fn start() -> Node {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("ki"));
    let report = init(
        &dir,
        &InitOptions {
            name: "KI Teststadt".into(),
            directory: true,
            quic_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            public_addresses: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(report.first_admin.user.username, "admin");
    let admin_password = report.first_admin.password.unwrap();
    let core = Core::open(dir.clone()).unwrap();
    let node = lotse_node::node::start(core, axum::Router::new())
        .await
        .unwrap();
    let base = format!("http://{}", node.http_addr);
    Node {
        _tmp: tmp,
        dir,
        node,
        base,
        admin_password,
    }
}

/// An HTTP answer.
#[derive(Debug)]
struct Resp {
    status: u16,
    set_cookie: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

impl Resp {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

/// One request, on tokio's blocking pool. `body` is sent raw as JSON.
async fn req(method: &str, url: String, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
    let method = method.to_string();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = body.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        let mut r = agent.request(&method, &url);
        for (k, v) in &headers {
            r = r.set(k, v);
        }
        let result = match body {
            Some(b) => r.set("Content-Type", "application/json").send_string(&b),
            None => r.call(),
        };
        let resp = match result {
            Ok(resp) => resp,
            Err(ureq::Error::Status(_, resp)) => resp,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        let status = resp.status();
        let set_cookie = resp.header("set-cookie").map(str::to_string);
        let retry_after = resp.header("retry-after").map(str::to_string);
        let text = resp.into_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            set_cookie,
            retry_after,
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

    async fn login(&self, username: &str, password: &str) -> Resp {
        let body = json!({"username": username, "password": password}).to_string();
        req("POST", self.url("/api/v1/login"), &[], Some(&body)).await
    }

    /// Signs in and returns the bearer header value.
    async fn bearer(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status, 200, "{r:?}");
        format!("Bearer {}", r.body["token"].as_str().unwrap())
    }

    async fn get(&self, path: &str, auth: &str) -> Resp {
        req("GET", self.url(path), &[("Authorization", auth)], None).await
    }

    async fn post(&self, path: &str, auth: &str, body: Value) -> Resp {
        let body = body.to_string();
        req(
            "POST",
            self.url(path),
            &[("Authorization", auth)],
            Some(&body),
        )
        .await
    }

    /// The admin adds a user with a known password.
    async fn add_user(&self, admin: &str, username: &str, role: &str, password: &str) {
        let r = self
            .post(
                "/api/v1/users",
                admin,
                json!({"username": username, "display_name": username, "role": role, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn login_session_and_logout() {
    let n = start().await;
    let r = n.login("Admin", &n.admin_password).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["username"], "admin");
    assert_eq!(r.body["role"], "admin");
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(r.body["csrf_token"].as_str().unwrap().len() >= 32);
    let cookie = r.set_cookie.unwrap();
    assert!(
        cookie.starts_with(&format!(
            "{}={token}",
            lotse_node::http::extract::session_cookie_name(&n.node.core)
        )),
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }

    let bearer = format!("Bearer {token}");
    let me = n.get("/api/v1/session", &bearer).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "admin");
    assert_eq!(me.body["via"], "bearer");

    // A wrong password and an unknown user get the same answer.
    let wrong = n.login("admin", "not-the-password").await;
    let unknown = n.login("nobody", "not-the-password").await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.error().contains("wrong username or password"));

    // Without credentials: 401 saying to sign in.
    let anon = req("GET", n.url("/api/v1/session"), &[], None).await;
    assert_eq!(anon.status, 401);
    assert!(anon.error().contains("sign in first"), "{anon:?}");

    let out = req(
        "POST",
        n.url("/api/v1/logout"),
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(out.status, 204, "{out:?}");
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    let after = n.get("/api/v1/session", &bearer).await;
    assert_eq!(after.status, 401, "the token ends with the logout");
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_are_rate_limited() {
    let n = start().await;
    for i in 0..5 {
        let r = n.login("admin", "wrong-password").await;
        assert_eq!(r.status, 401, "attempt {i}: {r:?}");
    }
    // Now even the right password waits.
    let r = n.login("admin", &n.admin_password).await;
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.error().contains("try again in"), "{r:?}");
    let secs: u64 = r.retry_after.unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= 15 * 60);
    // Another account is not locked by it.
    let cli = format!("Bearer {}", n.dir.load_token().unwrap());
    let made = n
        .post(
            "/api/v1/admin/users",
            &cli,
            json!({"username": "zweit", "role": "admin", "password": "zweit-passwort"}),
        )
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    assert_eq!(n.login("zweit", "zweit-passwort").await.status, 200);
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_changes_need_the_csrf_token_bearer_ones_do_not() {
    let n = start().await;
    let r = n.login("admin", &n.admin_password).await;
    let token = r.body["token"].as_str().unwrap().to_string();
    let csrf = r.body["csrf_token"].as_str().unwrap().to_string();
    let cookie = format!(
        "{}={token}",
        lotse_node::http::extract::session_cookie_name(&n.node.core)
    );
    let body = json!({"name": "Fachverfahren"}).to_string();

    // Reading with the cookie alone is fine.
    let read = req("GET", n.url("/api/v1/tokens"), &[("Cookie", &cookie)], None).await;
    assert_eq!(read.status, 200, "{read:?}");
    // A change with the cookie alone is refused.
    let forged = req(
        "POST",
        n.url("/api/v1/tokens"),
        &[("Cookie", &cookie)],
        Some(&body),
    )
    .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(forged.error().contains("X-CSRF-Token"), "{forged:?}");
    let wrong = req(
        "POST",
        n.url("/api/v1/tokens"),
        &[("Cookie", &cookie), ("X-CSRF-Token", "0000")],
        Some(&body),
    )
    .await;
    assert_eq!(wrong.status, 403);
    // With the header it passes.
    let ok = req(
        "POST",
        n.url("/api/v1/tokens"),
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        Some(&body),
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    // A bearer token needs no CSRF header.
    let bearer = n
        .post(
            "/api/v1/tokens",
            &format!("Bearer {token}"),
            json!({"name": "Zweites"}),
        )
        .await;
    assert_eq!(bearer.status, 200, "{bearer:?}");
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_work_until_revoked() {
    let n = start().await;
    let admin = n.bearer("admin", &n.admin_password).await;
    n.add_user(&admin, "skript", "coordinator", "skript-passwort")
        .await;
    let user = n.bearer("skript", "skript-passwort").await;
    let made = n
        .post("/api/v1/tokens", &user, json!({"name": "Export"}))
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    let secret = made.body["token"].as_str().unwrap();
    assert!(secret.starts_with("lotse_api_"));
    let id = made.body["id"].as_str().unwrap().to_string();
    let api = format!("Bearer {secret}");

    let me = n.get("/api/v1/session", &api).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["via"], "api_token");
    assert_eq!(me.body["username"], "skript");
    // Listed without the secret.
    let list = n.get("/api/v1/tokens", &user).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert!(!list.body.to_string().contains(secret));
    // An API token cannot "log out".
    let out = req(
        "POST",
        n.url("/api/v1/logout"),
        &[("Authorization", &api)],
        None,
    )
    .await;
    assert_eq!(out.status, 400, "{out:?}");

    let del = req(
        "DELETE",
        n.url(&format!("/api/v1/tokens/{id}")),
        &[("Authorization", &user)],
        None,
    )
    .await;
    assert_eq!(del.status, 204, "{del:?}");
    assert_eq!(n.get("/api/v1/session", &api).await.status, 401);
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_manage_users_and_others_may_not() {
    let n = start().await;
    let admin = n.bearer("admin", &n.admin_password).await;

    // Created with a generated password, shown once.
    let made = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "Berta.M", "display_name": "Berta M.", "role": "coordinator"}),
        )
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    assert_eq!(made.body["user"]["username"], "berta.m");
    let pw = made.body["password"].as_str().unwrap().to_string();
    assert!(pw.len() >= 16);
    let users = n.get("/api/v1/users", &admin).await;
    assert_eq!(users.status, 200);
    assert_eq!(users.body.as_array().unwrap().len(), 2);
    assert!(
        !users.body.to_string().contains("argon2"),
        "no hashes listed"
    );

    // Bad input: clear 4xx.
    let bad_role = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "x", "role": "boss"}),
        )
        .await;
    assert_eq!(bad_role.status, 400, "{bad_role:?}");
    assert!(bad_role.error().contains("role"), "{bad_role:?}");
    let short = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "kurz", "role": "admin", "password": "123"}),
        )
        .await;
    assert_eq!(short.status, 400);
    assert!(short.error().contains("at least 12"), "{short:?}");
    let twice = n
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "BERTA.M", "role": "admin"}),
        )
        .await;
    assert_eq!(twice.status, 409, "{twice:?}");

    // A coordinator gets 403 on user administration, naming the role needed. (Accounts
    // with case access wait for a team lead: see insiders.rs.)
    let berta = n.bearer("berta.m", &pw).await;
    let denied = n.get("/api/v1/users", &berta).await;
    assert_eq!(denied.status, 403);
    assert!(denied.error().contains("admin"), "{denied:?}");
    let denied = n
        .post(
            "/api/v1/users",
            &berta,
            json!({"username": "evil", "role": "admin"}),
        )
        .await;
    assert_eq!(denied.status, 403);
    let denied = n.get("/api/v1/account-changes", &berta).await;
    assert_eq!(denied.status, 403, "team leads only");

    // Disabling ends her session and refuses new sign-ins.
    let off = n
        .post("/api/v1/users/berta.m/disable", &admin, json!({}))
        .await;
    assert_eq!(off.status, 200, "{off:?}");
    assert_eq!(off.body["disabled"], true);
    assert_eq!(n.get("/api/v1/session", &berta).await.status, 401);
    let again = n.login("berta.m", &pw).await;
    assert_eq!(again.status, 403, "{again:?}");
    assert!(again.error().contains("disabled"));
    // ...while a wrong password still looks like any other failure.
    assert_eq!(n.login("berta.m", "wrong-password").await.status, 401);

    // Reset and enable: the new password works, the old one not.
    let reset = req(
        "POST",
        n.url("/api/v1/users/berta.m/reset-password"),
        &[("Authorization", &admin)],
        None,
    )
    .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    let new_pw = reset.body["password"].as_str().unwrap().to_string();
    n.post("/api/v1/users/berta.m/enable", &admin, json!({}))
        .await;
    assert_eq!(n.login("berta.m", &pw).await.status, 401);
    assert_eq!(n.login("berta.m", &new_pw).await.status, 200);

    // The last admin cannot be disabled.
    let last = n
        .post("/api/v1/users/admin/disable", &admin, json!({}))
        .await;
    assert_eq!(last.status, 409, "{last:?}");
    assert!(last.error().contains("last enabled admin"));
    let missing = n
        .post("/api/v1/users/niemand/disable", &admin, json!({}))
        .await;
    assert_eq!(missing.status, 404);
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_gets_a_clear_400() {
    let n = start().await;
    let syntax = req("POST", n.url("/api/v1/login"), &[], Some("{\"username\": ")).await;
    assert_eq!(syntax.status, 400, "{syntax:?}");
    assert!(syntax.error().contains("not valid JSON"), "{syntax:?}");
    let missing = req(
        "POST",
        n.url("/api/v1/login"),
        &[],
        Some(r#"{"username": "admin"}"#),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert!(missing.error().contains("password"), "{missing:?}");
    let no_type = req(
        "POST",
        n.url("/api/v1/login"),
        &[("Content-Type", "text/plain")],
        None,
    )
    .await;
    assert_eq!(no_type.status, 415, "{no_type:?}");
    assert!(no_type.error().contains("application/json"));
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_admin_api_manages_users() {
    let n = start().await;
    let token = format!("Bearer {}", n.dir.load_token().unwrap());
    let made = n
        .post(
            "/api/v1/admin/users",
            &token,
            json!({"username": "koord", "role": "coordinator", "password": "koordination-1"}),
        )
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    assert!(made.body.get("password").is_none(), "given, so not echoed");
    let list = n.get("/api/v1/admin/users", &token).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    // A user's session is no admin token.
    let user = n.bearer("koord", "koordination-1").await;
    assert_eq!(n.get("/api/v1/admin/users", &user).await.status, 401);
    // A coordinator may read the audit log.
    let log = n.get("/api/v1/audit?limit=2", &user).await;
    assert_eq!(log.status, 200, "{log:?}");
    assert_eq!(log.body["entries"].as_array().unwrap().len(), 2);
    let bad = n.get("/api/v1/audit?limit=many", &user).await;
    assert_eq!(bad.status, 400, "{bad:?}");
    let verify = n.get("/api/v1/admin/audit/verify", &token).await;
    assert_eq!(verify.body["intact"], true, "{verify:?}");
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_records_and_detects_tampering() {
    let n = start().await;
    let admin = n.bearer("admin", &n.admin_password).await;
    n.add_user(&admin, "carla", "coordinator", "carla-passwort")
        .await;
    assert_eq!(n.login("carla", "falsch-falsch").await.status, 401);
    let log = n.get("/api/v1/audit", &admin).await;
    assert_eq!(log.status, 200, "{log:?}");
    let entries = log.body["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        &actions[..3],
        ["login.failed", "user.add", "login.succeeded"],
        "{actions:?}"
    );
    assert_eq!(entries[1]["actor"], "admin");
    assert!(
        !log.body.to_string().contains("carla-passwort")
            && !log.body.to_string().contains("falsch-falsch"),
        "no passwords in the log"
    );
    let dir = n.dir.clone();
    n.node.shutdown().await;

    // Offline, as `lotse audit verify` does on a stopped node.
    let core = Core::open(dir.clone()).unwrap();
    let count = lotse_node::audit::verify(core.store.as_ref()).unwrap();
    assert!(count >= 4, "{count}");
    let seq = 2u64;
    let key = seq.to_be_bytes();
    let raw = core.store.get(Space::Audit, &key).unwrap().unwrap();
    let changed = String::from_utf8(raw)
        .unwrap()
        .replace("\"actor\":\"", "\"actor\":\"x");
    let mut b = Batch::new();
    b.put(Space::Audit, key.to_vec(), changed.into_bytes());
    core.store.commit(b).unwrap();
    let err = lotse_node::audit::verify(core.store.as_ref()).unwrap_err();
    assert!(err.to_string().contains("entry 2"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_client_cannot_try_many_accounts() {
    let n = start().await;
    // Four failures each for five usernames: no single one reaches its limit of five...
    for i in 0..20 {
        let r = n.login(&format!("user{}", i % 5), "wrong-password").await;
        assert_eq!(r.status, 401, "{i}: {r:?}");
    }
    // ...but the client's address has reached twenty, and is now blocked for every account.
    let r = n.login("admin", &n.admin_password).await;
    assert_eq!(r.status, 429, "{r:?}");
    n.node.shutdown().await;
}
