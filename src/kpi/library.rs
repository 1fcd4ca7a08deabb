//! The built-in KPI library: every KPI of the glossary, with its formula over
//! conventionally named metrics, its unit and which direction is better.
//!
//! A built-in is usable as soon as the config maps the metrics its formula names.
//! A metric is itself a KPI of the same name (a count or money total), which is why
//! `new_users` and `unique_visits` below are only used when no metric of that name is mapped.

use super::{Better, Unit};

pub struct BuiltIn {
    pub id: &'static str,
    pub name: &'static str,
    pub formula: &'static str,
    pub unit: Unit,
    pub better: Better,
}

const fn k(id: &'static str, name: &'static str, formula: &'static str, unit: Unit, better: Better) -> BuiltIn {
    BuiltIn {
        id,
        name,
        formula,
        unit,
        better,
    }
}

use Better::{Higher, Lower};
use Unit::{Count, Duration, Fraction, Money, Ratio, Score};

pub const BUILT_INS: &[BuiltIn] = &[
    k(
        "conversion_rate",
        "Conversion rate",
        "conversions / sessions",
        Fraction,
        Higher,
    ),
    k(
        "visit_to_lead_rate",
        "Visit-to-lead rate",
        "leads / sessions",
        Fraction,
        Higher,
    ),
    k(
        "lead_conversion_rate",
        "Lead conversion rate",
        "customers / leads",
        Fraction,
        Higher,
    ),
    k(
        "sale_to_lead_ratio",
        "Sale-to-lead ratio",
        "sales / leads",
        Fraction,
        Higher,
    ),
    k(
        "email_conversion_rate",
        "Email conversion rate",
        "email_conversions / emails_sent",
        Fraction,
        Higher,
    ),
    k(
        "email_open_rate",
        "Email open rate",
        "emails_opened / emails_sent",
        Fraction,
        Higher,
    ),
    k(
        "ctr",
        "Click-through rate (ads: clicks ÷ impressions)",
        "clicks / impressions",
        Fraction,
        Higher,
    ),
    k(
        "email_ctr",
        "Email click-through rate (clicks ÷ opened)",
        "email_clicks / emails_opened",
        Fraction,
        Higher,
    ),
    k("bounce_rate", "Bounce rate", "bounces / sessions", Fraction, Lower),
    k("exit_rate", "Exit rate", "exits / page_views", Fraction, Lower),
    k(
        "download_rate",
        "Download rate",
        "downloads / sessions",
        Fraction,
        Higher,
    ),
    k("new_users", "New users", "users - returning_users", Count, Higher),
    k(
        "unique_visits",
        "Unique visits",
        "visits - repeat_visits",
        Count,
        Higher,
    ),
    k(
        "pages_per_visit",
        "Pages per visit",
        "page_views / sessions",
        Ratio,
        Higher,
    ),
    k("cpc", "Cost per click", "spend / clicks", Money, Lower),
    k("cpl", "Cost per lead", "spend / leads", Money, Lower),
    k("cpa", "Cost per acquisition", "spend / conversions", Money, Lower),
    k("cac", "Customer acquisition cost", "spend / customers", Money, Lower),
    k(
        "roi",
        "Return on investment",
        "(revenue - spend) / spend",
        Fraction,
        Higher,
    ),
    k("roas", "Return on ad spend", "revenue / spend", Ratio, Higher),
    k("ltv_to_cac", "LTV : CAC", "ltv * customers / spend", Ratio, Higher),
    k(
        "retention_rate",
        "Customer retention rate",
        "(customers_end - customers) / customers_start",
        Fraction,
        Higher,
    ),
    k(
        "churn_rate",
        "Churn rate",
        "customers_lost / customers_start",
        Fraction,
        Lower,
    ),
    k(
        "engagement_rate",
        "Social engagement rate",
        "interactions / followers",
        Fraction,
        Higher,
    ),
    k(
        "avg_response_time",
        "Average response time",
        "response_seconds / responses",
        Duration,
        Lower,
    ),
    k("lead_to_mql_rate", "Lead → MQL rate", "mqls / leads", Fraction, Higher),
    k("mql_to_sql_rate", "MQL → SQL rate", "sqls / mqls", Fraction, Higher),
    k(
        "sql_to_customer_rate",
        "SQL → customer rate",
        "customers / sqls",
        Fraction,
        Higher,
    ),
    k(
        "revenue_per_customer",
        "Average revenue per customer",
        "revenue / customers",
        Money,
        Higher,
    ),
    k(
        "close_velocity",
        "Close velocity",
        "days_to_close * 86400 / deals_closed",
        Duration,
        Lower,
    ),
    k(
        "account_engagement_rate",
        "Account engagement rate",
        "engaged_accounts / target_accounts",
        Fraction,
        Higher,
    ),
    k(
        "target_accounts_converted",
        "Target accounts converted",
        "accounts_converted",
        Count,
        Higher,
    ),
    k(
        "nps",
        "Net promoter score",
        "100 * (promoters - detractors) / nps_responses",
        Score,
        Higher,
    ),
    k("monthly_reach", "Reach", "reach", Count, Higher),
    k("quality_score", "Ad quality score", "quality_score", Score, Higher),
];

