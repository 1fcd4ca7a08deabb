//! Reports: the model of what a report says, and its renderings.

pub mod chart;
mod fast;
pub mod format;
pub mod locale;
pub mod model;
pub mod render;
pub mod slack;
pub mod teams;
pub mod view;
