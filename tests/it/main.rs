//! Integration tests: one binary, one file per area.

mod proxy;
mod scan_cli;
mod serve_cli;
mod support;
