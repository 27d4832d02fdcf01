//! Tests of [`super`]: accounts, four eyes on case access, resets with one-time codes.

use super::*;
use crate::auth::four_eyes::{self, account_changes, confirm, refuse};
use crate::auth::reset::{issue_code, redeem_code, reset_password};
use crate::auth::testutil;

const ADMIN: Requester<'static> = Requester::Admin("admin");

/// The node's first team lead, made on the server; returns the password.
async fn first_team_lead(core: &Core, name: &str) -> String {
    let made = add_user(core, Requester::Server, name, "", Role::TeamLead, None)
        .await
        .unwrap();
    assert!(made.user.pending.is_none(), "the first one needs nobody");
    assert!(matches!(made.user.granted, Some(GrantedBy::Server { .. })));
    made.password.unwrap()
}

fn actions(core: &Core) -> Vec<String> {
    audit::list(core.store.as_ref(), None, 1000)
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.action)
        .collect()
}

#[test]
fn username_rules() {
    assert_eq!(validate_username(" Anna.Schmidt ").unwrap(), "anna.schmidt");
    assert_eq!(validate_username("a_b-9").unwrap(), "a_b-9");
    assert_eq!(validate_username(&"a".repeat(64)).unwrap().len(), 64);
    for bad in ["", " ", "anna schmidt", "jürgen", "a/b", &"a".repeat(65)] {
        assert!(
            matches!(validate_username(bad), Err(AuthError::InvalidUsername(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        validate_username("System"),
        Err(AuthError::ReservedUsername(_))
    ));
}

#[tokio::test]
async fn accounts_without_case_access_work_as_before() {
    let (_t, core) = testutil::core().await;
    // `init` made the first admin.
    let users = list_users(&core).unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].role, Role::Admin);

    let made = add_user(&core, ADMIN, "Carla", "", Role::Coordinator, None)
        .await
        .unwrap();
    assert_eq!(made.user.username, "carla");
    assert_eq!(made.user.display_name, "carla");
    let pw = made.password.clone().unwrap();
    assert!(!format!("{made:?}").contains(&pw), "Debug hides it");
    assert!(matches!(
        add_user(&core, ADMIN, "CARLA", "x", Role::Admin, None).await,
        Err(AuthError::UserExists(_))
    ));
    for (weak, err) in [
        ("kurz", "WeakPassword"),
        ("Passwort2024!", "CommonPassword"),
        ("dora-dora-2024", "CommonPassword"),
    ] {
        let e = add_user(&core, ADMIN, "dora", "x", Role::Admin, Some(weak.into()))
            .await
            .unwrap_err();
        assert!(format!("{e:?}").starts_with(err), "{weak}: {e:?}");
    }
    verify_login(&core, "carla", &pw).await.unwrap();
    assert!(matches!(
        verify_login(&core, "nobody", &pw).await,
        Err(AuthError::BadCredentials)
    ));
    disable_user(&core, ADMIN, "carla").await.unwrap();
    assert!(matches!(
        verify_login(&core, "carla", &pw).await,
        Err(AuthError::Disabled)
    ));
    enable_user(&core, ADMIN, "carla").await.unwrap();
    let done = reset_password(&core, ADMIN, "carla", None).await.unwrap();
    let new_pw = done.password.unwrap();
    assert!(verify_login(&core, "carla", &pw).await.is_err());
    verify_login(&core, "carla", &new_pw).await.unwrap();
    let log = audit::list(core.store.as_ref(), None, 100).unwrap();
    assert!(log.iter().all(|e| !e.detail.contains(&new_pw)));
    assert_eq!(
        actions(&core),
        [
            "user.add",
            "user.add",
            "user.disable",
            "user.enable",
            "user.reset_password"
        ]
    );
}

#[tokio::test]
async fn an_admin_alone_gives_no_case_access() {
    let (_t, core) = testutil::core().await;
    let lead_pw = first_team_lead(&core, "keller").await;
    // A second team lead made on the server now waits, like an admin's request.
    let second = add_user(&core, Requester::Server, "zweite", "", Role::TeamLead, None)
        .await
        .unwrap();
    assert!(second.user.pending.is_some() && second.password.is_none());
    // An admin cannot give the password of an account with case access.
    assert!(matches!(
        add_user(
            &core,
            ADMIN,
            "berger",
            "",
            Role::CaseManager,
            Some("ein-langes-passwort".into())
        )
        .await,
        Err(AuthError::PasswordFromAdmin)
    ));
    let made = add_user(
        &core,
        ADMIN,
        "berger",
        "Anna Berger",
        Role::CaseManager,
        None,
    )
    .await
    .unwrap();
    assert!(made.password.is_none(), "the admin learns no password");
    assert_eq!(
        made.user.pending.as_ref().unwrap().change,
        PendingChange::NewAccount
    );
    assert!(!made.user.is_active());
    // Nobody else confirms: not the account itself, not an admin, not a pending lead.
    assert!(matches!(
        confirm(&core, "admin", "berger").await,
        Err(AuthError::UnknownUser(_))
    ));
    assert!(matches!(
        confirm(&core, "zweite", "berger").await,
        Err(AuthError::UnknownUser(_))
    ));
    assert!(matches!(
        confirm(&core, "berger", "berger").await,
        Err(AuthError::OwnChange)
    ));
    // The team lead confirms and is shown a one-time code; the user sets a password.
    let done = confirm(&core, "keller", "berger").await.unwrap();
    assert!(done.user.is_active());
    let code = done.code.unwrap();
    assert!(matches!(
        redeem_code(
            &core,
            "berger",
            "falscher-code",
            "mein-eigenes-passwort",
            None
        )
        .await,
        Err(AuthError::BadResetCode)
    ));
    redeem_code(&core, "berger", &code.code, "mein-eigenes-passwort", None)
        .await
        .unwrap();
    verify_login(&core, "berger", "mein-eigenes-passwort")
        .await
        .unwrap();
    assert!(
        matches!(
            redeem_code(&core, "berger", &code.code, "noch-ein-passwort-9", None).await,
            Err(AuthError::BadResetCode)
        ),
        "a code works once"
    );
    // Refusing a new account removes it.
    add_user(&core, ADMIN, "weg", "", Role::TeamLead, None)
        .await
        .unwrap();
    refuse(&core, "keller", "weg").await.unwrap();
    assert!(get_user(&core, "weg").unwrap().is_none());
    verify_login(&core, "keller", &lead_pw).await.unwrap();
    let changes = account_changes(&core).unwrap();
    assert_eq!(changes.waiting.len(), 1, "zweite still waits");
    assert_eq!(changes.granted_on_server.len(), 1, "keller");
    assert!(changes.recent.iter().any(|e| e.action == "user.confirm"));
}

#[tokio::test]
async fn raising_a_role_or_enabling_waits_and_replaces_a_known_password() {
    let (_t, core) = testutil::core().await;
    first_team_lead(&core, "keller").await;
    // The admin makes an account they know the password of, then raises it.
    let made = add_user(
        &core,
        ADMIN,
        "trick",
        "",
        Role::Coordinator,
        Some("bekanntes-passwort-1".into()),
    )
    .await
    .unwrap();
    assert_eq!(made.user.role, Role::Coordinator);
    let asked = set_role(&core, ADMIN, "trick", Role::CaseManager)
        .await
        .unwrap();
    assert_eq!(asked.role, Role::Coordinator, "unchanged until confirmed");
    let done = confirm(&core, "keller", "trick").await.unwrap();
    assert_eq!(done.user.role, Role::CaseManager);
    assert!(done.code.is_some());
    assert!(
        verify_login(&core, "trick", "bekanntes-passwort-1")
            .await
            .is_err(),
        "the admin's password no longer works"
    );
    // Disabling and enabling a case manager waits for a team lead too.
    disable_user(&core, ADMIN, "trick").await.unwrap();
    let asked = enable_user(&core, ADMIN, "trick").await.unwrap();
    assert!(asked.disabled && asked.pending.is_some());
    let done = confirm(&core, "keller", "trick").await.unwrap();
    assert!(
        !done.user.disabled && done.code.is_none(),
        "own password kept"
    );
}

#[tokio::test]
async fn an_admins_reset_gives_the_admin_no_password() {
    let (_t, core) = testutil::core().await;
    first_team_lead(&core, "keller").await;
    add_user(&core, ADMIN, "berger", "", Role::CaseManager, None)
        .await
        .unwrap();
    let code = confirm(&core, "keller", "berger")
        .await
        .unwrap()
        .code
        .unwrap();
    redeem_code(&core, "berger", &code.code, "mein-eigenes-passwort", None)
        .await
        .unwrap();
    assert!(matches!(
        reset_password(&core, ADMIN, "berger", Some("vom-admin-gesetzt".into())).await,
        Err(AuthError::PasswordFromAdmin)
    ));
    let done = reset_password(&core, ADMIN, "berger", None).await.unwrap();
    assert!(done.password.is_none() && done.user.password_reset_open);
    assert!(
        verify_login(&core, "berger", "mein-eigenes-passwort")
            .await
            .is_err()
    );
    assert!(matches!(
        issue_code(&core, "admin", "berger").await,
        Err(AuthError::UnknownUser(_))
    ));
    let first = issue_code(&core, "keller", "berger").await.unwrap();
    let second = issue_code(&core, "keller", "berger").await.unwrap();
    assert!(
        redeem_code(&core, "berger", &first.code, "neues-eigenes-passwort", None)
            .await
            .is_err(),
        "a new code replaces the old"
    );
    // Codes expire.
    core.clock
        .set_offset_ms(crate::auth::reset::CODE_VALID_MS as i64 + 1);
    assert!(
        redeem_code(
            &core,
            "berger",
            &second.code,
            "neues-eigenes-passwort",
            None
        )
        .await
        .is_err()
    );
    core.clock.set_offset_ms(0);
    let third = issue_code(&core, "keller", "berger").await.unwrap();
    redeem_code(&core, "berger", &third.code, "neues-eigenes-passwort", None)
        .await
        .unwrap();
    // Nothing in the log or the store shows a code.
    let log = audit::list(core.store.as_ref(), None, 1000).unwrap();
    for c in [&first.code, &second.code, &third.code] {
        assert!(log.iter().all(|e| !e.detail.contains(c.as_str())));
    }
    assert!(actions(&core).contains(&"password.code_failed".to_string()));
    let _ = four_eyes::account_changes(&core).unwrap();
}

#[tokio::test]
async fn changing_the_own_password_is_limited_and_audited() {
    let (_t, core) = testutil::core().await;
    add_user(
        &core,
        ADMIN,
        "emil",
        "",
        Role::Coordinator,
        Some("erstes-passwort".into()),
    )
    .await
    .unwrap();
    assert!(matches!(
        change_password(&core, "emil", "erstes-passwort", "passwort1234", None, None).await,
        Err(AuthError::CommonPassword)
    ));
    for _ in 0..crate::auth::ratelimit::USER_FAILURES {
        assert!(matches!(
            change_password(
                &core,
                "emil",
                "falsch-falsch",
                "zweites-passwort",
                None,
                None
            )
            .await,
            Err(AuthError::WrongCurrentPassword)
        ));
    }
    assert!(matches!(
        change_password(
            &core,
            "emil",
            "erstes-passwort",
            "zweites-passwort",
            None,
            None
        )
        .await,
        Err(AuthError::RateLimited { .. })
    ));
    let failed = actions(&core)
        .iter()
        .filter(|a| *a == "password.change_failed")
        .count();
    assert_eq!(failed, crate::auth::ratelimit::USER_FAILURES);
    core.clock
        .set_offset_ms(crate::auth::ratelimit::WINDOW_MS as i64 + 1000);
    change_password(
        &core,
        "emil",
        "erstes-passwort",
        "zweites-passwort",
        None,
        None,
    )
    .await
    .unwrap();
    verify_login(&core, "emil", "zweites-passwort")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_last_admin_stays() {
    let (_t, core) = testutil::core().await;
    assert!(matches!(
        disable_user(&core, ADMIN, "admin").await,
        Err(AuthError::LastAdmin(_))
    ));
    assert!(matches!(
        set_role(&core, ADMIN, "admin", Role::Coordinator).await,
        Err(AuthError::LastAdmin(_))
    ));
    add_user(&core, ADMIN, "zweit", "", Role::Admin, None)
        .await
        .unwrap();
    disable_user(&core, Requester::Admin("zweit"), "admin")
        .await
        .unwrap();
    assert!(matches!(
        disable_user(&core, Requester::Admin("zweit"), "zweit").await,
        Err(AuthError::LastAdmin(_))
    ));
}
