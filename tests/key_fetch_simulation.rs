//! A deterministic simulation of remote-key fetching in one Envoy process: several instances of
//! the core's key fetcher (the VMs: one per worker thread and the main thread) over one
//! in-memory shared store with compare-and-swap, a clock that moves only from event to event,
//! and a scripted identity provider (slow, failing, rotating, losing callbacks, discovering,
//! withdrawing its keys). Requests go through the real authenticator with tokens signed here
//! (Ed25519, ring), exactly as a host drives them: decide, hold when told to, decide again when
//! released.
//!
//! Concurrency is modelled, not left out: the VMs whose ticks fall on the same millisecond run
//! at once, so each one reads a record as it was at the start of that millisecond until it
//! tries to write it (a compare-and-swap against a record another VM wrote meanwhile fails, and
//! a record both found absent is created by both, as proxy-wasm's shared data allows).

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use jwt_gate::authenticator::key_fetcher;
use jwt_gate::authenticator::token_cache::TokenCache;
use jwt_gate::keys::fetcher::KeyFetcher;
use jwt_gate::keys::held::{Released, RequestId};
use jwt_gate::keys::host::{
    Cas, FetchId, KeyHost, KeyStat, LogLevel, SharedStore, StoreError, Stored,
};
use jwt_gate::keys::memory_store::MemoryStore;
use jwt_gate::keys::record::{namespace, FetchState, KeyRecord, RecordKeys};
use jwt_gate::keys::remote::{check_response, FetchError, HttpUri};
use jwt_gate::limits::Limits;
use jwt_gate::verify::RingVerifier;
use jwt_gate::{authenticate, Config, Decision, Request, Time};

/// How often each VM ticks (the proxy-wasm adapter's period).
const TICK: Duration = Duration::from_millis(200);
/// The simulation's epoch.
const T0: Time = Time::from_millis(1_800_000_000_000);
const ISSUER: &str = "https://idp.test";
/// `http_uri.timeout`.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a request may be held: twice the timeout plus 1.5 s (docs/configuration.md).
const HOLD: Duration = Duration::from_millis(3_500);
/// `cache_duration`, and the refresh a tenth of it early.
const CACHE: Duration = Duration::from_secs(60);
const REFRESH: Duration = Duration::from_secs(54);
/// `max_stale`.
const MAX_STALE: Duration = Duration::from_secs(120);
/// `kid_refetch_interval`.
const KID_REFETCH: Duration = Duration::from_secs(30);

const FETCH_FAILED: &str = "Jwks remote fetch is failed";
const NO_KEY: &str = "Jwks doesn't have key to match kid or alg from Jwt";

// --- The scenarios ---------------------------------------------------------------------------

/// Four VMs tick at the same instants for ten minutes: they all create the fetch state at once
/// (no create-if-absent), yet one fetch starts; then exactly one fetch per refresh, for the
/// whole process, every VM serving each new version.
#[test]
fn one_fetch_per_refresh_per_process() {
    let mut sim = Sim::new(jwks_provider(), &[0, 0, 0, 0]);
    sim.issuer.latency = Duration::from_millis(100);
    let first: Vec<usize> = (0..4).map(|vm| sim.request(vm, &token("k1"))).collect();
    let end = at(600_000);
    let mut requests = Vec::new();
    let mut time = at(1_000);
    while time < end {
        sim.run_until(time);
        requests.push(sim.request(requests.len() % 4, &token("k1")));
        time = time.saturating_add(Duration::from_secs(5));
    }
    sim.run_until(end);

    let fetches = sim.issuer.times("/jwks");
    assert!(
        fetches[0] <= at(300),
        "the first fetch starts at once: {fetches:?}"
    );
    for pair in fetches.windows(2) {
        let gap = pair[1].since(pair[0]);
        assert!(
            gap >= REFRESH && gap <= REFRESH + TICK + Duration::from_millis(100),
            "one fetch per refresh, none early, none doubled: {gap:?} in {fetches:?}"
        );
    }
    assert!(end.since(*fetches.last().unwrap()) < REFRESH + TICK);
    assert_eq!(fetches.len(), 12);
    assert_eq!(
        sim.total(|vm| vm.succeeded),
        12,
        "counted once, by the VM that fetched"
    );
    assert_eq!(sim.total(|vm| vm.failed), 0);
    for vm in &sim.vms {
        assert_eq!(
            vm.gauges.get(&0).map(|g| g.0),
            Some(1),
            "every VM has the keys"
        );
    }
    for request in first.into_iter().chain(requests) {
        assert_eq!(sim.answer(request).status, 200, "request {request}");
    }
    let held = sim.answer(0);
    assert!(
        held.at <= at(500),
        "the first requests waited for the first fetch only"
    );
}

/// A key rotated in is picked up by the refetch an unknown `kid` asks for, at most once per
/// `kid_refetch_interval` for the whole process; within the interval, unknown kids are
/// answered at once (a flood of made-up kids is no flood of fetches).
#[test]
fn rotation_is_picked_up_through_the_rate_limited_refetch() {
    let sim = rotation();
    let fetches = sim.issuer.times("/jwks");
    assert_eq!(fetches.len(), 3, "{fetches:?}");
    let rotated = sim.answer(sim.marks["k2"]);
    assert_eq!(rotated.status, 200);
    assert!(rotated.at <= at(5_000).saturating_add(Duration::from_millis(600)));
    let limited = sim.answer(sim.marks["k3 early"]);
    assert_eq!((limited.status, limited.body.as_str()), (401, NO_KEY));
    assert_eq!(limited.at, at(8_000), "answered at once, not held");
    for request in sim.marks["flood"]..sim.marks["flood end"] {
        let answer = sim.answer(request);
        assert_eq!((answer.status, answer.body.as_str()), (401, NO_KEY));
        assert_eq!(answer.at, at(9_000));
    }
    let later = sim.answer(sim.marks["k3 later"]);
    assert_eq!(later.status, 200, "a new interval allows a new refetch");
    assert!(fetches[2] >= fetches[1].saturating_add(KID_REFETCH));
    assert!(fetches[2] <= at(36_000));
}

