//! A deterministic stream of realistic agent actions.
//!
//! Every action is built as JSON and parsed with
//! [`gavel::Request::from_json`], so every action is valid. The stream is
//! a function of [`SEED`] and the position alone: `workload(n)` is the
//! first `n` actions of one infinite stream, byte for byte the same on
//! every run (integer arithmetic only; a small xorshift64* generator).
//!
//! # The mix
//!
//! Categories follow a fixed rotation (smooth weighted round robin over
//! the weights below, out of 100), so any `n` holds each category in
//! proportion, to within one action:
//!
//! | category | weight | actions | the shipped policies' answer |
//! |---|---:|---|---|
//! | `ordinary` | 18 | search, read, summarize, ticket, CRM, SQL, meeting, report | approve |
//! | `forbidden` | 5 | `delete_account`, `access_payment_details`, `change_pricing_tiers`, `modify_own_instructions` | deny `forbidden-action` |
//! | `approval-required` | 6 | `delete_*` (incl. `delete_` itself and `delete_account_backup`), `contract_modification`, `external_vendor_communication` | escalate `approval-required` |
//! | `action-near-miss` | 4 | names next to a listed one: `undelete_file`, `delete`, `remove_account`, `send_emails`, `execute_transactions`, `http_get`, `quote_price` with a USD or EUR amount, ...; some carry PII | approve (lists match whole names, ignoring ASCII case, so near misses differ by more than case; only `delete_*` is a prefix) |
//! | `transaction-limit` | 18 | `execute_transaction`, `issue_refund`, `make_payment` with amounts just below, at, one ulp above and a cent above each `max` and `approval_above` of the agent's limit (or the `default` max 0), and random amounts up to 1.6x the max; USD, `usd`/`Usd`, or no currency | approve, escalate `approval-threshold`, deny `over-limit` |
//! | `transaction-currency` | 4 | the same actions in EUR, GBP, JPY, CAD, CHF, MXN, `US$`, `USD ` (trailing space), with amounts under and over the limit | deny `currency-mismatch` |
//! | `transaction-no-amount` | 2 | the same actions with no amount (absent or `null`) | deny `amount-required` |
//! | `business-hours` | 15 | `execute_transaction` (amount within limits, so that the clock decides), `send_contract`, `modify_production`, at window edges and around both DST changes | approve inside Mon–Fri 09:00–17:00 New York time, else deny `outside-business-hours` |
//! | `outbound-clean` | 8 | `send_email`, `send_external_message`, `http_post`, `post_to_social_media` with clean text (addresses at example-corp.com and its subdomains) | approve |
//! | `outbound-pii` | 10 | the same, carrying 1–3 of: emails at other domains (incl. `notexample-corp.com` and `example-corp.com.attacker.io`), Luhn-valid card numbers (Visa 13/16, Mastercard 5x and 2x, Amex 4-6-5, Discover; bare, space- or dash-grouped), NANP and international phone numbers, SSNs, IBANs, IPv4 addresses, credentials (AWS key ids, GitHub and Slack tokens, JWTs, PEM headers); in the body, in `to`/`reply_to`, in a `cc` array or in a nested `attachments[0].note` | deny `pii-detected` |
//! | `outbound-near-miss` | 8 | the same, carrying look-alikes the scanner must pass: card numbers failing Luhn, invalid SSNs (area 000/666/9xx, group 00, serial 0000), phone numbers with an exchange or area starting 0/1 or mixed separators, bare 10-digit runs, version numbers, out-of-range IPs, dates, amounts, a tracking number, an IBAN with bad check digits, short tokens, `logo@2x.png`, `@channel`; or an address at another domain used only as an object key (keys are not scanned) | approve |
//! | `pii-not-outbound` | 2 | `read_customer_record`, `update_crm_record`, `create_ticket`, `summarize_document` carrying PII | approve (pii-egress judges outbound actions only) |
//!
//! Agents: the three registered ones (`financial-advisor`, tier 4, max
//! 1000; `customer-support`, tier 2, max 500, approval above 100;
//! `research-assistant`, tier 1, the default max 0) and one unregistered
//! agent, `ops-autopilot` (default max 0), uniformly in every category.
//!
//! Timestamps are in 2026, written in UTC (`Z`) or, for about one in
//! seven, with New York's offset of the moment. Four kinds: any instant of
//! the year (so every weekday and hour); business hours (Mon–Fri, local
//! 09:00–16:59, a fifth of them in a week around a DST change); window
//! edges (any of the seven days of a random week, about a third of them
//! around a DST change, local 08:59:00, 08:59:59.999,
//! 09:00:00, 09:00:00.001, 09:00:59, 16:59:00, 16:59:59.999, 17:00:00,
//! 17:00:00.001, 17:00:59, 00:00, 12:00, 23:59:59.999); and DST (the
//! Friday to Tuesday around 2026-03-08 and 2026-11-01, at UTC times that
//! fall inside the window on one side of the change and outside on the
//! other, plus the change instants themselves). `execute_transaction` in
//! `transaction-limit` is at business hours three times in four, else at
//! any instant; `business-hours` actions are at edges (45%), DST (35%) or
//! any instant (20%); every other category at any instant, except
//! `transaction-currency` and `transaction-no-amount` (business hours) and
//! the transaction and contract look-alikes of `action-near-miss` (edges).
//!
//! Message bodies are 100 bytes to 64 KiB (65,536 bytes), log-uniform by
//! octave (100–200, 200–400, ..., 51,200–65,536, equally likely), of
//! plain sentences with the category's items placed among them.

use gavel::Request;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

/// The generator's seed. Changing it changes every benchmark's input.
pub const SEED: u64 = 0x6761_7665_6c2d_6231;

/// The default workload size.
pub const DEFAULT_N: usize = 10_000;

/// The unregistered agent.
pub const UNREGISTERED_AGENT: &str = "ops-autopilot";

/// Every agent in the workload: the three registered ones and one that is
/// not in the registry.
pub const AGENTS: [&str; 4] = [
    "financial-advisor",
    "customer-support",
    "research-assistant",
    UNREGISTERED_AGENT,
];

