//! CSV source: a file or a glob of files with a header row; reads the date column,
//! the dimensions and the fields the plan needs, for the requested dates only.
//!
//! Speed matters here (a year of daily campaign rows is a million lines): the file is
//! read in one go, rows outside the requested dates are skipped after parsing only
//! their date, and files without quoted fields are split at line breaks and parsed on
//! every core. A bad cell is an error naming file:line:column and the column's name.

use super::{FetchRequest, SourceError};
use crate::config::diagnostic::did_you_mean;
use crate::config::plan::CsvSpec;
use crate::frame::{day_of, Day, Frame};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};

pub struct CsvSource<'a> {
    pub id: &'a str,
    pub spec: &'a CsvSpec,
}

/// Where each wanted column sits in the file.
struct Layout {
    date: usize,
    dims: Vec<usize>,
    fields: Vec<usize>,
    headers: Vec<String>,
    width: usize,
}

/// A bad cell, located by byte offset until the line number is worked out.
struct CellError {
    offset: usize,
    column: usize,
    message: String,
}

impl CsvSource<'_> {
    pub fn fetch(&self, req: &FetchRequest) -> Result<Frame, SourceError> {
        let files = self.files()?;
        let mut frame = Frame::new(&req.dimensions, &req.fields);
        for file in files {
            let part = self.read_file(&file, req)?;
            frame.append(part);
        }
        frame.sort_by_date();
        Ok(frame)
    }

    fn files(&self) -> Result<Vec<PathBuf>, SourceError> {
        let pattern = self.spec.path.display().to_string();
        if !pattern.contains(['*', '?', '[']) {
            return Ok(vec![self.spec.path.clone()]);
        }
        let mut files: Vec<PathBuf> = glob::glob(&pattern)
            .map_err(|e| SourceError::config(self.id, format!("`{pattern}` is not a valid glob: {e}")))?
            .filter_map(Result::ok)
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SourceError::config(self.id, format!("no file matches `{pattern}`")));
        }
        Ok(files)
    }

    fn read_file(&self, path: &Path, req: &FetchRequest) -> Result<Frame, SourceError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| SourceError::data(self.id, format!("cannot read {name}: {e}")))?;
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let quoted = memchr::memchr(b'"', body).is_some();
        let header_end = memchr::memchr(b'\n', body).map_or(body.len(), |i| i + 1);
        let header_fields = split_record(&body[..header_end], self.spec.delimiter, quoted);
        let headers: Vec<String> = header_fields
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        let layout = self.layout(&name, headers, req)?;
        let data = &body[header_end..];

        // Parallel split at line breaks, only when no field can hold a quoted line break.
        let threads = if quoted || data.len() < (4 << 20) {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
        };
        let chunks = split_chunks(data, threads);
        let ranges: Vec<(Day, Day)> = req.ranges.iter().map(|(a, b)| (day_of(*a), day_of(*b))).collect();
        let results: Vec<Result<Frame, CellError>> = if chunks.len() == 1 {
            vec![self.parse_rows(data, 0, &layout, &ranges, req, quoted)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = chunks
                    .iter()
                    .map(|&(a, b)| {
                        let (layout, ranges) = (&layout, &ranges);
                        s.spawn(move || self.parse_rows(&data[a..b], a, layout, ranges, req, quoted))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a CSV parsing thread panicked"))
                    .collect()
            })
        };
        let mut frame = Frame::new(&req.dimensions, &req.fields);
        for r in results {
            match r {
                Ok(part) => frame.append(part),
                Err(e) => {
                    let offset = header_end + e.offset + (bytes.len() - body.len());
                    let line = 1 + memchr::memchr_iter(b'\n', &bytes[..offset]).count();
                    return Err(SourceError::data(
                        self.id,
                        format!(
                            "{name}:{line}:{}: column `{}`: {}",
                            e.column + 1,
                            layout.headers.get(e.column).map_or("?", |h| h.as_str()),
                            e.message
                        ),
                    ));
                }
            }
        }
        Ok(frame)
    }

    fn layout(&self, name: &str, headers: Vec<String>, req: &FetchRequest) -> Result<Layout, SourceError> {
        let find = |col: &str, what: &str| -> Result<usize, SourceError> {
            headers.iter().position(|h| h == col).ok_or_else(|| {
                let sugg = did_you_mean(col, headers.iter().map(String::as_str))
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                SourceError::config(
                    self.id,
                    format!(
                        "{name}:1: the header has no {what} column `{col}`{sugg}; it has: {}",
                        headers.join(", ")
                    ),
                )
            })
        };
        let date = find(&self.spec.date_column, "date")?;
        let dims = req
            .dimensions
            .iter()
            .map(|d| find(d, "dimension"))
            .collect::<Result<_, _>>()?;
        let fields = req.fields.iter().map(|f| find(f, "field")).collect::<Result<_, _>>()?;
        Ok(Layout {
            date,
            dims,
            fields,
            width: headers.len(),
            headers,
        })
    }

    /// Parses the records in `data` (which starts `base` bytes into the body).
    fn parse_rows(
        &self,
        data: &[u8],
        base: usize,
        layout: &Layout,
        ranges: &[(Day, Day)],
        req: &FetchRequest,
        quoted: bool,
    ) -> Result<Frame, CellError> {
        let mut frame = Frame::new(&req.dimensions, &req.fields);
        let iso = self.spec.date_format == "%Y-%m-%d";
        // Cells as (start, end) into `row`: the record itself, or `unquoted` for quoted records.
        let mut cells: Vec<(usize, usize)> = Vec::with_capacity(layout.width);
        let mut unquoted: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut number = String::new();
        let mut last_date: (Vec<u8>, Option<Day>) = (Vec::new(), None);
        while pos < data.len() {
            let start = pos;
            let line_end = if quoted {
                quoted_record_end(data, pos)
            } else {
                memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i + 1)
            };
            pos = line_end;
            let record = &data[start..line_end];
            if record.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let err = |column: usize, message: String| CellError {
                offset: base + start,
                column,
                message,
            };
            // Fast skip: most rows fall outside the requested dates, so find and parse the
            // date cell alone first (rows that are skipped are not checked further).
            if !quoted && iso {
                let rec = trim_newline(record);
                let mut begin = 0;
                let mut delims = memchr::memchr_iter(self.spec.delimiter, rec);
                for _ in 0..layout.date {
                    begin = delims.next().map_or(rec.len(), |i| i + 1);
                }
                let end = delims.next().unwrap_or(rec.len());
                let Some(raw) = rec.get(begin..end) else { continue };
                // Daily files repeat each date on many rows in a row: reuse the last parse.
                let day = if raw == last_date.0.as_slice() {
                    last_date.1
                } else {
                    parse_iso_date(raw)
                };
                if let Some(day) = day {
                    last_date = (raw.to_vec(), Some(day));
                    if !ranges.iter().any(|&(a, b)| day >= a && day < b) {
                        continue;
                    }
                }
            }
            cells.clear();
            let row: &[u8] = if quoted {
                unquoted.clear();
                for cell in split_record(record, self.spec.delimiter, true) {
                    cells.push((unquoted.len(), unquoted.len() + cell.len()));
                    unquoted.extend_from_slice(&cell);
                }
                &unquoted
            } else {
                let rec = trim_newline(record);
                let mut at = 0;
                for i in memchr::memchr_iter(self.spec.delimiter, rec) {
                    cells.push((at, i));
                    at = i + 1;
                }
                cells.push((at, rec.len()));
                rec
            };
            let cell = |i: usize| &row[cells[i].0..cells[i].1];
            if cells.len() != layout.width {
                return Err(err(
                    cells.len().min(layout.width.saturating_sub(1)),
                    format!("this row has {} cells, the header has {}", cells.len(), layout.width),
                ));
            }
            let raw_date = cell(layout.date);
            let date = if iso { parse_iso_date(raw_date) } else { None };
            let date = match date {
                Some(d) => d,
                None => {
                    let text = std::str::from_utf8(raw_date).unwrap_or("").trim();
                    match NaiveDate::parse_from_str(text, &self.spec.date_format) {
                        Ok(d) => day_of(d),
                        Err(_) => {
                            return Err(err(
                                layout.date,
                                format!("`{text}` is not a date in the format `{}`", self.spec.date_format),
                            ))
                        }
                    }
                }
            };
            if !ranges.iter().any(|&(a, b)| date >= a && date < b) {
                continue;
            }
            frame.dates.push(date);
            for (i, &c) in layout.dims.iter().enumerate() {
                let text = std::str::from_utf8(cell(c)).map_err(|_| err(c, "this cell is not UTF-8 text".into()))?;
                frame.dims[i].push(text.trim());
            }
            for (i, &c) in layout.fields.iter().enumerate() {
                let v = parse_number(
                    cell(c),
                    self.spec.thousands_separator,
                    self.spec.decimal_separator,
                    &mut number,
                )
                .map_err(|bad| err(c, format!("`{bad}` is not a number")))?;
                frame.fields[i].values.push(v);
            }
        }
        Ok(frame)
    }
}

