//! KPI formulas: parsed by the CEL parser (`cel` crate), evaluated here over metric totals.
//!
//! Why not CEL's own interpreter: a formula like `spend / leads` must give "no value,
//! because leads is 0" rather than CEL's `inf` for doubles or an error for ints, and
//! it runs once per (period, breakdown row, KPI), often tens of thousands of times in
//! one report. So CEL parses (a maintained, sandboxed grammar with no loops or I/O)
//! and this module compiles the accepted subset (numbers, metric names, `+ - * /`,
//! unary minus, parentheses, `min`, `max`, `abs`) into a small tree evaluated over `f64`.

use crate::reason::Reason;
use cel::common::ast::{operators, Expr as CelExpr, LiteralValue};
use cel::IdedExpr;

/// A compiled formula. Metric references are indices into the plan's metric list.
#[derive(Debug, Clone, PartialEq)]
pub enum Formula {
    Num(f64),
    Metric(usize),
    Neg(Box<Formula>),
    Add(Box<Formula>, Box<Formula>),
    Sub(Box<Formula>, Box<Formula>),
    Mul(Box<Formula>, Box<Formula>),
    Div(Box<Formula>, Box<Formula>),
    Min(Box<Formula>, Box<Formula>),
    Max(Box<Formula>, Box<Formula>),
    Abs(Box<Formula>),
}

/// Why a formula has no value: shown to users next to the `—`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoValue(pub Reason);

/// A formula before names are resolved: what the parser accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Num(f64),
    Name(String),
    Unary(&'static str, Box<Parsed>),
    Binary(&'static str, Box<Parsed>, Box<Parsed>),
}

/// Parses formula text. Errors say what is not allowed.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let ast = cel::parser::Parser::new()
        .parse(text)
        .map_err(|e| format!("`{text}` is not a formula: {}", first_line(&e.to_string())))?;
    from_cel(&ast)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn from_cel(e: &IdedExpr) -> Result<Parsed, String> {
    match &e.expr {
        CelExpr::Literal(LiteralValue::Int(i)) => Ok(Parsed::Num(*i.inner() as f64)),
        CelExpr::Literal(LiteralValue::UInt(u)) => Ok(Parsed::Num(*u.inner() as f64)),
        CelExpr::Literal(LiteralValue::Double(d)) => Ok(Parsed::Num(*d.inner())),
        CelExpr::Ident(name) => Ok(Parsed::Name(name.clone())),
        CelExpr::Call(call) if call.target.is_none() => {
            let args: Vec<Parsed> = call.args.iter().map(from_cel).collect::<Result<_, _>>()?;
            let name = call.func_name.as_str();
            let binary = |op: &'static str, args: Vec<Parsed>| -> Result<Parsed, String> {
                let [a, b]: [Parsed; 2] = args
                    .try_into()
                    .map_err(|_| format!("`{op}` takes two values"))?;
                Ok(Parsed::Binary(op, Box::new(a), Box::new(b)))
            };
            match name {
                operators::ADD => binary("+", args),
                operators::SUBSTRACT => binary("-", args),
                operators::MULTIPLY => binary("*", args),
                operators::DIVIDE => binary("/", args),
                "min" => binary("min", args),
                "max" => binary("max", args),
                operators::NEGATE | "abs" => {
                    let [a]: [Parsed; 1] = args
                        .try_into()
                        .map_err(|_| format!("`{name}` takes one value"))?;
                    Ok(Parsed::Unary(if name == "abs" { "abs" } else { "-" }, Box::new(a)))
                }
                other => Err(format!(
                    "`{}` is not allowed in a formula: use metric names, numbers, + - * /, parentheses, min(a, b), max(a, b) and abs(x)",
                    other.trim_matches('_')
                )),
            }
        }
        _ => Err(
            "only metric names, numbers, + - * /, parentheses, min(a, b), max(a, b) and abs(x) are allowed in a formula"
                .to_string(),
        ),
    }
}

