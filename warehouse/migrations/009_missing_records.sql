-- Records a platform answered "not found" for in its own JSON words (Mailchimp's
-- "Resource Not Found", Action Network's JSON error). One answer marks a record missing;
-- only a second, in a later run, confirms it gone. An HTML 404 page never lands here: it
-- is a transient fault. Nothing already landed for a record is ever dropped because of it.
CREATE TABLE missing_records (
    source        VARCHAR NOT NULL,   -- 'mailchimp', 'action_network'
    resource      VARCHAR NOT NULL,   -- 'campaigns', 'members', 'petitions', ...
    record_id     VARCHAR NOT NULL,
    first_batch   VARCHAR NOT NULL,   -- the run that first heard "not found"
    first_seen_at TIMESTAMP NOT NULL,
    gone_at       TIMESTAMP,          -- set by the second "not found", in a later run
    PRIMARY KEY (source, resource, record_id)
);

-- Earlier versions marked a campaign gone after a single 404 of any kind (an HTML page
-- included) and never read its activity again: each is looked at once more instead.
INSERT INTO missing_records (source, resource, record_id, first_batch, first_seen_at)
SELECT source, 'campaigns', substr(resource, length('email-activity-gone/') + 1),
       'before-migration-009', updated_at
FROM sync_cursors
WHERE source = 'mailchimp' AND resource LIKE 'email-activity-gone/%';

DELETE FROM sync_cursors
WHERE source = 'mailchimp' AND resource LIKE 'email-activity-gone/%';
