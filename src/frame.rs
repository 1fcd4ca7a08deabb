//! The typed table every source returns: one row per (date, dimensions…), metric fields as numbers.
//!
//! Columnar: dates as day numbers, dimensions dictionary-encoded (a code per row and
//! the distinct strings once), fields as `f64` with NaN for "no value in this cell".
//! Sources normalise units before building a frame (money in major units, rates as
//! fractions), so everything downstream can add numbers without knowing their origin.

use chrono::{Datelike, NaiveDate};
use std::collections::HashMap;

/// Days since 0001-01-01 (chrono's `num_days_from_ce`): cheap to compare and sort.
pub type Day = i32;

pub fn day_of(d: NaiveDate) -> Day {
    d.num_days_from_ce()
}

pub fn date_of(day: Day) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).expect("a day number from a real date")
}

/// A dictionary-encoded text column.
#[derive(Debug, Clone, Default)]
pub struct DimColumn {
    pub name: String,
    pub codes: Vec<u32>,
    pub values: Vec<String>,
    index: HashMap<String, u32>,
}

impl DimColumn {
    pub fn new(name: &str) -> DimColumn {
        DimColumn {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// The code for `value`, adding it to the dictionary when new.
    pub fn intern(&mut self, value: &str) -> u32 {
        if let Some(&c) = self.index.get(value) {
            return c;
        }
        let c = self.values.len() as u32;
        self.values.push(value.to_string());
        self.index.insert(value.to_string(), c);
        c
    }

    pub fn push(&mut self, value: &str) {
        let c = self.intern(value);
        self.codes.push(c);
    }

    pub fn code_of(&self, value: &str) -> Option<u32> {
        self.index.get(value).copied()
    }
}

#[derive(Debug, Clone)]
pub struct FieldColumn {
    pub name: String,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub dates: Vec<Day>,
    pub dims: Vec<DimColumn>,
    pub fields: Vec<FieldColumn>,
}

impl Frame {
    pub fn new(dims: &[String], fields: &[String]) -> Frame {
        Frame {
            dates: Vec::new(),
            dims: dims.iter().map(|d| DimColumn::new(d)).collect(),
            fields: fields
                .iter()
                .map(|f| FieldColumn {
                    name: f.clone(),
                    values: Vec::new(),
                })
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.dates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dates.is_empty()
    }

    pub fn dim(&self, name: &str) -> Option<&DimColumn> {
        self.dims.iter().find(|d| d.name == name)
    }

    pub fn field(&self, name: &str) -> Option<&FieldColumn> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Appends every row of `other`, which must have the same columns in the same order.
    pub fn append(&mut self, other: Frame) {
        self.dates.extend_from_slice(&other.dates);
        for (mine, theirs) in self.dims.iter_mut().zip(other.dims) {
            let remap: Vec<u32> = theirs.values.iter().map(|v| mine.intern(v)).collect();
            mine.codes.extend(theirs.codes.iter().map(|&c| remap[c as usize]));
        }
        for (mine, theirs) in self.fields.iter_mut().zip(other.fields) {
            mine.values.extend_from_slice(&theirs.values);
        }
    }

    /// Sorts rows by date (stable), so that date ranges can be found by binary search.
    pub fn sort_by_date(&mut self) {
        if self.dates.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.dates[i]);
        self.dates = order.iter().map(|&i| self.dates[i]).collect();
        for d in &mut self.dims {
            d.codes = order.iter().map(|&i| d.codes[i]).collect();
        }
        for f in &mut self.fields {
            f.values = order.iter().map(|&i| f.values[i]).collect();
        }
    }

    /// The rows whose date is in `[start, end)`; the frame must be sorted by date.
    pub fn rows_between(&self, start: Day, end: Day) -> std::ops::Range<usize> {
        let a = self.dates.partition_point(|&d| d < start);
        let b = self.dates.partition_point(|&d| d < end);
        a..b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_frames_merges_dictionaries_and_sorting_keeps_rows_together() {
        let cols = (vec!["channel".to_string()], vec!["leads".to_string()]);
        let mut a = Frame::new(&cols.0, &cols.1);
        a.dates.push(20);
        a.dims[0].push("Email");
        a.fields[0].values.push(1.0);
        let mut b = Frame::new(&cols.0, &cols.1);
        b.dates.extend([10, 30]);
        b.dims[0].push("Referral");
        b.dims[0].push("Email");
        b.fields[0].values.extend([2.0, 3.0]);
        a.append(b);
        a.sort_by_date();
        assert_eq!(a.dates, vec![10, 20, 30]);
        let names: Vec<&str> = a.dims[0]
            .codes
            .iter()
            .map(|&c| a.dims[0].values[c as usize].as_str())
            .collect();
        assert_eq!(names, vec!["Referral", "Email", "Email"]);
        assert_eq!(a.fields[0].values, vec![2.0, 1.0, 3.0]);
        assert_eq!(a.rows_between(15, 31), 1..3);
    }
}