fn trim_newline(rec: &[u8]) -> &[u8] {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    rec.strip_suffix(b"\r").unwrap_or(rec)
}

/// `YYYY-MM-DD` from bytes without allocating; `None` when it is not exactly that.
fn parse_iso_date(b: &[u8]) -> Option<Day> {
    let b = b.trim_ascii();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &[u8]| -> Option<u32> {
        s.iter()
            .try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32))
    };
    let d = NaiveDate::from_ymd_opt(num(&b[..4])? as i32, num(&b[5..7])?, num(&b[8..])?)?;
    Some(day_of(d))
}

/// A number cell: empty is "no value" (NaN); thousands separators are dropped.
fn parse_number(cell: &[u8], thousands: Option<char>, decimal: char, buf: &mut String) -> Result<f64, String> {
    let text = std::str::from_utf8(cell)
        .map_err(|_| String::from_utf8_lossy(cell).into_owned())?
        .trim();
    if text.is_empty() {
        return Ok(f64::NAN);
    }
    if thousands.is_none() && decimal == '.' {
        if let Ok(v) = text.parse::<f64>() {
            if v.is_finite() {
                return Ok(v);
            }
        }
        return Err(text.to_string());
    }
    buf.clear();
    for ch in text.chars() {
        if Some(ch) == thousands {
            continue;
        }
        buf.push(if ch == decimal { '.' } else { ch });
    }
    match buf.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(text.to_string()),
    }
}