/// The same scenario twice gives the same run, event for event.
#[test]
fn the_simulation_is_deterministic() {
    assert_eq!(rotation().trace(), rotation().trace());
}

/// While the issuer fails (503, garbage, lost callbacks, slower than the timeout), attempts
/// back off exponentially, once per step for the whole process, and the last good keys serve
/// up to `cache_duration + max_stale` after they were fetched, to the millisecond, and not
/// beyond; once the issuer heals, the next attempt brings keys back.
#[test]
fn stale_keys_serve_through_an_outage_up_to_the_bound_and_not_beyond() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100]);
    sim.issuer.latency = Duration::from_millis(50);
    sim.run_until(at(10_000));
    let fetched_at = sim.key_record(0).unwrap().fetched_at;
    let usable_until = fetched_at.saturating_add(CACHE + MAX_STALE);
    let phases = [
        (at(10_000), Behaviour::Status(503)),
        (at(90_000), Behaviour::Garbage),
        (at(120_000), Behaviour::Lost),
        (at(160_000), Behaviour::Slow),
        (at(200_000), Behaviour::Healthy),
    ];
    // A request every 500 ms, and one at each side of the bound.
    let mut times: Vec<Time> = (20..410).map(|n| at(n * 500)).collect();
    times.extend([
        usable_until,
        usable_until.saturating_add(Duration::from_millis(1)),
    ]);
    times.sort();
    let mut checks = Vec::new();
    for time in times {
        if let Some((_, behaviour)) = phases.iter().rev().find(|(start, _)| *start <= time) {
            sim.issuer.behaviour = *behaviour;
        }
        sim.run_until(time);
        checks.push((time, sim.request(checks.len() % 2, &token("k1"))));
    }
    sim.run_until(at(215_000));
    let recovered = sim.request(1, &token("k1"));
    sim.run_until(at(216_000));

    for (time, request) in checks {
        let answer = sim.answer(request);
        if time <= usable_until {
            assert_eq!(answer.status, 200, "stale keys serve at {time:?}");
        } else if time < at(200_000) {
            assert_eq!(
                (answer.status, answer.body.as_str()),
                (401, FETCH_FAILED),
                "not beyond the bound, at {time:?}"
            );
        }
    }
    assert_eq!(sim.answer(recovered).status, 200, "the issuer healed");

    // The first five attempts of the outage: 1, 2, 4, 8, 8 s apart (plus the response time and
    // up to a tick), however many VMs there are.
    let attempts: Vec<Time> = sim
        .issuer
        .times("/jwks")
        .into_iter()
        .filter(|time| *time > at(10_000))
        .collect();
    let delays = [1, 2, 4, 8, 8].map(Duration::from_secs);
    for (pair, delay) in attempts.windows(2).zip(delays) {
        let gap = pair[1].since(pair[0]);
        assert!(
            gap >= delay && gap <= delay + TICK + Duration::from_millis(150),
            "{gap:?} after a failure, {delay:?} expected: {attempts:?}"
        );
    }
    for reason in [
        "providers.idp: key fetch from https://idp.test/jwks via cluster idp failed (attempt 1): HTTP status 503; keeping 1 key(s) fetched 54 s ago",
        "unusable key set",
        "no response (connection failure, reset or timeout)",
        "HTTP status 504",
    ] {
        assert!(
            sim.warnings("key fetch from")
                .iter()
                .any(|line| line.contains(reason)),
            "{reason}"
        );
    }
    assert_eq!(
        sim.total(|vm| vm.succeeded),
        2,
        "the first fetch and the healed one"
    );
    assert_eq!(
        sim.total(|vm| vm.failed),
        sim.issuer.times("/jwks").len() - 2,
        "every failed attempt counted once (lost ones once given up on)"
    );
}

/// A fetch slower than its timeout fails; the requests held for it are answered then, well
/// before their deadline, and later ones at once.
#[test]
fn a_slow_issuer_fails_held_requests_before_their_deadline() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100]);
    sim.issuer.behaviour = Behaviour::Slow;
    sim.run_until(at(10));
    let held = [sim.request(0, &token("k1")), sim.request(1, &token("k1"))];
    sim.run_until(at(2_000));
    let later = sim.request(0, &token("k1"));
    sim.run_until(at(3_000));
    for request in held.into_iter().chain([later]) {
        let answer = sim.answer(request);
        assert_eq!((answer.status, answer.body.as_str()), (401, FETCH_FAILED));
        assert!(answer.at <= at(10).saturating_add(HOLD), "{answer:?}");
    }
    assert!(
        sim.answer(held[0]).at >= at(1_000),
        "held until the fetch failed"
    );
    assert_eq!(
        sim.answer(later).at,
        at(2_000),
        "a failed fetch and no keys: at once"
    );
    assert!(!sim.warnings("HTTP status 504").is_empty());
}

/// Requests that arrive before the first key set wait for it and pass when it comes.
#[test]
fn held_requests_are_released_when_the_keys_arrive() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100, 150]);
    sim.issuer.latency = Duration::from_millis(800);
    sim.run_until(at(10));
    let held: Vec<usize> = (0..3).map(|vm| sim.request(vm, &token("k1"))).collect();
    sim.run_until(at(1_500));
    for request in held {
        let answer = sim.answer(request);
        assert_eq!(answer.status, 200);
        assert!(
            answer.at >= at(1_000) && answer.at < at(1_400),
            "{answer:?}"
        );
    }
}

