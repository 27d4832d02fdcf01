//! Local user accounts in [`Space::Users`], keyed by the lowercase username.
//!
//! Passwords are stored only as argon2id PHC strings (`Argon2::default()`: argon2id,
//! 19 MiB, 2 passes) with a random salt each. Hashing and verifying run on tokio's blocking
//! pool, since each takes tens of milliseconds of CPU. [`verify_login`] verifies against a
//! dummy hash when the user does not exist, so the answer time does not tell whether a
//! username exists. Every change is committed together with its audit entry and flushed
//! before the function returns.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use lotse_protocol::Timestamp;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{AuthError, Role, sessions};
use crate::audit;
use crate::core::Core;
use crate::store::{Batch, Expect, Space, StoreError, from_json, to_json};

/// Shortest acceptable password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest acceptable password, in characters (bounds the hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Usernames kept for actors in the audit log.
const RESERVED: [&str; 5] = [audit::SYSTEM, audit::CLI, "node", "unknown", "anonymous"];
/// Characters of generated passwords: no 0/O, 1/l/I, easy to read out on the phone.
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Random characters in a generated password (about 116 bits).
const GENERATED_CHARS: usize = 20;
/// The most users a listing reads.
const MAX_USERS: usize = 100_000;

/// A user as stored. The hash never leaves this module; see [`UserView`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserRecord {
    username: String,
    display_name: String,
    role: Role,
    disabled: bool,
    password_hash: String,
    created_at: Timestamp,
    password_changed_at: Timestamp,
}

/// A user as shown to admins and to the user themself: no password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// Lowercase username.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// True if the user cannot sign in.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: Timestamp,
    /// When the password was last set.
    pub password_changed_at: Timestamp,
}

impl From<&UserRecord> for UserView {
    fn from(r: &UserRecord) -> Self {
        UserView {
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            role: r.role,
            disabled: r.disabled,
            created_at: r.created_at,
            password_changed_at: r.password_changed_at,
        }
    }
}

/// A new account, and its password if one was generated (shown once).
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    /// The user.
    pub user: UserView,
    /// The generated password, if none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for NewUser {
    // Debug output ends up in logs: never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The lowercase, trimmed form usernames are compared and stored in.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Checks and normalises a username.
pub fn validate_username(username: &str) -> Result<String, AuthError> {
    let name = normalize_username(username);
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(AuthError::InvalidUsername(username.to_string()));
    }
    if RESERVED.contains(&name.as_str()) {
        return Err(AuthError::ReservedUsername(name));
    }
    Ok(name)
}

/// Checks a password's length.
pub fn validate_password(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) && !password.trim().is_empty() {
        Ok(())
    } else {
        Err(AuthError::WeakPassword)
    }
}

/// Checks and trims a display name; an empty one becomes the username.
fn validate_display_name(display_name: &str, username: &str) -> Result<String, AuthError> {
    let name = display_name.trim();
    let name = if name.is_empty() { username } else { name };
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidDisplayName);
    }
    Ok(name.to_string())
}

/// A random password of 20 characters from an unambiguous alphabet, in groups of five.
pub fn generate_password() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut out = String::with_capacity(GENERATED_CHARS + GENERATED_CHARS / 5);
    for i in 0..GENERATED_CHARS {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        let c = PASSWORD_ALPHABET[rng.gen_range(0..PASSWORD_ALPHABET.len())];
        out.push(char::from(c));
    }
    out
}

/// The argon2id PHC string for `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// True if `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, made once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&generate_password()).unwrap_or_default())
}

async fn hash_blocking(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
}

fn read(core: &Core, username: &str) -> Result<Option<(Vec<u8>, UserRecord)>, StoreError> {
    match core.store.get(Space::Users, username.as_bytes())? {
        None => Ok(None),
        Some(raw) => {
            let rec = from_json(Space::Users, &raw)?;
            Ok(Some((raw, rec)))
        }
    }
}

/// Every user, with the stored bytes (for guards).
fn all(core: &Core) -> Result<Vec<(Vec<u8>, UserRecord)>, StoreError> {
    core.store
        .scan(Space::Users, b"", MAX_USERS)?
        .into_iter()
        .map(|(_, v)| {
            let rec = from_json(Space::Users, &v)?;
            Ok((v, rec))
        })
        .collect()
}