/// The smallest and largest message body, in bytes.
pub const BODY_BYTES: (usize, usize) = (100, 65_536);

/// A kind of action in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Everyday actions no policy cares about.
    Ordinary,
    /// Actions on the forbidden list.
    Forbidden,
    /// Actions that need a human's approval.
    ApprovalRequired,
    /// Action names next to listed ones.
    ActionNearMiss,
    /// Money-moving actions around every limit.
    TransactionLimit,
    /// Money-moving actions in other currencies.
    TransactionCurrency,
    /// Money-moving actions without an amount.
    TransactionNoAmount,
    /// Actions allowed only in business hours, at the window's edges.
    BusinessHours,
    /// Outbound messages without PII.
    OutboundClean,
    /// Outbound messages with PII.
    OutboundPii,
    /// Outbound messages with look-alikes of PII.
    OutboundNearMiss,
    /// PII in actions that do not leave the company.
    PiiNotOutbound,
}

impl Category {
    /// Every category, in the order of the mix table.
    pub const ALL: [Category; 12] = [
        Category::Ordinary,
        Category::Forbidden,
        Category::ApprovalRequired,
        Category::ActionNearMiss,
        Category::TransactionLimit,
        Category::TransactionCurrency,
        Category::TransactionNoAmount,
        Category::BusinessHours,
        Category::OutboundClean,
        Category::OutboundPii,
        Category::OutboundNearMiss,
        Category::PiiNotOutbound,
    ];

    /// The category's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Category::Ordinary => "ordinary",
            Category::Forbidden => "forbidden",
            Category::ApprovalRequired => "approval-required",
            Category::ActionNearMiss => "action-near-miss",
            Category::TransactionLimit => "transaction-limit",
            Category::TransactionCurrency => "transaction-currency",
            Category::TransactionNoAmount => "transaction-no-amount",
            Category::BusinessHours => "business-hours",
            Category::OutboundClean => "outbound-clean",
            Category::OutboundPii => "outbound-pii",
            Category::OutboundNearMiss => "outbound-near-miss",
            Category::PiiNotOutbound => "pii-not-outbound",
        }
    }

    /// The category's share of the mix, out of 100.
    pub fn weight(self) -> u32 {
        match self {
            Category::Ordinary => 18,
            Category::Forbidden => 5,
            Category::ApprovalRequired => 6,
            Category::ActionNearMiss => 4,
            Category::TransactionLimit => 18,
            Category::TransactionCurrency => 4,
            Category::TransactionNoAmount => 2,
            Category::BusinessHours => 15,
            Category::OutboundClean => 8,
            Category::OutboundPii => 10,
            Category::OutboundNearMiss => 8,
            Category::PiiNotOutbound => 2,
        }
    }

    /// What the category holds, and what the shipped policies answer.
    pub fn description(self) -> &'static str {
        match self {
            Category::Ordinary => {
                "everyday actions (search, read, ticket, CRM, SQL, report) → approve"
            }
            Category::Forbidden => "the four forbidden actions → deny `forbidden-action`",
            Category::ApprovalRequired => {
                "`delete_*`, `contract_modification`, `external_vendor_communication` → escalate `approval-required`"
            }
            Category::ActionNearMiss => {
                "names next to listed ones (`undelete_file`, `send_emails`, `remove_account`, ...) → approve"
            }
            Category::TransactionLimit => {
                "transactions at, just below and just above every `max` and `approval_above` → approve / escalate `approval-threshold` / deny `over-limit` (and the clock, for `execute_transaction`)"
            }
            Category::TransactionCurrency => {
                "transactions in EUR, GBP, JPY, CAD, CHF, MXN, `US$`, `USD ` → deny `currency-mismatch`"
            }
            Category::TransactionNoAmount => {
                "transactions without an amount → deny `amount-required`"
            }
            Category::BusinessHours => {
                "`execute_transaction`, `send_contract`, `modify_production` at window edges and DST changes → approve / deny `outside-business-hours`"
            }
            Category::OutboundClean => "outbound messages, 100 B–64 KiB, no PII → approve",
            Category::OutboundPii => {
                "outbound messages with emails, cards, phones, SSNs, IBANs, IPs, credentials → deny `pii-detected`"
            }
            Category::OutboundNearMiss => {
                "outbound messages with look-alikes (bad Luhn, invalid SSN, versions, allowed domains, PII only in a key) → approve"
            }
            Category::PiiNotOutbound => "PII in non-outbound actions → approve",
        }
    }
}

/// The category of each of the first `n` actions: a smooth weighted round
/// robin over the weights, so that every prefix holds each category in
/// proportion to within one action.
pub fn schedule(n: usize) -> Vec<Category> {
    let total: i64 = Category::ALL.iter().map(|c| i64::from(c.weight())).sum();
    let mut current = [0i64; 12];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut best = 0;
        let mut best_value = i64::MIN;
        for (i, (slot, category)) in current.iter_mut().zip(Category::ALL).enumerate() {
            *slot += i64::from(category.weight());
            if *slot > best_value {
                best_value = *slot;
                best = i;
            }
        }
        if let Some(slot) = current.get_mut(best) {
            *slot -= total;
        }
        out.push(
            Category::ALL
                .get(best)
                .copied()
                .unwrap_or(Category::Ordinary),
        );
    }
    out
}

/// How many of the first `n` actions fall in each category, in
/// [`Category::ALL`] order.
pub fn counts(n: usize) -> Vec<(Category, usize)> {
    let s = schedule(n);
    Category::ALL
        .iter()
        .map(|&c| (c, s.iter().filter(|&&x| x == c).count()))
        .collect()
}

/// The first `n` actions as JSON lines (what [`workload`] parses).
pub fn workload_json(n: usize) -> Result<Vec<String>, crate::Error> {
    let mut generator = Generator::new()?;
    schedule(n)
        .into_iter()
        .enumerate()
        .map(|(i, category)| generator.action(i, category).map(|v| v.to_string()))
        .collect()
}

/// The first `n` actions, parsed.
pub fn try_workload(n: usize) -> Result<Vec<Request>, crate::Error> {
    workload_json(n)?
        .iter()
        .map(|line| Request::from_json(line).map_err(Into::into))
        .collect()
}

