//! `gavel usage`: the counters of a running service (budgets and rates:
//! used, reserved, limit, left) and its reservations, from `GET /v1/usage`.

use super::remote::{ServiceArgs, print_json};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct UsageArgs {
    /// Only counters of this scope: agent, session, user or fleet.
    #[arg(long)]
    scope: Option<String>,
    /// Only counters of this subject (an agent, session or user id; `*`
    /// for the fleet).
    #[arg(long)]
    subject: Option<String>,
    /// Only counters of this name (e.g. `budget`, `rate:send_email`).
    #[arg(long)]
    counter: Option<String>,
    /// Print the JSON answer instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    service: ServiceArgs,
}

pub fn run(args: UsageArgs) -> anyhow::Result<u8> {
    let answer = args.service.call("GET", &path(&args), None)?;
    if args.json {
        print_json(&answer);
    } else {
        print!("{}", table(&answer));
    }
    Ok(0)
}

/// `/v1/usage` with the filters given.
fn path(args: &UsageArgs) -> String {
    let query: Vec<String> = [
        ("scope", &args.scope),
        ("subject", &args.subject),
        ("counter", &args.counter),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k}={}", encode(v))))
    .collect();
    match query.is_empty() {
        true => "/v1/usage".to_owned(),
        false => format!("/v1/usage?{}", query.join("&")),
    }
}

/// Percent-encode everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

const COLUMNS: [&str; 9] = [
    "counter", "kind", "scope", "subject", "window", "used", "reserved", "limit", "left",
];

/// The answer as a table (columns padded to their widest cell), then the
/// reservation counts.
fn table(answer: &Value) -> String {
    let rows: Vec<[String; 9]> = answer
        .get("counters")
        .and_then(Value::as_array)
        .map(|counters| counters.iter().map(row).collect())
        .unwrap_or_default();
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("no counters\n");
    } else {
        let mut widths = COLUMNS.map(str::len);
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header = COLUMNS.map(str::to_owned);
        for r in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
                match i {
                    0 => line.push_str(&format!("{cell:<w$}")),
                    // Numbers right-aligned.
                    5.. => line.push_str(&format!("  {cell:>w$}")),
                    _ => line.push_str(&format!("  {cell:<w$}")),
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    let count = |state: &str| {
        answer
            .pointer(&format!("/reservations/{state}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    out.push_str(&format!(
        "reservations: {} held, {} open, {} settled\n",
        count("held"),
        count("open"),
        count("settled")
    ));
    out
}

fn row(counter: &Value) -> [String; 9] {
    let text = |k: &str| {
        counter
            .get(k)
            .and_then(Value::as_str)
            .map(clean)
            .unwrap_or_else(|| "-".to_owned())
    };
    let number = |k: &str| {
        counter
            .get(k)
            .and_then(Value::as_f64)
            .map_or_else(|| "-".to_owned(), |n| n.to_string())
    };
    [
        text("counter"),
        text("kind"),
        text("scope"),
        text("subject"),
        window(counter.get("window")),
        number("used"),
        number("reserved"),
        number("limit"),
        number("left"),
    ]
}

/// `day UTC`, `month Europe/Paris`, `rolling 1h`.
fn window(window: Option<&Value>) -> String {
    let Some(w) = window else {
        return "-".to_owned();
    };
    let field = |k: &str| w.get(k).and_then(Value::as_str).map(clean);
    match field("type").as_deref() {
        Some("calendar") => format!(
            "{} {}",
            field("period").unwrap_or_else(|| "?".to_owned()),
            field("timezone").unwrap_or_else(|| "?".to_owned())
        ),
        Some("rolling") => match w.get("ms").and_then(Value::as_u64) {
            Some(ms) => format!("rolling {}", duration(ms)),
            None => "rolling ?".to_owned(),
        },
        _ => "?".to_owned(),
    }
}

/// The largest whole unit: `1h`, `90m`, `30s`, `1500ms`.
fn duration(ms: u64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Control characters replaced, so that a subject cannot break the table.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
