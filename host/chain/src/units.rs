//! ETH amounts as people write them ("1.5") and as the chain counts them (wei).

use alloy::primitives::U256;
use alloy::primitives::utils::{format_units, parse_units};

/// "1.5" → 1.5 × 10^18 wei. Refuses negative amounts, more than 18 decimals and non-numbers.
pub fn parse_ether(s: &str) -> Result<U256, String> {
    if s.trim().is_empty() {
        return Err("empty".into());
    }
    // Decimal only: alloy would also take "0x10" (16 ETH).
    if !s.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err("digits and one decimal point only".into());
    }
    // alloy drops digits past the 18th; an amount is refused rather than changed.
    if s.split_once('.').is_some_and(|(_, frac)| frac.trim().len() > 18) {
        return Err("more than 18 decimals (1 wei is 0.000000000000000001)".into());
    }
    let v = parse_units(s.trim(), "ether").map_err(|e| e.to_string())?;
    if v.is_negative() {
        return Err("negative".into());
    }
    Ok(v.get_absolute())
}

/// Wei as ETH without trailing zeros: 1.5 × 10^18 → "1.5".
pub fn format_ether(wei: U256) -> String {
    trimmed(wei, "ether")
}

/// Wei as gwei without trailing zeros (gas prices): 1.5 × 10^9 → "1.5".
pub fn format_gwei(wei: U256) -> String {
    trimmed(wei, "gwei")
}

fn trimmed(wei: U256, unit: &str) -> String {
    let s = format_units(wei, unit).expect("ether and gwei are known units");
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_prices_read_in_gwei() {
        assert_eq!(format_gwei(U256::from(1_500_000_000u64)), "1.5");
        assert_eq!(format_gwei(U256::from(2_000_000_000u64)), "2");
    }

    #[test]
    fn amounts_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_ether("1.5").unwrap(), U256::from(1_500_000_000_000_000_000u128));
        assert_eq!(format_ether(U256::from(1_500_000_000_000_000_000u128)), "1.5");
        assert_eq!(format_ether(U256::ZERO), "0");
        assert_eq!(format_ether(parse_ether("0.000000000000000001").unwrap()), "0.000000000000000001");
        for bad in ["-1", "abc", "1.0000000000000000001", "", "0x10", "1e18"] {
            assert!(parse_ether(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
