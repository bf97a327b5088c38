export { registerReplicaJobs } from './jobs.js';
