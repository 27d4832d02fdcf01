//! The demo network's content: the agencies `lotse demo` starts, their services, and the
//! demo sign-ins. Shared by `lotse demo` and the screenshot tool, so both show the same
//! realistic network. Nothing here is used by a production node.

use lotse_node::auth::four_eyes;
use lotse_node::auth::reset;
use lotse_node::auth::users::{self, Requester, UserView};
use lotse_node::auth::{AuthError, Role};
use lotse_node::core::Core;
use lotse_protocol::client::FieldOfAction as F;
use lotse_protocol::directory::{AgencyKind, Capacity, Service};

/// The password of every demo account.
pub const PASSWORD: &str = "demo-passwort-1";

/// The KI's name in the demo.
pub const KI_NAME: &str = "KI Musterstadt";

/// A demo account.
#[derive(Debug, Clone, Copy)]
pub struct DemoUser {
    /// Username.
    pub username: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Role.
    pub role: Role,
}

/// A demo agency.
#[derive(Debug, Clone, Copy)]
pub struct DemoAgency {
    /// Name.
    pub name: &'static str,
    /// Kind.
    pub kind: AgencyKind,
    /// Its case manager and team lead.
    pub users: [DemoUser; 2],
}

const fn user(username: &'static str, display_name: &'static str, role: Role) -> DemoUser {
    DemoUser {
        username,
        display_name,
        role,
    }
}

/// The three agencies of the demo.
pub const AGENCIES: [DemoAgency; 3] = [
    DemoAgency {
        name: "Migrationsberatung (MBE) Caritas",
        kind: AgencyKind::Mbe,
        users: [
            user("berger", "Anna Berger", Role::CaseManager),
            user("keller", "Thomas Keller", Role::TeamLead),
        ],
    },
    DemoAgency {
        name: "Jugendmigrationsdienst (JMD) AWO",
        kind: AgencyKind::Jmd,
        users: [
            user("okafor", "Grace Okafor", Role::CaseManager),
            user("yilmaz", "Deniz Yılmaz", Role::TeamLead),
        ],
    },
    DemoAgency {
        name: "Jobcenter Musterstadt",
        kind: AgencyKind::JobCentre,
        users: [
            user("schmidt", "Jana Schmidt", Role::CaseManager),
            user("wagner", "Peter Wagner", Role::TeamLead),
        ],
    },
];

/// The coordinator on the KI node.
pub const COORDINATOR: DemoUser = user("koordination", "Miriam Koch", Role::Coordinator);

/// Every node's admin account (created by `lotse init`; the demo sets its password).
pub const ADMIN: &str = "admin";

/// Creates an account with a known password the way an agency's accounts come to be:
/// on the server (`lotse user add`); one with case access then waits, a team lead of the
/// node confirms it and is shown the one-time code, and with that code the user sets
/// `password`. Only the node's first team lead needs nobody: it is made on the server
/// while no team lead exists. Nothing here goes around the four-eyes rule; it is the
/// rule's own path, taken in one call for the demo, the screenshots and test networks.
///
/// An account with case access needs an enabled team lead on the node (make the team
/// lead first); otherwise this fails with [`AuthError::UnknownUser`] for the missing lead.
pub async fn add_account(
    core: &Core,
    username: &str,
    display_name: &str,
    role: Role,
    password: &str,
) -> Result<UserView, AuthError> {
    match users::add_user(
        core,
        Requester::Server,
        username,
        display_name,
        role,
        Some(password.to_string()),
    )
    .await
    {
        Err(AuthError::PasswordFromAdmin) => {}
        other => return other.map(|made| made.user),
    }
    users::add_user(core, Requester::Server, username, display_name, role, None).await?;
    let lead = users::list_users(core)?
        .into_iter()
        .find(|u| u.role == Role::TeamLead && u.is_active() && u.username != username)
        .ok_or_else(|| AuthError::UnknownUser("(a team lead of this node)".into()))?;
    let confirmed = four_eyes::confirm(core, &lead.username, username).await?;
    let code = confirmed
        .code
        .ok_or_else(|| AuthError::NoResetPending(username.to_string()))?;
    reset::redeem_code(core, username, &code.code, password, None).await
}

#[allow(clippy::too_many_arguments)]
fn service(
    id: &str,
    name: &str,
    description: &str,
    fields: &[F],
    target_group: &str,
    ages: (Option<u8>, Option<u8>),
    languages: &[&str],
    contact: &str,
    opening_hours: &str,
    capacity: Capacity,
) -> Service {
    Service {
        id: id.into(),
        name: name.into(),
        description: description.into(),
        fields: fields.to_vec(),
        target_group: target_group.into(),
        age_min: ages.0,
        age_max: ages.1,
        languages: languages.iter().map(|l| l.to_string()).collect(),
        area: "Musterstadt, alle Stadtteile".into(),
        contact: contact.into(),
        opening_hours: opening_hours.into(),
        capacity,
    }
}

