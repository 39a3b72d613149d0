"""Batch jobs: Delta maintenance, quality gates, backfill and replay, LGPD erasure, lifecycle
and the scheduler daemon."""
