//! SQL source: a query against SQLite or Postgres returning a date column, the
//! dimensions and the fields. Rows outside the requested dates are dropped here,
//! so queries need no date parameters.

use super::{FetchRequest, SourceError};
use crate::config::plan::SqlSpec;
use crate::frame::{day_of, Day, Frame};
use chrono::NaiveDate;
use sqlx::{Column, Connection, Row};

/// Connects with `$conn`, runs the optional setup script and the query, and builds the frame.
/// (A macro because SQLite and Postgres rows are different types behind the same API.)
macro_rules! fetch_with {
    ($conn:ty, $what:literal, $id:expr, $spec:expr, $req:expr, $ranges:expr) => {{
        let mut conn = <$conn>::connect(&$spec.url)
            .await
            .map_err(|e| SourceError::unavailable($id, format!("cannot connect to {}: {}", $what, clean(&e))))?;
        if let Some(setup) = &$spec.setup {
            let sql = std::fs::read_to_string(setup)
                .map_err(|e| SourceError::config($id, format!("cannot read {}: {e}", setup.display())))?;
            sqlx::raw_sql(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| SourceError::config($id, format!("{}: {}", setup.display(), clean(&e))))?;
        }
        let rows = sqlx::query(&$spec.query)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| SourceError::config($id, format!("the query failed: {}", clean(&e))))?;
        build($id, $spec, $req, $ranges, &rows)
    }};
}

/// Runs the query and builds a frame. The URL is never put in an error (it may hold a password).
pub async fn fetch(id: &str, spec: &SqlSpec, req: &FetchRequest) -> Result<Frame, SourceError> {
    let ranges: Vec<(Day, Day)> = req.ranges.iter().map(|(a, b)| (day_of(*a), day_of(*b))).collect();
    if spec.url.starts_with("sqlite:") {
        fetch_with!(sqlx::SqliteConnection, "the SQLite database", id, spec, req, &ranges)
    } else {
        fetch_with!(sqlx::PgConnection, "Postgres", id, spec, req, &ranges)
    }
}

/// sqlx errors can quote the connection string; keep only the database's own message.
fn clean(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Configuration(_) => "the connection URL is not valid".into(),
        other => {
            let s = other.to_string();
            if s.contains("://") {
                "connection failed".into()
            } else {
                s
            }
        }
    }
}

trait DecodeAny {
    fn date_at(&self, i: usize) -> Result<Option<NaiveDate>, String>;
    fn number_at(&self, i: usize) -> Result<f64, String>;
    fn text_at(&self, i: usize) -> Result<String, String>;
}

macro_rules! decode_any {
    ($row:ty) => {
        impl DecodeAny for $row {
            fn date_at(&self, i: usize) -> Result<Option<NaiveDate>, String> {
                if let Ok(d) = self.try_get::<Option<NaiveDate>, _>(i) {
                    return Ok(d);
                }
                match self.try_get::<Option<String>, _>(i) {
                    Ok(None) => Ok(None),
                    Ok(Some(s)) => {
                        let s10 = s.get(..10).unwrap_or(&s);
                        NaiveDate::parse_from_str(s10, "%Y-%m-%d")
                            .map(Some)
                            .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
                    }
                    Err(_) => Err("the date column must be a DATE or text YYYY-MM-DD".into()),
                }
            }
            fn number_at(&self, i: usize) -> Result<f64, String> {
                if let Ok(v) = self.try_get::<Option<f64>, _>(i) {
                    return match v {
                        Some(x) if !x.is_finite() => Err(format!("`{x}` is not a finite number")),
                        Some(x) => Ok(x),
                        None => Ok(f64::NAN),
                    };
                }
                if let Ok(v) = self.try_get::<Option<i64>, _>(i) {
                    return Ok(v.map_or(f64::NAN, |x| x as f64));
                }
                if let Ok(v) = self.try_get::<Option<i32>, _>(i) {
                    return Ok(v.map_or(f64::NAN, |x| x as f64));
                }
                match self.try_get::<Option<String>, _>(i) {
                    Ok(None) => Ok(f64::NAN),
                    Ok(Some(s)) => s
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| format!("`{s}` is not a number")),
                    Err(_) => Err("not a number type (cast it to double precision / REAL in the query)".into()),
                }
            }
            fn text_at(&self, i: usize) -> Result<String, String> {
                match self.try_get::<Option<String>, _>(i) {
                    Ok(v) => Ok(v.unwrap_or_default()),
                    Err(_) => self.number_at(i).map(|n| n.to_string()),
                }
            }
        }
    };
}

decode_any!(sqlx::sqlite::SqliteRow);
decode_any!(sqlx::postgres::PgRow);

fn build<R: Row + DecodeAny>(
    id: &str,
    spec: &SqlSpec,
    req: &FetchRequest,
    ranges: &[(Day, Day)],
    rows: &[R],
) -> Result<Frame, SourceError> {
    let mut frame = Frame::new(&req.dimensions, &req.fields);
    let Some(first) = rows.first() else { return Ok(frame) };
    let names: Vec<String> = first.columns().iter().map(|c| c.name().to_string()).collect();
    let find = |col: &str| {
        names.iter().position(|n| n == col).ok_or_else(|| {
            SourceError::config(
                id,
                format!("the query returns no column `{col}`; it returns: {}", names.join(", ")),
            )
        })
    };
    let date_col = find(&spec.date_column)?;
    let dim_cols: Vec<usize> = req.dimensions.iter().map(|d| find(d)).collect::<Result<_, _>>()?;
    let field_cols: Vec<usize> = req.fields.iter().map(|f| find(f)).collect::<Result<_, _>>()?;
    for (n, row) in rows.iter().enumerate() {
        let at =
            |col: usize, msg: String| SourceError::data(id, format!("row {} column `{}`: {msg}", n + 1, names[col]));
        let Some(date) = row.date_at(date_col).map_err(|m| at(date_col, m))? else {
            continue;
        };
        let day = day_of(date);
        if !ranges.iter().any(|&(a, b)| day >= a && day < b) {
            continue;
        }
        frame.dates.push(day);
        for (i, &c) in dim_cols.iter().enumerate() {
            let v = row.text_at(c).map_err(|m| at(c, m))?;
            frame.dims[i].push(&v);
        }
        for (i, &c) in field_cols.iter().enumerate() {
            let v = row.number_at(c).map_err(|m| at(c, m))?;
            frame.fields[i].values.push(v);
        }
    }
    frame.sort_by_date();
    Ok(frame)
}