/// One user, if it exists (`username` in any case).
pub fn get_user(core: &Core, username: &str) -> Result<Option<UserView>, StoreError> {
    Ok(read(core, &normalize_username(username))?.map(|(_, r)| UserView::from(&r)))
}

/// Every user, by username.
pub fn list_users(core: &Core) -> Result<Vec<UserView>, StoreError> {
    Ok(all(core)?.iter().map(|(_, r)| UserView::from(r)).collect())
}

/// Creates a user. Without `password` one is generated and returned (shown once).
/// `actor` is who does it, for the audit log.
pub async fn add_user(
    core: &Core,
    actor: &str,
    username: &str,
    display_name: &str,
    role: Role,
    password: Option<String>,
) -> Result<NewUser, AuthError> {
    let username = validate_username(username)?;
    let display_name = validate_display_name(display_name, &username)?;
    if let Some(p) = &password {
        validate_password(p)?;
    }
    if read(core, &username)?.is_some() {
        return Err(AuthError::UserExists(username));
    }
    let generated = password.is_none().then(generate_password);
    let secret = password.or_else(|| generated.clone()).unwrap_or_default();
    let password_hash = hash_blocking(secret).await?;
    let now = core.clock.now();
    let record = UserRecord {
        username: username.clone(),
        display_name,
        role,
        disabled: false,
        password_hash,
        created_at: now,
        password_changed_at: now,
    };
    let mut batch = Batch::new();
    batch.guard(Space::Users, username.as_bytes().to_vec(), Expect::Absent);
    batch.put(Space::Users, username.as_bytes().to_vec(), to_json(&record));
    let detail = format!("added {username} as {role}");
    match audit::commit_with(core, batch, actor, "user.add", None, &detail).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(AuthError::UserExists(username)),
        Err(e) => return Err(e.into()),
    }
    Ok(NewUser {
        user: UserView::from(&record),
        password: generated,
    })
}

/// Creates the first admin `admin` with a generated password (at `lotse init`).
pub async fn create_first_admin(core: &Core) -> Result<NewUser, AuthError> {
    add_user(
        core,
        audit::SYSTEM,
        "admin",
        "Administrator",
        Role::Admin,
        None,
    )
    .await
}