/// At most `max_held_requests` wait per VM; the next request is answered at once, whether it
/// would wait for the first keys or for a kid refetch.
#[test]
fn held_requests_are_bounded() {
    let limits = Limits {
        max_held_requests: 2,
        ..Limits::DEFAULT
    };
    let mut sim = Sim::with_limits(jwks_provider(), &[0], limits);
    sim.issuer.latency = Duration::from_millis(800);
    sim.run_until(at(10));
    let first: Vec<usize> = (0..3).map(|_| sim.request(0, &token("k1"))).collect();
    let over = sim.answer(first[2]);
    assert_eq!(
        (over.status, over.body.as_str(), over.at),
        (401, FETCH_FAILED, at(10))
    );
    sim.run_until(at(2_000));
    sim.issuer.published = vec!["k1", "k2"];
    let rotated: Vec<usize> = (0..3).map(|_| sim.request(0, &token("k2"))).collect();
    let over = sim.answer(rotated[2]);
    assert_eq!(
        (over.status, over.body.as_str(), over.at),
        (401, NO_KEY, at(2_000))
    );
    sim.run_until(at(4_000));
    for request in [first[0], first[1], rotated[0], rotated[1]] {
        assert_eq!(sim.answer(request).status, 200, "request {request}");
    }
}

/// A response that never comes (a lost callback) does not hold requests past their deadline,
/// and does not stop fetching: the fetch is declared lost after its timeout plus 5 s, counted
/// as a failure, and the fetches go on.
#[test]
fn lost_callbacks_fail_held_requests_at_their_deadline_and_fetching_goes_on() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100]);
    sim.issuer.behaviour = Behaviour::Lost;
    sim.run_until(at(10));
    let held = [sim.request(0, &token("k1")), sim.request(1, &token("k1"))];
    sim.run_until(at(8_000));
    for request in held {
        let answer = sim.answer(request);
        assert_eq!((answer.status, answer.body.as_str()), (401, FETCH_FAILED));
        let deadline = at(10).saturating_add(HOLD);
        assert!(
            answer.at >= deadline && answer.at <= deadline.saturating_add(TICK),
            "failed at its deadline: {answer:?}"
        );
    }
    let lost = sim.warnings("no response (connection failure, reset or timeout)");
    assert!(!lost.is_empty(), "declared lost");
    assert!(sim.total(|vm| vm.failed) >= 1);
    let attempts = sim.issuer.times("/jwks");
    for pair in attempts.windows(2) {
        assert!(
            pair[1].since(pair[0]) >= Duration::from_secs(1),
            "one attempt per lease or backoff: {attempts:?}"
        );
    }
    // A VM never has two fetches of a provider in flight: its next one waits until it gave up
    // on the lost one (timeout + 5 s), even when the lease ran out before.
    for vm in 0..2 {
        let own: Vec<Time> = sim
            .issuer
            .received
            .iter()
            .filter(|r| r.vm == vm)
            .map(|r| r.at)
            .collect();
        for pair in own.windows(2) {
            assert!(
                pair[1].since(pair[0]) > TIMEOUT + Duration::from_secs(5),
                "VM {vm}: {own:?}"
            );
        }
    }
    sim.issuer.behaviour = Behaviour::Healthy;
    sim.run_until(at(30_000));
    let after = sim.request(1, &token("k1"));
    assert_eq!(sim.answer(after).status, 200, "fetching went on");
}

/// While fetches back off and the next attempt could not answer before a request's deadline,
/// an unknown `kid` is answered at once; when the next attempt is near, it waits for it (and
/// is answered by its deadline either way).
#[test]
fn an_unknown_kid_during_backoff_is_answered_at_once() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100]);
    sim.issuer.latency = Duration::from_millis(50);
    sim.run_until(at(10_000));
    sim.issuer.behaviour = Behaviour::Status(503);
    // The refresh at about 54 s fails, then the attempts 1, 2 and 4 s later: the next is 8 s off.
    let mut time = at(54_000);
    let far = loop {
        sim.run_until(time);
        // Four failures (the next attempt 8 s after the last), the last one a tick ago at least
        // (every VM has read it), the next attempt more than 3 s away.
        let state = sim.fetch_state(0);
        let failed_at = state.next_attempt.saturating_sub(Duration::from_secs(8));
        if state.failures >= 4
            && failed_at.saturating_add(TICK) <= time
            && state.next_attempt.since(time) > Duration::from_secs(3)
        {
            break time;
        }
        time = time.saturating_add(Duration::from_millis(100));
        assert!(time < at(90_000), "the backoff never grew");
    };
    let attempts = sim.issuer.times("/jwks").len();
    let at_once = sim.request(1, &token("k9"));
    let answer = sim.answer(at_once);
    assert_eq!(
        (answer.status, answer.body.as_str(), answer.at),
        (401, NO_KEY, far)
    );
    let next_attempt = sim.fetch_state(0).next_attempt;
    sim.run_until(next_attempt.saturating_sub(Duration::from_secs(2)));
    let near = sim.now;
    let waits = sim.request(0, &token("k9"));
    assert!(
        sim.requests[waits].answer.is_none(),
        "held for the attempt 2 s away"
    );
    sim.run_until(near.saturating_add(HOLD + TICK));
    let answer = sim.answer(waits);
    assert_eq!((answer.status, answer.body.as_str()), (401, NO_KEY));
    assert!(answer.at <= near.saturating_add(HOLD + TICK));
    assert_eq!(
        sim.issuer.times("/jwks").len(),
        attempts + 1,
        "no fetch of its own: the attempt that was due"
    );
}

