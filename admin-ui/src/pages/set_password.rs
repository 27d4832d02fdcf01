//! "Neues Passwort setzen": a user sets their own password with the one-time code a team
//! lead handed over (after an admin's reset, or for a new account). No sign-in needed;
//! wrong codes are rate-limited like sign-ins and audited, and a form posted from another
//! website is refused (`lotse_node::auth::reset::redeem_code`,
//! `lotse_node::http::cross_site`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use lotse_node::auth::{AuthError, reset};
use lotse_node::core::Core;
use lotse_node::http::{ClientIp, cross_site};
use maud::{Markup, html};

use super::account::password_hint;
use crate::error::UiError;
use crate::forms::FormData;
use crate::layout::{self, error_summary};
use crate::messages;

fn form(core: &Core, username: &str, errors: &[(String, String)]) -> Markup {
    let body = html! {
        h1 { "Neues Passwort setzen" }
        p.lead { "bei " strong { (core.config.name) } }
        p { "Mit dem Einmal-Code, den Ihnen Ihre Teamleitung gegeben hat, setzen Sie hier Ihr Passwort selbst. Niemand sonst erfährt es." }
        (error_summary(errors))
        form method="post" action="/passwort-setzen" {
            div.field {
                label for="username" { "Benutzername" }
                input #username type="text" name="username" value=(username)
                    autocomplete="username" autocapitalize="none" spellcheck="false" required;
            }
            div.field {
                label for="code" { "Einmal-Code" }
                input #code.mono type="text" name="code" autocomplete="one-time-code"
                    autocapitalize="none" spellcheck="false" required;
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
            button.button.primary type="submit" { "Passwort setzen" }
        }
        p.hint { a href="/anmelden" { "Zurück zur Anmeldung" } }
    };
    layout::bare("Neues Passwort setzen", body)
}

/// `GET /passwort-setzen`.
pub(crate) async fn page(State(core): State<Arc<Core>>) -> Markup {
    form(&core, "", &[])
}

/// `POST /passwort-setzen`.
pub(crate) async fn submit(
    State(core): State<Arc<Core>>,
    ClientIp(client): ClientIp,
    method: Method,
    headers: HeaderMap,
    f: FormData,
) -> Result<Response, UiError> {
    let username = f.raw("username").trim().to_string();
    let refuse = |status: StatusCode, message: String| {
        let errors = vec![(String::new(), message)];
        (status, form(&core, &username, &errors)).into_response()
    };
    if cross_site::check(&method, &headers).is_err() {
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            "Dieses Formular kam von einer anderen Website und wurde deshalb nicht ausgeführt. \
             Bitte öffnen Sie die Seite Ihres Knotens selbst."
                .into(),
        ));
    }
    if f.raw("new") != f.raw("repeat") {
        return Ok(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Die beiden neuen Passwörter stimmen nicht überein.".into(),
        ));
    }
    match reset::redeem_code(&core, &username, f.raw("code"), f.raw("new"), client).await {
        Ok(_) => Ok(layout::done("/anmelden", "password_set")),
        Err(e @ (AuthError::Store(_) | AuthError::Hash(_))) => Err(UiError::internal(e)),
        Err(e) => {
            let status = match e {
                AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                AuthError::BadResetCode => StatusCode::UNAUTHORIZED,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Ok(refuse(status, messages::auth(&e)))
        }
    }
}
