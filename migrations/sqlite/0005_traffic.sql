-- Navigation's location history: the GPS fixes clients send (`POST /v1/locations`, the
-- navigation socket), written by the traffic updater from the location stream. SQLite
-- flavour (PostgreSQL partitions it by day); retention deletes by `received_ms`. The key
-- makes a replayed stream entry (same user, fix time and reception) write nothing.
CREATE TABLE traffic_fixes (
    user_id     INTEGER NOT NULL,
    ts          REAL    NOT NULL,
    latitude    REAL    NOT NULL,
    longitude   REAL    NOT NULL,
    speed_mps   REAL,
    heading_deg REAL,
    accuracy_m  REAL,
    mode        TEXT    NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, ts, received_ms)
);
CREATE INDEX traffic_fixes_received ON traffic_fixes (received_ms);