/// Applies `change` to a user's record, guarded against concurrent changes, together with
/// an audit entry and `extra` writes. Retries if the record changed meanwhile.
async fn update<F>(
    core: &Core,
    username: &str,
    actor: &str,
    action: &str,
    mut change: F,
) -> Result<UserView, AuthError>
where
    F: FnMut(&Core, &mut UserRecord, &mut Batch) -> Result<(), AuthError>,
{
    let username = normalize_username(username);
    for _ in 0..100 {
        let (raw, mut record) =
            read(core, &username)?.ok_or_else(|| AuthError::UnknownUser(username.clone()))?;
        let mut batch = Batch::new();
        change(core, &mut record, &mut batch)?;
        batch.guard(
            Space::Users,
            username.as_bytes().to_vec(),
            Expect::Value(raw),
        );
        batch.put(Space::Users, username.as_bytes().to_vec(), to_json(&record));
        let detail = format!("{action} {username}");
        match audit::commit_with(core, batch, actor, action, None, &detail).await {
            Ok(()) => return Ok(UserView::from(&record)),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// Disables a user: they cannot sign in, and their sessions and API tokens are deleted.
/// The last enabled admin cannot be disabled.
pub async fn disable_user(core: &Core, actor: &str, username: &str) -> Result<UserView, AuthError> {
    update(
        core,
        username,
        actor,
        "user.disable",
        |core, record, batch| {
            if record.role == Role::Admin && !record.disabled {
                let others: Vec<_> = all(core)?
                    .into_iter()
                    .filter(|(_, u)| {
                        u.role == Role::Admin && !u.disabled && u.username != record.username
                    })
                    .collect();
                if others.is_empty() {
                    return Err(AuthError::LastAdmin(record.username.clone()));
                }
                // Two admins disabling each other at once must not leave none: the commit
                // fails if any other admin changed meanwhile.
                for (raw, u) in others {
                    batch.guard(Space::Users, u.username.into_bytes(), Expect::Value(raw));
                }
            }
            record.disabled = true;
            batch.extend(sessions::delete_all_for(core, &record.username, None)?);
            batch.extend(sessions::delete_tokens_for(core, &record.username)?);
            Ok(())
        },
    )
    .await
}

/// Enables a disabled user again (they need a password reset if they forgot theirs).
pub async fn enable_user(core: &Core, actor: &str, username: &str) -> Result<UserView, AuthError> {
    update(core, username, actor, "user.enable", |_, record, _| {
        record.disabled = false;
        Ok(())
    })
    .await
}

/// Sets a new password (generated and returned if `password` is `None`) and ends the
/// user's sessions. API tokens stay valid.
pub async fn reset_password(
    core: &Core,
    actor: &str,
    username: &str,
    password: Option<String>,
) -> Result<(UserView, Option<String>), AuthError> {
    if let Some(p) = &password {
        validate_password(p)?;
    }
    let generated = password.is_none().then(generate_password);
    let secret = password.or_else(|| generated.clone()).unwrap_or_default();
    let hash = hash_blocking(secret).await?;
    let user = update(
        core,
        username,
        actor,
        "user.reset_password",
        |core, record, batch| {
            record.password_hash = hash.clone();
            record.password_changed_at = core.clock.now();
            batch.extend(sessions::delete_all_for(core, &record.username, None)?);
            Ok(())
        },
    )
    .await?;
    Ok((user, generated))
}

/// A signed-in user changes their own password. Their other sessions end; the session in
/// `keep_session` (the one making the change, as its stored id) stays.
pub async fn change_password(
    core: &Core,
    username: &str,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
) -> Result<UserView, AuthError> {
    validate_password(new)?;
    let username = normalize_username(username);
    let (_, record) =
        read(core, &username)?.ok_or_else(|| AuthError::UnknownUser(username.clone()))?;
    let (current, stored) = (current.to_string(), record.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(&current, &stored))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    if !ok {
        return Err(AuthError::WrongCurrentPassword);
    }
    let hash = hash_blocking(new.to_string()).await?;
    update(
        core,
        &username,
        &username,
        "user.change_password",
        |core, record, batch| {
            record.password_hash = hash.clone();
            record.password_changed_at = core.clock.now();
            batch.extend(sessions::delete_all_for(
                core,
                &record.username,
                keep_session,
            )?);
            Ok(())
        },
    )
    .await
}

/// Checks a username and password. Unknown users and wrong passwords both give
/// [`AuthError::BadCredentials`] after the same argon2 work; a disabled account gives
/// [`AuthError::Disabled`], but only with the right password. Writes nothing.
pub async fn verify_login(
    core: &Core,
    username: &str,
    password: &str,
) -> Result<UserView, AuthError> {
    let record = read(core, &normalize_username(username))?.map(|(_, r)| r);
    let hash = record
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    // Bound the work before hashing: an overlong password cannot be right anyway.
    let password: String = password.chars().take(MAX_PASSWORD_CHARS + 1).collect();
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    match record {
        Some(r) if matches && r.disabled => Err(AuthError::Disabled),
        Some(r) if matches => Ok(UserView::from(&r)),
        _ => Err(AuthError::BadCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testutil;

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

    #[test]
    fn password_rules() {
        assert!(validate_password("123456789").is_err());
        assert!(validate_password("          ").is_err());
        assert!(validate_password("1234567890").is_ok());
        assert!(
            validate_password("ääääääääää").is_ok(),
            "characters, not bytes"
        );
        assert!(validate_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        let p = generate_password();
        assert_eq!(p.chars().filter(|c| *c != '-').count(), GENERATED_CHARS);
        assert!(validate_password(&p).is_ok());
        assert!(!p.contains(['0', 'O', '1', 'l', 'I']));
        assert_ne!(p, generate_password());
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = hash_password("geheim-genug").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert_ne!(h, hash_password("geheim-genug").unwrap(), "fresh salt");
        assert!(verify_password("geheim-genug", &h));
        assert!(!verify_password("geheim-genuG", &h));
        assert!(!verify_password("geheim-genug", "not a hash"));
    }

    #[tokio::test]
    async fn add_list_disable_enable_reset() {
        let (_t, core) = testutil::core().await;
        // `init` made the first admin.
        let users = list_users(&core).unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].role, Role::Admin);

        let made = add_user(&core, "admin", "Carla", "", Role::TeamLead, None)
            .await
            .unwrap();
        assert_eq!(made.user.username, "carla");
        assert_eq!(made.user.display_name, "carla");
        let pw = made.password.clone().unwrap();
        assert!(
            !format!("{made:?}").contains(&pw),
            "Debug hides the password"
        );
        assert!(matches!(
            add_user(&core, "admin", "CARLA", "x", Role::Admin, None).await,
            Err(AuthError::UserExists(_))
        ));
        assert!(matches!(
            add_user(
                &core,
                "admin",
                "dora",
                "x",
                Role::Admin,
                Some("short".into())
            )
            .await,
            Err(AuthError::WeakPassword)
        ));
        verify_login(&core, "carla", &pw).await.unwrap();
        assert!(matches!(
            verify_login(&core, "carla", "wrong-password").await,
            Err(AuthError::BadCredentials)
        ));
        assert!(matches!(
            verify_login(&core, "nobody", &pw).await,
            Err(AuthError::BadCredentials)
        ));

        disable_user(&core, "admin", "carla").await.unwrap();
        assert!(matches!(
            verify_login(&core, "carla", &pw).await,
            Err(AuthError::Disabled)
        ));
        assert!(matches!(
            verify_login(&core, "carla", "wrong-password").await,
            Err(AuthError::BadCredentials)
        ));
        enable_user(&core, "admin", "carla").await.unwrap();
        let (_, new_pw) = reset_password(&core, "admin", "carla", None).await.unwrap();
        let new_pw = new_pw.unwrap();
        assert!(verify_login(&core, "carla", &pw).await.is_err());
        verify_login(&core, "carla", &new_pw).await.unwrap();
        reset_password(&core, "admin", "carla", Some("selbst-gewaehlt".into()))
            .await
            .unwrap();
        verify_login(&core, "carla", "selbst-gewaehlt")
            .await
            .unwrap();
        assert!(matches!(
            reset_password(&core, "admin", "nobody", None).await,
            Err(AuthError::UnknownUser(_))
        ));

        let log = audit::list(core.store.as_ref(), None, 100).unwrap();
        let actions: Vec<_> = log.iter().rev().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "user.add",
                "user.add",
                "user.disable",
                "user.enable",
                "user.reset_password",
                "user.reset_password"
            ]
        );
        assert!(log.iter().all(|e| !e.detail.contains(&new_pw)));
        assert_eq!(audit::verify(core.store.as_ref()).unwrap(), 6);
    }

    #[tokio::test]
    async fn the_last_admin_stays() {
        let (_t, core) = testutil::core().await;
        assert!(matches!(
            disable_user(&core, "admin", "admin").await,
            Err(AuthError::LastAdmin(_))
        ));
        add_user(&core, "admin", "zweit", "", Role::Admin, None)
            .await
            .unwrap();
        disable_user(&core, "zweit", "admin").await.unwrap();
        assert!(matches!(
            disable_user(&core, "zweit", "zweit").await,
            Err(AuthError::LastAdmin(_))
        ));
    }

    #[tokio::test]
    async fn changing_the_own_password_needs_the_current_one() {
        let (_t, core) = testutil::core().await;
        add_user(
            &core,
            "admin",
            "emil",
            "",
            Role::CaseManager,
            Some("erstes-passwort".into()),
        )
        .await
        .unwrap();
        assert!(matches!(
            change_password(&core, "emil", "falsch-falsch", "zweites-passwort", None).await,
            Err(AuthError::WrongCurrentPassword)
        ));
        change_password(&core, "emil", "erstes-passwort", "zweites-passwort", None)
            .await
            .unwrap();
        verify_login(&core, "emil", "zweites-passwort")
            .await
            .unwrap();
    }
}
