-- The newest change of every key the batch brings (a key may change several times in one
-- batch); what every later step reads.
CREATE TEMP TABLE latest ON COMMIT DROP AS
SELECT DISTINCT ON (entity, key) entity, key, row, version, deleted
FROM stage_changes
ORDER BY entity, key, version DESC, deleted DESC
