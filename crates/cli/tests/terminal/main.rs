//! The terminal agent against a real server, over real sockets (SPEC §6, issue 7).
//! One test binary; each module is one concern.

mod harness;
mod webdriver;

mod browser;
mod backlog;
mod checkout;
mod crash;
mod day_report;
mod drawer;
mod frozen;
mod guard;
mod i18n_dashboard;
mod i18n_till;
mod lanes;
mod link;
mod lockout;
mod money;
mod openapi;
mod page;
mod receipts;
mod refusals;
mod riel;
mod secrets;
mod signout;
mod tender;
mod tls;
mod voids;
