//! Tests of [`super`]: sessions and API tokens.

use super::*;
use crate::auth::users::{self, Requester};
use crate::auth::{Role, testutil};

const LIFE: Lifetimes = Lifetimes {
    session_idle_ms: 4 * 3600 * 1000,
    session_absolute_ms: 12 * 3600 * 1000,
    api_token_ms: 90 * 24 * 3600 * 1000,
};
const SESSION_IDLE_MS: u64 = LIFE.session_idle_ms;
const SESSION_ABSOLUTE_MS: u64 = LIFE.session_absolute_ms;

#[test]
fn expiry_is_idle_or_absolute() {
    let s = SessionRecord {
        username: "a".into(),
        csrf_token: "c".into(),
        created_at: Timestamp(0),
        last_seen_at: Timestamp(0),
    };
    assert!(s.is_valid_at(Timestamp(SESSION_IDLE_MS - 1), &LIFE));
    assert!(!s.is_valid_at(Timestamp(SESSION_IDLE_MS), &LIFE));
    let active = SessionRecord {
        last_seen_at: Timestamp(SESSION_ABSOLUTE_MS - 1000),
        ..s
    };
    assert!(active.is_valid_at(Timestamp(SESSION_ABSOLUTE_MS - 1), &LIFE));
    assert!(!active.is_valid_at(Timestamp(SESSION_ABSOLUTE_MS), &LIFE));
}

