//! Times in response bodies, written without `fmt`.
//!
//! chrono's `Serialize` writes a time through `fmt::Write`, a character and a `write!` at a time:
//! about half the cost of rendering a token's body, which every cached fetch pays. [`rfc3339`]
//! writes the same text into a buffer on the stack.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `serialize_with` for a `DateTime<Utc>`: the very text chrono's `Serialize` writes (RFC 3339,
/// `Z`, the fraction of a second to the precision it needs: none, 3, 6 or 9 digits).
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let at = at.naive_utc();
    let year = at.year();
    if !(0..=9999).contains(&year) {
        // A signed, wider year: rare enough for chrono's own writer.
        return at.and_utc().serialize(serializer);
    }
    let (mut second, mut nano) = (at.second(), at.nanosecond());
    if nano >= 1_000_000_000 {
        // A leap second is written as second 60.
        second += 1;
        nano -= 1_000_000_000;
    }
    // "YYYY-MM-DDTHH:MM:SS.fffffffffZ"
    let mut text = [0u8; 30];
    digits(&mut text[0..4], year.unsigned_abs());
    text[4] = b'-';
    digits(&mut text[5..7], at.month());
    text[7] = b'-';
    digits(&mut text[8..10], at.day());
    text[10] = b'T';
    digits(&mut text[11..13], at.hour());
    text[13] = b':';
    digits(&mut text[14..16], at.minute());
    text[16] = b':';
    digits(&mut text[17..19], second);
    let mut len = 19;
    let fraction = match nano {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, width)) = fraction {
        text[len] = b'.';
        digits(&mut text[len + 1..len + 1 + width], value);
        len += 1 + width;
    }
    text[len] = b'Z';
    len += 1;
    // Only ASCII digits and separators were written.
    let text = std::str::from_utf8(&text[..len]).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(text)
}

/// `value`'s last `out.len()` decimal digits, zero-padded, into `out`.
fn digits(out: &mut [u8], mut value: u32) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    #[derive(Serialize)]
    struct Ours(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);

    fn same_as_chrono(at: DateTime<Utc>) {
        assert_eq!(
            serde_json::to_string(&Ours(at)).unwrap(),
            serde_json::to_string(&at).unwrap(),
            "{at:?}"
        );
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        // Every precision chrono distinguishes, and the edges of each field.
        for nano in [
            0,
            1,
            999,
            1_000,
            120_000,
            5_000_000,
            123_456_789,
            999_999_999,
        ] {
            for (y, mo, d, h, mi, s) in [
                (2026, 11, 30, 23, 59, 59),
                (1970, 1, 1, 0, 0, 0),
                (0, 1, 1, 0, 0, 0),
                (9999, 12, 31, 23, 59, 59),
                (2000, 2, 29, 12, 30, 5),
            ] {
                let naive = NaiveDate::from_ymd_opt(y, mo, d)
                    .unwrap()
                    .and_hms_nano_opt(h, mi, s, nano)
                    .unwrap();
                same_as_chrono(naive.and_utc());
            }
        }
        // A spread of instants, to the nanosecond.
        let mut seconds: i64 = 1;
        for i in 0..2_000u32 {
            seconds = seconds
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407)
                .rem_euclid(253_402_300_799);
            let nano = u32::try_from(u64::from(i) * 7_919_993 % 1_000_000_000).unwrap();
            same_as_chrono(Utc.timestamp_opt(seconds, nano).unwrap());
            same_as_chrono(Utc.timestamp_opt(seconds, nano / 1_000 * 1_000).unwrap());
            same_as_chrono(
                Utc.timestamp_opt(seconds, nano / 1_000_000 * 1_000_000)
                    .unwrap(),
            );
        }
    }

    #[test]
    fn leap_seconds_and_years_beyond_four_digits_are_written_as_chrono_writes_them() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap();
        same_as_chrono(leap.and_utc());
        for year in [-1, 10_000, 262_000] {
            let far = NaiveDate::from_ymd_opt(year, 6, 1)
                .unwrap()
                .and_hms_opt(1, 2, 3)
                .unwrap();
            same_as_chrono(far.and_utc());
        }
    }
}
