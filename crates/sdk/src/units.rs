//! Token amounts as people write them ("2.5") and as the chain stores them (base units).
use anyhow::{bail, Result};

/// Parses a decimal amount of tokens into base units (`decimals` digits after the point).
pub fn parse_amount(s: &str, decimals: u8) -> Result<u64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        bail!("`{s}` is not a token amount (write e.g. 2 or 2.5)");
    }
    if frac.len() > decimals as usize {
        bail!("`{s}` has more than {decimals} decimal places");
    }
    let scale = 10u64.pow(decimals as u32);
    let w: u64 = if whole.is_empty() { 0 } else { whole.parse()? };
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = decimals as usize).parse()?
    };
    w.checked_mul(scale)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(|| anyhow::anyhow!("`{s}` is too large"))
}

/// Formats base units as a decimal amount, trailing zeros trimmed.
pub fn format_amount(units: u64, decimals: u8) -> String {
    let scale = 10u64.pow(decimals as u32);
    let (w, f) = (units / scale, units % scale);
    if f == 0 {
        return w.to_string();
    }
    let frac = format!("{f:0>width$}", width = decimals as usize);
    format!("{w}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip() {
        assert_eq!(parse_amount("2.5", 6).unwrap(), 2_500_000);
        assert_eq!(parse_amount("2", 6).unwrap(), 2_000_000);
        assert_eq!(parse_amount(".000001", 6).unwrap(), 1);
        assert!(parse_amount("0.0000001", 6).is_err());
        assert!(parse_amount("-1", 6).is_err());
        assert!(parse_amount("abc", 6).is_err());
        assert!(parse_amount("", 6).is_err());
        assert!(parse_amount("99999999999999999999", 6).is_err());
        assert_eq!(format_amount(2_500_000, 6), "2.5");
        assert_eq!(format_amount(7, 6), "0.000007");
        assert_eq!(format_amount(3_000_000, 6), "3");
    }
}
