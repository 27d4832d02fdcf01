//! "Mein Konto": who is signed in, and changing one's own password (other sessions and
//! all API tokens end; this session stays). Wrong current passwords are rate-limited like
//! sign-ins and audited (`lotse_node::auth::users::change_password`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lotse_node::auth::users;
use lotse_node::http::ClientIp;
use maud::{Markup, html};

use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, Ctx, Nav, csrf, error_summary};
use crate::{labels, messages};

fn render(ctx: &Ctx, errors: &[(String, String)]) -> Markup {
    layout::page(
        ctx,
        Nav::Account,
        "Mein Konto",
        html! {
            section.card {
                h2 { "Angemeldet als" }
                dl.facts {
                    dt { "Name" } dd { (ctx.user.display_name) }
                    dt { "Benutzername" } dd { (ctx.user.username) }
                    dt { "Rolle" } dd { (labels::role(ctx.user.role)) }
                    dt { "Stelle" } dd { (ctx.core.config.name) }
                }
            }
            section.card {
                h2 { "Passwort ändern" }
                (error_summary(errors))
                form method="post" action="/konto" {
                    (csrf(ctx))
                    div.field {
                        label for="current" { "Bisheriges Passwort" }
                        input #current type="password" name="current" autocomplete="current-password" required;
                    }
                    div.field {
                        label for="new" { "Neues Passwort" }
                        p.hint #new-hinweis { (password_hint()) }
                        input #new type="password" name="new" autocomplete="new-password" required
                            aria-describedby="new-hinweis";
                    }
                    div.field {
                        label for="repeat" { "Neues Passwort wiederholen" }
                        input #repeat type="password" name="repeat" autocomplete="new-password" required;
                    }
                    button.button.primary type="submit" { "Passwort ändern" }
                }
            }
        },
    )
}

/// The hint under every new-password field.
pub(crate) fn password_hint() -> String {
    format!(
        "Mindestens {} Zeichen. Ein Satz, den Sie sich merken können, ist ein gutes Passwort; \
         bekannte Passwörter wie „Sommer2024!“ nimmt Lotse nicht an.",
        users::MIN_PASSWORD_CHARS
    )
}

/// `GET /konto`.
pub(crate) async fn page(ctx: Ctx) -> Markup {
    render(&ctx, &[])
}

/// `POST /konto`.
pub(crate) async fn change_password(
    ClientIp(client): ClientIp,
    ctx: Ctx,
    f: FormData,
) -> Result<Response, UiError> {
    ctx.check_csrf(&f)?;
    if f.raw("new") != f.raw("repeat") {
        let errors = vec![(
            "repeat".to_string(),
            "Die beiden neuen Passwörter stimmen nicht überein.".to_string(),
        )];
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&ctx, &errors)).into_response());
    }
    match users::change_password(
        &ctx.core,
        &ctx.user.username,
        f.raw("current"),
        f.raw("new"),
        Some(ctx.user.session_id()),
        client,
    )
    .await
    {
        Ok(_) => Ok(layout::done("/konto", "password_changed")),
        Err(e @ (lotse_node::auth::AuthError::Store(_) | lotse_node::auth::AuthError::Hash(_))) => {
            Err(UiError::internal(e))
        }
        Err(e) => {
            let status = match e {
                lotse_node::auth::AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let errors = vec![(String::new(), messages::auth(&e))];
            Ok((status, render(&ctx, &errors)).into_response())
        }
    }
}