/// A VM that vanishes while it holds the fetch lease does not stop the process from getting
/// keys: the lease runs out and another VM fetches.
#[test]
fn the_lease_passes_on_when_its_vm_vanishes_mid_fetch() {
    let mut sim = Sim::new(jwks_provider(), &[0, 50, 100]);
    sim.issuer.latency = Duration::from_millis(500);
    sim.run_until(at(250));
    let started = sim.issuer.received.clone();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].vm, 0);
    sim.vanish(0);
    sim.run_until(at(1_000));
    let held = sim.request(1, &token("k1"));
    sim.run_until(at(6_000));
    let fetches = &sim.issuer.received;
    assert_eq!(fetches.len(), 2, "{fetches:?}");
    let lease_until = at(0).saturating_add(TIMEOUT * 2 + Duration::from_secs(1));
    assert_ne!(fetches[1].vm, 0);
    assert!(fetches[1].at >= lease_until && fetches[1].at <= lease_until.saturating_add(TICK));
    let answer = sim.answer(held);
    assert_eq!(answer.status, 200);
    assert!(answer.at <= at(1_000).saturating_add(HOLD));
    assert_eq!(sim.vms[2].gauges.get(&0).map(|g| g.0), Some(1));
}

/// Without `http_uri.uri`, the key set's address comes from the issuer's discovery document:
/// two requests, once per process.
#[test]
fn discovery_then_jwks_once_per_process() {
    let mut sim = Sim::new(discovery_provider(), &[0, 70, 140]);
    sim.issuer.latency = Duration::from_millis(100);
    sim.run_until(at(10));
    let held = sim.request(2, &token("k1"));
    sim.run_until(at(5_000));
    let paths: Vec<&str> = sim
        .issuer
        .received
        .iter()
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(paths, ["/.well-known/openid-configuration", "/jwks"]);
    assert_eq!(sim.answer(held).status, 200);
    assert_eq!(
        sim.logs(LogLevel::Info, "discovered jwks_uri https://idp.test/jwks")
            .len(),
        1
    );
}

/// A discovery document that names another issuer is not used: no key set is fetched from it,
/// and requests fail instead of verifying with another tenant's keys.
#[test]
fn a_discovery_document_naming_another_issuer_is_refused() {
    let mut sim = Sim::new(discovery_provider(), &[0, 70]);
    sim.issuer.discovery_issuer = "https://idp.test/tenant-b".to_owned();
    sim.run_until(at(10));
    let held = sim.request(1, &token("k1"));
    sim.run_until(at(5_000));
    assert!(sim.issuer.times("/jwks").is_empty());
    let answer = sim.answer(held);
    assert_eq!((answer.status, answer.body.as_str()), (401, FETCH_FAILED));
    let warning = &sim.warnings("key fetch from")[0];
    assert!(
        warning.contains("the OpenID discovery document's issuer \"https://idp.test/tenant-b\" is not the configured issuer \"https://idp.test\""),
        "{warning}"
    );
}

/// A well-formed key set without keys replaces the keys at the next refresh: tokens that
/// verified before (and sit in the verified-token cache) stop passing.
#[test]
fn an_empty_key_set_withdraws_the_keys() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100]);
    sim.run_until(at(5_000));
    let before = [sim.request(0, &token("k1")), sim.request(1, &token("k1"))];
    sim.issuer.published.clear();
    sim.run_until(at(60_000));
    // Their kid is now unknown: they wait for one refetch (still empty), then fail.
    let after = [sim.request(0, &token("k1")), sim.request(1, &token("k1"))];
    sim.run_until(at(65_000));
    for request in before {
        assert_eq!(sim.answer(request).status, 200);
    }
    for request in after {
        let answer = sim.answer(request);
        assert_eq!((answer.status, answer.body.as_str()), (401, NO_KEY));
    }
    assert_eq!(
        sim.issuer.times("/jwks").len(),
        3,
        "first, refresh, kid refetch"
    );
    assert_eq!(
        sim.total(|vm| vm.succeeded),
        3,
        "an empty key set is a successful fetch"
    );
    assert_eq!(sim.total(|vm| vm.failed), 0);
    assert_eq!(sim.warnings("has no usable key").len(), 2);
    for vm in &sim.vms {
        assert_eq!(vm.gauges.get(&0).map(|g| g.0), Some(0));
    }
}

/// Two configurations share the store. When one is retired (its VMs gone), a VM of the other
/// empties its records once nobody vouched for it for 10 s; the live configuration's records
/// are never emptied.
#[test]
fn retired_configurations_records_are_emptied_live_ones_never() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100]);
    let retired = sim.add_configuration(&configuration(&remote_jwks(Some("/jwks"), "61s")));
    for offset in [20, 120] {
        sim.add_vm(retired, offset);
    }
    let mut time = at(1_000);
    while time <= at(15_000) {
        sim.run_until(time);
        assert!(
            sim.records_present(0) && sim.records_present(retired),
            "two live configurations keep their keys, at {time:?}"
        );
        time = time.saturating_add(Duration::from_millis(500));
    }
    sim.vanish(2);
    sim.vanish(3);
    let gone = at(15_000);
    let mut time = gone;
    let mut emptied_at = None;
    while time < at(600_000) {
        sim.run_until(time);
        assert!(
            sim.records_present(0),
            "a live configuration keeps its keys at {time:?}"
        );
        if emptied_at.is_none() && !sim.records_present(retired) {
            emptied_at = Some(time);
        }
        time = time.saturating_add(Duration::from_millis(500));
    }
    let emptied_at = emptied_at.expect("the retired configuration's records were emptied");
    assert!(
        emptied_at > gone.saturating_add(Duration::from_secs(8))
            && emptied_at <= gone.saturating_add(Duration::from_secs(13)),
        "10 s after its last check-in (heartbeat 2 s): {emptied_at:?}"
    );
    let reclaimed = sim.logs(
        LogLevel::Info,
        "reclaimed the key records of 1 plugin configuration(s)",
    );
    assert_eq!(reclaimed.len(), 1);
    assert!(reclaimed[0].contains(&namespace(&sim.configs[retired].1)));
    let request = sim.request(1, &token("k1"));
    assert_eq!(sim.answer(request).status, 200);
}