/// Splits `data` into about `n` pieces that end at line breaks.
fn split_chunks(data: &[u8], n: usize) -> Vec<(usize, usize)> {
    if n <= 1 {
        return vec![(0, data.len())];
    }
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..n {
        let guess = (data.len() * i / n).max(start);
        let cut = memchr::memchr(b'\n', &data[guess..]).map_or(data.len(), |j| guess + j + 1);
        if cut > start {
            out.push((start, cut));
            start = cut;
        }
    }
    if start < data.len() {
        out.push((start, data.len()));
    }
    out
}

/// The end of the record starting at `pos`, honouring quotes (a quoted field may hold line breaks).
fn quoted_record_end(data: &[u8], pos: usize) -> usize {
    let mut in_quotes = false;
    let mut i = pos;
    while i < data.len() {
        match data[i] {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => return i + 1,
            _ => {}
        }
        i += 1;
    }
    data.len()
}

/// Splits one record into unquoted cells (RFC 4180 quoting via csv-core when `quoted`).
fn split_record(record: &[u8], delimiter: u8, quoted: bool) -> Vec<Vec<u8>> {
    let record = trim_newline(record);
    if !quoted {
        return record.split(|&b| b == delimiter).map(<[u8]>::to_vec).collect();
    }
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut output = vec![0u8; record.len() + 1];
    let mut ends = vec![0usize; record.len() + 2];
    let (mut input, mut nout_total, mut nends_total) = (record, 0, 0);
    loop {
        let (res, nin, nout, nends) = reader.read_record(input, &mut output[nout_total..], &mut ends[nends_total..]);
        input = &input[nin..];
        nout_total += nout;
        nends_total += nends;
        match res {
            csv_core::ReadRecordResult::InputEmpty if input.is_empty() => {
                // An empty input tells csv-core the record is complete.
                let (_, _, nout, nends) = reader.read_record(&[], &mut output[nout_total..], &mut ends[nends_total..]);
                nout_total += nout;
                nends_total += nends;
                break;
            }
            csv_core::ReadRecordResult::InputEmpty => continue,
            _ => break,
        }
    }
    let mut prev = 0;
    let mut out = Vec::with_capacity(nends_total);
    for &end in &ends[..nends_total] {
        out.push(output[prev..end.min(nout_total)].to_vec());
        prev = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_parse_fast_and_reject_impossible_days() {
        assert_eq!(
            parse_iso_date(b"2026-10-15"),
            Some(day_of(NaiveDate::from_ymd_opt(2026, 10, 15).unwrap()))
        );
        assert_eq!(parse_iso_date(b"2026-02-30"), None);
        assert_eq!(parse_iso_date(b"15/10/2026"), None);
    }

    #[test]
    fn numbers_with_separators_and_empty_cells() {
        let mut b = String::new();
        assert_eq!(parse_number(b"1,234.50", Some(','), '.', &mut b), Ok(1234.5));
        assert_eq!(parse_number(b"1.234,50", Some('.'), ',', &mut b), Ok(1234.5));
        assert!(parse_number(b" ", None, '.', &mut b).unwrap().is_nan());
        assert_eq!(parse_number(b"12x", None, '.', &mut b), Err("12x".into()));
        assert_eq!(parse_number(b"inf", None, '.', &mut b), Err("inf".into()));
    }

    #[test]
    fn quoted_cells_keep_delimiters_and_line_breaks() {
        let out = split_record(b"2026-10-01,\"Paid, Search\",\"1,234\"\n", b',', true);
        assert_eq!(
            out,
            vec![b"2026-10-01".to_vec(), b"Paid, Search".to_vec(), b"1,234".to_vec()]
        );
        let data = b"a,\"x\ny\",1\nb,c,2\n";
        assert_eq!(quoted_record_end(data, 0), 10);
    }

    #[test]
    fn chunks_end_at_line_breaks_and_cover_everything() {
        let data = b"aaa\nbbb\nccc\nddd\n";
        let chunks = split_chunks(data, 3);
        assert_eq!(chunks.first().unwrap().0, 0);
        assert_eq!(chunks.last().unwrap().1, data.len());
        for (a, b) in &chunks {
            assert_eq!(data[b - 1], b'\n', "{a}..{b}");
        }
    }
}
