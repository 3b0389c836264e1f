-- Drift repair and propagated opt-outs: a plan row says whether it repairs drift (the
-- platform no longer shows what the ledger says it confirmed, or shows a Groundswell tag
-- it should not), and each plan and push step counts both.
ALTER TABLE sync_plan ADD COLUMN drift BOOLEAN DEFAULT false;
ALTER TABLE sync_runs ADD COLUMN drift_repaired INTEGER DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN opt_outs_propagated INTEGER DEFAULT 0;