/// The wall clock steps 30 s forward (a suspend and resume, an NTP step) while three live
/// configurations run: to the first VM that checks in afterwards, the others' entries look
/// 30 s old. That check-in only vouches (its own previous one looks 30 s old too), the other
/// VMs vouch within a tick, and no live configuration loses its keys; a configuration retired
/// after the jump is still reclaimed on time.
#[test]
fn a_forward_clock_jump_retires_no_live_configuration() {
    let mut sim = Sim::new(jwks_provider(), &[0, 100]);
    let second = sim.add_configuration(&configuration(&remote_jwks(Some("/jwks"), "61s")));
    let third = sim.add_configuration(&configuration(&remote_jwks(Some("/jwks"), "62s")));
    for (config, offset) in [(second, 20), (second, 120), (third, 40)] {
        sim.add_vm(config, offset);
    }
    let live = [0, second, third];
    sim.run_until(at(15_000));
    assert!(live.iter().all(|&config| sim.records_present(config)));

    sim.jump(Duration::from_secs(30));
    let mut time = sim.now;
    let until = sim.now.saturating_add(Duration::from_secs(60));
    while time < until {
        sim.run_until(time);
        for &config in &live {
            assert!(
                sim.records_present(config),
                "configuration {config} keeps its keys across the jump, at {time:?}"
            );
        }
        time = time.saturating_add(Duration::from_millis(100));
    }
    assert_eq!(
        sim.logs(LogLevel::Info, "reclaimed the key records").len(),
        0
    );
    for vm in 0..sim.vms.len() {
        let request = sim.request(vm, &token("k1"));
        assert_eq!(sim.answer(request).status, 200, "VM {vm}");
    }

    // Reclaiming still works: the third configuration is retired (its VM gone).
    sim.vanish(4);
    let gone = sim.now;
    let mut emptied_at = None;
    let mut time = gone;
    while emptied_at.is_none() && time < gone.saturating_add(Duration::from_secs(60)) {
        time = time.saturating_add(Duration::from_millis(500));
        sim.run_until(time);
        if !sim.records_present(third) {
            emptied_at = Some(time);
        }
    }
    let emptied_at = emptied_at.expect("the retired configuration's records were emptied");
    assert!(
        emptied_at <= gone.saturating_add(Duration::from_secs(13)),
        "{emptied_at:?}"
    );
    assert!(sim.records_present(0) && sim.records_present(second));
}

/// A fetched key set with `oct` keys lets whoever reads it sign HS* tokens: the VM that
/// fetched it warns, once per fetch (not once per VM, nor when another VM loads it).
#[test]
fn a_fetched_key_set_with_symmetric_keys_is_warned_about_once_per_fetch() {
    let mut sim = Sim::new(jwks_provider(), &[0, 70, 140]);
    sim.run_until(at(60_000));
    assert_eq!(sim.warnings("symmetric").len(), 0, "Ed25519 keys only");
    sim.issuer.symmetric = vec!["shared", "other"];
    sim.run_until(at(200_000));
    let fetches = sim.issuer.times("/jwks");
    let fetches_with_oct = fetches.iter().filter(|time| **time > at(60_000)).count();
    assert_eq!(fetches_with_oct, 2, "{fetches:?}");
    let warnings = sim.warnings("symmetric (oct) key(s)");
    assert_eq!(warnings.len(), fetches_with_oct, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "jwt-gate: providers.idp: the key set from https://idp.test/jwks holds 2 symmetric (oct) key(s), first kid \"shared\": a fetched key set is public"
        ),
        "{}",
        warnings[0]
    );
}

/// The fetcher and the in-memory store can be shared by a native host's worker threads.
#[test]
fn the_fetcher_and_the_store_are_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<KeyFetcher>();
    shareable::<MemoryStore>();
}

/// The rotation scenario, kept for the determinism test: marks name its requests.
fn rotation() -> Sim {
    let mut sim = Sim::new(jwks_provider(), &[0, 70, 140]);
    sim.issuer.latency = Duration::from_millis(100);
    sim.run_until(at(5_000));
    sim.issuer.published = vec!["k1", "k2"];
    sim.mark("k2", 1, &token("k2"));
    sim.run_until(at(8_000));
    sim.issuer.published = vec!["k1", "k2", "k3"];
    sim.mark("k3 early", 2, &token("k3"));
    sim.run_until(at(9_000));
    sim.marks.insert("flood", sim.requests.len());
    for n in 0..60 {
        sim.request(n % 3, &token(&format!("made-up-{n}")));
    }
    sim.marks.insert("flood end", sim.requests.len());
    sim.run_until(at(35_500));
    sim.mark("k3 later", 0, &token("k3"));
    sim.run_until(at(40_000));
    sim
}

// --- The simulated process ---------------------------------------------------------------------

/// One Envoy process: its VMs, the store they share, the issuer, the calls in flight, the
/// requests.
struct Sim {
    now: Time,
    /// Each configuration and its bytes.
    configs: Vec<(Config, Vec<u8>)>,
    store: MemoryStore,
    issuer: Issuer,
    vms: Vec<Vm>,
    /// Responses on their way (a lost one never is).
    calls: Vec<Call>,
    next_fetch_id: u64,
    requests: Vec<Req>,
    marks: BTreeMap<&'static str, usize>,
}

struct Vm {
    config: usize,
    fetcher: KeyFetcher,
    cache: TokenCache,
    alive: bool,
    next_tick: Time,
    stats: Stats,
}

/// What a VM's host recorded.
#[derive(Default)]
struct Stats {
    succeeded: usize,
    failed: usize,
    /// provider -> (keys, age in seconds)
    gauges: BTreeMap<usize, (usize, u64)>,
    logs: Vec<(LogLevel, String)>,
}

impl std::ops::Deref for Vm {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        &self.stats
    }
}

struct Call {
    id: FetchId,
    vm: usize,
    at: Time,
    response: Option<Result<Vec<u8>, FetchError>>,
}

