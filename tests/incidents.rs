//! Incidents on real loopback servers: a router with 30 services behind it, an observer
//! whose own network fails, and the notifications and plans each one causes.

mod common;

use common::*;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use steward::api::Update;

/// Counts what the shells would show: one native notification per `Api::notice`.
struct Notices {
    seen: Arc<parking_lot::Mutex<Vec<(String, String)>>>,
    noticed: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Notices {
    fn watch(s: &Steward) -> Notices {
        let api = s.api().clone();
        let mut rx = api.subscribe();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let noticed = Arc::new(tokio::sync::Notify::new());
        let (out, tell) = (Arc::clone(&seen), Arc::clone(&noticed));
        let task = tokio::spawn(async move {
            while let Ok(u) = rx.recv().await {
                if let Update::Event { event, .. } = u {
                    if let Some(n) = api.notice(&event) {
                        out.lock().push((event.kind().to_owned(), n.title));
                        tell.notify_waiters();
                    }
                }
            }
        });
        Notices {
            seen,
            noticed,
            task,
        }
    }

    /// Waits until this watcher (a task of its own, like a shell's) has shown a notice of
    /// `kind`: the test may learn of the event first.
    async fn shown(&self, kind: &str) {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let noticed = self.noticed.notified();
            tokio::pin!(noticed);
            noticed.as_mut().enable();
            if !self.of(kind).is_empty() {
                return;
            }
            if tokio::time::timeout_at(deadline, noticed).await.is_err() {
                panic!("no {kind} notice within {SOON:?}: {:?}", self.seen.lock());
            }
        }
    }

    fn of(&self, kind: &str) -> Vec<String> {
        self.seen
            .lock()
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, t)| t.clone())
            .collect()
    }

    fn total(&self) -> usize {
        self.seen.lock().len()
    }
}

