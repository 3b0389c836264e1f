-- Address channels (issue 12): person_metrics carries the address a canvass or mailing
-- list needs, and whether the person can be reached by post or at the door. Derived
-- columns, rebuilt whole on every run; existing rows get empty values until then.
ALTER TABLE person_metrics ADD COLUMN address_line VARCHAR;
ALTER TABLE person_metrics ADD COLUMN locality VARCHAR;
-- The street and house number as the identity step reads the address line, for walk order.
ALTER TABLE person_metrics ADD COLUMN street_name VARCHAR;
ALTER TABLE person_metrics ADD COLUMN street_number VARCHAR;
-- post: an address line to mail to and a postcode or locality. door: that, with a house
-- number, and not a post-office box. See docs/ladder.md.
ALTER TABLE person_metrics ADD COLUMN post_reachable BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE person_metrics ADD COLUMN door_reachable BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE person_metrics ALTER COLUMN post_reachable DROP DEFAULT;
ALTER TABLE person_metrics ALTER COLUMN door_reachable DROP DEFAULT;
