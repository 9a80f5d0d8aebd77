//! Means and spreads that do not overflow near the limits of `f64`.
//!
//! A sum of values near ±1e308 overflows to `±∞`, and `∞ - ∞` is NaN: a column holding 1e308
//! and -1e308 turned correlations, principal components and summaries into NaN, and the quality
//! score with them. The statistics here work on values multiplied by a power of two that
//! brings the largest magnitude near 1, where a sum of up to 2^53 values and their squares
//! cannot overflow. Multiplying by a power of two is exact (it only changes the exponent), so
//! wherever the unscaled computation does not overflow or underflow the results are the same
//! bit for bit; the scale is 1 unless the largest magnitude is above 2^400 or below 2^-400.

/// The power of two to multiply `values` (NaN and infinities skipped) by before summing them:
/// 1 in the ordinary range, else the one bringing the largest magnitude into `[0.5, 1)`.
pub fn unit_scale(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    if max == 0.0 || (libm::ldexp(1.0, -400)..=libm::ldexp(1.0, 400)).contains(&max) {
        return 1.0;
    }
    // max = m 2^e with m in [0.5, 1); 2^-e stays a normal number for e in [-1021, 1022].
    let (_, e) = libm::frexp(max);
    libm::ldexp(1.0, -e.clamp(-1021, 1022))
}

/// Mean and standard deviation (divisor `n - ddof`) of the present (non-NaN) values, in the
/// values' own units; `None` without enough values (`n <= ddof`) or when a figure is not
/// finite (an infinite value, or a spread beyond `f64::MAX`).
pub fn mean_std(values: &[f64], ddof: usize) -> Option<(f64, f64)> {
    let scale = unit_scale(values.iter().copied());
    let (mean, std) = scaled_mean_std(values, scale, ddof)?;
    let (mean, std) = (mean / scale, std / scale);
    (mean.is_finite() && std.is_finite()).then_some((mean, std))
}

/// Mean and standard deviation of the present values multiplied by `scale` (two passes: the
/// variance from centred values, not from `E[x²] - mean²`); `None` when `n <= ddof`.
pub fn scaled_mean_std(values: &[f64], scale: f64, ddof: usize) -> Option<(f64, f64)> {
    let present = || values.iter().filter(|v| !v.is_nan()).map(|v| v * scale);
    let n = present().count();
    if n <= ddof {
        return None;
    }
    let mean = present().sum::<f64>() / n as f64;
    let squares: f64 = present().map(|v| (v - mean) * (v - mean)).sum();
    Some((mean, (squares / (n - ddof) as f64).sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_values_are_not_scaled() {
        assert_eq!(unit_scale([1.0, -3e5, f64::NAN].into_iter()), 1.0);
        assert_eq!(unit_scale([0.0, f64::INFINITY].into_iter()), 1.0);
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0], 1).expect("moments");
        assert_eq!((m, s), (2.5, (5.0f64 / 3.0).sqrt()));
    }

    #[test]
    fn values_at_the_limits_keep_finite_moments() {
        let x = [1e308, -1e308, f64::MAX, 0.0];
        let scale = unit_scale(x.iter().copied());
        let top = f64::MAX * scale;
        assert!((0.5..=4.0).contains(&top), "{scale:e}: {top}");
        // The mean (about 4.5e307) is finite; the spread (about 1.2e308) too.
        let (m, s) = mean_std(&x, 1).expect("finite");
        assert!((m - f64::MAX / 4.0).abs() <= 1e-12 * m, "{m}");
        assert!(s.is_finite() && s > 1e308, "{s}");
        // A spread beyond f64::MAX is no figure.
        assert_eq!(mean_std(&[f64::MAX, -f64::MAX], 1), None);
        // Tiny values are scaled up: their variance does not underflow to 0.
        let (_, s) = mean_std(&[5e-324, 1e-323, 0.0], 0).expect("tiny");
        assert!(s > 0.0);
    }
}