/// The first `n` actions of the stream.
pub fn workload(n: usize) -> Vec<Request> {
    #[expect(
        clippy::expect_used,
        reason = "the generator builds only valid requests from constant tables; the tests parse every category"
    )]
    try_workload(n).expect("the workload generator builds valid requests")
}

/// A markdown description of the mix of the default workload
/// ([`DEFAULT_N`] actions).
pub fn describe() -> String {
    describe_n(DEFAULT_N)
}

/// A markdown description of the mix of the first `n` actions, with the
/// count in each category.
pub fn describe_n(n: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Workload: {n} actions (seed {SEED:#018x})\n");
    let _ = writeln!(out, "| category | weight | count | what |");
    let _ = writeln!(out, "|---|---:|---:|---|");
    for (category, count) in counts(n) {
        let _ = writeln!(
            out,
            "| `{}` | {}% | {count} | {} |",
            category.name(),
            category.weight(),
            category.description()
        );
    }
    let _ = writeln!(
        out,
        "\n- agents: `financial-advisor` (tier 4, max 1000), `customer-support` (tier 2, max 500, approval above 100), `research-assistant` (tier 1, default max 0), and `{UNREGISTERED_AGENT}` (not registered, default max 0), uniformly in every category;"
    );
    let _ = writeln!(
        out,
        "- amounts: just below, at, one ulp above and one cent above every `max` and `approval_above`; USD, lower/mixed-case `usd`, none, and eight other currency strings;"
    );
    let _ = writeln!(
        out,
        "- timestamps: 2026, every weekday and hour; business hours; local 08:59–09:00:59 and 16:59–17:00:59 edges (to the millisecond); both New York DST changes (2026-03-08, 2026-11-01) and the weekdays around them; UTC or New York offsets;"
    );
    let _ = writeln!(
        out,
        "- message bodies: {}–{} bytes, log-uniform by octave; PII of all seven kinds the pii-egress policy detects (email outside example-corp.com, phone, ssn, credit_card, iban, ip_address, secret), and near-misses of each.",
        BODY_BYTES.0, BODY_BYTES.1
    );
    out
}

// ---- the generator ----

/// xorshift64*: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0); the modulo bias is
    /// negligible for the small `n` used here.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// True `percent` times in 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "the index is below the length; every table passed is a non-empty constant"
    )]
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// `len` characters from `alphabet`.
    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len).map(|_| char::from(*self.pick(alphabet))).collect()
    }

    fn digits(&mut self, len: usize) -> String {
        self.string(b"0123456789", len)
    }
}

/// When an action happens.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Any instant of 2026.
    Any,
    /// Mon–Fri, local 09:00:00–16:59:59.
    Business,
    /// Local times at the window's edges, any day.
    Edge,
    /// Around the DST changes.
    Dst,
}

const ORDINARY: [&str; 10] = [
    "search_web",
    "read_file",
    "summarize_document",
    "lookup_order",
    "create_ticket",
    "update_crm_record",
    "query_database",
    "schedule_meeting",
    "translate_text",
    "generate_report",
];

const FORBIDDEN: [&str; 4] = [
    "delete_account",
    "access_payment_details",
    "change_pricing_tiers",
    "modify_own_instructions",
];

const APPROVAL: [&str; 7] = [
    "delete_file",
    "delete_user_data",
    "delete_records",
    "delete_account_backup",
    "delete_",
    "contract_modification",
    "external_vendor_communication",
];

const ACTION_NEAR_MISS: [&str; 19] = [
    "undelete_file",
    "delete",
    "deleteaccount",
    "remove_account",
    "account_delete",
    "access_payment_detail",
    "send_emails",
    "send_email_draft",
    "execute_transactions",
    "execute_transaction_preview",
    "make_payments",
    "issue_refunds",
    "http_get",
    "post_to_social",
    "send_contract_draft",
    "modify_production_config",
    "contract_modifications",
    "external_vendor_communications",
    "quote_price",
];

const TRANSACTION: [&str; 3] = ["execute_transaction", "issue_refund", "make_payment"];

const HOURS: [&str; 3] = ["execute_transaction", "send_contract", "modify_production"];

const OUTBOUND: [&str; 4] = [
    "send_email",
    "send_external_message",
    "http_post",
    "post_to_social_media",
];

const NOT_OUTBOUND: [&str; 4] = [
    "read_customer_record",
    "update_crm_record",
    "create_ticket",
    "summarize_document",
];

const OTHER_CURRENCIES: [&str; 8] = ["EUR", "GBP", "JPY", "CAD", "CHF", "MXN", "US$", "USD "];

const WORDS: [&str; 64] = [
    "the",
    "quarterly",
    "report",
    "shows",
    "steady",
    "growth",
    "in",
    "renewals",
    "and",
    "a",
    "small",
    "dip",
    "churn",
    "across",
    "regions",
    "we",
    "should",
    "review",
    "pipeline",
    "before",
    "next",
    "planning",
    "cycle",
    "customer",
    "asked",
    "about",
    "delivery",
    "schedule",
    "for",
    "their",
    "order",
    "team",
    "will",
    "follow",
    "up",
    "with",
    "details",
    "on",
    "pricing",
    "options",
    "please",
    "confirm",
    "meeting",
    "time",
    "works",
    "everyone",
    "thanks",
    "again",
    "support",
    "ticket",
    "was",
    "resolved",
    "after",
    "restart",
    "of",
    "service",
    "notes",
    "attached",
    "summary",
    "below",
    "is",
    "draft",
    "final",
    "soon",
];

const LOCAL_PARTS: [&str; 8] = [
    "jane.doe",
    "k.nguyen_84",
    "support+billing",
    "maria.garcia",
    "alex.w",
    "ops",
    "first.last",
    "priya.r",
];

const PII_DOMAINS: [&str; 9] = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "acme-widgets.co.uk",
    "protonmail.ch",
    "mail.bigcorp.io",
    "notexample-corp.com",
    "example-corp.com.attacker.io",
    "example-corp.co",
];

