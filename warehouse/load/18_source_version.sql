-- The newest silver version loaded per table: what the reconciliation compares against.
INSERT INTO etl.source_version AS t (source, version)
SELECT entity, max(version) FROM stage_changes WHERE entity <> 'quarantine' GROUP BY entity
ON CONFLICT (source) DO UPDATE SET version = greatest(t.version, EXCLUDED.version),
                                   updated_at = now()
