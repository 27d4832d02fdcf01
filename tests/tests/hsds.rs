//! The HSDS 3.0 API (`/hsds/`, issue 19) through real HTTP on a real network.
//!
//! Every endpoint's answers are validated against Open Referral's own schemas
//! (`tests/hsds-schemas/`, see its README) with the `jsonschema` crate, format checks on,
//! so ids must be UUIDs and e-mails e-mail addresses; the list answers against the HSDS
//! OpenAPI document's own response schemas (its `Page`). Then: who may read the feed, the
//! public feed at the KI only, clear 400s and 404s, that no referral data gets in, and a
//! round trip export → import → publish that changes nothing.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use jsonschema::{Registry, Resource, Validator};
use lotse_node::auth::Role;
use lotse_tests::{
    Http, TestNet, publish_demo_services, send_referral, sign_in_new_user, wait_for,
};
use serde_json::{Value, json};

const SPEC_30: &str = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/";
const SPEC_31: &str =
    "https://raw.githubusercontent.com/openreferral/specification/3.1-dev/schema/";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hsds-schemas")
}

fn load(rel: &str) -> Value {
    let path = schema_dir().join(rel);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The official schemas, under the URLs the HSDS OpenAPI document references them by, so
/// its own `$ref`s resolve, with nothing fetched from the network.
struct Schemas {
    registry: Registry<'static>,
}

/// JSON pointer to an endpoint's answer schema in the OpenAPI document.
fn answer(path: &str) -> String {
    let escaped = path.replace('~', "~0").replace('/', "~1");
    format!(
        "{SPEC_30}openapi.json#/paths/{escaped}/get/responses/200/content/application~1json/schema"
    )
}

impl Schemas {
    fn new() -> Schemas {
        let mut builder = Registry::new();
        for rel in [
            "compiled/service.json",
            "compiled/service_list.json",
            "compiled/organization.json",
            "compiled/organization_list.json",
            "taxonomy.json",
            "taxonomy_term.json",
            "metadata.json",
            "openapi.json",
        ] {
            builder = builder
                .add(
                    format!("{SPEC_30}{rel}"),
                    Resource::from_contents(load(&format!("3.0/{rel}"))),
                )
                .unwrap();
        }
        for rel in [
            "service_capacity.json",
            "unit.json",
            "attribute.json",
            "metadata.json",
            "taxonomy_term.json",
            "taxonomy.json",
        ] {
            builder = builder
                .add(
                    format!("{SPEC_31}{rel}"),
                    Resource::from_contents(load(&format!("3.1-dev/{rel}"))),
                )
                .unwrap();
        }
        Schemas {
            registry: builder.prepare().unwrap(),
        }
    }

    fn validator(&self, schema: Value) -> Validator {
        jsonschema::options()
            .should_validate_formats(true)
            .with_registry(&self.registry)
            .build(&schema)
            .unwrap()
    }

    /// The validator of the schema at `uri`.
    fn of(&self, uri: &str) -> Validator {
        self.validator(json!({"$ref": uri}))
    }

    /// A list endpoint: its OpenAPI answer schema (the `Page` with typed `contents`), and
    /// Lotse's promise that every `Page` field is there (the `Page` schema requires none).
    fn page(&self, endpoint: &str) -> Validator {
        self.validator(json!({"allOf": [
            {"$ref": answer(endpoint)},
            {"required": ["total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents"]},
        ]}))
    }
}

#[track_caller]
fn assert_valid(v: &Validator, value: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not valid HSDS: {errors:#?}\n{value:#}"
    );
}

async fn get_ok(http: &Http, path: &str) -> Value {
    let (status, body) = http.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Every capacity object in a fully nested service, against HSDS 3.1's schema.
fn check_capacities(s: &Schemas, service: &Value) {
    let v = s.of(&format!("{SPEC_31}service_capacity.json"));
    let caps = service["capacities"].as_array().expect("a capacity");
    assert_eq!(caps.len(), 1);
    for c in caps {
        assert_valid(&v, c, "service_capacity");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_answers_valid_hsds() {
    let net = TestNet::new(3).await;
    publish_demo_services(&net).await;
    let s = Schemas::new();
    let reader = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;

    // The validators do check: an answer with a non-UUID id or a broken e-mail fails.
    let service_schema = s.of(&format!("{SPEC_30}compiled/service.json"));
    assert!(
        !service_schema.is_valid(&json!({"id": "mbe-beratung", "name": "x", "status": "active"}))
    );
    assert!(!service_schema.is_valid(&json!({"id": "5e19678e-81b7-8fd8-b2ea-a2cb47feee02", "name": "x", "status": "active", "email": "kein Mail"})));
    assert!(service_schema.is_valid(
        &json!({"id": "5e19678e-81b7-8fd8-b2ea-a2cb47feee02", "name": "x", "status": "active"})
    ));

    let info = get_ok(&reader, "/hsds/").await;
    assert_valid(&s.of(&answer("/")), &info, "/hsds/");
    assert_eq!(info["version"], "3.0");
    let profile_url = info["profile"].as_str().unwrap();
    assert!(profile_url.ends_with("/hsds/profile"), "{profile_url}");
    let (status, _) = reader.get("/hsds/profile").await;
    assert_eq!(status, 200, "the profile is served");

    // Services: flat, full, paged.
    let services_page = s.page("/services");
    let all = get_ok(&reader, "/hsds/services?per_page=200").await;
    assert_valid(&services_page, &all, "/hsds/services");
    assert_eq!(
        all["total_items"], 9,
        "three demo agencies with three services each"
    );
    assert!(
        all["contents"][0].get("languages").is_none(),
        "list items are flat"
    );
    let full = get_ok(&reader, "/hsds/services?per_page=200&full=true").await;
    assert_valid(&services_page, &full, "/hsds/services?full=true");
    for item in full["contents"].as_array().unwrap() {
        assert_valid(&service_schema, item, "a full list item");
    }
    let mut seen = Vec::new();
    for page in 1..=5 {
        let p = get_ok(&reader, &format!("/hsds/services?per_page=2&page={page}")).await;
        assert_valid(&services_page, &p, "a page of services");
        assert_eq!(
            (p["page_number"].as_u64(), p["total_pages"].as_u64()),
            (Some(page), Some(5))
        );
        assert_eq!(p["first_page"], page == 1);
        assert_eq!(p["last_page"], page == 5);
        seen.extend(
            p["contents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].clone()),
        );
    }
    let ids: Vec<Value> = all["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert_eq!(seen, ids, "the pages together are the whole list, in order");

    // Each service in full, the same on every node (stable, derived ids).
    let ki_reader = sign_in_new_user(&net.ki, "koch", "Miriam Koch", Role::Coordinator).await;
    for id in &ids {
        let id = id.as_str().unwrap();
        let one = get_ok(&reader, &format!("/hsds/services/{id}")).await;
        assert_valid(&service_schema, &one, "/hsds/services/{id}");
        check_capacities(&s, &one);
        assert_eq!(
            get_ok(&ki_reader, &format!("/hsds/services/{id}")).await,
            one,
            "same answer at the KI"
        );
    }
    let mbe = get_ok(
        &reader,
        "/hsds/services?search=Sprachkurs%20Alltag&full=true",
    )
    .await;
    assert_eq!(mbe["total_items"], 1, "{mbe}");
    let m = &mbe["contents"][0];
    assert_eq!(m["minimum_age"], 27.0);
    assert_eq!(
        m["eligibility_description"],
        "Zugewanderte ab 27 Jahren, in den ersten Jahren nach der Ankunft"
    );
    let langs: Vec<(&str, &str)> = m["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        langs,
        [
            ("Deutsch", "de"),
            ("Arabisch", "ar"),
            ("Englisch", "en"),
            ("Türkisch", "tr")
        ]
    );
    assert_eq!(m["contacts"][0]["phones"][0]["number"], "0211 555-120");
    assert_eq!(m["capacities"][0]["available"], 1.0);
    let opening = get_ok(&reader, "/hsds/services?search=leistungsberatung&full=true").await;
    let sched = &opening["contents"][0]["schedules"][0];
    assert_eq!(
        (
            sched["byday"].as_str(),
            sched["opens_at"].as_str(),
            sched["closes_at"].as_str()
        ),
        (Some("MO,TU,WE,TH,FR"), Some("08:00"), Some("12:00"))
    );

    // Taxonomy: the eleven fields, and services by term.
    let terms_page = s.page("/taxonomy_terms");
    let terms = get_ok(&reader, "/hsds/taxonomy_terms").await;
    assert_valid(&terms_page, &terms, "/hsds/taxonomy_terms");
    assert_eq!(terms["total_items"], 11);
    let housing = terms["contents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "housing")
        .unwrap()
        .clone();
    assert_eq!(housing["name"], "Wohnen");
    let term_schema = s.of(&format!("{SPEC_30}taxonomy_term.json"));
    for t in terms["contents"].as_array().unwrap() {
        let one = get_ok(
            &reader,
            &format!("/hsds/taxonomy_terms/{}", t["id"].as_str().unwrap()),
        )
        .await;
        assert_valid(&term_schema, &one, "/hsds/taxonomy_terms/{id}");
        assert_eq!(&one, t);
    }
    let by_term = get_ok(
        &reader,
        &format!(
            "/hsds/services?taxonomy_term_id={}",
            housing["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_valid(&services_page, &by_term, "services by term");
    let names: Vec<&str> = by_term["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Begleitung bei der Wohnungssuche"]);
    let taxonomies = get_ok(&reader, "/hsds/taxonomies").await;
    assert_valid(&s.page("/taxonomies"), &taxonomies, "/hsds/taxonomies");
    let tax_id = taxonomies["contents"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        tax_id, "5e19678e-81b7-8fd8-b2ea-a2cb47feee02",
        "the documented id"
    );
    let one = get_ok(&reader, &format!("/hsds/taxonomies/{tax_id}")).await;
    assert_valid(
        &s.of(&format!("{SPEC_30}taxonomy.json")),
        &one,
        "/hsds/taxonomies/{id}",
    );
    let in_tax = get_ok(
        &reader,
        &format!("/hsds/taxonomy_terms?taxonomy_id={tax_id}&top_only=true&per_page=5&page=3"),
    )
    .await;
    assert_valid(&terms_page, &in_tax, "terms of the taxonomy");
    assert_eq!(
        (in_tax["size"].as_u64(), in_tax["last_page"].as_bool()),
        (Some(1), Some(true))
    );

    // Organizations: the KI and the three agencies.
    let orgs_page = s.page("/organizations");
    let org_schema = s.of(&format!("{SPEC_30}compiled/organization.json"));
    for query in ["", "?full=true", "?full_service=true"] {
        let orgs = get_ok(&reader, &format!("/hsds/organizations{query}")).await;
        assert_valid(&orgs_page, &orgs, &format!("/hsds/organizations{query}"));
        assert_eq!(orgs["total_items"], 4);
        if !query.is_empty() {
            for o in orgs["contents"].as_array().unwrap() {
                assert_valid(&org_schema, o, "a full organization");
            }
        }
    }
    let jmd = get_ok(&reader, "/hsds/organizations?search=Jugendmigrationsdienst").await;
    assert_eq!(jmd["total_items"], 1);
    let jmd_id = jmd["contents"][0]["id"].as_str().unwrap().to_string();
    for query in ["", "?full_service=true"] {
        let one = get_ok(&reader, &format!("/hsds/organizations/{jmd_id}{query}")).await;
        assert_valid(&org_schema, &one, "/hsds/organizations/{id}");
        assert_eq!(one["services"].as_array().unwrap().len(), 3);
        if !query.is_empty() {
            for svc in one["services"].as_array().unwrap() {
                assert_valid(&service_schema, svc, "an organization's full service");
                check_capacities(&s, svc);
            }
        }
    }
    let of_jmd = get_ok(&reader, &format!("/hsds/services?organization_id={jmd_id}")).await;
    assert_eq!(of_jmd["total_items"], 3);
    assert!(
        of_jmd["contents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["organization_id"] == jmd_id.as_str())
    );
    let later = get_ok(
        &reader,
        "/hsds/services?modified_after=2999-01-01T00:00:00Z",
    )
    .await;
    assert_valid(&services_page, &later, "an empty page");
    assert_eq!(
        (later["empty"].as_bool(), later["total_pages"].as_u64()),
        (Some(true), Some(0))
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_in_users_read_and_only_the_ki_can_publish_its_feed() {
    let mut net = TestNet::new(1).await;
    publish_demo_services(&net).await;
    let anonymous_agency = Http::new(net.agency(0));
    let anonymous_ki = Http::new(&net.ki);
    for (http, node) in [(&anonymous_agency, "agency"), (&anonymous_ki, "KI")] {
        for path in [
            "/hsds/",
            "/hsds/services",
            "/hsds/organizations",
            "/hsds/taxonomy_terms",
            "/hsds/profile",
        ] {
            let (status, body) = http.get(path).await;
            assert_eq!(status, 401, "{node} {path} without sign-in: {body}");
            assert!(
                body["error"].as_str().unwrap().contains("sign in"),
                "{body}"
            );
        }
    }
    // Every role may read, by bearer token.
    for (name, role) in [
        ("fall", Role::CaseManager),
        ("team", Role::TeamLead),
        ("it", Role::Admin),
    ] {
        let http = sign_in_new_user(net.agency(0), name, name, role).await;
        let (status, body) = http.get("/hsds/services").await;
        assert_eq!(
            (status, body["total_items"].as_u64()),
            (200, Some(3)),
            "{role:?}"
        );
    }
    let mut wrong = Http::new(net.agency(0));
    wrong.token = Some("falsch".into());
    assert_eq!(wrong.get("/hsds/services").await.0, 401);

    // The KI publishes its feed: readable without signing in, a wrong token still refused.
    net.ki.stop().await;
    let mut config = net.ki.dir.load_config().unwrap();
    config.hsds.public = true;
    net.ki.dir.save_config(&config).unwrap();
    net.ki.start().await;
    let anonymous_ki = Http::new(&net.ki);
    let (status, body) = anonymous_ki.get("/hsds/services?full=true").await;
    assert_eq!(
        (status, body["total_items"].as_u64()),
        (200, Some(3)),
        "{body}"
    );
    let mut wrong = Http::new(&net.ki);
    wrong.token = Some("falsch".into());
    assert_eq!(wrong.get("/hsds/services").await.0, 401);
    // ... and the agency's stays closed.
    assert_eq!(Http::new(net.agency(0)).get("/hsds/services").await.0, 401);

    // An agency node refuses the setting.
    let agency_dir = net.agency(0).dir.clone();
    let mut config = agency_dir.load_config().unwrap();
    config.hsds.public = true;
    let text = toml_with_public(&config);
    let e = lotse_node::config::Config::parse(&text).unwrap_err();
    assert!(
        e.contains("hsds.public") && e.contains("directory node"),
        "{e}"
    );
    net.shutdown().await;
}

fn toml_with_public(config: &lotse_node::config::Config) -> String {
    let text = config.to_toml();
    assert!(text.contains("public = true"), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_parameters_get_400_and_unknown_ids_404() {
    let net = TestNet::new(1).await;
    publish_demo_services(&net).await;
    let http = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    for (path, says) in [
        ("/hsds/services?page=0", "page=\"0\""),
        ("/hsds/services?page=zwei", "page=\"zwei\""),
        ("/hsds/services?per_page=201", "from 1 to 200"),
        ("/hsds/services?page=2", "page 2 does not exist"),
        ("/hsds/services?pgae=2", "unknown query parameter \"pgae\""),
        ("/hsds/services?page=1&page=2", "more than once"),
        ("/hsds/services?full=ja", "true or false"),
        ("/hsds/services?format=ndjson", "only json"),
        (
            "/hsds/services?minimal=true",
            "unknown query parameter \"minimal\"",
        ),
        ("/hsds/services?taxonomy_term_id=wohnen", "is not a UUID"),
        (
            "/hsds/services?taxonomy_term_id=00000000-0000-8000-8000-000000000000",
            "/hsds/taxonomy_terms",
        ),
        (
            "/hsds/services?organization_id=00000000-0000-8000-8000-000000000000",
            "/hsds/organizations",
        ),
        ("/hsds/services?modified_after=gestern", "RFC 3339"),
        (
            "/hsds/taxonomy_terms?parent_id=00000000-0000-8000-8000-000000000000",
            "not a term",
        ),
        ("/hsds/organizations?full_service=1", "true or false"),
        ("/hsds/services/mbe-beratung", "not a UUID"),
    ] {
        let (status, body) = http.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{path}: {msg:?} should say {says:?}");
    }
    let long = format!("/hsds/services?search={}", "x".repeat(201));
    assert_eq!(http.get(&long).await.0, 400);
    for (path, list) in [
        (
            "/hsds/services/00000000-0000-8000-8000-000000000000",
            "/hsds/services",
        ),
        (
            "/hsds/organizations/00000000-0000-8000-8000-000000000000",
            "/hsds/organizations",
        ),
        (
            "/hsds/taxonomies/00000000-0000-8000-8000-000000000000",
            "/hsds/taxonomies",
        ),
        (
            "/hsds/taxonomy_terms/00000000-0000-8000-8000-000000000000",
            "/hsds/taxonomy_terms",
        ),
    ] {
        let (status, body) = http.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(list), "{body}");
    }
    net.shutdown().await;
}

/// Every answer of the feed, fully nested, as one text.
async fn whole_feed(http: &Http) -> String {
    let mut out = String::new();
    for path in [
        "/hsds/",
        "/hsds/services?full=true&per_page=200",
        "/hsds/organizations?full_service=true&per_page=200",
        "/hsds/taxonomies",
        "/hsds/taxonomy_terms",
    ] {
        out.push_str(&get_ok(http, path).await.to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feed_holds_directory_data_only() {
    let net = TestNet::new(2).await;
    publish_demo_services(&net).await;
    let sender = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let receiver =
        sign_in_new_user(net.agency(1), "okafor", "Herr Okafor", Role::CaseManager).await;
    let id = send_referral(
        &sender,
        &net.agency(1).id.to_string(),
        "Amira Haddad",
        "Begleitung zur Ausbildungsmesse",
    )
    .await;
    wait_for("the referral to arrive", 20, || {
        let receiver = receiver.clone();
        async move { receiver.get(&format!("/api/v1/referrals/{id}")).await.0 == 200 }
    })
    .await;
    let ki = sign_in_new_user(&net.ki, "koch", "Miriam Koch", Role::Coordinator).await;
    for (http, node) in [
        (&sender, &net.agencies[0]),
        (&receiver, &net.agencies[1]),
        (&ki, &net.ki),
    ] {
        let feed = whole_feed(http).await;
        assert!(
            feed.contains("Begleitung bei der Wohnungssuche"),
            "the feed has the services"
        );
        for secret in [
            "Amira Haddad".to_string(),
            "Ausbildungsmesse".to_string(),
            "Seit einem Jahr".to_string(),
            id.to_string(),
            node.running().quic_addr.to_string(),
            node.id.to_string(),
            "berger".to_string(),
        ] {
            assert!(!feed.contains(&secret), "{} leaks {secret:?}", node.name);
        }
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_imports_and_republishes_unchanged() {
    let net = TestNet::new(3).await;
    publish_demo_services(&net).await;
    let http = sign_in_new_user(&net.ki, "koch", "Miriam Koch", Role::Coordinator).await;
    let tmp = tempfile::tempdir().unwrap();
    for agency in &net.agencies {
        let before = agency
            .core()
            .directory
            .member(&agency.id)
            .unwrap()
            .profile
            .services;
        let orgs = get_ok(&http, "/hsds/organizations?full_service=true").await;
        let org = orgs["contents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == agency.name.as_str())
            .unwrap()
            .clone();
        let file = tmp
            .path()
            .join(format!("{}.json", agency.name.replace(' ', "-")));
        std::fs::write(&file, org.to_string()).unwrap();
        let imported = lotse_node::hsds::import::read(&file, &Default::default()).unwrap();
        assert_eq!(
            imported.services, before,
            "{}: the import gives back what was published",
            agency.name
        );
        assert_eq!(imported.organization.as_deref(), Some(agency.name.as_str()));
        assert!(imported.notes.is_empty(), "{:?}", imported.notes);

        // Published again, the feed is the same, ids included (only the times move on).
        let serial = net.ki.core().directory.serial();
        let feed_before = get_ok(
            &http,
            &format!(
                "/hsds/organizations/{}?full_service=true",
                org["id"].as_str().unwrap()
            ),
        )
        .await;
        lotse_node::services::publish(agency.core(), imported.services)
            .await
            .unwrap();
        let ki = net.ki.core().clone();
        wait_for("the KI to take the update", 20, || {
            let ki = ki.clone();
            async move { ki.directory.serial() > serial }
        })
        .await;
        let feed_after = get_ok(
            &http,
            &format!(
                "/hsds/organizations/{}?full_service=true",
                org["id"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!(without_times(feed_after), without_times(feed_before));
    }
    net.shutdown().await;
}

fn without_times(mut v: Value) -> Value {
    match &mut v {
        Value::Object(o) => {
            o.remove("last_modified");
            o.remove("updated");
            for x in o.values_mut() {
                *x = without_times(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = without_times(x.take());
            }
        }
        _ => {}
    }
    v
}