struct Req {
    vm: usize,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    answer: Option<Answer>,
}

#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    body: String,
    at: Time,
}

impl Sim {
    /// A process with one configuration (`provider`'s) and a VM per tick offset (ms).
    fn new(provider: String, offsets: &[u64]) -> Self {
        Self::with_limits(provider, offsets, Limits::DEFAULT)
    }

    fn with_limits(provider: String, offsets: &[u64], limits: Limits) -> Self {
        let mut sim = Self {
            now: T0,
            configs: Vec::new(),
            store: MemoryStore::new(),
            issuer: Issuer::default(),
            vms: Vec::new(),
            calls: Vec::new(),
            next_fetch_id: 1,
            requests: Vec::new(),
            marks: BTreeMap::new(),
        };
        let config = sim.add_configuration(&configuration(&provider));
        sim.configs[config].0.limits = limits;
        for offset in offsets {
            sim.add_vm(config, *offset);
        }
        sim
    }

    fn add_configuration(&mut self, json: &str) -> usize {
        let config = Config::from_json(json.as_bytes()).unwrap();
        self.configs.push((config, json.as_bytes().to_vec()));
        self.configs.len() - 1
    }

    /// A VM of configuration `config` whose ticks come `offset` ms after the simulation's.
    fn add_vm(&mut self, config: usize, offset: u64) {
        let (parsed, bytes) = &self.configs[config];
        let owner = u64::try_from(self.vms.len()).unwrap() + 1;
        self.vms.push(Vm {
            config,
            fetcher: key_fetcher(parsed, bytes, owner),
            cache: TokenCache::new(
                parsed.token_cache_size,
                parsed.token_cache_max_token_bytes,
                [7; 16],
            ),
            alive: true,
            next_tick: self.now.saturating_add(Duration::from_millis(offset)),
            stats: Stats::default(),
        });
    }

    /// The VM is gone (a worker thread's VM replaced or crashed): no more ticks, and Envoy
    /// cancels its calls.
    fn vanish(&mut self, vm: usize) {
        self.vms[vm].alive = false;
        self.calls.retain(|call| call.vm != vm);
    }

    /// The wall clock steps `by` forward at once (a suspend and resume, an NTP step). Timers
    /// and call timeouts run on Envoy's monotonic clock: each fires when it would have, which
    /// the wall clock now reads `by` later.
    fn jump(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        for vm in &mut self.vms {
            vm.next_tick = vm.next_tick.saturating_add(by);
        }
        for call in &mut self.calls {
            call.at = call.at.saturating_add(by);
        }
    }

    /// Runs every event up to `end`, in order: responses first, then the ticks of each
    /// instant.
    fn run_until(&mut self, end: Time) {
        for _ in 0..1_000_000 {
            let next_call = self
                .calls
                .iter()
                .filter(|call| call.response.is_some())
                .map(|call| call.at)
                .min();
            let next_tick = self
                .vms
                .iter()
                .filter(|vm| vm.alive)
                .map(|vm| vm.next_tick)
                .min();
            let Some(next) = [next_call, next_tick]
                .into_iter()
                .flatten()
                .min()
                .filter(|next| *next <= end)
            else {
                self.now = self.now.max(end);
                return;
            };
            self.now = next;
            if next_call == Some(next) {
                self.deliver_one();
            } else {
                self.tick_all();
            }
        }
        panic!("the simulation ran away");
    }

    /// Delivers the earliest response due now.
    fn deliver_one(&mut self) {
        let now = self.now;
        let Some(index) = (0..self.calls.len())
            .filter(|i| self.calls[*i].at == now && self.calls[*i].response.is_some())
            .min_by_key(|i| self.calls[*i].id)
        else {
            return;
        };
        let call = self.calls.remove(index);
        let Some(response) = call.response else {
            return;
        };
        let limits = self.configs[self.vms[call.vm].config].0.limits;
        let response =
            response.and_then(|body| check_response(Some(200), body.len(), &limits).map(|()| body));
        let vm = &mut self.vms[call.vm];
        let mut host = Host {
            store: &self.store,
            issuer: &mut self.issuer,
            calls: &mut self.calls,
            next_fetch_id: &mut self.next_fetch_id,
            vm: call.vm,
            now,
            stats: &mut vm.stats,
        };
        let released = vm
            .fetcher
            .on_fetch_response(&mut host, call.id, response, now);
        self.decide_again(released);
    }

    /// Ticks every VM whose tick is due now, as if at once (see [`StaleUntilWritten`]).
    fn tick_all(&mut self) {
        let now = self.now;
        let before = self.store.clone();
        for index in 0..self.vms.len() {
            let vm = &mut self.vms[index];
            if !vm.alive || vm.next_tick != now {
                continue;
            }
            vm.next_tick = now.saturating_add(TICK);
            let store = StaleUntilWritten {
                before: &before,
                live: &self.store,
                written: RefCell::default(),
            };
            let mut host = Host {
                store: &store,
                issuer: &mut self.issuer,
                calls: &mut self.calls,
                next_fetch_id: &mut self.next_fetch_id,
                vm: index,
                now,
                stats: &mut vm.stats,
            };
            let released = vm.fetcher.tick(&mut host, now);
            self.decide_again(released);
        }
    }

    /// A request with `token` arrives at VM `vm` now; returns its number.
    fn request(&mut self, vm: usize, token: &str) -> usize {
        let header =
            |name: &str, value: &str| (name.as_bytes().to_vec(), value.as_bytes().to_vec());
        self.requests.push(Req {
            vm,
            headers: vec![
                header(":method", "GET"),
                header(":scheme", "https"),
                header(":authority", "api.test"),
                header(":path", "/orders"),
                header("authorization", &format!("Bearer {token}")),
            ],
            answer: None,
        });
        let request = self.requests.len() - 1;
        self.decide(request, None);
        request
    }

