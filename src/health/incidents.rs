//! Incidents: one notification and one plan per root cause, not one per symptom.
//!
//! Owns: grouping breaker trips. A provider that declares `depends_on` and trips while a
//! dependency is down joins that dependency's incident; when it trips first (dependents are
//! often probed before their root in the same tick), its trip waits a short grace for the
//! dependency to decide. When a root recovers, its dependents are re-checked and the
//! incident resolves once with the list of who came back; dependents still down then get
//! incidents of their own, so no recovery or failure goes unreported. When most providers
//! across several nodes fail at once, the likely cause is this workstation's own network:
//! one observer incident is raised and no remediation is planned until it clears.
//! Pure: inputs are transitions, probe results and `now`; outputs are `Effect`s that the
//! engine turns into events, notifications, plans and re-probes.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the rules need to know about the fleet.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    pub providers: HashMap<String, Member>,
}

#[derive(Debug, Clone, Default)]
pub struct Member {
    pub node: String,
    pub enabled: bool,
    pub depends_on: Vec<String>,
    /// How long a trip of a dependent waits for this provider to decide.
    pub grace: Duration,
}

impl Fleet {
    /// Every provider `id` depends on, directly or not (config rejects cycles; the walk
    /// is bounded anyway).
    fn ancestors(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack: Vec<String> = self
            .providers
            .get(id)
            .map(|m| m.depends_on.clone())
            .unwrap_or_default();
        while let Some(d) = stack.pop() {
            if seen.insert(d.clone()) {
                if let Some(m) = self.providers.get(&d) {
                    stack.extend(m.depends_on.iter().cloned());
                }
                out.push(d);
            }
        }
        out
    }

    fn enabled(&self) -> usize {
        self.providers.values().filter(|m| m.enabled).count()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A new incident with `root` as its cause: notify once, plan for the root.
    Opened {
        incident_id: String,
        root: String,
        reason: String,
        dependents: Vec<String>,
    },
    /// A dependent joined an open incident: no notification, no plan.
    Joined {
        incident_id: String,
        member: String,
        root: String,
    },
    /// Probe these now (the root came back; are they back too?).
    Recheck(Vec<String>),
    Resolved {
        incident_id: String,
        root: String,
        dependents: Vec<String>,
        still_down: Vec<String>,
        /// Unknown for an outage that began before this run (a restart in between).
        down_for_secs: Option<i64>,
    },
    ObserverDegraded {
        failing: usize,
        total: usize,
        nodes: usize,
    },
    ObserverRecovered,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: String,
    pub root: String,
    pub reason: String,
    pub opened_at: DateTime<Utc>,
    pub dependents: BTreeSet<String>,
    /// Dependents still open once the root closed, and until when we wait for them.
    pub resolving: Option<(DateTime<Utc>, BTreeSet<String>)>,
}

#[derive(Debug, Clone)]
struct Pending {
    at: DateTime<Utc>,
    reason: String,
    deadline: DateTime<Utc>,
}

/// Observer incident: raised when at least this share of enabled providers...
pub const OBSERVER_SHARE: f64 = 0.6;
/// ...and at least this many, on at least `OBSERVER_NODES` nodes, tripped within
/// `OBSERVER_WINDOW` of each other as independent roots.
pub const OBSERVER_MIN: usize = 3;
pub const OBSERVER_NODES: usize = 2;
pub const OBSERVER_WINDOW: Duration = Duration::minutes(2);
/// It clears when fewer than this share are still down.
pub const OBSERVER_CLEAR_SHARE: f64 = 0.3;

#[derive(Debug, Default)]
pub struct Incidents {
    /// Incident per root provider id.
    open: HashMap<String, Incident>,
    /// Dependent → its root.
    member_of: HashMap<String, String>,
    pending: HashMap<String, Pending>,
    /// Latest successful probe per provider.
    last_ok: HashMap<String, DateTime<Utc>>,
    /// Providers whose breaker is open (as far as transitions told us).
    down: HashMap<String, DateTime<Utc>>,
    observer: Option<BTreeSet<String>>,
    seq: u64,
}

impl Incidents {
    pub fn new() -> Incidents {
        Incidents::default()
    }

    pub fn observer_degraded(&self) -> bool {
        self.observer.is_some()
    }

    /// No incident is open or settling and the observer is fine: [`Incidents::tick`] has
    /// nothing to do until a breaker opens.
    pub fn is_quiet(&self) -> bool {
        self.open.is_empty() && self.pending.is_empty() && self.observer.is_none()
    }