impl Parsed {
    /// Every name the formula refers to, in order of first use.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_names(&mut out);
        out
    }

    fn collect_names(&self, out: &mut Vec<String>) {
        match self {
            Parsed::Num(_) => {}
            Parsed::Name(n) => {
                if !out.contains(n) {
                    out.push(n.clone())
                }
            }
            Parsed::Unary(_, a) => a.collect_names(out),
            Parsed::Binary(_, a, b) => {
                a.collect_names(out);
                b.collect_names(out);
            }
        }
    }

    /// Compiles with `resolve` mapping each name to a formula (a metric, or another KPI inlined).
    pub fn compile(&self, resolve: &mut dyn FnMut(&str) -> Result<Formula, String>) -> Result<Formula, String> {
        Ok(match self {
            Parsed::Num(n) => Formula::Num(*n),
            Parsed::Name(n) => resolve(n)?,
            Parsed::Unary(op, a) => {
                let a = Box::new(a.compile(resolve)?);
                if *op == "abs" {
                    Formula::Abs(a)
                } else {
                    Formula::Neg(a)
                }
            }
            Parsed::Binary(op, a, b) => {
                let (a, b) = (Box::new(a.compile(resolve)?), Box::new(b.compile(resolve)?));
                match *op {
                    "+" => Formula::Add(a, b),
                    "-" => Formula::Sub(a, b),
                    "*" => Formula::Mul(a, b),
                    "/" => Formula::Div(a, b),
                    "min" => Formula::Min(a, b),
                    _ => Formula::Max(a, b),
                }
            }
        })
    }
}

impl Formula {
    /// Evaluates over metric totals (`None` = the metric has no data in this slice).
    /// `names` gives metric names for the reasons shown to users.
    pub fn eval(&self, metrics: &[Option<f64>], names: &[String]) -> Result<f64, NoValue> {
        match self {
            Formula::Num(n) => Ok(*n),
            Formula::Metric(i) => {
                metrics[*i].ok_or_else(|| NoValue(Reason::new("no_data_for", &[("metric", &names[*i])])))
            }
            Formula::Neg(a) => Ok(-a.eval(metrics, names)?),
            Formula::Abs(a) => Ok(a.eval(metrics, names)?.abs()),
            Formula::Add(a, b) => Ok(a.eval(metrics, names)? + b.eval(metrics, names)?),
            Formula::Sub(a, b) => Ok(a.eval(metrics, names)? - b.eval(metrics, names)?),
            Formula::Mul(a, b) => Ok(a.eval(metrics, names)? * b.eval(metrics, names)?),
            Formula::Min(a, b) => Ok(a.eval(metrics, names)?.min(b.eval(metrics, names)?)),
            Formula::Max(a, b) => Ok(a.eval(metrics, names)?.max(b.eval(metrics, names)?)),
            Formula::Div(a, b) => {
                let d = b.eval(metrics, names)?;
                if d == 0.0 {
                    return Err(NoValue(Reason::new(
                        "division_by_zero",
                        &[("divisor", &b.describe(names))],
                    )));
                }
                let v = a.eval(metrics, names)? / d;
                if v.is_finite() {
                    Ok(v)
                } else {
                    Err(NoValue(Reason::new("not_finite", &[])))
                }
            }
        }
    }

    /// True when the formula is a linear sum of additive metrics (so it can be projected
    /// to period end); `additive(i)` says whether metric `i` adds up over days.
    pub fn is_additive(&self, additive: &dyn Fn(usize) -> bool) -> bool {
        match self {
            Formula::Metric(i) => additive(*i),
            Formula::Num(_) => false,
            Formula::Neg(a) => a.is_additive(additive),
            Formula::Add(a, b) | Formula::Sub(a, b) => a.is_additive(additive) && b.is_additive(additive),
            Formula::Mul(a, b) => match (&**a, &**b) {
                (Formula::Num(_), x) | (x, Formula::Num(_)) => x.is_additive(additive),
                _ => false,
            },
            Formula::Div(a, b) => matches!(**b, Formula::Num(_)) && a.is_additive(additive),
            _ => false,
        }
    }

