//! Per-format re-identification of stream events (step 3).
