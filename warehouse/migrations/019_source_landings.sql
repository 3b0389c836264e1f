-- Unattended running (issue 16): each source's landings, for the data checks and `make status`.
--
-- source_landings: one row per successful landing of a source asset: how many records it
-- fetched (in which mode: a full read, an incremental one, or a whole read of a resource
-- with no change filter) and how many rows it quarantined. Counts only, never a record.
-- The data checks compare a landing with the trailing median of the same asset's recent
-- landings in the same mode, and the age of each source's last landing with
-- CHECK_FRESHNESS_HOURS.
CREATE TABLE source_landings (
    run_id       VARCHAR NOT NULL,
    asset        VARCHAR NOT NULL,   -- the source asset, e.g. action_network_people
    source       VARCHAR NOT NULL,   -- the platform, e.g. action_network
    mode         VARCHAR NOT NULL,   -- full | incremental | whole
    records      BIGINT NOT NULL,    -- records fetched this landing
    quarantined  BIGINT NOT NULL,    -- rows set aside in quarantine this landing
    started_at   TIMESTAMP NOT NULL,
    landed_at    TIMESTAMP NOT NULL
);
