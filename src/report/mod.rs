//! Reports: the model of what a report says, and its renderings.

pub mod format;
pub mod model;
pub mod text;
