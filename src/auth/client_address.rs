//! Who is on the other end: the client address that the failed-authentication limit counts and
//! the delivery trail records.
//!
//! It is the TCP peer; only when the peer is one of the trusted proxies
//! (`SPVAULT_TRUSTED_PROXIES`), it is the last address in `X-Forwarded-For` that is not itself a
//! trusted proxy. A proxy appends the address it received the request from, so reading from the
//! right, the first untrusted address is the one the nearest trusted proxy saw; everything left of
//! it was written by the client and is never believed.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpRequest};

use crate::config::{ConfigError, Settings};

/// The load balancers whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Network>);

/// An IP network: an address and a prefix length (a bare address is a network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = address.parse::<IpAddr>().ok()?.to_canonical();
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would also take a sign.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
        };
        Some(Self { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl TrustedProxies {
    /// A comma-separated list of IP addresses and CIDR networks (`10.0.0.0/8, 2001:db8::/32`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            networks.push(Network::parse(entry).ok_or_else(|| {
                format!(
                    "{entry:?} is not an IP address or CIDR network (such as 10.0.0.0/8 or \
                     2001:db8::/32)"
                )
            })?);
        }
        Ok(Self(networks))
    }

    /// `SPVAULT_TRUSTED_PROXIES` (none when unset).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        match settings.trusted_proxies.as_deref() {
            None => Ok(Self::default()),
            Some(list) => Self::parse(list)
                .map_err(|err| ConfigError::Invalid(format!("SPVAULT_TRUSTED_PROXIES: {err}"))),
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` header lines in order.
    ///
    /// Entries are read from the right, and only as far as needed: an entry that is not an IP
    /// address where one is needed makes the header malformed, and then the peer is the client.
    /// Garbage further left (which the client itself wrote) is never read, so a client cannot
    /// make its failures count against the proxy's address by sending a malformed header. If
    /// every entry is a trusted proxy, the leftmost is the client (the farthest hop known).
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut farthest = None;
        for line in forwarded_for.rev() {
            let Ok(line) = line.to_str() else {
                return peer;
            };
            for entry in line.rsplit(',') {
                let Ok(address) = entry.trim().parse::<IpAddr>() else {
                    return peer;
                };
                let address = address.to_canonical();
                if !self.trusts(address) {
                    return address;
                }
                farthest = Some(address);
            }
        }
        farthest.unwrap_or(peer)
    }
}

/// The client's address (see the module's documentation).
pub fn client_address(req: &HttpRequest) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.client(peer, req.headers().get_all("x-forwarded-for")),
        None => peer.to_canonical(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn client(proxies: &str, peer: &str, lines: &[&str]) -> IpAddr {
        let lines: Vec<HeaderValue> = lines
            .iter()
            .map(|l| HeaderValue::from_str(l).unwrap())
            .collect();
        TrustedProxies::parse(proxies)
            .unwrap()
            .client(ip(peer), lines.iter())
    }

    #[test]
    fn networks_parse_and_contain() {
        let list = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,").unwrap();
        assert!(list.trusts(ip("10.255.0.1")));
        assert!(!list.trusts(ip("11.0.0.1")));
        assert!(list.trusts(ip("192.168.1.7")));
        assert!(!list.trusts(ip("192.168.1.8")));
        assert!(list.trusts(ip("2001:db8:ffff::1")));
        assert!(!list.trusts(ip("2001:db9::1")));
        // An IPv4 address written as IPv6 is the IPv4 address.
        assert!(list.trusts(ip("::ffff:10.1.2.3").to_canonical()));
        assert!(TrustedProxies::parse("0.0.0.0/0")
            .unwrap()
            .trusts(ip("8.8.8.8")));
        assert!(TrustedProxies::parse("::/0").unwrap().trusts(ip("2001::1")));
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "example.com",
            "10.0.0",
        ] {
            let err = TrustedProxies::parse(bad).unwrap_err();
            assert!(err.contains("CIDR"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client("10.0.0.0/8", "203.0.113.9", &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(client("", "127.0.0.1", &["1.2.3.4"]), ip("127.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_last_untrusted_forwarded_address_is_the_client() {
        let proxies = "10.0.0.0/8";
        assert_eq!(client(proxies, "10.0.0.1", &[]), ip("10.0.0.1"));
        assert_eq!(
            client(proxies, "10.0.0.1", &["203.0.113.9"]),
            ip("203.0.113.9")
        );
        // What the client wrote itself (left of what the proxy appended) is not believed.
        assert_eq!(
            client(proxies, "10.0.0.1", &["1.1.1.1, 203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Proxies in a chain are skipped, across header lines too.
        assert_eq!(
            client(proxies, "10.0.0.1", &["1.1.1.1, 203.0.113.9", "10.0.0.7"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(proxies, "10.0.0.1", &["2001:db8::1,10.0.0.7"]),
            ip("2001:db8::1")
        );
        // Every hop a proxy: the farthest one.
        assert_eq!(
            client(proxies, "10.0.0.1", &["10.0.0.3, 10.0.0.2"]),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn a_malformed_forwarded_for_means_the_peer_but_only_where_it_is_read() {
        let proxies = "10.0.0.0/8";
        for malformed in [
            "",
            "garbage",
            "203.0.113.9:443",
            "203.0.113.9,",
            "10.0.0.7, nope",
        ] {
            assert_eq!(
                client(proxies, "10.0.0.1", &[malformed]),
                ip("10.0.0.1"),
                "{malformed:?}"
            );
        }
        // Garbage the client wrote left of the proxy's entry is never read.
        assert_eq!(
            client(proxies, "10.0.0.1", &["garbage, 203.0.113.9"]),
            ip("203.0.113.9")
        );
    }
}
