//! Integration tests: one binary, one file per area.

mod scan_cli;
