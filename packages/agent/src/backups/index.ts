// The agent's backup jobs (src/backups/): re-exports only.
export { registerBackupJobs } from './jobs.js';
