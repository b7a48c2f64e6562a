//! Scans one text file N times with the shipped rules, for instruction counts under
//! callgrind. The steady-state cost of one scan is the difference of two runs
//! (N and 1 scans) divided by N − 1, the lazy DFAs' warm-up left in both:
//! `valgrind --tool=callgrind --toggle-collect='*Detector::scan*'
//! target/release/examples/scan_repeat TEXT 5`.
use paravent::detect::Detector;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a text file");
    let text = String::from_utf8(std::fs::read(path).expect("readable")).expect("UTF-8");
    let n: usize = args.next().map_or(5, |s| s.parse().expect("a count"));
    let d = Detector::builtin();
    let mut total = 0;
    for _ in 0..n {
        total += d.scan(std::hint::black_box(&text)).len();
    }
    println!("{total}");
}
