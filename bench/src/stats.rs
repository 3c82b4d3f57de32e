//! Percentiles of timed samples, and how reports print them.

use std::time::Duration;

/// Timed samples, sorted on demand.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    nanos: Vec<u64>,
    sorted: bool,
}

impl Samples {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Samples {
            nanos: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Add one sample.
    pub fn push(&mut self, took: Duration) {
        self.nanos
            .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    /// Add every sample of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.nanos.extend_from_slice(&other.nanos);
        self.sorted = false;
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// The `q` quantile (0.0–1.0), nearest rank; `None` when empty.
    pub fn quantile(&mut self, q: f64) -> Option<Duration> {
        if !self.sorted {
            self.nanos.sort_unstable();
            self.sorted = true;
        }
        let last = self.nanos.len().checked_sub(1)?;
        let rank = ((last as f64) * q.clamp(0.0, 1.0)).round() as usize;
        self.nanos
            .get(rank.min(last))
            .map(|n| Duration::from_nanos(*n))
    }

    /// The median.
    pub fn p50(&mut self) -> Option<Duration> {
        self.quantile(0.5)
    }

    /// The 99th percentile.
    pub fn p99(&mut self) -> Option<Duration> {
        self.quantile(0.99)
    }

    /// The sum of every sample.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.iter().sum())
    }
}

/// Call `f` repeatedly for about `budget` (at least `min_calls` times),
/// timing each call on its own, after `budget / 10` of untimed warm-up.
pub fn time_for(budget: Duration, min_calls: usize, mut f: impl FnMut()) -> Samples {
    let warm_until = std::time::Instant::now() + budget / 10;
    while std::time::Instant::now() < warm_until {
        f();
    }
    let mut samples = Samples::with_capacity(1024);
    let until = std::time::Instant::now() + budget;
    while samples.len() < min_calls || std::time::Instant::now() < until {
        let started = std::time::Instant::now();
        f();
        samples.push(started.elapsed());
    }
    samples
}

/// A duration for a table: `812 ns`, `4.31 µs`, `2.07 ms`, `1.25 s`.
pub fn show(d: Duration) -> String {
    let nanos = d.as_nanos() as f64;
    if nanos < 1_000.0 {
        format!("{nanos:.0} ns")
    } else if nanos < 1_000_000.0 {
        format!("{:.2} µs", nanos / 1e3)
    } else if nanos < 1_000_000_000.0 {
        format!("{:.2} ms", nanos / 1e6)
    } else {
        format!("{:.2} s", nanos / 1e9)
    }
}

/// An optional duration for a table (`-` when missing).
pub fn show_opt(d: Option<Duration>) -> String {
    d.map(show).unwrap_or_else(|| "-".to_owned())
}

/// `a ÷ b` for a table: `0.42×`, `12.3×`, `-` when either is missing.
pub fn ratio(a: Option<Duration>, b: Option<Duration>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if !b.is_zero() => {
            let r = a.as_secs_f64() / b.as_secs_f64();
            if r < 10.0 {
                format!("{r:.2}×")
            } else {
                format!("{r:.0}×")
            }
        }
        _ => "-".to_owned(),
    }
}

/// A rate for a table: `81,234/s`.
pub fn show_rate(per_second: f64) -> String {
    format!("{}/s", thousands(per_second.round() as u64))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes for a table: `812 B`, `4.0 KiB`, `2.3 MiB`.
pub fn show_bytes(bytes: f64) -> String {
    if bytes.abs() < 1024.0 {
        format!("{bytes:.0} B")
    } else if bytes.abs() < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut s = Samples::with_capacity(101);
        for i in (0..=100).rev() {
            s.push(Duration::from_nanos(i));
        }
        assert_eq!(s.p50(), Some(Duration::from_nanos(50)));
        assert_eq!(s.p99(), Some(Duration::from_nanos(99)));
        assert_eq!(s.quantile(0.0), Some(Duration::from_nanos(0)));
        assert_eq!(s.quantile(1.0), Some(Duration::from_nanos(100)));
        assert_eq!(Samples::default().p50(), None);
    }

    #[test]
    fn formats() {
        assert_eq!(show(Duration::from_nanos(812)), "812 ns");
        assert_eq!(show(Duration::from_nanos(4_310)), "4.31 µs");
        assert_eq!(
            ratio(
                Some(Duration::from_nanos(50)),
                Some(Duration::from_nanos(100))
            ),
            "0.50×"
        );
        assert_eq!(ratio(Some(Duration::from_nanos(5)), None), "-");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(show_bytes(2048.0), "2.0 KiB");
    }
}