    fn mark(&mut self, name: &'static str, vm: usize, token: &str) {
        let request = self.request(vm, token);
        self.marks.insert(name, request);
    }

    /// Decides a request as a host does: answer it, or hold it when told to.
    fn decide(&mut self, request: usize, held_until: Option<Time>) {
        let now = self.now;
        let req = &mut self.requests[request];
        let vm = &mut self.vms[req.vm];
        if !vm.alive {
            return;
        }
        let config = &self.configs[vm.config].0;
        let outcome = authenticate(
            config,
            Request {
                headers: &jwt_gate::request::borrow_headers(&req.headers),
            },
            now,
            &vm.fetcher.view(now, held_until),
            &RingVerifier,
            &mut vm.cache,
        );
        let answer = |status: u16, body: &str| Answer {
            status,
            body: body.to_owned(),
            at: now,
        };
        match outcome.decision {
            Decision::Allow { .. } => req.answer = Some(answer(200, "")),
            Decision::Deny(denial) => req.answer = Some(answer(denial.status, &denial.body)),
            Decision::Wait(wait) => {
                let mut host = Host {
                    store: &self.store,
                    issuer: &mut self.issuer,
                    calls: &mut self.calls,
                    next_fetch_id: &mut self.next_fetch_id,
                    vm: req.vm,
                    now,
                    stats: &mut vm.stats,
                };
                let id = RequestId(u64::try_from(request).unwrap());
                vm.fetcher.hold(&mut host, id, wait, now, held_until);
            }
        }
    }

    fn decide_again(&mut self, released: Vec<Released>) {
        for Released {
            request,
            held_until,
        } in released
        {
            self.decide(usize::try_from(request.0).unwrap(), Some(held_until));
        }
    }

    fn answer(&self, request: usize) -> &Answer {
        self.requests[request]
            .answer
            .as_ref()
            .unwrap_or_else(|| panic!("request {request} was not answered"))
    }

    fn total(&self, stat: impl Fn(&Vm) -> usize) -> usize {
        self.vms.iter().map(stat).sum()
    }

    /// The log lines at `level` of every VM that contain `text`.
    fn logs(&self, level: LogLevel, text: &str) -> Vec<String> {
        self.vms
            .iter()
            .flat_map(|vm| &vm.logs)
            .filter(|(l, line)| *l == level && line.contains(text))
            .map(|(_, line)| line.clone())
            .collect()
    }

    fn warnings(&self, text: &str) -> Vec<String> {
        self.logs(LogLevel::Warn, text)
    }

    fn records(&self, config: usize) -> RecordKeys {
        RecordKeys::new(&namespace(&self.configs[config].1), 0)
    }

    fn fetch_state(&self, config: usize) -> FetchState {
        let stored = self.store.get(&self.records(config).state);
        FetchState::decode(&stored.value.unwrap_or_default())
    }

    fn key_record(&self, config: usize) -> Option<KeyRecord> {
        KeyRecord::decode(&self.store.get(&self.records(config).keys).value?)
    }

    /// Whether configuration `config`'s state and key records both hold something.
    fn records_present(&self, config: usize) -> bool {
        let records = self.records(config);
        self.store.get(&records.state).value.is_some() && self.key_record(config).is_some()
    }

    /// Everything that happened, for comparing two runs.
    fn trace(&self) -> String {
        let mut out = format!("{:?}\n", self.issuer.received);
        for vm in &self.vms {
            out.push_str(&format!(
                "{} {} {:?} {:?}\n",
                vm.succeeded, vm.failed, vm.gauges, vm.logs
            ));
        }
        for request in &self.requests {
            out.push_str(&format!("{:?}\n", request.answer));
        }
        out.push_str(&format!("{:?}\n", self.store.snapshot()));
        out
    }
}

/// One VM's host during one event.
struct Host<'a> {
    store: &'a dyn SharedStore,
    issuer: &'a mut Issuer,
    calls: &'a mut Vec<Call>,
    next_fetch_id: &'a mut u64,
    vm: usize,
    now: Time,
    stats: &'a mut Stats,
}

impl KeyHost for Host<'_> {
    fn store(&self) -> &dyn SharedStore {
        self.store
    }

    fn start_fetch(
        &mut self,
        cluster: &str,
        uri: &HttpUri,
        timeout: Duration,
    ) -> Result<FetchId, String> {
        if cluster != "idp" {
            return Err(format!("no cluster named {cluster:?}"));
        }
        let id = FetchId(*self.next_fetch_id);
        *self.next_fetch_id += 1;
        let (at, response) = self.issuer.respond(self.vm, &uri.path, self.now, timeout);
        self.calls.push(Call {
            id,
            vm: self.vm,
            at,
            response,
        });
        Ok(id)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.stats.logs.push((level, message.to_owned()));
    }

    fn record(&mut self, stat: KeyStat) {
        match stat {
            KeyStat::FetchSucceeded(_) => self.stats.succeeded += 1,
            KeyStat::FetchFailed(_) => self.stats.failed += 1,
            KeyStat::KeySet {
                provider,
                keys,
                age_seconds,
            } => {
                self.stats.gauges.insert(provider, (keys, age_seconds));
            }
        }
    }
}

/// The store as a VM ticking at the same instant as others sees it: each key as it was before
/// any of them ran, until this VM tries to write it (its write comes after theirs: a
/// compare-and-swap on a key they changed fails, a key they created and it found absent is
/// overwritten); from then on, as it is.
struct StaleUntilWritten<'a> {
    before: &'a MemoryStore,
    live: &'a MemoryStore,
    written: RefCell<BTreeSet<String>>,
}

