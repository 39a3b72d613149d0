INSERT INTO ops.quarantine_event (topic, partition, "offset", stage, reason, seen_at)
SELECT r.topic, r.partition, r."offset", r.stage, r.reason, r.seen_at
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         topic text, partition int, "offset" bigint, stage text, reason text, seen_at timestamp
     )
WHERE l.entity = 'quarantine'
ON CONFLICT DO NOTHING
