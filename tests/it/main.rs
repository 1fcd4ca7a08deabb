//! Integration tests, one binary: the CLI as a user runs it, on the demo and on bad input.

mod api_all;
mod api_faults;
mod api_ga4;
mod api_google_ads;
mod api_hubspot;
mod api_mailchimp;
mod api_meta_ads;
mod api_search_console;
mod browser;
mod check_cli;
mod daemon;
mod daemon_process;
mod delivery;
mod email;
mod goal_rules;
mod helpers;
mod hostile;
mod preview_cli;
mod properties;
mod render;
mod replicas;
mod schedule_cli;
mod smtp;
mod sources;
mod store;
