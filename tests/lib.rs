//! End-to-end tests live in `api/`; run them with `./scripts/test.sh` (which provides
//! PostgreSQL and Redis) or `cargo test -p api-tests`.
