-- Lists that show who changed each item last (the flags overview) read the
-- latest revision per service, item and environment: from this index, not
-- a scan of the log.
CREATE INDEX changes_by_item ON changes (service, item, environment, revision);
