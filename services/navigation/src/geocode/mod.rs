//! Geocoding.