const ALLOWED_DOMAINS: [&str; 3] = [
    "example-corp.com",
    "eu.example-corp.com",
    "EXAMPLE-CORP.COM",
];

/// Valid IBANs (mod-97 check 1), bare and grouped.
const IBANS: [&str; 6] = [
    "DE89 3704 0044 0532 0130 00",
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300",
];

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/// Local times at the window's edges: (hour, minute, second, millisecond).
const EDGE_TIMES: [(i8, i8, i8, i32); 13] = [
    (8, 59, 0, 0),
    (8, 59, 59, 999),
    (9, 0, 0, 0),
    (9, 0, 0, 1),
    (9, 0, 59, 0),
    (16, 59, 0, 0),
    (16, 59, 59, 999),
    (17, 0, 0, 0),
    (17, 0, 0, 1),
    (17, 0, 59, 0),
    (0, 0, 0, 0),
    (12, 0, 0, 0),
    (23, 59, 59, 999),
];

/// The days around the 2026 US DST changes: (month, day).
const DST_DAYS: [(i8, i8); 10] = [
    (3, 6),
    (3, 7),
    (3, 8),
    (3, 9),
    (3, 10),
    (10, 30),
    (10, 31),
    (11, 1),
    (11, 2),
    (11, 3),
];

/// UTC times that are inside the window at one offset (EST, UTC-5, or
/// EDT, UTC-4) and outside it at the other.
const DST_UTC_TIMES: [(i8, i8, i8, i32); 10] = [
    (12, 59, 59, 999),
    (13, 0, 0, 0),
    (13, 30, 0, 0),
    (13, 59, 59, 999),
    (14, 0, 0, 0),
    (20, 59, 59, 999),
    (21, 0, 0, 0),
    (21, 30, 0, 0),
    (21, 59, 59, 999),
    (22, 0, 0, 0),
];

/// The change instants: (month, day, hour, minute, second, millisecond),
/// UTC. 2026-03-08 07:00Z is 02:00 EST → 03:00 EDT; 2026-11-01 06:00Z is
/// 02:00 EDT → 01:00 EST.
const DST_INSTANTS: [(i8, i8, i8, i8, i8, i32); 6] = [
    (3, 8, 6, 59, 59, 999),
    (3, 8, 7, 0, 0, 0),
    (11, 1, 5, 30, 0, 0),
    (11, 1, 5, 59, 59, 999),
    (11, 1, 6, 0, 0, 0),
    (11, 1, 6, 30, 0, 0),
];

/// Mondays of the weeks around the DST changes: (month, day).
const DST_MONDAYS: [(i8, i8); 4] = [(3, 2), (3, 9), (10, 26), (11, 2)];

/// The generator's state: the random stream and the zone.
#[derive(Debug)]
struct Generator {
    rng: Rng,
    tz: TimeZone,
}

fn date(month: i8, day: i8) -> Result<Date, crate::Error> {
    Ok(Date::new(2026, month, day)?)
}

impl Generator {
    fn new() -> Result<Self, crate::Error> {
        Ok(Generator {
            rng: Rng::new(SEED),
            tz: TimeZone::get(crate::facts::SHIPPED_TIMEZONE)?,
        })
    }

    /// Action number `i`, of `category`, as JSON.
    fn action(&mut self, i: usize, category: Category) -> Result<Value, crate::Error> {
        let agent = *self.rng.pick(&AGENTS);
        let mut a = Draft {
            agent,
            action: "",
            params: Map::new(),
            amount: None,
            currency: None,
            when: When::Any,
        };
        match category {
            Category::Ordinary => self.ordinary(&mut a),
            Category::Forbidden => {
                a.action = *self.rng.pick(&FORBIDDEN);
                a.params = self.small_params(a.action);
                if self.rng.chance(20) {
                    a.amount = Some(json!(self.rng.range(1, 5_000)));
                    a.currency = Some("USD");
                }
            }
            Category::ApprovalRequired => {
                a.action = *self.rng.pick(&APPROVAL);
                a.params = self.small_params(a.action);
            }
            Category::ActionNearMiss => self.action_near_miss(&mut a),
            Category::TransactionLimit => self.transaction_limit(&mut a),
            Category::TransactionCurrency => self.transaction_currency(&mut a),
            Category::TransactionNoAmount => {
                a.action = *self.rng.pick(&TRANSACTION);
                a.params = self.small_params(a.action);
                if self.rng.chance(50) {
                    a.amount = Some(Value::Null);
                }
                a.currency = self.rng.chance(70).then_some("USD");
                a.when = When::Business;
            }
            Category::BusinessHours => self.business_hours(&mut a),
            Category::OutboundClean => {
                a.action = *self.rng.pick(&OUTBOUND);
                let items = self.clean_items();
                let body = self.body(items);
                a.params = self.outbound_params(a.action, body);
            }
            Category::OutboundPii => self.outbound_pii(&mut a),
            Category::OutboundNearMiss => self.outbound_near_miss(&mut a),
            Category::PiiNotOutbound => {
                a.action = *self.rng.pick(&NOT_OUTBOUND);
                let n = self.rng.range(1, 3);
                let items = (0..n).map(|_| self.pii_item().1).collect();
                let body = self.body(items);
                a.params.insert("record_id".into(), json!(self.id("rec")));
                a.params.insert("notes".into(), json!(body));
            }
        }
        let timestamp = self.timestamp(a.when)?;
        let mut request = Map::new();
        request.insert("request_id".into(), json!(format!("w-{i:06}")));
        request.insert("agent_id".into(), json!(a.agent));
        request.insert("action".into(), json!(a.action));
        if !a.params.is_empty() {
            request.insert("params".into(), Value::Object(a.params));
        }
        if let Some(amount) = a.amount {
            request.insert("amount".into(), amount);
        }
        if let Some(currency) = a.currency {
            request.insert("currency".into(), json!(currency));
        }
        request.insert("timestamp".into(), json!(timestamp));
        if self.rng.chance(50) {
            request.insert(
                "session_id".into(),
                json!(format!("s-{}", self.rng.below(500))),
            );
            request.insert(
                "user_id".into(),
                json!(format!("u-{}", self.rng.below(200))),
            );
        }
        Ok(Value::Object(request))
    }