impl SharedStore for StaleUntilWritten<'_> {
    fn get(&self, key: &str) -> Stored {
        if self.written.borrow().contains(key) {
            self.live.get(key)
        } else {
            self.before.get(key)
        }
    }

    fn compare_and_swap(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<Cas>,
    ) -> Result<(), StoreError> {
        self.written.borrow_mut().insert(key.to_owned());
        self.live.compare_and_swap(key, value, cas)
    }

    fn empty(&self, key: &str, cas: Cas) -> Result<(), StoreError> {
        self.written.borrow_mut().insert(key.to_owned());
        self.live.empty(key, cas)
    }
}

// --- The identity provider ---------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Behaviour {
    /// Serves its documents.
    Healthy,
    /// Answers every request with this status.
    Status(u32),
    /// Answers 200 with a body that is no key set.
    Garbage,
    /// Never answers, and Envoy never calls back.
    Lost,
    /// Slower than the fetch timeout: Envoy answers 504 when it runs out.
    Slow,
}

struct Issuer {
    behaviour: Behaviour,
    latency: Duration,
    /// The kids of the keys it publishes.
    published: Vec<&'static str>,
    /// The kids of the `oct` keys it publishes besides (which it should not).
    symmetric: Vec<&'static str>,
    /// The `issuer` its discovery document states.
    discovery_issuer: String,
    received: Vec<Received>,
}

#[derive(Clone, Debug)]
struct Received {
    at: Time,
    vm: usize,
    path: String,
}

impl Default for Issuer {
    fn default() -> Self {
        Self {
            behaviour: Behaviour::Healthy,
            latency: Duration::from_millis(20),
            published: vec!["k1"],
            symmetric: Vec::new(),
            discovery_issuer: ISSUER.to_owned(),
            received: Vec::new(),
        }
    }
}

impl Issuer {
    /// The answer to a request from VM `vm` and when it arrives (`None`: never).
    fn respond(
        &mut self,
        vm: usize,
        path: &str,
        now: Time,
        timeout: Duration,
    ) -> (Time, Option<Result<Vec<u8>, FetchError>>) {
        self.received.push(Received {
            at: now,
            vm,
            path: path.to_owned(),
        });
        let arrives = now.saturating_add(self.latency);
        let response = match (self.behaviour, path) {
            (Behaviour::Lost, _) => None,
            (Behaviour::Slow, _) => {
                return (
                    now.saturating_add(timeout),
                    Some(Err(FetchError::Status(504))),
                )
            }
            (Behaviour::Status(status), _) => Some(Err(FetchError::Status(status))),
            (Behaviour::Garbage, _) => Some(Ok(b"<html>maintenance</html>".to_vec())),
            (Behaviour::Healthy, "/.well-known/openid-configuration") => Some(Ok(format!(
                r#"{{"issuer":"{}","jwks_uri":"{ISSUER}/jwks"}}"#,
                self.discovery_issuer
            )
            .into_bytes())),
            (Behaviour::Healthy, "/jwks") => {
                Some(Ok(jwks(&self.published, &self.symmetric).into_bytes()))
            }
            (Behaviour::Healthy, _) => Some(Err(FetchError::Status(404))),
        };
        (arrives, response)
    }

    /// When each request for `path` was received.
    fn times(&self, path: &str) -> Vec<Time> {
        self.received
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.at)
            .collect()
    }
}

// --- Configuration, keys and tokens -------------------------------------------------------------

fn configuration(remote_jwks: &str) -> String {
    format!(
        r#"{{
          "providers": {{"idp": {{"issuer": "{ISSUER}", "audiences": ["api"], "remote_jwks": {remote_jwks}}}}},
          "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"provider_name": "idp"}}}}]
        }}"#
    )
}

/// `remote_jwks` with the simulation's timings; `path`: the key set's (`None`: discover it).
fn remote_jwks(path: Option<&str>, cache_duration: &str) -> String {
    let uri = path.map_or_else(String::new, |path| format!(r#""uri": "{ISSUER}{path}", "#));
    format!(
        r#"{{
          "http_uri": {{{uri}"cluster": "idp", "timeout": "1s"}},
          "cache_duration": "{cache_duration}",
          "retry_policy": {{"retry_back_off": {{"base_interval": "1s", "max_interval": "8s"}}}},
          "kid_refetch_interval": "30s",
          "max_stale": "120s"
        }}"#
    )
}

fn jwks_provider() -> String {
    remote_jwks(Some("/jwks"), "60s")
}

fn discovery_provider() -> String {
    remote_jwks(None, "60s")
}

/// Each kid's Ed25519 key pair, from a seed derived from the kid.
fn key_pair(kid: &str) -> Ed25519KeyPair {
    let mut seed = [0u8; 32];
    for (byte, k) in seed.iter_mut().zip(kid.bytes().cycle()) {
        *byte = k;
    }
    Ed25519KeyPair::from_seed_unchecked(&seed).unwrap()
}

/// The Ed25519 keys of `kids`, then a 32-byte `oct` key for each of `symmetric`.
fn jwks(kids: &[&str], symmetric: &[&str]) -> String {
    let keys: Vec<String> = kids
        .iter()
        .map(|kid| {
            let x = URL_SAFE_NO_PAD.encode(key_pair(kid).public_key().as_ref());
            format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{x}"}}"#)
        })
        .chain(symmetric.iter().map(|kid| {
            let k = URL_SAFE_NO_PAD.encode([kid.len() as u8; 32]);
            format!(r#"{{"kty":"oct","kid":"{kid}","k":"{k}"}}"#)
        }))
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

/// A token signed with `kid`'s key (a key the issuer may not publish).
/// Payload: `{"iss":"https://idp.test","aud":"api","sub":"alice","exp":<T0 + 30 days>}`.
fn token(kid: &str) -> String {
    let header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#);
    let exp = T0.seconds() + 30 * 24 * 3600;
    let payload = format!(r#"{{"iss":"{ISSUER}","aud":"api","sub":"alice","exp":{exp}}}"#);
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = key_pair(kid).sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

/// `T0 + millis`.
fn at(millis: u64) -> Time {
    T0.saturating_add(Duration::from_millis(millis))
}