/// The services an agency of `kind` offers in the demo.
pub fn services(kind: AgencyKind) -> Vec<Service> {
    match kind {
        AgencyKind::Mbe => vec![
            service(
                "mbe-beratung",
                "Migrationsberatung für Erwachsene",
                "Beratung und Begleitung nach einem Förderplan: Aufenthalt, Sprachkurs, Anerkennung von Abschlüssen, Arbeit und Alltag.",
                &[F::ResidenceLaw, F::InitialOrientation, F::Language, F::Work],
                "Zugewanderte ab 27 Jahren, in den ersten Jahren nach der Ankunft",
                (Some(27), None),
                &["Deutsch", "Arabisch", "Englisch", "Türkisch"],
                "Caritasverband Musterstadt, Lindenstraße 12, Tel. 0211 555-120",
                "Mo–Do 9–16 Uhr, Fr 9–12 Uhr; offene Sprechstunde Di 14–17 Uhr",
                Capacity::Available,
            ),
            service(
                "wohnungssuche",
                "Begleitung bei der Wohnungssuche",
                "Unterstützung bei Wohnungssuche, Wohnberechtigungsschein und Gesprächen mit Vermietern.",
                &[F::Housing, F::Livelihood],
                "Familien und Alleinstehende mit Aufenthaltserlaubnis",
                (Some(18), None),
                &["Deutsch", "Arabisch", "Farsi"],
                "Caritasverband Musterstadt, Lindenstraße 12, Tel. 0211 555-124",
                "Di und Do 9–13 Uhr",
                Capacity::WaitingList,
            ),
            service(
                "existenzsicherung",
                "Existenzsicherung und Schuldenberatung",
                "Hilfe bei Anträgen, Bescheiden und Schulden; Vermittlung an die Schuldnerberatung.",
                &[F::Livelihood],
                "Erwachsene Zugewanderte",
                (Some(18), None),
                &["Deutsch", "Russisch", "Ukrainisch"],
                "Caritasverband Musterstadt, Tel. 0211 555-130",
                "Mo und Mi 10–15 Uhr",
                Capacity::Available,
            ),
        ],
        AgencyKind::Jmd => vec![
            service(
                "jmd-begleitung",
                "Jugendmigrationsdienst – Einzelbegleitung",
                "Individuelle Begleitung junger Menschen: Schule, Sprache, Ausbildung und Ankommen in Musterstadt.",
                &[
                    F::Education,
                    F::VocationalTraining,
                    F::Language,
                    F::InitialOrientation,
                ],
                "Junge Zugewanderte von 12 bis 27 Jahren",
                (Some(12), Some(27)),
                &["Deutsch", "Arabisch", "Dari", "Ukrainisch"],
                "AWO Jugendmigrationsdienst, Am Markt 3, Tel. 0211 555-310",
                "Mo–Fr 10–17 Uhr, nach Vereinbarung auch später",
                Capacity::Available,
            ),
            service(
                "uebergang-ausbildung",
                "Übergang Schule – Ausbildung",
                "Berufsorientierung, Bewerbungstraining und Begleitung in die Ausbildung, gemeinsam mit Schulen und Betrieben.",
                &[F::VocationalTraining, F::Education, F::Work],
                "Jugendliche ab 16 Jahren ohne Ausbildungsplatz",
                (Some(16), Some(27)),
                &["Deutsch", "Englisch", "Arabisch"],
                "AWO Jugendmigrationsdienst, Tel. 0211 555-314",
                "Di–Do 13–18 Uhr",
                Capacity::WaitingList,
            ),
            service(
                "gruppenangebote",
                "Gruppenangebote und Freizeit",
                "Sprachcafé, Sport und Ausflüge: Kontakte knüpfen und die Stadt kennenlernen.",
                &[F::SocialParticipation, F::Language],
                "Junge Menschen von 12 bis 27 Jahren",
                (Some(12), Some(27)),
                &["Deutsch", "Arabisch", "Dari", "Ukrainisch", "Englisch"],
                "AWO Jugendmigrationsdienst, Tel. 0211 555-318",
                "Mi 16–19 Uhr, Sa 11–15 Uhr",
                Capacity::Available,
            ),
        ],
        AgencyKind::JobCentre => vec![
            service(
                "integrationscoaching",
                "Arbeitsvermittlung und Integrationscoaching",
                "Beratung zu Arbeit und Weiterbildung, Anerkennung ausländischer Abschlüsse, Coaching bis in die Beschäftigung.",
                &[F::Work, F::VocationalTraining],
                "Erwerbsfähige Leistungsberechtigte ab 15 Jahren",
                (Some(15), Some(67)),
                &["Deutsch", "Englisch", "Russisch"],
                "Jobcenter Musterstadt, Bahnhofstraße 40, Tel. 0211 555-500",
                "Mo–Fr 8–12 Uhr, Do 14–18 Uhr",
                Capacity::Available,
            ),
            service(
                "leistungsberatung",
                "Bürgergeld – Leistungsberatung",
                "Antrag, Weiterbewilligung und Fragen zum Bescheid; Termine mit Sprachmittlung möglich.",
                &[F::Livelihood],
                "Haushalte mit Anspruch auf Bürgergeld",
                (None, None),
                &["Deutsch", "Englisch", "Arabisch", "Ukrainisch"],
                "Jobcenter Musterstadt, Tel. 0211 555-520",
                "Mo–Fr 8–12 Uhr",
                Capacity::Available,
            ),
            service(
                "berufssprachkurs",
                "Berufsbezogene Sprachförderung",
                "Vermittlung in Berufssprachkurse (B1 bis C1) und Begleitung während des Kurses.",
                &[F::Language, F::Work],
                "Erwachsene mit Grundkenntnissen in Deutsch",
                (Some(18), None),
                &["Deutsch"],
                "Jobcenter Musterstadt, Tel. 0211 555-540",
                "nach Vereinbarung",
                Capacity::Full,
            ),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_services_are_valid_profiles() {
        let key = lotse_protocol::NodeKey::generate();
        for a in AGENCIES {
            let services = services(a.kind);
            assert_eq!(services.len(), 3, "{}", a.name);
            let profile = lotse_protocol::directory::AgencyProfile {
                node_id: key.public(),
                encryption: lotse_protocol::EncryptionIdentity::generate().recipient(),
                addresses: vec!["127.0.0.1:1".into()],
                services,
                updated_at: lotse_protocol::Timestamp(1),
            };
            assert!(profile.sign(&key).verify().is_ok(), "{}", a.name);
        }
    }
}
