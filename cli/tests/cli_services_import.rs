//! `lotse services import --hsds`: a network's HSDS export, read back by the real binary into
//! the services the agencies published (as one JSON file and as per-table files), a foreign
//! export mapped with its notes, and bad input refused with a message that says what to do,
//! writing nothing.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use lotse_node::auth::Role;
use lotse_protocol::directory::Service;
use lotse_tests::{TestNet, publish_demo_services, sign_in_new_user};
use serde_json::{Value, json};

use common::{s, text};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    services: Vec<Service>,
}

/// Runs the import; returns (success, stdout, stderr).
fn import(args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["services", "import"];
    all.extend_from_slice(args);
    let out = common::lotse(&all, None);
    let (o, e) = text(&out);
    (out.status.success(), o, e)
}

fn read_services(path: &Path) -> Vec<Service> {
    let text = std::fs::read_to_string(path).unwrap();
    toml::from_str::<ServicesFile>(&text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .services
}

/// Splits fully nested services into HSDS's tables, one JSON file each.
fn write_tables(dir: &Path, services: &[Value]) {
    let mut tables: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    let mut push = |t: &'static str, v: Value| {
        let rows = tables.entry(t).or_default();
        if !rows.contains(&v) {
            rows.push(v);
        }
    };
    for svc in services {
        let mut row = svc.as_object().unwrap().clone();
        let id = row["id"].clone();
        if let Some(org) = row.remove("organization") {
            push("organizations", org);
        }
        for (field, table) in [
            ("languages", "languages"),
            ("schedules", "schedules"),
            ("service_areas", "service_areas"),
        ] {
            for item in row
                .remove(field)
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
            {
                push(table, item);
            }
        }
        for mut c in row
            .remove("contacts")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
        {
            for mut p in c
                .as_object_mut()
                .unwrap()
                .remove("phones")
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
            {
                p["contact_id"] = c["id"].clone();
                push("phones", p);
            }
            push("contacts", c);
        }
        for mut a in row
            .remove("attributes")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
        {
            if let Some(t) = a.as_object_mut().unwrap().remove("taxonomy_term") {
                push("taxonomy_terms", t);
            }
            push("attributes", a);
        }
        for mut c in row
            .remove("capacities")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
        {
            let unit = c.as_object_mut().unwrap().remove("unit").unwrap();
            c["unit_id"] = unit["id"].clone();
            c["service_id"] = id.clone();
            push("units", unit);
            push("service_capacity", c);
        }
        push("services", Value::Object(row));
    }
    push(
        "locations",
        json!({"id": "5e19678e-81b7-8fd8-b2ea-a2cb47feee02", "name": "Beratungsstelle"}),
    );
    for (table, rows) in tables {
        std::fs::write(
            dir.join(format!("{table}.json")),
            Value::Array(rows).to_string(),
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_network_export_imports_back_into_the_published_services() {
    let net = TestNet::new(3).await;
    publish_demo_services(&net).await;
    let http = sign_in_new_user(net.agency(0), "berger", "Frau Berger", Role::CaseManager).await;
    let tmp = tempfile::tempdir().unwrap();
    for agency in &net.agencies {
        let published = agency
            .core()
            .directory
            .member(&agency.id)
            .unwrap()
            .profile
            .services;
        // As the docs show: the organization, found by name, with its services.
        let search = agency.name.split(' ').next().unwrap();
        let (status, page) = http
            .get(&format!(
                "/hsds/organizations?search={search}&full_service=true"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total_items"], 1, "{page}");
        let file = tmp.path().join(format!("{search}.json"));
        std::fs::write(&file, page.to_string()).unwrap();
        let out = tmp.path().join(format!("{search}.toml"));
        let (ok, stdout, stderr) = import(&["--hsds", s(&file), "--out", s(&out)]);
        assert!(ok, "{stderr}");
        assert!(
            stdout.contains(&format!("Wrote {} services", published.len())),
            "{stdout}"
        );
        assert!(
            stdout.contains("Everything in the export was carried over"),
            "{stdout}"
        );
        assert_eq!(
            read_services(&out),
            published,
            "{}: one JSON file",
            agency.name
        );

        // The same services as HSDS tables, one JSON file per table.
        let org_id = page["contents"][0]["id"].as_str().unwrap();
        let (status, full) = http
            .get(&format!(
                "/hsds/services?organization_id={org_id}&full=true&per_page=200"
            ))
            .await;
        assert_eq!(status, 200, "{full}");
        let dir = tmp.path().join(format!("{search}-tables"));
        std::fs::create_dir(&dir).unwrap();
        write_tables(&dir, full["contents"].as_array().unwrap());
        let out = tmp.path().join(format!("{search}-tables.toml"));
        let (ok, stdout, stderr) = import(&["--hsds", s(&dir), "--out", s(&out)]);
        assert!(ok, "{stderr}");
        assert!(
            stdout.contains("files not read (no place in Lotse): locations.json"),
            "{stdout}"
        );
        assert_eq!(
            read_services(&out),
            published,
            "{}: per-table files",
            agency.name
        );
    }
    net.shutdown().await;
}

fn foreign_service(name: &str, org: &str) -> Value {
    json!({
        "id": format!("svc-{name}"),
        "name": name,
        "status": "active",
        "description": "Beratung rund ums Wohnen.",
        "fees_description": "kostenlos",
        "eligibility_description": "Alle",
        "minimum_age": 18,
        "organization": {"id": format!("org-{org}"), "name": org, "description": "Ein Träger"},
        "languages": [{"id": "l1", "name": "Arabic", "code": "ar"}, {"id": "l2", "name": "Tigrinya"}],
        "schedules": [{"id": "s1", "freq": "WEEKLY", "byday": "MO,TU,WE", "opens_at": "09:00", "closes_at": "12:30"}],
        "service_areas": [{"id": "a1", "name": "Stadtteil Nord"}],
        "contacts": [{"id": "c1", "name": "Frau Demir", "email": "demir@traeger.example", "phones": [{"id": "p1", "number": "0211 123456"}]}],
        "attributes": [{"id": "t1", "taxonomy_term": {"id": "x1", "code": "housing", "name": "Housing", "description": ""}}],
    })
}

#[test]
fn a_foreign_export_is_mapped_and_what_is_left_out_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("guide.json");
    let services = json!({"services": [foreign_service("Wohnberatung Nord", "Träger A"), foreign_service("Sprachcafé", "Träger B")]});
    std::fs::write(&file, services.to_string()).unwrap();
    let out = tmp.path().join("services.toml");

    let (ok, _, stderr) = import(&["--hsds", s(&file), "--out", s(&out)]);
    assert!(
        !ok && stderr.contains("services of 2 organizations") && stderr.contains("--organization"),
        "{stderr}"
    );
    assert!(stderr.contains("\"Träger A\""), "it lists them: {stderr}");
    assert!(!out.exists(), "nothing is written");

    let (ok, stdout, stderr) = import(&[
        "--hsds",
        s(&file),
        "--out",
        s(&out),
        "--organization",
        "träger a",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("not carried over: fees_description"),
        "{stdout}"
    );
    assert!(stdout.contains("no capacity given"), "{stdout}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(
        written.starts_with("# Services imported by `lotse services import`"),
        "{written}"
    );
    assert!(
        written.contains("# - \"Wohnberatung Nord\": not carried over: fees_description"),
        "{written}"
    );
    let s0 = &read_services(&out)[0];
    assert_eq!(s0.id, "wohnberatung-nord");
    assert_eq!(s0.languages, ["Arabisch", "Tigrinya"]);
    assert_eq!(s0.opening_hours, "Mo–Mi 9–12:30 Uhr");
    assert_eq!(
        s0.contact,
        "Frau Demir, Tel. 0211 123456, demir@traeger.example"
    );
    assert_eq!(s0.area, "Stadtteil Nord");
    assert_eq!(s0.age_min, Some(18));
    assert_eq!(
        serde_json::to_value(&s0.fields).unwrap(),
        json!(["housing"])
    );
    assert_eq!(
        serde_json::to_value(s0.capacity).unwrap(),
        json!("waiting_list")
    );
}

#[test]
fn bad_imports_are_refused_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    let many: Vec<Value> = (0..65)
        .map(|i| {
            let mut v = foreign_service(&format!("Angebot {i}"), "Träger A");
            v["attributes"] = json!([]);
            v
        })
        .collect();
    let unknown_term = json!([{
        "id": "x", "name": "Gärten", "status": "active",
        "attributes": [{"id": "a", "taxonomy_term_id": "t9", "taxonomy_term": {"id": "t9", "name": "Gartenbau", "description": ""}}],
    }]);
    let csv_dir = tmp.path().join("csv");
    std::fs::create_dir(&csv_dir).unwrap();
    std::fs::write(csv_dir.join("services.csv"), "id,name\n1,x\n").unwrap();
    let cases: Vec<(std::path::PathBuf, Vec<&str>, &str)> = vec![
        (
            write("a.csv", "id;name\n1;Beratung\n"),
            vec![],
            "is not JSON",
        ),
        (
            write("b.json", r#"{"foo": 1}"#),
            vec![],
            "is not an HSDS 3.0 export",
        ),
        (
            write("c.json", r#"[{"id": "x", "status": "active"}]"#),
            vec![],
            "has no name",
        ),
        (
            write(
                "d.json",
                r#"[{"id": "x", "name": "A", "status": "active", "minimum_age": "18"}]"#,
            ),
            vec![],
            "wrong type",
        ),
        (
            write("e.json", &Value::Array(many).to_string()),
            vec![],
            "holds 65 services; an agency publishes at most 64",
        ),
        (
            write("f.json", &unknown_term.to_string()),
            vec![],
            "\"Gartenbau\"",
        ),
        (write("g.json", r#"[]"#), vec![], "holds no services"),
        (
            write(
                "h.json",
                &json!({"total_items": 30, "contents": [foreign_service("A", "B")]}).to_string(),
            ),
            vec![],
            "one page of a paged answer",
        ),
        (
            write("i.json", &json!([foreign_service("A", "B")]).to_string()),
            vec!["--organization", "C"],
            "no organization \"C\"",
        ),
        (
            write("j.json", &json!([foreign_service("A", "B")]).to_string()),
            vec!["--term", "Garten"],
            "must be TERM=FIELD",
        ),
        (
            write("k.json", &json!([foreign_service("A", "B")]).to_string()),
            vec!["--term", "Garten=Gartenbau"],
            "not a field of action",
        ),
        (csv_dir.clone(), vec![], "reads JSON only"),
        (tmp.path().join("fehlt.json"), vec![], "cannot read"),
    ];
    for (i, (input, extra, says)) in cases.iter().enumerate() {
        let out = tmp.path().join(format!("out-{i}.toml"));
        let mut args = vec!["--hsds", s(input), "--out", s(&out)];
        args.extend(extra.iter().copied());
        let (ok, _, stderr) = import(&args);
        assert!(!ok, "{input:?} was accepted");
        assert!(
            stderr.contains(says),
            "{input:?}: {stderr:?} should say {says:?}"
        );
        assert!(!out.exists(), "{input:?}: nothing is written");
    }
    // The unknown term says both ways out, and each works.
    let f = tmp.path().join("f.json");
    let (_, _, stderr) = import(&["--hsds", s(&f), "--out", s(&tmp.path().join("x.toml"))]);
    assert!(
        stderr.contains("--term 'TERM=FIELD'") && stderr.contains("--ignore-unknown-terms"),
        "{stderr}"
    );
    let mapped = tmp.path().join("mapped.toml");
    let (ok, _, stderr) = import(&[
        "--hsds",
        s(&f),
        "--out",
        s(&mapped),
        "--term",
        "Gartenbau=Soziale Teilhabe",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::to_value(&read_services(&mapped)[0].fields).unwrap(),
        json!(["social_participation"])
    );
    let ignored = tmp.path().join("ignored.toml");
    let (ok, stdout, stderr) = import(&[
        "--hsds",
        s(&f),
        "--out",
        s(&ignored),
        "--ignore-unknown-terms",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("taxonomy terms left out: \"Gartenbau\""),
        "{stdout}"
    );
    // An existing file is never overwritten.
    let (ok, _, stderr) = import(&[
        "--hsds",
        s(&f),
        "--out",
        s(&ignored),
        "--ignore-unknown-terms",
    ]);
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
    assert!(
        std::fs::read_to_string(&ignored)
            .unwrap()
            .contains("Gärten")
    );
}
