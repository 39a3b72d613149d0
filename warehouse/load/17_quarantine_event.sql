INSERT INTO ops.quarantine_event (topic, partition, "offset", stage, reason, seen_at)
SELECT topic, partition, "offset", stage, reason, seen_at
FROM stage_quarantine
ON CONFLICT DO NOTHING