    fn id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", self.rng.range(1000, 99_999))
    }

    fn phrase(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| *self.rng.pick(&WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Small params fit for `action`.
    fn small_params(&mut self, action: &str) -> Map<String, Value> {
        let mut p = Map::new();
        match action {
            "search_web" => {
                p.insert("query".into(), json!(self.phrase(4)));
            }
            "read_file" => {
                p.insert("path".into(), json!("/srv/shared/reports/summary.md"));
            }
            "query_database" => {
                p.insert(
                    "sql".into(),
                    json!("select count(*) from orders where status = 'open'"),
                );
            }
            "schedule_meeting" => {
                p.insert("title".into(), json!(self.phrase(3)));
                p.insert("duration_minutes".into(), json!(self.rng.range(15, 90)));
            }
            "execute_transaction" | "make_payment" => {
                p.insert("to".into(), json!(self.id("acct")));
                p.insert(
                    "memo".into(),
                    json!(format!("invoice {}", self.rng.range(1000, 9999))),
                );
            }
            "issue_refund" => {
                p.insert("order_id".into(), json!(self.id("ord")));
                p.insert("reason".into(), json!(self.phrase(5)));
            }
            "send_contract" => {
                p.insert("contract_id".into(), json!(self.id("ctr")));
                p.insert("counterparty".into(), json!("Acme Widgets Ltd"));
            }
            "modify_production" => {
                p.insert("service".into(), json!("billing-api"));
                p.insert("change".into(), json!("scale replicas from 3 to 5"));
            }
            _ => {
                p.insert("id".into(), json!(self.id("obj")));
                p.insert("note".into(), json!(self.phrase(6)));
            }
        }
        p
    }

    fn ordinary(&mut self, a: &mut Draft) {
        a.action = *self.rng.pick(&ORDINARY);
        a.params = self.small_params(a.action);
    }

    fn action_near_miss(&mut self, a: &mut Draft) {
        a.action = *self.rng.pick(&ACTION_NEAR_MISS);
        match a.action {
            "send_emails" | "send_email_draft" | "http_get" | "post_to_social" => {
                let n = self.rng.range(1, 2);
                let items = (0..n).map(|_| self.pii_item().1).collect();
                let body = self.body(items);
                a.params = self.outbound_params("send_email", body);
            }
            "execute_transactions"
            | "execute_transaction_preview"
            | "make_payments"
            | "issue_refunds"
            | "quote_price" => {
                a.params = self.small_params("execute_transaction");
                a.amount = Some(json!(self.rng.range(1, 50_000)));
                a.currency = Some(*self.rng.pick(&["USD", "EUR"]));
                a.when = When::Edge;
            }
            "send_contract_draft" | "modify_production_config" => {
                a.params = self.small_params("send_contract");
                a.when = When::Edge;
            }
            _ => a.params = self.small_params(a.action),
        }
    }

    /// Amounts around the limit of `agent` in the shipped config.
    fn limit_amount(&mut self, agent: &str) -> f64 {
        let bounds: &[f64] = match agent {
            "financial-advisor" => &[1000.0],
            "customer-support" => &[100.0, 500.0],
            _ => &[0.0],
        };
        let max = bounds.last().copied().unwrap_or(0.0);
        if self.rng.chance(70) {
            let bound = *self.rng.pick(bounds);
            match self.rng.below(5) {
                0 => (bound - 0.01).max(0.0),
                1 | 2 => bound,
                3 => bound.next_up(),
                _ => bound + 0.01,
            }
        } else {
            // Random cents up to 1.6x the max (up to 100 for a max of 0).
            let top = if max > 0.0 { max * 160.0 } else { 10_000.0 };
            let cents = self.rng.below(top as u64 + 1);
            cents as f64 / 100.0
        }
    }

    /// An amount as JSON: integral amounts sometimes written as integers.
    fn amount_json(&mut self, amount: f64) -> Value {
        if amount.fract() == 0.0 && amount < 1e15 && self.rng.chance(50) {
            json!(amount as u64)
        } else {
            json!(amount)
        }
    }

    fn transaction_limit(&mut self, a: &mut Draft) {
        a.action = *self.rng.pick(&TRANSACTION);
        a.params = self.small_params(a.action);
        let amount = self.limit_amount(a.agent);
        a.amount = Some(self.amount_json(amount));
        a.currency = match self.rng.below(20) {
            0..=14 => Some("USD"),
            15 | 16 => None,
            17 => Some("usd"),
            _ => Some("Usd"),
        };
        a.when = if a.action == "execute_transaction" && self.rng.chance(75) {
            When::Business
        } else {
            When::Any
        };
    }

    fn transaction_currency(&mut self, a: &mut Draft) {
        a.action = *self.rng.pick(&TRANSACTION);
        a.params = self.small_params(a.action);
        a.currency = Some(*self.rng.pick(&OTHER_CURRENCIES));
        let amount = if a.currency == Some("JPY") {
            self.rng.range(1_000, 200_000) as f64
        } else {
            self.limit_amount(a.agent)
        };
        a.amount = Some(self.amount_json(amount));
        a.when = When::Business;
    }

    fn business_hours(&mut self, a: &mut Draft) {
        a.action = *self.rng.pick(&HOURS);
        a.params = self.small_params(a.action);
        if a.action == "execute_transaction" {
            // Within every limit, below every approval threshold: the
            // clock decides.
            let amount = match a.agent {
                "financial-advisor" => 250.0,
                "customer-support" => 75.5,
                _ => 0.0,
            };
            a.amount = Some(self.amount_json(amount));
            a.currency = Some("USD");
        }
        a.when = match self.rng.below(20) {
            0..=8 => When::Edge,
            9..=15 => When::Dst,
            _ => When::Any,
        };
    }

    fn outbound_pii(&mut self, a: &mut Draft) {
        a.action = *self.rng.pick(&OUTBOUND);
        let n = self.rng.range(1, 3);
        let mut items = Vec::new();
        for _ in 0..n {
            items.push(self.pii_item().1);
        }
        match self.rng.below(10) {
            // In `to` / `reply_to`: an address alone.
            0 => {
                let clean = self.clean_items();
                let body = self.body(clean);
                a.params = self.outbound_params(a.action, body);
                let field = if a.action == "send_email" {
                    "to"
                } else {
                    "reply_to"
                };
                let address = self.pii_email();
                a.params.insert(field.into(), json!(address));
            }
            // In a nested attachment note.
            1 => {
                let clean = self.clean_items();
                let body = self.body(clean);
                a.params = self.outbound_params(a.action, body);
                a.params.insert(
                    "attachments".into(),
                    json!([
                        {"name": "notes.txt", "note": items.join(" ")},
                        {"name": "summary.txt", "note": self.phrase(8)},
                    ]),
                );
            }
            // In a cc list.
            2 => {
                let clean = self.clean_items();
                let body = self.body(clean);
                a.params = self.outbound_params(a.action, body);
                let allowed = self.allowed_email();
                let address = self.pii_email();
                a.params.insert("cc".into(), json!([allowed, address]));
            }
            _ => {
                let body = self.body(items);
                a.params = self.outbound_params(a.action, body);
            }
        }
    }

    fn outbound_near_miss(&mut self, a: &mut Draft) {
        a.action = *self.rng.pick(&OUTBOUND);
        let n = self.rng.range(1, 4);
        let items = (0..n).map(|_| self.near_miss_item()).collect();
        let body = self.body(items);
        a.params = self.outbound_params(a.action, body);
        if self.rng.chance(10) {
            // PII used only as an object key: keys are not scanned.
            let mut contacts = Map::new();
            contacts.insert(self.pii_email(), json!("primary contact"));
            a.params.insert("contacts".into(), Value::Object(contacts));
        }
    }

    /// Params for an outbound `action` carrying `body`.
    fn outbound_params(&mut self, action: &str, body: String) -> Map<String, Value> {
        let mut p = Map::new();
        match action {
            "send_email" => {
                p.insert("to".into(), json!(self.allowed_email()));
                p.insert("subject".into(), json!(self.phrase(4)));
                p.insert("body".into(), json!(body));
            }
            "http_post" => {
                p.insert("url".into(), json!("https://hooks.partner.example/notify"));
                p.insert("payload".into(), json!(body));
            }
            "post_to_social_media" => {
                p.insert("platform".into(), json!("linkedin"));
                p.insert("text".into(), json!(body));
            }
            _ => {
                p.insert("channel".into(), json!("partner-updates"));
                p.insert("text".into(), json!(body));
            }
        }
        p
    }

    fn allowed_email(&mut self) -> String {
        let local = *self.rng.pick(&LOCAL_PARTS);
        let domain = *self.rng.pick(&ALLOWED_DOMAINS);
        format!("{local}@{domain}")
    }

    fn pii_email(&mut self) -> String {
        let local = *self.rng.pick(&LOCAL_PARTS);
        let domain = *self.rng.pick(&PII_DOMAINS);
        if self.rng.chance(30) {
            format!("{local}{}@{domain}", self.rng.range(1, 99))
        } else {
            format!("{local}@{domain}")
        }
    }

    /// Clean items for a clean body: sometimes an allowed address.
    fn clean_items(&mut self) -> Vec<String> {
        if self.rng.chance(30) {
            vec![format!("Copy {} on the reply.", self.allowed_email())]
        } else {
            Vec::new()
        }
    }

    /// One PII item in a sentence: (kind name, sentence).
    fn pii_item(&mut self) -> (&'static str, String) {
        match self.rng.below(100) {
            0..=24 => ("email", format!("Write to {} about it.", self.pii_email())),
            25..=44 => (
                "credit_card",
                format!("Card {} was charged.", self.card(true)),
            ),
            45..=64 => (
                "phone",
                format!("Call me at {} tomorrow.", self.phone(true)),
            ),
            65..=79 => ("ssn", format!("Her SSN is {} on file.", self.ssn(true))),
            80..=86 => (
                "iban",
                format!("Pay into {} this week.", self.rng.pick(&IBANS)),
            ),
            87..=93 => (
                "ip_address",
                format!("Seen from host {} overnight.", self.ip()),
            ),
            _ => ("secret", format!("The token is {} here.", self.secret())),
        }
    }

    /// One near-miss item in a sentence: it must not be PII.
    fn near_miss_item(&mut self) -> String {
        match self.rng.below(16) {
            0 | 1 => format!("Card {} was declined.", self.card(false)),
            2 | 3 => format!("Reference {} is invalid.", self.ssn(false)),
            4 | 5 => format!("Dial {} for support.", self.phone(false)),
            6 => format!("Copy {} on the reply.", self.allowed_email()),
            7 => format!(
                "Order {} ships {}.",
                self.rng.range(2_000_000_000, 9_999_999_999),
                self.rng.pick(&["2026-03-08", "2026-11-01", "2024-01-15"])
            ),
            8 => format!(
                "Upgraded to version {}.{}.{}.{} today.",
                self.rng.range(1, 9),
                self.rng.range(0, 20),
                self.rng.range(0, 9),
                self.rng.range(0, 99)
            ),
            9 => format!(
                "Host {}.{}.{}.{} is not routable.",
                self.rng.range(256, 999),
                self.rng.range(0, 255),
                self.rng.range(0, 255),
                self.rng.range(0, 255)
            ),
            10 => format!(
                "Total ${},{:03}.{:02} due.",
                self.rng.range(1, 99),
                self.rng.below(1000),
                self.rng.below(100)
            ),
            11 => "Tracking 1Z999AA10123456784 shows delivered.".to_owned(),
            12 => "Pay into DE88 3704 0044 0532 0130 00 was refused.".to_owned(),
            13 => format!(
                "Old key {} was revoked.",
                self.rng
                    .pick(&["AKIA1234", "ghp_short", "xoxb-abc", "eyJhbGci"])
            ),
            14 => format!(
                "Use {} in the header.",
                self.rng
                    .pick(&["logo@2x.png", "icon@3x.jpg", "@channel", "left-pad@1.3.0"])
            ),
            _ => format!(
                "Build {}.{}.{} passed.",
                self.rng.range(1, 9),
                self.rng.range(0, 30),
                self.rng.range(0, 9)
            ),
        }
    }

    /// A card number that passes (or, `valid == false`, fails) Luhn, with
    /// a real brand prefix and length, bare or grouped.
    fn card(&mut self, valid: bool) -> String {
        let (prefix, len): (String, usize) = match self.rng.below(8) {
            0 => ("4".into(), 13),
            1 | 2 => ("4".into(), 16),
            3 => (format!("5{}", self.rng.range(1, 5)), 16),
            4 => (format!("{}", self.rng.range(2221, 2720)), 16),
            5 => ((*self.rng.pick(&["34", "37"])).into(), 15),
            6 => ("6011".into(), 16),
            _ => ("65".into(), 16),
        };
        let body_len = len.saturating_sub(prefix.len() + 1);
        let mut digits = prefix;
        digits.push_str(&self.rng.digits(body_len));
        let check = luhn_check_digit(&digits);
        let check = if valid { check } else { (check + 1) % 10 };
        digits.push(char::from(b'0' + check));
        let sep = *self.rng.pick(&[" ", "-"]);
        match (len, self.rng.below(3)) {
            (16, 0 | 1) => group(&digits, &[4, 4, 4, 4], sep),
            (15, 0 | 1) => group(&digits, &[4, 6, 5], " "),
            _ => digits,
        }
    }

    /// A NANP or international phone number (or a look-alike).
    fn phone(&mut self, valid: bool) -> String {
        let area = format!("{}{}", self.rng.range(2, 9), self.rng.digits(2));
        let exchange = format!("{}{}", self.rng.range(2, 9), self.rng.digits(2));
        let line = self.rng.digits(4);
        if valid {
            match self.rng.below(9) {
                0 => format!("({area}) {exchange}-{line}"),
                1 => format!("{area}-{exchange}-{line}"),
                2 => format!("{area}.{exchange}.{line}"),
                3 => format!("{area} {exchange} {line}"),
                4 => format!("1-{area}-{exchange}-{line}"),
                5 => format!("+1 {area} {exchange} {line}"),
                6 => format!("+1 ({area}) {exchange}-{line}"),
                7 => "+44 20 7946 0958".to_owned(),
                _ => format!("+49 151 {} {}", self.rng.digits(4), self.rng.digits(4)),
            }
        } else {
            match self.rng.below(5) {
                0 => format!(
                    "{area}-{}{}-{line}",
                    self.rng.range(0, 1),
                    self.rng.digits(2)
                ),
                1 => format!(
                    "{}{}-{exchange}-{line}",
                    self.rng.range(0, 1),
                    self.rng.digits(2)
                ),
                2 => format!("{area}{exchange}{line}"),
                3 => format!("{area}-{exchange}.{line}"),
                _ => format!("+{}", self.rng.digits(5)),
            }
        }
    }

    /// An SSN (or one the rules exclude).
    fn ssn(&mut self, valid: bool) -> String {
        let mut area = self.rng.range(1, 899);
        if area == 666 {
            area = 667;
        }
        let mut group = self.rng.range(1, 99);
        let mut serial = self.rng.range(1, 9999);
        if !valid {
            match self.rng.below(5) {
                0 => area = 0,
                1 => area = 666,
                2 => area = self.rng.range(900, 999),
                3 => group = 0,
                _ => serial = 0,
            }
        }
        format!("{area:03}-{group:02}-{serial:04}")
    }

    fn ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.rng.pick(&[10, 172, 192, 203, 8, 54]),
            self.rng.range(0, 255),
            self.rng.range(0, 255),
            self.rng.range(1, 254)
        )
    }

    fn secret(&mut self) -> String {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        match self.rng.below(6) {
            0 => format!(
                "AKIA{}",
                self.rng.string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
            ),
            1 => format!("ghp_{}", self.rng.string(ALNUM, 36)),
            2 => format!("github_pat_{}", self.rng.string(ALNUM, 30)),
            3 => format!(
                "xoxb-{}-{}",
                self.rng.digits(12),
                self.rng.string(ALNUM, 24)
            ),
            4 => JWT.to_owned(),
            _ => "-----BEGIN RSA PRIVATE KEY-----".to_owned(),
        }
    }

    /// A body size: an octave (100–200, 200–400, ...) uniformly, then a
    /// size uniformly within it, capped at 64 KiB.
    fn body_size(&mut self) -> usize {
        let octave = self.rng.below(10);
        let lo = BODY_BYTES.0 << octave;
        let size = lo + self.rng.index(lo);
        size.min(BODY_BYTES.1)
    }

    /// A body of sentences with `items` placed among them, within
    /// [`BODY_BYTES`].
    fn body(&mut self, items: Vec<String>) -> String {
        let size = self.body_size();
        let items_len: usize = items.iter().map(|s| s.len() + 1).sum();
        let mut room = size.saturating_sub(items_len);
        let mut parts: Vec<String> = Vec::new();
        loop {
            let sentence = self.sentence();
            if sentence.len() + 1 > room {
                break;
            }
            room -= sentence.len() + 1;
            parts.push(sentence);
        }
        // Fill the rest with short words.
        while room > 8 {
            let word = *self.rng.pick(&["Ok.", "Thanks.", "Noted.", "Sure."]);
            room -= word.len() + 1;
            parts.push(word.to_owned());
        }
        for item in items {
            let at = self.rng.index(parts.len() + 1);
            parts.insert(at, item);
        }
        let mut text = parts.join(" ");
        while text.len() < BODY_BYTES.0 {
            text.push_str(" Thanks.");
        }
        text
    }

    fn sentence(&mut self) -> String {
        let n = usize::try_from(self.rng.range(5, 16)).unwrap_or(8);
        let mut s = self.phrase(n);
        if let Some(first) = s.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        s.push('.');
        s
    }

    // ---- time ----

    fn timestamp(&mut self, when: When) -> Result<String, crate::Error> {
        let ms = match when {
            When::Any => {
                // 2026-01-01T00:00:00Z + up to 365 days.
                1_767_225_600_000 + i64::try_from(self.rng.below(365 * 86_400_000))?
            }
            When::Business => {
                let day = self.week_day(20, 5)?;
                let (h, m, s) = (
                    self.rng.range(9, 16),
                    self.rng.range(0, 59),
                    self.rng.range(0, 59),
                );
                self.local_ms(day, i8::try_from(h)?, i8::try_from(m)?, i8::try_from(s)?, 0)?
            }
            When::Edge => {
                let day = self.week_day(35, 7)?;
                let (h, m, s, ms) = *self.rng.pick(&EDGE_TIMES);
                self.local_ms(day, h, m, s, ms)?
            }
            When::Dst => {
                if self.rng.chance(25) {
                    let (mo, d, h, m, s, ms) = *self.rng.pick(&DST_INSTANTS);
                    utc_ms(date(mo, d)?, h, m, s, ms)?
                } else {
                    let (mo, d) = *self.rng.pick(&DST_DAYS);
                    let (h, m, s, ms) = *self.rng.pick(&DST_UTC_TIMES);
                    utc_ms(date(mo, d)?, h, m, s, ms)?
                }
            }
        };
        let ts = Timestamp::from_millisecond(ms)?;
        Ok(if self.rng.chance(15) {
            ts.display_with_offset(self.tz.to_offset(ts)).to_string()
        } else {
            ts.to_string()
        })
    }

    /// A day among the first `days` of a week: one of 2026's Mondays, or,
    /// `dst_percent` times in 100, of a week around a DST change.
    fn week_day(&mut self, dst_percent: u64, days: u64) -> Result<Date, crate::Error> {
        let monday = if self.rng.chance(dst_percent) {
            let (m, d) = *self.rng.pick(&DST_MONDAYS);
            date(m, d)?
        } else {
            // 2026-01-05 is the year's first Monday; 51 weeks follow.
            date(1, 5)?.checked_add(Span::new().weeks(i64::try_from(self.rng.below(51))?))?
        };
        Ok(monday.checked_add(Span::new().days(i64::try_from(self.rng.below(days))?))?)
    }

    /// The UTC milliseconds of a New York wall-clock time (a time in the
    /// spring gap is moved forward, one in the autumn overlap takes the
    /// earlier offset: jiff's "compatible" rule).
    fn local_ms(&self, day: Date, h: i8, m: i8, s: i8, ms: i32) -> Result<i64, crate::Error> {
        Ok(day
            .at(h, m, s, ms * 1_000_000)
            .to_zoned(self.tz.clone())?
            .timestamp()
            .as_millisecond())
    }
}

