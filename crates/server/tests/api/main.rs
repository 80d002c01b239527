//! HTTP integration tests: the real router on a loopback port, spoken to over HTTP.
//! One test binary for the crate; one module per area.

mod common;
mod fixtures;

mod admin_branches;
mod admin_catalog;
mod admin_staff_devices;
mod auth_login;
mod branch_lock;
mod closing;
mod dashboard;
mod device_events;
mod drawer;
mod errors;
mod faults;
mod fx;
mod health;
mod isolation;
mod online;
mod openapi;
mod privilege;
mod pull;
mod push;
mod voids;
