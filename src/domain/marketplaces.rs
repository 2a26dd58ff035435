//! Amazon's marketplaces as data: where a seller (or vendor) of each one consents to an
//! application. The one table of consent hosts in the vault; the source is Amazon's "Seller
//! Central URLs" page (the npm package `@bizon/amazon-ids` carries the same as data).

use super::{Partner, Region};

/// One marketplace: its id, region, and Seller and Vendor Central hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marketplace {
    pub id: &'static str,
    pub country: &'static str,
    pub region: Region,
    pub seller_central: &'static str,
    pub vendor_central: &'static str,
}

impl Marketplace {
    /// The central host a partner of this kind consents on.
    pub fn central_host(&self, partner: Partner) -> &'static str {
        match partner {
            Partner::Seller => self.seller_central,
            Partner::Vendor => self.vendor_central,
        }
    }
}

const fn m(
    id: &'static str,
    country: &'static str,
    region: Region,
    seller_central: &'static str,
    vendor_central: &'static str,
) -> Marketplace {
    Marketplace {
        id,
        country,
        region,
        seller_central,
        vendor_central,
    }
}

use Region::{Eu, Fe, Na};

pub const MARKETPLACES: &[Marketplace] = &[
    m(
        "ATVPDKIKX0DER",
        "US",
        Na,
        "sellercentral.amazon.com",
        "vendorcentral.amazon.com",
    ),
    m(
        "A2EUQ1WTGCTBG2",
        "CA",
        Na,
        "sellercentral.amazon.ca",
        "vendorcentral.amazon.ca",
    ),
    m(
        "A1AM78C64UM0Y8",
        "MX",
        Na,
        "sellercentral.amazon.com.mx",
        "vendorcentral.amazon.com.mx",
    ),
    m(
        "A2Q3Y263D00KWC",
        "BR",
        Na,
        "sellercentral.amazon.com.br",
        "vendorcentral.amazon.com.br",
    ),
    m(
        "A28R8C7NBKEWEA",
        "IE",
        Eu,
        "sellercentral.amazon.ie",
        "vendorcentral.amazon.co.uk",
    ),
    m(
        "A1RKKUPIHCS9HS",
        "ES",
        Eu,
        "sellercentral-europe.amazon.com",
        "vendorcentral.amazon.es",
    ),
    m(
        "A1F83G8C2ARO7P",
        "UK",
        Eu,
        "sellercentral-europe.amazon.com",
        "vendorcentral.amazon.co.uk",
    ),
    m(
        "A13V1IB3VIYZZH",
        "FR",
        Eu,
        "sellercentral-europe.amazon.com",
        "vendorcentral.amazon.fr",
    ),
    m(
        "AMEN7PMS3EDWL",
        "BE",
        Eu,
        "sellercentral.amazon.com.be",
        "vendorcentral.amazon.com.be",
    ),
    m(
        "A1805IZSGTT6HS",
        "NL",
        Eu,
        "sellercentral.amazon.nl",
        "vendorcentral.amazon.nl",
    ),
    m(
        "A1PA6795UKMFR9",
        "DE",
        Eu,
        "sellercentral-europe.amazon.com",
        "vendorcentral.amazon.de",
    ),
    m(
        "APJ6JRA9NG5V4",
        "IT",
        Eu,
        "sellercentral-europe.amazon.com",
        "vendorcentral.amazon.it",
    ),
    m(
        "A2NODRKZP88ZB9",
        "SE",
        Eu,
        "sellercentral.amazon.se",
        "vendorcentral.amazon.se",
    ),
    m(
        "AE08WJ6YKNBMC",
        "ZA",
        Eu,
        "sellercentral.amazon.co.za",
        "vendorcentral.amazon.co.za",
    ),
    m(
        "A1C3SOZRARQ6R3",
        "PL",
        Eu,
        "sellercentral.amazon.pl",
        "vendorcentral.amazon.pl",
    ),
    m(
        "ARBP9OOSHTCHU",
        "EG",
        Eu,
        "sellercentral.amazon.eg",
        "vendorcentral.amazon.me",
    ),
    m(
        "A33AVAJ2PDY3EV",
        "TR",
        Eu,
        "sellercentral.amazon.com.tr",
        "vendorcentral.amazon.com.tr",
    ),
    m(
        "A17E79C6D8DWNP",
        "SA",
        Eu,
        "sellercentral.amazon.sa",
        "vendorcentral.amazon.me",
    ),
    m(
        "A2VIGQ35RCS4UG",
        "AE",
        Eu,
        "sellercentral.amazon.ae",
        "vendorcentral.amazon.me",
    ),
    m(
        "A21TJRUUN4KGV",
        "IN",
        Eu,
        "sellercentral.amazon.in",
        "vendorcentral.amazon.in",
    ),
    m(
        "A19VAU5U5O7RUS",
        "SG",
        Fe,
        "sellercentral.amazon.sg",
        "vendorcentral.amazon.com.sg",
    ),
    m(
        "A39IBJ37TRP1C6",
        "AU",
        Fe,
        "sellercentral.amazon.com.au",
        "vendorcentral.amazon.com.au",
    ),
    m(
        "A1VC38T7YXB528",
        "JP",
        Fe,
        "sellercentral.amazon.co.jp",
        "vendorcentral.amazon.co.jp",
    ),
];

/// The marketplace with this id, if Amazon has one.
pub fn marketplace(id: &str) -> Option<&'static Marketplace> {
    MARKETPLACES.iter().find(|m| m.id == id)
}

/// The central host of a region, for links that name no marketplace.
pub fn region_central_host(region: Region, partner: Partner) -> &'static str {
    let id = match region {
        Na => "ATVPDKIKX0DER",
        Eu => "A1F83G8C2ARO7P",
        Fe => "A1VC38T7YXB528",
    };
    marketplace(id)
        .expect("every region's default marketplace is in the table")
        .central_host(partner)
}

/// Whether `host` is one of Amazon's Seller or Vendor Central hosts.
pub fn is_central_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    MARKETPLACES
        .iter()
        .any(|m| m.seller_central == host || m.vendor_central == host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_has_a_host_and_ids_are_unique() {
        for region in [Na, Eu, Fe] {
            assert!(region_central_host(region, Partner::Seller).starts_with("sellercentral"));
            assert!(region_central_host(region, Partner::Vendor).starts_with("vendorcentral"));
        }
        let mut ids: Vec<_> = MARKETPLACES.iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), MARKETPLACES.len());
    }

    #[test]
    fn only_central_hosts_are_central_hosts() {
        assert!(is_central_host("sellercentral-europe.amazon.com"));
        assert!(is_central_host("VendorCentral.amazon.de"));
        assert!(!is_central_host("sellercentral.amazon.com.evil.example"));
        assert!(!is_central_host("amazon.com"));
    }
}
