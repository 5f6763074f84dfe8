//! End-to-end tests: each starts the server on a random port and talks HTTP to it. Every
//! test that touches a store runs twice, on the embedded default (SQLite + in-process cache)
//! and on PostgreSQL + Redis.

mod businesses;
mod cli;
mod dataset;
mod discovery;
mod edge;
mod faults;
mod friends;
mod friends_ring;
mod friends_stores;
mod friends_trust;
mod helpers;
mod map;
mod nav;
mod openapi;
mod ops;
mod roads;
mod search;
mod traffic;
