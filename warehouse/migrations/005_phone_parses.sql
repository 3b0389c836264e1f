-- Phone parses kept between runs: libphonenumber is the one slow step of staging, and a
-- number parsed once for a region and parser version need not be parsed again. Staging
-- keeps exactly the numbers it staged. (Warehouses staged before this migration already
-- have the table, hence IF NOT EXISTS.)
CREATE TABLE IF NOT EXISTS phone_parses (
    phone_text   VARCHAR NOT NULL,           -- the raw value, punctuation removed
    region       VARCHAR NOT NULL,           -- the default region it was parsed for
    parser       VARCHAR NOT NULL,           -- phonenumbers version and our rules
    e164         VARCHAR,
    valid        BOOLEAN NOT NULL,
    kind         VARCHAR,
    PRIMARY KEY (phone_text, region, parser)
);