    /// True when the formula can only grow as days are added: sums of additive metrics
    /// scaled by positive constants (no subtraction). Only then is a floor reached mid-period
    /// already met for good (`revenue - spend` can fall back below it).
    pub fn is_monotonic(&self, additive: &dyn Fn(usize) -> bool) -> bool {
        match self {
            Formula::Metric(i) => additive(*i),
            Formula::Add(a, b) => a.is_monotonic(additive) && b.is_monotonic(additive),
            Formula::Mul(a, b) => match (&**a, &**b) {
                (Formula::Num(c), x) | (x, Formula::Num(c)) => *c > 0.0 && x.is_monotonic(additive),
                _ => false,
            },
            Formula::Div(a, b) => matches!(**b, Formula::Num(c) if c > 0.0) && a.is_monotonic(additive),
            _ => false,
        }
    }

    /// Metric indices used.
    pub fn metrics(&self, out: &mut Vec<usize>) {
        match self {
            Formula::Num(_) => {}
            Formula::Metric(i) => {
                if !out.contains(i) {
                    out.push(*i)
                }
            }
            Formula::Neg(a) | Formula::Abs(a) => a.metrics(out),
            Formula::Add(a, b)
            | Formula::Sub(a, b)
            | Formula::Mul(a, b)
            | Formula::Div(a, b)
            | Formula::Min(a, b)
            | Formula::Max(a, b) => {
                a.metrics(out);
                b.metrics(out);
            }
        }
    }

    fn describe(&self, names: &[String]) -> String {
        match self {
            Formula::Metric(i) => names[*i].clone(),
            Formula::Num(n) => n.to_string(),
            _ => "the divisor".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str, names: &[&str]) -> Formula {
        parse(text)
            .unwrap()
            .compile(&mut |n| {
                names
                    .iter()
                    .position(|x| *x == n)
                    .map(Formula::Metric)
                    .ok_or_else(|| format!("unknown {n}"))
            })
            .unwrap()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roi_from_the_seed_is_150_percent() {
        let f = compile("(revenue - spend) / spend", &["revenue", "spend"]);
        assert_eq!(
            f.eval(&[Some(50_000.0), Some(20_000.0)], &names(&["revenue", "spend"])),
            Ok(1.5)
        );
    }

    #[test]
    fn division_by_zero_is_no_value_with_the_reason() {
        let f = compile("spend / leads", &["spend", "leads"]);
        let r = f.eval(&[Some(100.0), Some(0.0)], &names(&["spend", "leads"]));
        assert_eq!(r.unwrap_err().0.to_string(), "division by zero: leads is 0");
        let r = f.eval(&[Some(100.0), None], &names(&["spend", "leads"]));
        assert_eq!(r.unwrap_err().0.to_string(), "no data for leads");
    }

    #[test]
    fn precedence_functions_and_literals() {
        let f = compile("min(a, b) * 2 + -abs(c) / 4.0", &["a", "b", "c"]);
        assert_eq!(
            f.eval(&[Some(3.0), Some(5.0), Some(-8.0)], &names(&["a", "b", "c"])),
            Ok(4.0)
        );
    }

    #[test]
    fn anything_beyond_arithmetic_is_refused() {
        assert!(parse("spend / leads > 3").unwrap_err().contains("not allowed"));
        assert!(parse("'text'").unwrap_err().contains("only metric names"));
        assert!(parse("size(x)").unwrap_err().contains("`size` is not allowed"));
        assert!(parse("spend / (leads").unwrap_err().contains("is not a formula"));
    }

    #[test]
    fn linear_sums_are_additive_and_ratios_are_not() {
        let all = |_: usize| true;
        assert!(compile("users - returning", &["users", "returning"]).is_additive(&all));
        assert!(compile("cost / 1000000", &["cost"]).is_additive(&all));
        assert!(!compile("spend / leads", &["spend", "leads"]).is_additive(&all));
        assert!(!compile("a * b", &["a", "b"]).is_additive(&all));
        assert!(compile("a + b * 2", &["a", "b"]).is_monotonic(&all));
        assert!(!compile("revenue - spend", &["revenue", "spend"]).is_monotonic(&all));
    }
}
