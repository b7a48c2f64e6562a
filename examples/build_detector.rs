//! Builds the shipped detector N times in one process, for instruction counts under
//! callgrind: `build_detector 1` is a process's build, `build_detector 2` minus that is
//! a configuration reload's (the compiled pieces a reload keeps are reused).
//! `valgrind --tool=callgrind target/release/examples/build_detector 2`
use paravent::detect::Detector;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1, |s| s.parse().expect("a count"));
    let mut rules = 0;
    for _ in 0..n {
        rules += Detector::builtin().rule_count();
    }
    println!("{rules}");
}
