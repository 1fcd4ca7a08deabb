//! Goalpost: fetch marketing data, compute KPIs against goals, and report whether
//! the business is getting closer to them.
//!
//! The pipeline is plain functions over plain data: `config` turns the YAML file into a
//! [`config::Plan`]; `source` fetches [`frame::Frame`]s; `kpi` aggregates metrics and
//! evaluates formulas; `goal` judges each goal; `report` assembles what a report says
//! and renders it. Only `source` touches the outside world in this part of the code.

pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod frame;
pub mod goal;
pub mod kpi;
pub mod metrics;
pub mod period;
pub mod reason;
pub mod report;
pub mod run;
pub mod schedule;
pub mod source;
pub mod store;