async fn user(core: &Core, name: &str) {
    users::add_user(core, Requester::Server, name, "", Role::Coordinator, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn sessions_are_stored_hashed_and_expire() {
    let (_t, core) = testutil::core().await;
    user(&core, "fritz").await;
    let s = create_session(&core, "fritz").await.unwrap();
    let found = lookup_session(&core, &s.token).unwrap().unwrap();
    assert_eq!(found.record.username, "fritz");
    assert_eq!(found.record.csrf_token, s.csrf_token);
    // Only the hash is stored.
    for (k, v) in core.store.scan(Space::Sessions, b"", 100).unwrap() {
        let all = [k, v].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(!text.contains(&s.token));
    }
    assert!(lookup_session(&core, "nonsense").unwrap().is_none());

    // Active requests keep it alive past the idle limit...
    core.clock.set_offset_ms((SESSION_IDLE_MS - 60_000) as i64);
    assert!(lookup_session(&core, &s.token).unwrap().is_some());
    core.clock.set_offset_ms((SESSION_IDLE_MS + 60_000) as i64);
    assert!(lookup_session(&core, &s.token).unwrap().is_some());
    // ...but not past the absolute one.
    core.clock.set_offset_ms(SESSION_ABSOLUTE_MS as i64);
    assert!(lookup_session(&core, &s.token).unwrap().is_none());
    assert!(
        sessions(&core).unwrap().is_empty(),
        "expired session deleted"
    );
}

#[tokio::test]
async fn idle_sessions_end() {
    let (_t, core) = testutil::core().await;
    user(&core, "gerd").await;
    let s = create_session(&core, "gerd").await.unwrap();
    core.clock.set_offset_ms(SESSION_IDLE_MS as i64 + 1);
    assert!(lookup_session(&core, &s.token).unwrap().is_none());
}

#[tokio::test]
async fn logout_disable_and_reset_end_sessions() {
    let (_t, core) = testutil::core().await;
    user(&core, "hanna").await;
    let a = create_session(&core, "hanna").await.unwrap();
    let b = create_session(&core, "hanna").await.unwrap();
    let id = lookup_session(&core, &a.token).unwrap().unwrap().id;
    delete_session(&core, &id).await.unwrap();
    assert!(lookup_session(&core, &a.token).unwrap().is_none());
    assert!(lookup_session(&core, &b.token).unwrap().is_some());
    let t = create_api_token(&core, "hanna", "script", None)
        .await
        .unwrap();
    crate::auth::reset::reset_password(&core, Requester::Admin("admin"), "hanna", None)
        .await
        .unwrap();
    assert!(lookup_session(&core, &b.token).unwrap().is_none());
    assert!(lookup_api_token(&core, &t.token).unwrap().is_none());
    let c = create_session(&core, "hanna").await.unwrap();
    let t = create_api_token(&core, "hanna", "script", None)
        .await
        .unwrap();
    users::disable_user(&core, Requester::Admin("admin"), "hanna")
        .await
        .unwrap();
    assert!(lookup_session(&core, &c.token).unwrap().is_none());
    assert!(lookup_api_token(&core, &t.token).unwrap().is_none());
}

#[tokio::test]
async fn sessions_per_user_are_bounded() {
    let (_t, core) = testutil::core().await;
    user(&core, "ida").await;
    let first = create_session(&core, "ida").await.unwrap();
    // Sessions are ordered by creation time in milliseconds: make "first" the oldest
    // without a tie, which a loaded machine could otherwise produce.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for _ in 0..MAX_SESSIONS_PER_USER {
        create_session(&core, "ida").await.unwrap();
    }
    assert_eq!(sessions(&core).unwrap().len(), MAX_SESSIONS_PER_USER);
    assert!(lookup_session(&core, &first.token).unwrap().is_none());
}

#[tokio::test]
async fn api_tokens_create_list_revoke() {
    let (_t, core) = testutil::core().await;
    user(&core, "jan").await;
    user(&core, "kai").await;
    let t = create_api_token(&core, "jan", "Fachverfahren", None)
        .await
        .unwrap();
    assert!(t.token.starts_with(API_TOKEN_PREFIX));
    let view = lookup_api_token(&core, &t.token).unwrap().unwrap();
    assert_eq!(
        (view.id.as_str(), view.username.as_str()),
        (t.view.id.as_str(), "jan")
    );
    assert!(view.last_used_at.is_some());
    assert_eq!(list_api_tokens(&core, Some("jan")).unwrap().len(), 1);
    assert!(list_api_tokens(&core, Some("kai")).unwrap().is_empty());
    assert!(matches!(
        create_api_token(&core, "jan", " ", None).await,
        Err(AuthError::InvalidTokenName)
    ));
    // Someone else cannot revoke it.
    assert!(matches!(
        revoke_api_token(&core, "kai", &t.view.id, Some("kai")).await,
        Err(AuthError::UnknownToken(_))
    ));
    revoke_api_token(&core, "jan", &t.view.id, Some("jan"))
        .await
        .unwrap();
    assert!(lookup_api_token(&core, &t.token).unwrap().is_none());
    assert!(
        lookup_api_token(&core, "lotse_api_nonsense")
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn api_tokens_expire() {
    let (_t, core) = testutil::core().await;
    user(&core, "lara").await;
    let life = Lifetimes::of(&core);
    let long = create_api_token(&core, "lara", "lang", None).await.unwrap();
    assert_eq!(
        long.view.expires_at,
        long.view.created_at.plus_millis(life.api_token_ms)
    );
    let short = create_api_token(&core, "lara", "kurz", Some(3_600_000))
        .await
        .unwrap();
    assert!(matches!(
        create_api_token(&core, "lara", "zu lang", Some(life.api_token_ms + 1)).await,
        Err(AuthError::TokenLifetime { max_days: 90 })
    ));
    core.clock.set_offset_ms(3_600_000);
    assert!(lookup_api_token(&core, &short.token).unwrap().is_none());
    assert!(lookup_api_token(&core, &long.token).unwrap().is_some());
    core.clock.set_offset_ms(life.api_token_ms as i64);
    assert!(lookup_api_token(&core, &long.token).unwrap().is_none());
    assert!(
        list_api_tokens(&core, Some("lara")).unwrap().is_empty(),
        "expired tokens are deleted"
    );
}
