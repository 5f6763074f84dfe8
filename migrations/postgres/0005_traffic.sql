-- Navigation's location history: the GPS fixes clients send (`POST /v1/locations`, the
-- navigation socket), written by the traffic updater from the location stream. PostgreSQL
-- flavour: partitioned by day of reception, so retention drops whole partitions instead of
-- deleting rows; the service creates each day's partition ahead of time. The key makes a
-- replayed stream entry (same user, fix time and reception) write nothing.
CREATE TABLE traffic_fixes (
    user_id     BIGINT           NOT NULL,
    ts          DOUBLE PRECISION NOT NULL,
    latitude    DOUBLE PRECISION NOT NULL,
    longitude   DOUBLE PRECISION NOT NULL,
    speed_mps   DOUBLE PRECISION,
    heading_deg DOUBLE PRECISION,
    accuracy_m  DOUBLE PRECISION,
    mode        TEXT             NOT NULL,
    received_ms BIGINT           NOT NULL,
    PRIMARY KEY (user_id, ts, received_ms)
) PARTITION BY RANGE (received_ms);