    pub fn incidents(&self) -> Vec<&Incident> {
        let mut v: Vec<_> = self.open.values().collect();
        v.sort_by_key(|i| i.opened_at);
        v
    }

    /// The dependents of the incident `root` is the cause of (empty when none is open).
    pub fn dependents_of(&self, root: &str) -> Vec<String> {
        self.open
            .get(root)
            .map(|i| i.dependents.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The root whose incident `id` belongs to (itself when it is a root).
    pub fn root_of(&self, id: &str) -> Option<&str> {
        if self.open.contains_key(id) {
            return Some(&self.open[id].root);
        }
        self.member_of.get(id).map(String::as_str)
    }

    fn next_id(&mut self, root: &str, now: DateTime<Utc>) -> String {
        self.seq += 1;
        format!("inc-{root}-{}-{}", now.timestamp(), self.seq)
    }

    /// A breaker opened (a fresh trip, not a failed half-open trial).
    pub fn on_opened(
        &mut self,
        fleet: &Fleet,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        self.down.insert(id.to_owned(), now);
        if let Some(members) = &mut self.observer {
            members.insert(id.to_owned());
            return Vec::new();
        }
        if self.open.contains_key(id) || self.member_of.contains_key(id) {
            return Vec::new();
        }
        let ancestors = fleet.ancestors(id);
        // Down dependency with an incident: join it.
        if let Some(root) = ancestors
            .iter()
            .find_map(|a| self.root_of(a).map(str::to_owned))
        {
            return self.join(id, &root);
        }
        if !ancestors.is_empty() {
            // Wait for the dependencies to decide.
            let grace = ancestors
                .iter()
                .filter_map(|a| fleet.providers.get(a))
                .map(|m| m.grace)
                .max()
                .unwrap_or(Duration::zero());
            self.pending.insert(
                id.to_owned(),
                Pending {
                    at: now,
                    reason: reason.to_owned(),
                    deadline: now + grace,
                },
            );
            return Vec::new();
        }
        if let Some(e) = self.check_observer(fleet, id, now) {
            return e;
        }
        self.open_incident(fleet, id, reason, now)
    }

    fn join(&mut self, id: &str, root: &str) -> Vec<Effect> {
        let Some(inc) = self.open.get_mut(root) else {
            return Vec::new();
        };
        inc.dependents.insert(id.to_owned());
        self.member_of.insert(id.to_owned(), root.to_owned());
        vec![Effect::Joined {
            incident_id: inc.id.clone(),
            member: id.to_owned(),
            root: root.to_owned(),
        }]
    }

    fn open_incident(
        &mut self,
        fleet: &Fleet,
        root: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        let incident_id = self.next_id(root, now);
        // Pending dependents of this root join at once.
        let waiting: Vec<String> = self
            .pending
            .keys()
            .filter(|p| fleet.ancestors(p).iter().any(|a| a == root))
            .cloned()
            .collect();
        let mut dependents = BTreeSet::new();
        for p in waiting {
            self.pending.remove(&p);
            self.member_of.insert(p.clone(), root.to_owned());
            dependents.insert(p);
        }
        self.open.insert(
            root.to_owned(),
            Incident {
                id: incident_id.clone(),
                root: root.to_owned(),
                reason: reason.to_owned(),
                opened_at: now,
                dependents: dependents.clone(),
                resolving: None,
            },
        );
        vec![Effect::Opened {
            incident_id,
            root: root.to_owned(),
            reason: reason.to_owned(),
            dependents: dependents.into_iter().collect(),
        }]
    }

    /// Independent roots that went down within the window, and on how many nodes.
    fn check_observer(
        &mut self,
        fleet: &Fleet,
        id: &str,
        now: DateTime<Utc>,
    ) -> Option<Vec<Effect>> {
        let recent: Vec<&String> = self
            .down
            .iter()
            .filter(|(p, at)| {
                now - **at <= OBSERVER_WINDOW
                    && !self.member_of.contains_key(*p)
                    && fleet
                        .providers
                        .get(*p)
                        .is_some_and(|m| m.depends_on.is_empty() || *p == id)
            })
            .map(|(p, _)| p)
            .collect();
        let total = fleet.enabled();
        let nodes: HashSet<&str> = recent
            .iter()
            .filter_map(|p| fleet.providers.get(*p).map(|m| m.node.as_str()))
            .collect();
        let enough = recent.len() >= OBSERVER_MIN
            && recent.len() as f64 >= OBSERVER_SHARE * total as f64
            && nodes.len() >= OBSERVER_NODES;
        if !enough {
            return None;
        }
        let failing = self.down.len();
        let members: BTreeSet<String> = self.down.keys().cloned().collect();
        self.observer = Some(members);
        self.pending.clear();
        Some(vec![Effect::ObserverDegraded {
            failing,
            total,
            nodes: nodes.len(),
        }])
    }

    /// A breaker closed.
    pub fn on_closed(&mut self, fleet: &Fleet, id: &str, now: DateTime<Utc>) -> Vec<Effect> {
        self.down.remove(id);
        let was_pending = self.pending.remove(id).is_some();
        self.last_ok.insert(id.to_owned(), now);
        let mut effects = Vec::new();
        if let Some(members) = &mut self.observer {
            members.remove(id);
            let still = members.len();
            if (still as f64) < OBSERVER_CLEAR_SHARE * fleet.enabled() as f64 || still == 0 {
                self.observer = None;
                effects.push(Effect::ObserverRecovered);
                // Whoever is still down is judged on its own again.
                let left: Vec<(String, DateTime<Utc>)> =
                    self.down.iter().map(|(k, v)| (k.clone(), *v)).collect();
                for (p, _) in left {
                    effects.extend(self.on_opened(
                        fleet,
                        &p,
                        "still down after the observer recovered",
                        now,
                    ));
                }
            }
            return effects;
        }
        if let Some(inc) = self.open.get_mut(id) {
            let still: BTreeSet<String> = inc
                .dependents
                .iter()
                .filter(|d| self.down.contains_key(*d))
                .cloned()
                .collect();
            if still.is_empty() {
                effects.extend(self.resolve(fleet, id, now));
            } else {
                let grace = still
                    .iter()
                    .filter_map(|d| fleet.providers.get(d))
                    .map(|m| m.grace)
                    .max()
                    .unwrap_or(Duration::zero());
                inc.resolving = Some((now + grace.max(Duration::seconds(1)), still.clone()));
                effects.push(Effect::Recheck(still.into_iter().collect()));
            }
            return effects;
        }
        if let Some(root) = self.member_of.get(id).cloned() {
            if let Some(inc) = self.open.get_mut(&root) {
                if let Some((_, still)) = &mut inc.resolving {
                    still.remove(id);
                    if still.is_empty() {
                        effects.extend(self.resolve(fleet, &root, now));
                    }
                }
            }
            return effects;
        }
        if !was_pending {
            // An outage this run never saw begin (it was open before a restart): its
            // recovery is still told.
            effects.push(Effect::Resolved {
                incident_id: self.next_id(id, now),
                root: id.to_owned(),
                dependents: Vec::new(),
                still_down: Vec::new(),
                down_for_secs: None,
            });
        }
        effects
    }

    fn resolve(&mut self, fleet: &Fleet, root: &str, now: DateTime<Utc>) -> Vec<Effect> {
        let Some(inc) = self.open.remove(root) else {
            return Vec::new();
        };
        for d in &inc.dependents {
            self.member_of.remove(d);
        }
        let still_down: Vec<String> = inc
            .dependents
            .iter()
            .filter(|d| self.down.contains_key(*d))
            .cloned()
            .collect();
        let mut effects = vec![Effect::Resolved {
            incident_id: inc.id.clone(),
            root: root.to_owned(),
            dependents: inc.dependents.iter().cloned().collect(),
            still_down: still_down.clone(),
            down_for_secs: Some((now - inc.opened_at).num_seconds()),
        }];
        for d in still_down {
            effects.extend(self.open_incident(
                fleet,
                &d,
                &format!("still down after {root} recovered"),
                now,
            ));
        }
        effects
    }

    /// A probe succeeded (releases trips waiting on this dependency).
    pub fn on_probe_ok(&mut self, id: &str, now: DateTime<Utc>) {
        self.last_ok.insert(id.to_owned(), now);
    }

    /// Deadlines: pending trips whose dependencies stayed up become incidents; resolving
    /// incidents whose dependents did not come back resolve with them listed.
    pub fn tick(&mut self, fleet: &Fleet, now: DateTime<Utc>) -> Vec<Effect> {
        let mut effects = Vec::new();
        let ready: Vec<(String, Pending)> = self
            .pending
            .iter()
            .filter(|(id, p)| {
                let deps_up = fleet.providers.get(*id).is_some_and(|m| {
                    m.depends_on
                        .iter()
                        .all(|d| self.last_ok.get(d).is_some_and(|t| *t > p.at))
                });
                p.deadline <= now || deps_up
            })
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        for (id, p) in ready {
            self.pending.remove(&id);
            if !self.down.contains_key(&id) {
                continue;
            }
            if let Some(e) = self.check_observer(fleet, &id, now) {
                effects.extend(e);
                continue;
            }
            effects.extend(self.open_incident(fleet, &id, &p.reason, now));
        }
        let due: Vec<String> = self
            .open
            .values()
            .filter(|i| i.resolving.as_ref().is_some_and(|(d, _)| *d <= now))
            .map(|i| i.root.clone())
            .collect();
        for root in due {
            effects.extend(self.resolve(fleet, &root, now));
        }
        effects
    }

    /// Forgets providers that are no longer configured.
    pub fn retain(&mut self, fleet: &Fleet) {
        let known = |id: &String| fleet.providers.contains_key(id);
        self.down.retain(|k, _| known(k));
        self.pending.retain(|k, _| known(k));
        self.last_ok.retain(|k, _| known(k));
        self.member_of.retain(|k, v| known(k) && known(v));
        self.open.retain(|k, _| known(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap() + Duration::seconds(s)
    }

    /// A router on node "net" with `n` dependents spread over three nodes, and `others`
    /// independent providers.
    fn fleet(n: usize, others: usize) -> Fleet {
        let mut f = Fleet::default();
        let member = |node: &str, deps: Vec<String>| Member {
            node: node.into(),
            enabled: true,
            depends_on: deps,
            grace: Duration::seconds(10),
        };
        f.providers.insert("router".into(), member("net", vec![]));
        for i in 0..n {
            f.providers.insert(
                format!("dep{i}"),
                member(&format!("n{}", i % 3), vec!["router".into()]),
            );
        }
        for i in 0..others {
            f.providers
                .insert(format!("svc{i}"), member(&format!("m{i}"), vec![]));
        }
        f
    }

    fn count(effects: &[Effect], f: impl Fn(&Effect) -> bool) -> usize {
        effects.iter().filter(|e| f(e)).count()
    }

    #[test]
    fn a_lone_trip_opens_its_own_incident() {
        let f = fleet(0, 5);
        let mut i = Incidents::new();
        let e = i.on_opened(&f, "svc0", "connection refused", t(0));
        assert!(
            matches!(&e[..], [Effect::Opened { root, dependents, .. }] if root == "svc0" && dependents.is_empty())
        );
        let e = i.on_closed(&f, "svc0", t(60));
        assert!(
            matches!(&e[..], [Effect::Resolved { root, down_for_secs: Some(60), .. }] if root == "svc0")
        );
    }

    #[test]
    fn thirty_dependents_of_a_dead_router_make_one_incident_in_any_order() {
        let f = fleet(30, 2);
        let mut i = Incidents::new();
        let mut effects = Vec::new();
        // Half the dependents are seen before the router, half after.
        for d in 0..15 {
            effects.extend(i.on_opened(&f, &format!("dep{d}"), "refused", t(0)));
        }
        effects.extend(i.on_opened(&f, "router", "refused", t(1)));
        for d in 15..30 {
            effects.extend(i.on_opened(&f, &format!("dep{d}"), "refused", t(1)));
        }
        effects.extend(i.tick(&f, t(30)));
        assert_eq!(
            count(&effects, |e| matches!(e, Effect::Opened { .. })),
            1,
            "{effects:?}"
        );
        assert_eq!(count(&effects, |e| matches!(e, Effect::Joined { .. })), 15);
        let Effect::Opened { dependents, .. } = &effects[0] else {
            panic!()
        };
        assert_eq!(
            dependents.len(),
            15,
            "the ones seen first are listed at once"
        );
        assert!(
            !i.observer_degraded(),
            "dependents are not independent failures"
        );

        // The router comes back: dependents are re-checked, then one resolution.
        let e = i.on_closed(&f, "router", t(100));
        let Effect::Recheck(ids) = &e[0] else {
            panic!("{e:?}")
        };
        assert_eq!(ids.len(), 30);
        let mut effects = Vec::new();
        for d in 0..30 {
            effects.extend(i.on_closed(&f, &format!("dep{d}"), t(101)));
        }
        assert_eq!(effects.len(), 1, "{effects:?}");
        assert!(
            matches!(&effects[0], Effect::Resolved { dependents, still_down, .. } if dependents.len() == 30 && still_down.is_empty())
        );
        assert!(i.incidents().is_empty());
    }

    #[test]
    fn a_dependent_still_down_after_its_root_recovers_gets_its_own_incident() {
        let f = fleet(2, 0);
        let mut i = Incidents::new();
        i.on_opened(&f, "router", "refused", t(0));
        i.on_opened(&f, "dep0", "refused", t(0));
        i.on_opened(&f, "dep1", "refused", t(0));
        i.on_closed(&f, "router", t(50));
        i.on_closed(&f, "dep0", t(51));
        let e = i.tick(&f, t(70));
        assert!(
            matches!(&e[0], Effect::Resolved { still_down, .. } if still_down == &["dep1".to_owned()]),
            "{e:?}"
        );
        assert!(
            matches!(&e[1], Effect::Opened { root, .. } if root == "dep1"),
            "{e:?}"
        );
        let e = i.on_closed(&f, "dep1", t(90));
        assert!(
            matches!(&e[..], [Effect::Resolved { root, .. }] if root == "dep1"),
            "recoveries are never lost"
        );
    }

    #[test]
    fn a_dependent_whose_root_stays_up_gets_its_own_incident() {
        let f = fleet(1, 0);
        let mut i = Incidents::new();
        assert!(
            i.on_opened(&f, "dep0", "500", t(0)).is_empty(),
            "waits for the router"
        );
        i.on_probe_ok("router", t(2));
        let e = i.tick(&f, t(2));
        assert!(
            matches!(&e[..], [Effect::Opened { root, .. }] if root == "dep0"),
            "{e:?}"
        );
        // Without a probe of the router, the grace decides.
        let mut i = Incidents::new();
        i.on_opened(&f, "dep0", "500", t(0));
        assert!(i.tick(&f, t(5)).is_empty());
        assert_eq!(i.tick(&f, t(10)).len(), 1);
    }

    #[test]
    fn most_providers_on_several_nodes_failing_at_once_blame_the_observer() {
        let f = fleet(0, 6);
        let mut i = Incidents::new();
        let mut effects = Vec::new();
        for s in 0..6 {
            effects.extend(i.on_opened(&f, &format!("svc{s}"), "timeout", t(s)));
        }
        assert_eq!(
            count(&effects, |e| matches!(e, Effect::ObserverDegraded { .. })),
            1,
            "{effects:?}"
        );
        assert!(i.observer_degraded());
        // 7 providers (the router too): the fifth trip makes 60 %. The first four were
        // incidents before the pattern was clear; later ones are not.
        assert_eq!(count(&effects, |e| matches!(e, Effect::Opened { .. })), 4);
        let mut effects = Vec::new();
        for s in 0..5 {
            effects.extend(i.on_closed(&f, &format!("svc{s}"), t(60)));
        }
        assert_eq!(
            count(&effects, |e| *e == Effect::ObserverRecovered),
            1,
            "{effects:?}"
        );
        assert!(!i.observer_degraded());
        assert_eq!(
            count(
                &effects,
                |e| matches!(e, Effect::Opened { root, .. } if root == "svc5")
            ),
            1
        );
    }

    #[test]
    fn a_recovery_from_an_outage_that_began_before_a_restart_is_still_told() {
        let f = fleet(0, 1);
        let mut i = Incidents::new();
        let e = i.on_closed(&f, "svc0", t(0));
        assert!(
            matches!(&e[..], [Effect::Resolved { root, down_for_secs: None, .. }] if root == "svc0"),
            "{e:?}"
        );
        // A trip still waiting for its dependency that recovers is not news.
        let f = fleet(1, 0);
        i.on_opened(&f, "dep0", "500", t(0));
        assert!(i.on_closed(&f, "dep0", t(1)).is_empty());
    }

    #[test]
    fn trips_spread_over_time_are_not_the_observer() {
        let f = fleet(0, 4);
        let mut i = Incidents::new();
        let mut effects = Vec::new();
        for s in 0..4 {
            effects.extend(i.on_opened(&f, &format!("svc{s}"), "timeout", t(s * 600)));
        }
        assert!(!i.observer_degraded());
        assert_eq!(count(&effects, |e| matches!(e, Effect::Opened { .. })), 4);
    }
}
