//! Native micro-benchmark of `authenticate` with the bench configuration:
//! `native-bench <none|same|rs256> <iterations>`; run under callgrind for instruction counts.
use jwt_gate::authenticator::NoRemoteKeys;
use jwt_gate::authenticator::token_cache::TokenCache;
use jwt_gate::verify::HostAssisted;
use jwt_gate::{authenticate, Config, Request, Time};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).map(String::as_str).unwrap_or("same");
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let config = Config::from_json(&std::fs::read("config.json").unwrap()).unwrap();
    let same = std::fs::read_to_string("../../.tmp/tokens/same.txt").unwrap();
    let pool = std::fs::read_to_string("../../.tmp/tokens/rs256.txt").unwrap();
    let pool: Vec<&str> = pool.lines().collect();
    let now = Time::from_seconds(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    let mut cache = TokenCache::new(config.token_cache_size, config.token_cache_max_token_bytes, [7; 16]);
    let base: Vec<(Vec<u8>, Vec<u8>)> = [
        (":authority", "127.0.0.1:10000"),
        (":path", "/"),
        (":method", "GET"),
        (":scheme", "http"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "0b5c2e49-8f0b-4a4e-9a52-6c1f0e1f2d3a"),
    ]
    .iter()
    .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
    .collect();
    let verifier = HostAssisted::new(|_: &[u8]| Some(vec![8u8, 1]));
    let mut allowed = 0;
    let start = std::time::Instant::now();
    for i in 0..n {
        let mut headers = base.clone();
        let token = match scenario {
            "none" => None,
            "same" => Some(same.trim()),
            _ => Some(pool[i % pool.len()]),
        };
        if let Some(token) = token {
            headers.push((b"authorization".to_vec(), format!("Bearer {token}").into_bytes()));
        }
        let outcome = authenticate(&config, Request { headers: &headers }, now, &NoRemoteKeys, &verifier, &mut cache);
        if matches!(outcome.decision, jwt_gate::Decision::Allow { .. }) {
            allowed += 1;
        }
    }
    let elapsed = start.elapsed();
    println!("{scenario}: {allowed}/{n} allowed, {:.2} µs each", elapsed.as_secs_f64() * 1e6 / n as f64);
}
