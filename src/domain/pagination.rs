//! Keyset pagination: lists are ordered by id (UUIDv7, so newest first means highest id first)
//! and a cursor is the opaque encoding of the last id of the page before.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// How many rows a page holds: 1–1000, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u16);

impl Limit {
    pub const DEFAULT: Limit = Limit(100);
    pub const MAX: u16 = super::rules::MAX_PAGE_ROWS;

    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        let Some(value) = value else {
            return Ok(Self::DEFAULT);
        };
        match value.parse::<u16>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(format!("must be an integer from 1 to {}", Self::MAX)),
        }
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }

    /// One more than the page size: fetching it tells whether another page follows.
    pub fn fetch(self) -> i64 {
        i64::from(self.0) + 1
    }
}

/// Where a page starts: after (older than) the row with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Uuid);

impl Cursor {
    pub fn parse(value: &str) -> Result<Self, String> {
        URL_SAFE_NO_PAD
            .decode(value)
            .ok()
            .and_then(|bytes| Uuid::from_slice(&bytes).ok())
            .map(Self)
            .ok_or_else(|| "is not a cursor this API returned".to_owned())
    }

    pub fn encode(id: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(id.as_bytes())
    }

    pub fn after(self) -> Uuid {
        self.0
    }
}

/// The position to read from: `Uuid::max()` (everything) when there is no cursor.
pub fn start(cursor: Option<Cursor>) -> Uuid {
    cursor.map_or(Uuid::max(), Cursor::after)
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched newest first.
    pub fn from_rows(mut rows: Vec<T>, limit: Limit, id_of: impl Fn(&T) -> Uuid) -> Self {
        let next_cursor = if rows.len() > limit.get() {
            rows.truncate(limit.get());
            rows.last().map(|last| Cursor::encode(id_of(last)))
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(Limit::parse(None).unwrap().get(), 100);
        assert_eq!(Limit::parse(Some("1000")).unwrap().get(), 1000);
        for bad in ["0", "1001", "-1", "ten", "", "99999999999"] {
            assert!(Limit::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(Cursor::parse(&Cursor::encode(id)).unwrap().after(), id);
        assert!(Cursor::parse("not a cursor").is_err());
        assert!(Cursor::parse("AAAA").is_err());
    }

    #[test]
    fn a_full_page_points_at_the_next() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), Limit::parse(Some("2")).unwrap(), |id| *id);
        assert_eq!(page.data.len(), 2);
        assert_eq!(page.next_cursor, Some(Cursor::encode(ids[1])));
        let last = Page::from_rows(ids[..2].to_vec(), Limit::parse(Some("2")).unwrap(), |id| {
            *id
        });
        assert_eq!(last.next_cursor, None);
    }
}
