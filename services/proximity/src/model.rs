//! Domain types of the proximity service.

use geo_core::LatLon;
use serde::{Deserialize, Serialize};

/// A business as stored (the live row). Also the JSON shape of `GET /v1/businesses/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Business {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub postcode: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    /// OSM `opening_hours` syntax, e.g. `Mo-Fr 09:00-18:00; Sa 10:00-14:00`.
    pub opening_hours: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    /// The user who created it; `null` for imported data (only admins may change those).
    pub owner_id: Option<i64>,
    /// Bumped by every write.
    pub revision: i64,
    /// Unix seconds of the last write.
    pub updated_at: i64,
}

/// The validated fields of a create or full replace.
#[derive(Clone, Debug, PartialEq)]
pub struct BusinessFields {
    pub name: String,
    pub category: String,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub postcode: Option<String>,
    pub location: LatLon,
    pub opening_hours: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
}

/// What search needs of a business: the published copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub latitude: f64,
    pub longitude: f64,
    pub opening_hours: Option<String>,
}

impl Summary {
    /// Rows are written only through validated requests, so the stored pair is in range.
    pub fn location(&self) -> LatLon {
        LatLon::clamped(self.latitude, self.longitude)
    }
}

/// A record from an import, keyed by its OSM reference.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedBusiness {
    pub osm_ref: String,
    pub fields: BusinessFields,
}

/// The geohash lengths kept in the index table (the design's 4, 5 and 6).
pub const INDEXED_PRECISIONS: [u8; 3] = [4, 5, 6];
