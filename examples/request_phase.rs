//! Runs the request phase of one body N times, for instruction counts under callgrind:
//! `valgrind --tool=callgrind target/release/examples/request_phase BODY.json 200`.
use paravent::{
    api::Endpoint,
    config::TokenStyle,
    detect::Detector,
    pipeline,
    vault::{TokenKey, Vault},
    walk::Walked,
};
fn main() {
    let mut args = std::env::args().skip(1);
    let body = std::fs::read(args.next().expect("a JSON body")).expect("readable");
    let n: usize = args.next().map_or(100, |s| s.parse().expect("a count"));
    let d = Detector::builtin();
    let key = TokenKey::from_secret(b"a benchmark secret of 32 bytes..");
    let mut total = 0;
    for _ in 0..n {
        let mut w = Walked::parse(&body, Endpoint::OpenaiChat.schema()).expect("valid");
        let mut v = Vault::new(&key, None, TokenStyle::Token, 10_000);
        pipeline::pseudonymise(&d, &mut w, &mut v, false).expect("no refusal");
        total += w.to_bytes().len();
    }
    println!("{total}");
}