fn utc_ms(day: Date, h: i8, m: i8, s: i8, ms: i32) -> Result<i64, crate::Error> {
    Ok(day
        .at(h, m, s, ms * 1_000_000)
        .to_zoned(TimeZone::UTC)?
        .timestamp()
        .as_millisecond())
}

/// An action under construction.
#[derive(Debug)]
struct Draft {
    agent: &'static str,
    action: &'static str,
    params: Map<String, Value>,
    amount: Option<Value>,
    currency: Option<&'static str>,
    when: When,
}

/// The Luhn check digit for `digits` (ASCII), to be appended.
fn luhn_check_digit(digits: &str) -> u8 {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        let x = u32::from(c.saturating_sub(b'0'));
        // Counting from the check digit to come, these are at odd places.
        sum += if i % 2 == 0 {
            if x > 4 { x * 2 - 9 } else { x * 2 }
        } else {
            x
        };
    }
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// `digits` split into groups of `sizes`, joined by `sep`.
fn group(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &size in sizes {
        if let Some(part) = digits.get(at..at + size) {
            out.push(part);
        }
        at += size;
    }
    out.join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::{Kind, Scanner};

    fn scanner() -> Scanner {
        Scanner::new(
            crate::pii::KindSet::ALL,
            vec!["example-corp.com".to_owned()],
        )
    }

    #[test]
    fn luhn_digits_are_right() {
        let mut d = "411111111111111".to_owned();
        d.push(char::from(b'0' + luhn_check_digit(&d)));
        assert_eq!(d, "4111111111111111");
        let mut d = "37828224631000".to_owned();
        d.push(char::from(b'0' + luhn_check_digit(&d)));
        assert_eq!(d, "378282246310005");
    }

    #[test]
    fn pii_items_are_found_as_their_kind() {
        let s = scanner();
        let mut g = Generator::new().unwrap();
        for _ in 0..5_000 {
            let (kind, item) = g.pii_item();
            let found: Vec<&str> = s.scan(&item).iter().map(Kind::name).collect();
            assert_eq!(found, vec![kind], "{item}");
        }
        for _ in 0..1_000 {
            let email = g.pii_email();
            assert!(s.scan(&email).contains(Kind::Email), "{email}");
        }
    }

    #[test]
    fn near_misses_are_clean() {
        let s = scanner();
        let mut g = Generator::new().unwrap();
        for _ in 0..5_000 {
            let item = g.near_miss_item();
            assert!(s.scan(&item).is_empty(), "{item}: {:?}", s.scan(&item));
        }
    }

    #[test]
    fn bodies_stay_within_bounds() {
        let mut g = Generator::new().unwrap();
        let (mut min, mut max) = (usize::MAX, 0);
        for _ in 0..500 {
            let items = vec![g.pii_item().1];
            let body = g.body(items);
            min = min.min(body.len());
            max = max.max(body.len());
            assert!(
                (BODY_BYTES.0..=BODY_BYTES.1).contains(&body.len()),
                "{}",
                body.len()
            );
            assert!(scanner().scan(&g.body(Vec::new())).is_empty());
        }
        assert!(min < 200 && max > 60_000, "{min}..{max}");
    }

    #[test]
    fn schedule_is_proportional() {
        for n in [1, 7, 100, 1_000, 3_333] {
            for (category, count) in counts(n) {
                let expected = n as f64 * f64::from(category.weight()) / 100.0;
                assert!(
                    (count as f64 - expected).abs() <= 1.0,
                    "{n} {category:?}: {count} vs {expected}"
                );
            }
        }
    }
}
