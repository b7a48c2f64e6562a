//! Integration tests: one binary, one file per area.
//!
//! The command-line tests run the real `paravent` binary; the `detect` tests call the
//! library. Every value in these tests is synthetic: check digits come from public
//! algorithms (python-stdnum was the oracle), card numbers are the networks' published
//! test numbers, and no name, e-mail or number belongs to a real person.

mod support; // running the binary, scratch directories, the shared detector

mod audit; // the audit trail: real requests recorded, the file verified by the binary
mod audit_scale; // compressed rotated files, verify --from, report --since/--until
mod check_cli; // `paravent check`: config and rule-file errors; company dictionaries
mod checkpoints; // signed checkpoints: keygen, a signing serve, verify --key, tampering, proof bundles
mod deploy; // deploy/: configs pass check; probes, ports, mounts and the unit agree; healthcheck
mod detect; // the library: shipped examples, false alarms, positives, properties
mod fuzz; // fuzz targets as properties: rule loader, walkers, stream decoders; kept inputs
mod governance; // provider terms and enforced settings, assistant profiles, EU preference; governance in the trail
mod identity; // [identity] from a trusted proxy, the directory of teams, allow lists
mod instances; // many instances' audit trails in one directory, verified and reported together
mod leak_props; // a value planted anywhere in a generated request, per API: never received
mod leak_table; // the leak table: adversarial requests by class, what the provider received
mod leaks; // no value, prompt or key in trace logs, the audit file or /metrics
mod limits; // [limits] on a real serve: rate limits, the cap, timeouts, the scan pool
mod metrics; // /metrics on the admin listener of a real `paravent serve`, scraped and parsed
mod observe; // observe mode: forwarded as sent, what enforcement would have done recorded
mod policy; // the policy through the proxy: block, redact, allow, route, ceilings, principals
mod policy_cli; // `paravent check` on [policy], `paravent scan --explain`
mod proxy; // the proxy round trip against the in-process mock provider
mod reload; // SIGHUP reloads a running serve: valid configurations taken, invalid ones refused
mod report; // `paravent audit report`: formats, periods, a tampered chain, a proxy's chain
mod risk; // [policy.risk] residual re-identification risk and [policy.answers] leaks in answers, JSON and streams
mod scan_cli; // `paravent scan`, plain and --jsonl
mod selftest; // `paravent selftest`: default and example configs, a disabled rule, allow lists, the reports
mod serve_cli; // `paravent check` on the proxy sections, `paravent key`
mod special_category; // art. 9/10 data under the shipped policy: refused for US providers, pseudonymised for the EU one
mod startup; // `serve`'s first lines: the configuration, its version, the providers; no key
mod stream;
mod threat_model;
mod tls; // TLS on the listener: ALPN, client certificates, renewal by SIGHUP; no cleartext on the network // docs/THREAT-MODEL.md tables are generated from the API modules // streamed answers (SSE, NDJSON) re-identified event by event