impl Drop for Notices {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Probes every 300 ms on loopback: trips and recoveries show within moments.
const SOON: Duration = Duration::from_secs(10);

const PROBE: &str = "[probe]\ninterval = \"300ms\"\ntimeout = \"300ms\"\nfailure_threshold = 2\nbackoff = \"30s\"\n\n";

fn planner(dir: &std::path::Path) -> String {
    format!(
        "[planner]\nchain = [\"rules\"]\nactions_dir = \"{}\"\nevents_dir = \"{}\"\n\n",
        dir.join("actions").display(),
        dir.join("events").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_services_behind_a_dead_router_make_one_incident_one_notice_one_proposal() {
    let dir = tempfile::tempdir().unwrap();
    // The router serves its own health and, behind it, 30 services.
    let mut router = Service::start(ok_health()).await;
    let mut cfg = String::from(PROBE) + &planner(dir.path());
    cfg.push_str(&format!(
        "[[providers]]\nid = \"router\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"gateway\"\nservice = \"traefik\"\n\n",
        router.url("/health")
    ));
    for i in 0..30 {
        cfg.push_str(&format!(
            "[[providers]]\nid = \"app{i}\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"node{}\"\nservice = \"app{i}\"\ndepends_on = [\"router\"]\n\n",
            router.url(&format!("/app/{i}")),
            i % 3
        ));
    }
    let cfg = write_config(dir.path(), &cfg);
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    let notices = Notices::watch(&s);
    expect_update(s.api(), "all 31 up", SOON, || async {
        s.all_providers(|p| p["last_outcome"] == "up").await
    })
    .await;

    router.stop();
    expect_update(s.api(), "all 31 open", SOON, || async {
        s.all_providers(|p| p["state"] == "open").await
    })
    .await;
    expect_update(
        s.api(),
        "every dependent is part of the router's incident",
        SOON,
        || async {
            let opened = s.events_of("incident_opened").await;
            let joined = s.events_of("incident_joined").await;
            let listed = opened
                .first()
                .map_or(0, |o| o["data"]["dependents"].as_array().unwrap().len());
            listed + joined.len() == 30
        },
    )
    .await;
    s.api().planning_idle().await;
    let opened = s.events_of("incident_opened").await;
    assert_eq!(opened.len(), 1, "{opened:#?}");
    assert_eq!(opened[0]["provider_id"], "router");
    assert_eq!(
        s.events_of("breaker_opened").await.len(),
        31,
        "every trip is still in the timeline"
    );
    notices.shown("incident_opened").await;
    assert_eq!(notices.of("incident_opened"), ["router is down"]);
    assert_eq!(notices.total(), 1, "{:?}", notices.seen.lock());
    let proposals = s.get("/api/proposals").await;
    let proposals = proposals.as_array().unwrap();
    assert_eq!(proposals.len(), 1, "{proposals:#?}");
    assert_eq!(proposals[0]["node"], "gateway");
    assert_eq!(proposals[0]["service"], "traefik");
    assert_eq!(proposals[0]["source_event"]["channel"], "breaker");
    assert!(!proposals[0]["dependents"].as_array().unwrap().is_empty());
    assert!(!s.get("/api/status").await["observer_degraded"]
        .as_bool()
        .unwrap());

    // Dependents are still probed while the router is down.
    let before = s.provider("app7").await["last_checked_at"].clone();
    router.restart().await;
    expect_update(
        s.api(),
        "one recovery for the whole incident",
        SOON,
        || async { !s.events_of("incident_resolved").await.is_empty() },
    )
    .await;
    expect_update(s.api(), "all 31 closed", SOON, || async {
        s.all_providers(|p| p["state"] == "closed").await
    })
    .await;
    assert_ne!(s.provider("app7").await["last_checked_at"], before);
    let resolved = s.events_of("incident_resolved").await;
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert_eq!(
        resolved[0]["data"]["dependents"].as_array().unwrap().len(),
        30
    );
    assert!(resolved[0]["data"]["still_down"]
        .as_array()
        .unwrap()
        .is_empty());
    notices.shown("incident_resolved").await;
    assert_eq!(notices.of("incident_resolved"), ["router recovered"]);
    assert_eq!(notices.total(), 2, "{:?}", notices.seen.lock());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_with_its_dependency_up_is_its_own_incident_and_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let router = Service::start(ok_health()).await;
    let mut app = Service::start(ok_health()).await;
    let cfg = format!(
        "{PROBE}{}[[providers]]\nid = \"router\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"gateway\"\nservice = \"traefik\"\n\n\
         [[providers]]\nid = \"app\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"piha\"\nservice = \"mosquitto\"\ndepends_on = [\"router\"]\n",
        planner(dir.path()),
        router.url("/health"),
        app.url("/health")
    );
    let s = Steward::start(&write_config(dir.path(), &cfg), &dir.path().join("data")).await;
    let notices = Notices::watch(&s);
    expect_update(s.api(), "up", SOON, || async {
        s.provider("app").await["last_outcome"] == "up"
    })
    .await;
    app.stop();
    expect_update(s.api(), "the app's own incident", SOON, || async {
        !s.events_of("incident_opened").await.is_empty()
    })
    .await;
    assert_eq!(
        s.events_of("incident_opened").await[0]["provider_id"],
        "app"
    );
    expect_update(s.api(), "its proposal", SOON, || async {
        s.get("/api/proposals").await.as_array().unwrap().len() == 1
    })
    .await;
    let p = &s.get("/api/proposals").await[0];
    assert_eq!(
        (p["node"].as_str(), p["service"].as_str()),
        (Some("piha"), Some("mosquitto"))
    );
    assert_eq!(p["type"], "container_restart");
    notices.shown("incident_opened").await;
    assert_eq!(notices.of("incident_opened"), ["app is down"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_most_of_the_fleet_fails_at_once_the_observer_is_suspected_and_nothing_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let mut services = Vec::new();
    let mut cfg = String::from(PROBE) + &planner(dir.path());
    for i in 0..6 {
        let svc = Service::start(ok_health()).await;
        cfg.push_str(&format!(
            "[[providers]]\nid = \"svc{i}\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"node{}\"\nservice = \"svc{i}\"\n\n",
            svc.url("/health"),
            i % 3
        ));
        services.push(svc);
    }
    let s = Steward::start(&write_config(dir.path(), &cfg), &dir.path().join("data")).await;
    let notices = Notices::watch(&s);
    expect_update(s.api(), "all up", SOON, || async {
        s.all_providers(|p| p["last_outcome"] == "up").await
    })
    .await;
    for svc in &mut services {
        svc.stop();
    }
    expect_update(s.api(), "observer degraded", SOON, || async {
        s.get("/api/status").await["observer_degraded"] == true
    })
    .await;
    expect_update(s.api(), "all open", SOON, || async {
        s.all_providers(|p| p["state"] == "open").await
    })
    .await;
    s.api().planning_idle().await;
    assert_eq!(s.events_of("observer_degraded").await.len(), 1);
    notices.shown("observer_degraded").await;
    assert_eq!(notices.of("observer_degraded").len(), 1);
    let detailed = s.get("/api/health/detailed").await;
    assert_eq!(detailed["status"], "degraded");
    assert_eq!(detailed["planner"]["observer_degraded"], true);
    // Trips before the pattern was clear were planned; none after it.
    let planned_before = s.get("/api/proposals").await.as_array().unwrap().len();
    assert!(planned_before < 6, "{planned_before}");
    let r = s
        .post(
            "/api/events",
            serde_json::json!({"type": "service_unhealthy", "node": "piha"}),
        )
        .await;
    let a: Value = r.json().await.unwrap();
    assert_eq!(
        a["decision"], "suppressed",
        "no remediation while the observer is degraded"
    );

    for svc in &mut services {
        svc.restart().await;
    }
    expect_update(s.api(), "observer recovered", SOON, || async {
        !s.events_of("observer_recovered").await.is_empty()
    })
    .await;
    assert_eq!(s.get("/api/status").await["observer_degraded"], false);
    s.stop().await;
}