/// Units and directions of well-known metrics, used when a metric is used as a KPI directly.
pub fn metric_defaults(name: &str) -> (Unit, Better) {
    match name {
        "spend" | "cost" | "ad_spend" => (Money, Lower),
        "revenue" | "conversions_value" | "deal_amount" | "ltv" => (Money, Higher),
        "bounces" | "exits" | "customers_lost" | "detractors" => (Count, Lower),
        "quality_score" => (Score, Higher),
        "response_seconds" => (Duration, Lower),
        _ => (Count, Higher),
    }
}

pub fn find(id: &str) -> Option<&'static BuiltIn> {
    BUILT_INS.iter().find(|b| b.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::formula;

    /// Evaluates a built-in with named metric values.
    fn eval(id: &str, values: &[(&str, f64)]) -> Result<f64, formula::NoValue> {
        let b = find(id).unwrap();
        let parsed = formula::parse(b.formula).unwrap();
        let names: Vec<String> = parsed.names();
        let f = parsed
            .compile(&mut |n| Ok(formula::Formula::Metric(names.iter().position(|x| x == n).unwrap())))
            .unwrap();
        let vals: Vec<Option<f64>> = names
            .iter()
            .map(|n| values.iter().find(|(k, _)| k == n).map(|(_, v)| *v))
            .collect();
        f.eval(&vals, &names)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn every_built_in_formula_parses() {
        for b in BUILT_INS {
            formula::parse(b.formula).unwrap_or_else(|e| panic!("{}: {e}", b.id));
        }
    }

    #[test]
    fn the_glossary_examples_compute_as_the_seeds_intend() {
        // Each line: the glossary's worked example.
        assert!(close(
            eval("lead_conversion_rate", &[("customers", 40.0), ("leads", 500.0)]).unwrap(),
            0.08
        ));
        assert!(close(
            eval("sale_to_lead_ratio", &[("sales", 20.0), ("leads", 100.0)]).unwrap(),
            0.20
        ));
        assert!(close(
            eval(
                "email_conversion_rate",
                &[("email_conversions", 500.0), ("emails_sent", 25_000.0)]
            )
            .unwrap(),
            0.02
        ));
        assert!(close(
            eval("bounce_rate", &[("bounces", 5.0), ("sessions", 50.0)]).unwrap(),
            0.10
        ));
        assert!(close(
            eval("download_rate", &[("downloads", 20.0), ("sessions", 500.0)]).unwrap(),
            0.04
        ));
        assert!(close(
            eval("new_users", &[("users", 68_000.0), ("returning_users", 18_000.0)]).unwrap(),
            50_000.0
        ));
        assert!(close(eval("cpc", &[("spend", 100.0), ("clicks", 10.0)]).unwrap(), 10.0));
        assert!(close(
            eval("cpl", &[("spend", 10_000.0), ("leads", 100.0)]).unwrap(),
            100.0
        ));
        assert!(close(
            eval("cpl", &[("spend", 2_000.0), ("leads", 50.0)]).unwrap(),
            40.0
        ));
        assert!(close(
            eval("cpa", &[("spend", 2_000.0), ("conversions", 10.0)]).unwrap(),
            200.0
        ));
        assert!(close(
            eval("cac", &[("spend", 25_000.0), ("customers", 100.0)]).unwrap(),
            250.0
        ));
        // The seed prints 120% and 2.5% for this one; the right answer is 150%.
        assert!(close(
            eval("roi", &[("revenue", 50_000.0), ("spend", 20_000.0)]).unwrap(),
            1.5
        ));
        assert!(close(
            eval("churn_rate", &[("customers_lost", 10.0), ("customers_start", 100.0)]).unwrap(),
            0.10
        ));
    }

    #[test]
    fn the_other_glossary_rows_compute_from_their_parts() {
        assert!(close(
            eval("conversion_rate", &[("conversions", 30.0), ("sessions", 1000.0)]).unwrap(),
            0.03
        ));
        assert!(close(
            eval("email_open_rate", &[("emails_opened", 250.0), ("emails_sent", 1000.0)]).unwrap(),
            0.25
        ));
        assert!(close(
            eval("ctr", &[("clicks", 50.0), ("impressions", 10_000.0)]).unwrap(),
            0.005
        ));
        assert!(close(
            eval("email_ctr", &[("email_clicks", 30.0), ("emails_opened", 300.0)]).unwrap(),
            0.1
        ));
        assert!(close(
            eval("exit_rate", &[("exits", 30.0), ("page_views", 120.0)]).unwrap(),
            0.25
        ));
        assert!(close(
            eval("unique_visits", &[("visits", 900.0), ("repeat_visits", 200.0)]).unwrap(),
            700.0
        ));
        assert!(close(
            eval("pages_per_visit", &[("page_views", 3000.0), ("sessions", 1000.0)]).unwrap(),
            3.0
        ));
        assert!(close(
            eval("roas", &[("revenue", 4000.0), ("spend", 1000.0)]).unwrap(),
            4.0
        ));
        // LTV 1,000 and CAC 250 (25,000 / 100) give 4.
        assert!(close(
            eval(
                "ltv_to_cac",
                &[("ltv", 1000.0), ("customers", 100.0), ("spend", 25_000.0)]
            )
            .unwrap(),
            4.0
        ));
        assert!(close(
            eval(
                "retention_rate",
                &[
                    ("customers_end", 110.0),
                    ("customers", 20.0),
                    ("customers_start", 100.0)
                ]
            )
            .unwrap(),
            0.9
        ));
        assert!(close(
            eval("engagement_rate", &[("interactions", 300.0), ("followers", 10_000.0)]).unwrap(),
            0.03
        ));
        assert!(close(
            eval(
                "avg_response_time",
                &[("response_seconds", 36_000.0), ("responses", 10.0)]
            )
            .unwrap(),
            3600.0
        ));
        assert!(close(
            eval("lead_to_mql_rate", &[("mqls", 30.0), ("leads", 100.0)]).unwrap(),
            0.3
        ));
        assert!(close(
            eval("mql_to_sql_rate", &[("sqls", 10.0), ("mqls", 30.0)]).unwrap(),
            1.0 / 3.0
        ));
        assert!(close(
            eval("sql_to_customer_rate", &[("customers", 4.0), ("sqls", 10.0)]).unwrap(),
            0.4
        ));
        assert!(close(
            eval("revenue_per_customer", &[("revenue", 9000.0), ("customers", 3.0)]).unwrap(),
            3000.0
        ));
        assert!(close(
            eval("close_velocity", &[("days_to_close", 60.0), ("deals_closed", 3.0)]).unwrap(),
            20.0 * 86400.0
        ));
        assert!(close(
            eval(
                "account_engagement_rate",
                &[("engaged_accounts", 12.0), ("target_accounts", 48.0)]
            )
            .unwrap(),
            0.25
        ));
        assert!(close(
            eval("target_accounts_converted", &[("accounts_converted", 7.0)]).unwrap(),
            7.0
        ));
        assert!(close(
            eval(
                "nps",
                &[("promoters", 60.0), ("detractors", 10.0), ("nps_responses", 100.0)]
            )
            .unwrap(),
            50.0
        ));
        assert!(close(eval("monthly_reach", &[("reach", 20_000.0)]).unwrap(), 20_000.0));
        assert!(close(eval("quality_score", &[("quality_score", 8.2)]).unwrap(), 8.2));
    }

    #[test]
    fn a_rate_with_a_zero_base_has_no_value() {
        assert!(eval("cpl", &[("spend", 100.0), ("leads", 0.0)]).is_err());
        assert!(eval("churn_rate", &[("customers_lost", 1.0), ("customers_start", 0.0)]).is_err());
    }
}
